//! Token authentication: HMAC-SHA256 over the server's fresh nonce.
//!
//! The token never crosses the wire. The server sends a random nonce in a
//! `Challenge`; the client answers with
//! `HMAC-SHA256(key = token, message = "rcmd-auth-v1\0" ‖ nonce)`; the server
//! computes the same and compares in constant time. A recorded proof is
//! useless against a later session because the nonce differs.
//!
//! ```
//! use protocol::auth::{proof, verify};
//! let nonce = [7u8; 32];
//! let p = proof(b"secret", &nonce);
//! assert!(verify(b"secret", &nonce, &p));
//! assert!(!verify(b"wrong", &nonce, &p));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::frame::{NONCE_LEN, PROOF_LEN};

/// Domain separation: a proof for this protocol means nothing elsewhere.
const CONTEXT: &[u8] = b"rcmd-auth-v1\0";

fn mac(token: &[u8], nonce: &[u8; NONCE_LEN]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(token).expect("HMAC takes any key length");
    mac.update(CONTEXT);
    mac.update(nonce);
    mac
}

/// The proof a client sends for `nonce`, knowing `token`.
pub fn proof(token: &[u8], nonce: &[u8; NONCE_LEN]) -> [u8; PROOF_LEN] {
    mac(token, nonce).finalize().into_bytes().into()
}

/// Whether `candidate` is the right proof for `nonce`, compared in constant
/// time.
pub fn verify(token: &[u8], nonce: &[u8; NONCE_LEN], candidate: &[u8]) -> bool {
    mac(token, nonce).verify_slice(candidate).is_ok()
}
