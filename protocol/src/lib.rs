//! The toolkit's wire format: length-prefixed, typed frames.
//!
//! TCP carries a byte stream without message boundaries: two sends may
//! arrive as one read, one send as three (the seed's "sticky packet"
//! problem). Every message here is therefore a *frame*: a fixed 5-byte
//! header, then exactly the payload it announces.
//!
//! ```text
//!  0               1               2               3               4
//! +---------------+---------------+---------------+---------------+---------------+
//! |             payload length (u32, big-endian)                  |  frame type   |
//! +---------------+---------------+---------------+---------------+---------------+
//! |  payload: `length` bytes, laid out per frame type ...
//! +-----------------------------------------------
//! ```
//!
//! The whole format, every payload layout, the handshake, the error codes,
//! the limits and a hex dump of one session are in `docs/PROTOCOL.md`.
//!
//! # Design
//!
//! * **Sans-I/O** (after quinn-proto and tokio-util's codec): [`Decoder`]
//!   takes bytes in any chunking (half a header, three frames and a half)
//!   and yields whole frames, `Ok(None)` meaning "need more bytes";
//!   [`Frame::encode`] appends to a caller's buffer. No socket, no clock:
//!   every path is testable in memory and fuzzable. The blocking helpers in
//!   [`io`] sit on top, separately; the server drives the same decoder from
//!   its mio event loop.
//! * **Lengths are checked before anything else.** A header's length is
//!   compared with the decoder's maximum (default 1 MiB, [`DEFAULT_MAX_PAYLOAD`])
//!   as soon as the 5 header bytes are in, and nothing is ever allocated
//!   because a peer claims a size: buffers grow only with bytes received.
//! * **Bytes, not text.** Commands, output, paths and environment are
//!   `Bytes`; nothing assumes UTF-8 or a code page.
//! * **Few copies.** Data frames (`Stdin`, `Stdout`, `Stderr`) decode to a
//!   `Bytes` slice of the receive buffer, without a copy; or, with
//!   [`Decoder::decode_borrowed`], to a plain borrowed slice, without even a
//!   reference count (the fastest path for small frames). The blocking
//!   [`io::FrameReader`] reads straight into its own buffer and lends data
//!   frames out ([`io::FrameReader::read_frame_ref`]), so output can go from
//!   the socket to its destination with no copy in user space.
//! * **Typed errors**: [`DecodeError`], [`EncodeError`],
//!   [`handshake::HandshakeError`], [`legacy::LegacyError`]. Nothing on a
//!   decode path can panic on peer input.
//!
//! Dependencies: `bytes` for zero-copy buffers, `thiserror` for the error
//! types, `hmac` and `sha2` for the token proof in [`auth`] (cryptography is
//! not written by hand).
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use protocol::{Decoder, Exec, Frame};
//!
//! let mut wire = BytesMut::new();
//! Frame::Exec(Exec::new("echo hi")).encode(&mut wire)?;
//! Frame::Ping(1).encode(&mut wire)?;
//!
//! let mut decoder = Decoder::new();
//! assert_eq!(decoder.decode(&mut wire)?, Some(Frame::Exec(Exec::new("echo hi"))));
//! assert_eq!(decoder.decode(&mut wire)?, Some(Frame::Ping(1)));
//! assert_eq!(decoder.decode(&mut wire)?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod auth;
mod codec;
mod error;
mod frame;
pub mod handshake;
pub mod io;
pub mod legacy;

pub use codec::{Decoder, Encoder, FrameRef};
pub use error::{DecodeError, EncodeError};
pub use frame::{
    Auth, Challenge, ErrorCode, ErrorFrame, Exec, Exit, Frame, FrameType, Header, Hello, Signal,
    Termination, Welcome, DEFAULT_MAX_PAYLOAD, HEADER_LEN, MAGIC, NONCE_LEN, PROOF_LEN, VERSION,
};
