//! The probe header that `ping` and `flood` put at the front of every
//! datagram, so that any RFC 862 echo server (ours, socat, inetd) hands back
//! everything needed to match a reply to its probe.
//!
//! # Wire format
//!
//! All fields big-endian; the rest of the datagram, up to `--size`, is
//! padding (zeros) that an echo server returns unchanged.
//!
//! ```text
//!  0       4          8                  16                 24
//!  +-------+----------+------------------+------------------+-------------
//!  | magic | session  | sequence (u64)   | sent_ns (u64)    | padding ...
//!  +-------+----------+------------------+------------------+-------------
//! ```
//!
//! * `magic` is `UEP1`: it tells our probes from stray datagrams.
//! * `session` is random per run, so replies meant for an earlier or a
//!   concurrent run on the same port are not counted as ours.
//! * `sent_ns` is the sender's clock (nanoseconds since the run started) at
//!   sending time. It is *not* what the RTT is taken from: an echo server
//!   may alter it. `ping` keeps its own record of when each sequence number
//!   left, measures from that, and uses the echoed value only as a
//!   cross-check (a mismatch marks the reply as altered).
//!
//! A reply is intact when it is byte for byte the probe sent: the header
//! [`Probe::decode`] reads (checked against what was sent by the caller) and
//! a body [`check_body`] finds to be the right length and all zeros.
//!
//! # Design
//!
//! Pure functions over caller buffers, as in smoltcp's `wire` module: no I/O
//! and no clock, so every case is a golden-bytes test. [`Probe::decode`] is
//! the checked constructor for untrusted bytes: anything shorter than
//! [`HEADER_LEN`] or with another magic is an error, never a panic.
//!
//! ```
//! use udp_echo::probe::{Probe, HEADER_LEN};
//! let mut buf = [0u8; 64];
//! let probe = Probe { session: 7, seq: 1, sent_ns: 1_000 };
//! probe.encode(&mut buf)?;
//! assert_eq!(&buf[..4], b"UEP1");
//! assert_eq!(Probe::decode(&buf)?, probe);
//! assert!(Probe::decode(&buf[..HEADER_LEN - 1]).is_err());
//! # Ok::<(), udp_echo::probe::ProbeError>(())
//! ```

use thiserror::Error;

/// The four bytes every probe starts with.
pub const MAGIC: [u8; 4] = *b"UEP1";
const SESSION: usize = 4;
const SEQ: usize = 8;
const SENT_NS: usize = 16;
/// Length of the header; the smallest allowed probe size.
pub const HEADER_LEN: usize = 24;

/// What a probe header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Random per run; replies with another session are not ours.
    pub session: u32,
    /// Sequence number, from 0.
    pub seq: u64,
    /// Sender clock at sending time, nanoseconds since the run started.
    pub sent_ns: u64,
}

/// Why bytes are not a probe of ours, or a buffer cannot hold one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProbeError {
    /// The datagram or buffer is shorter than [`HEADER_LEN`].
    #[error("{len} bytes is shorter than the {HEADER_LEN}-byte probe header")]
    TooShort {
        /// The length offered.
        len: usize,
    },
    /// The first four bytes are not [`MAGIC`].
    #[error("not a probe: magic {found:02x?}")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
}

/// How a reply's length or padding differs from the probe sent (what
/// [`check_body`] finds); the header is the caller's to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Damage {
    /// Shorter than the probe: cut by the server or on the way (socat cuts
    /// at 8192 bytes).
    #[error("truncated: {len} of {sent} bytes")]
    Truncated {
        /// Length of the reply.
        len: usize,
        /// Length of the probe.
        sent: usize,
    },
    /// Longer than the probe (e.g. an `--annotate` server appends).
    #[error("wrong length: {len} bytes for a {sent}-byte probe")]
    Longer {
        /// Length of the reply.
        len: usize,
        /// Length of the probe.
        sent: usize,
    },
    /// The padding is not the zeros sent.
    #[error("wrong data at byte {at}")]
    WrongData {
        /// Offset of the first differing byte.
        at: usize,
    },
}

/// Checks the part of a reply that [`Probe::decode`] does not: that it is
/// `size` bytes long, as the probe was, and that its padding is the zeros
/// sent.
///
/// ```
/// use udp_echo::probe::{check_body, Damage};
/// let mut reply = vec![0u8; 64];
/// assert_eq!(check_body(&reply, 64), Ok(()));
/// assert_eq!(check_body(&reply[..40], 64), Err(Damage::Truncated { len: 40, sent: 64 }));
/// reply[50] = 1;
/// assert_eq!(check_body(&reply, 64), Err(Damage::WrongData { at: 50 }));
/// ```
pub fn check_body(reply: &[u8], size: usize) -> Result<(), Damage> {
    let len = reply.len();
    if len < size {
        return Err(Damage::Truncated { len, sent: size });
    }
    if len > size {
        return Err(Damage::Longer { len, sent: size });
    }
    match reply.iter().skip(HEADER_LEN).position(|&b| b != 0) {
        Some(i) => Err(Damage::WrongData { at: HEADER_LEN + i }),
        None => Ok(()),
    }
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(b)
}

