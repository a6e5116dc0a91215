//! The seed's own wire format, for talking to the seed's Python programs.
//!
//! ```text
//! request:  raw command bytes, unframed (the seed reads them with recv(1024))
//! reply:    +-------------------------+----------------------+
//!           | length: i32 little-end. | output: length bytes |
//!           +-------------------------+----------------------+
//! ```
//!
//! The length is what Python's `struct.pack('i', n)` gives on x86: a
//! *signed*, *little-endian* 32-bit integer. The output is stdout followed
//! by stderr. This format has no way to say where a request ends, carries no
//! exit status and cannot keep stdout and stderr apart: use it only to
//! interoperate with the seed.
//!
//! ```
//! use bytes::BytesMut;
//! use protocol::legacy::{encode_reply, ReplyDecoder};
//!
//! let mut wire = BytesMut::new();
//! encode_reply(b"hi\n", &mut wire)?;
//! assert_eq!(&wire[..], &[3, 0, 0, 0, b'h', b'i', b'\n']);
//!
//! let mut decoder = ReplyDecoder::new();
//! assert_eq!(&decoder.decode(&mut wire)?.unwrap()[..], b"hi\n");
//! # Ok::<(), protocol::legacy::LegacyError>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes in a legacy reply header.
pub const HEADER_LEN: usize = 4;

/// The most bytes the seed's server reads as one request (`recv(1024)`).
pub const MAX_REQUEST: usize = 1024;

/// The largest reply a [`ReplyDecoder`] accepts unless told otherwise:
/// 64 MiB, since a legacy reply holds a command's whole output.
pub const DEFAULT_MAX_REPLY: usize = 64 << 20;

/// What can go wrong with the legacy format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// The peer sent a negative length.
    #[error("legacy reply length is negative ({0})")]
    NegativeLength(i32),
    /// The peer announced a reply over the maximum.
    #[error("legacy reply of {len} bytes is over the maximum of {max}")]
    TooLarge {
        /// The announced or attempted length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

/// Appends the 4-byte header for a reply of `len` bytes.
pub fn encode_reply_header(len: usize, dst: &mut BytesMut) -> Result<(), LegacyError> {
    let len = i32::try_from(len).map_err(|_| LegacyError::TooLarge {
        len,
        max: i32::MAX as usize,
    })?;
    dst.put_i32_le(len);
    Ok(())
}

/// Appends a whole reply: header then `output`.
pub fn encode_reply(output: &[u8], dst: &mut BytesMut) -> Result<(), LegacyError> {
    encode_reply_header(output.len(), dst)?;
    dst.put_slice(output);
    Ok(())
}

/// Decodes legacy replies from a byte stream in any chunking.
#[derive(Debug, Clone)]
pub struct ReplyDecoder {
    max_reply: usize,
    pending: Option<usize>,
}

impl Default for ReplyDecoder {
    fn default() -> ReplyDecoder {
        ReplyDecoder::new()
    }
}

impl ReplyDecoder {
    /// A decoder accepting replies up to [`DEFAULT_MAX_REPLY`].
    pub fn new() -> ReplyDecoder {
        ReplyDecoder::with_max_reply(DEFAULT_MAX_REPLY)
    }

    /// A decoder accepting replies up to `max_reply` bytes.
    pub fn with_max_reply(max_reply: usize) -> ReplyDecoder {
        ReplyDecoder {
            max_reply,
            pending: None,
        }
    }

    /// Decodes one reply from the front of `src`; `Ok(None)` means "need more".
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LegacyError> {
        let len = match self.pending {
            Some(len) => len,
            None => {
                let Some(head) = src.get(..HEADER_LEN) else {
                    return Ok(None);
                };
                let raw = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
                let len = usize::try_from(raw).map_err(|_| LegacyError::NegativeLength(raw))?;
                if len > self.max_reply {
                    return Err(LegacyError::TooLarge {
                        len,
                        max: self.max_reply,
                    });
                }
                src.advance(HEADER_LEN);
                self.pending = Some(len);
                len
            }
        };
        if src.len() < len {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(src.split_to(len).freeze()))
    }
}