impl Probe {
    /// Writes the header into the front of `buf`, leaving the rest as is.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), ProbeError> {
        if buf.len() < HEADER_LEN {
            return Err(ProbeError::TooShort { len: buf.len() });
        }
        buf[..SESSION].copy_from_slice(&MAGIC);
        buf[SESSION..SEQ].copy_from_slice(&self.session.to_be_bytes());
        buf[SEQ..SENT_NS].copy_from_slice(&self.seq.to_be_bytes());
        buf[SENT_NS..HEADER_LEN].copy_from_slice(&self.sent_ns.to_be_bytes());
        Ok(())
    }

    /// Reads a header from untrusted bytes (a reply); padding is ignored.
    pub fn decode(buf: &[u8]) -> Result<Probe, ProbeError> {
        if buf.len() < HEADER_LEN {
            return Err(ProbeError::TooShort { len: buf.len() });
        }
        let mut found = [0u8; 4];
        found.copy_from_slice(&buf[..SESSION]);
        if found != MAGIC {
            return Err(ProbeError::BadMagic { found });
        }
        let mut session = [0u8; 4];
        session.copy_from_slice(&buf[SESSION..SEQ]);
        Ok(Probe {
            session: u32::from_be_bytes(session),
            seq: u64_at(buf, SEQ),
            sent_ns: u64_at(buf, SENT_NS),
        })
    }
}

/// A session id that differs between runs, from std's randomly seeded hasher
/// (no extra dependency for 32 bits that need not be secret).
pub fn random_session() -> u32 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    // Truncation intended: any 32 bits of the hash will do.
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOLDEN: [u8; HEADER_LEN] = [
        b'U', b'E', b'P', b'1', // magic
        0x01, 0x02, 0x03, 0x04, // session
        0, 0, 0, 0, 0, 0, 0x01, 0x00, // seq 256
        0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0x00, // 1 s in ns
    ];

    #[test]
    fn construct_matches_golden_bytes() {
        let mut buf = [0xaa; HEADER_LEN + 3];
        let p = Probe {
            session: 0x0102_0304,
            seq: 256,
            sent_ns: 1_000_000_000,
        };
        p.encode(&mut buf).unwrap();
        assert_eq!(buf[..HEADER_LEN], GOLDEN);
        assert_eq!(buf[HEADER_LEN..], [0xaa; 3], "padding left untouched");
    }

    #[test]
    fn deconstruct_golden_bytes() {
        let p = Probe::decode(&GOLDEN).unwrap();
        assert_eq!(p.session, 0x0102_0304);
        assert_eq!(p.seq, 256);
        assert_eq!(p.sent_ns, 1_000_000_000);
    }

    #[test]
    fn decode_rejects_one_byte_short_header() {
        assert_eq!(
            Probe::decode(&GOLDEN[..HEADER_LEN - 1]),
            Err(ProbeError::TooShort {
                len: HEADER_LEN - 1
            })
        );
    }

    #[test]
    fn decode_rejects_foreign_magic() {
        let mut b = GOLDEN;
        b[0] = b'X';
        assert!(matches!(
            Probe::decode(&b),
            Err(ProbeError::BadMagic { .. })
        ));
    }

    #[test]
    fn encode_refuses_buffer_too_small() {
        let mut b = [0u8; 10];
        assert_eq!(
            Probe {
                session: 0,
                seq: 0,
                sent_ns: 0
            }
            .encode(&mut b),
            Err(ProbeError::TooShort { len: 10 })
        );
    }

    #[test]
    fn check_body_accepts_only_the_exact_length_with_zero_padding() {
        let mut reply = vec![0u8; 100];
        Probe {
            session: 1,
            seq: 2,
            sent_ns: 3,
        }
        .encode(&mut reply)
        .unwrap();
        assert_eq!(check_body(&reply, 100), Ok(()));
        assert_eq!(
            check_body(&reply[..80], 100),
            Err(Damage::Truncated { len: 80, sent: 100 })
        );
        let mut longer = reply.clone();
        longer.extend_from_slice(b"-127.0.0.1:40000");
        assert_eq!(
            check_body(&longer, 100),
            Err(Damage::Longer {
                len: 116,
                sent: 100
            })
        );
        reply[99] = 0xff;
        assert_eq!(check_body(&reply, 100), Err(Damage::WrongData { at: 99 }));
    }

    #[test]
    fn check_body_leaves_the_header_to_the_caller() {
        // A header-only probe has no body to damage.
        assert_eq!(check_body(&GOLDEN, HEADER_LEN), Ok(()));
    }

    proptest! {
        #[test]
        fn roundtrip_any_probe(session: u32, seq: u64, sent_ns: u64, pad in 0usize..64) {
            let p = Probe { session, seq, sent_ns };
            let mut buf = vec![0u8; HEADER_LEN + pad];
            p.encode(&mut buf).unwrap();
            prop_assert_eq!(Probe::decode(&buf).unwrap(), p);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Probe::decode(&bytes);
        }
    }
}
