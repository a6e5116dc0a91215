//! The crate's typed errors.

use crate::frame::FrameType;

/// Why bytes from a peer could not be decoded. Every variant means the
/// stream is corrupt: answer with an `Error` frame and close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The header announces a payload over the decoder's maximum.
    #[error("frame payload of {len} bytes is over the maximum of {max}")]
    FrameTooLarge {
        /// The length the header claims.
        len: u64,
        /// The decoder's maximum.
        max: usize,
    },
    /// The header's type byte is not a known frame type.
    #[error("unknown frame type 0x{frame_type:02x}")]
    UnknownType {
        /// The type byte received.
        frame_type: u8,
    },
    /// The payload ended before a field it must hold.
    #[error("{frame_type:?} frame too short for its {field}")]
    Truncated {
        /// The frame being decoded.
        frame_type: FrameType,
        /// The field that did not fit.
        field: &'static str,
    },
    /// The payload holds more bytes than its fields.
    #[error("{frame_type:?} frame has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// The frame being decoded.
        frame_type: FrameType,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("malformed {frame_type:?} frame: {reason}")]
    Malformed {
        /// The frame being decoded.
        frame_type: FrameType,
        /// What is wrong.
        reason: &'static str,
    },
}

impl DecodeError {
    /// The `Error` frame code that reports this error to the peer.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            DecodeError::FrameTooLarge { .. } => crate::ErrorCode::FrameTooLarge,
            _ => crate::ErrorCode::Malformed,
        }
    }
}

/// Why a frame could not be encoded. Nothing is written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The payload is over the encoder's maximum (or the `u32` length field).
    #[error("frame payload of {len} bytes is over the maximum of {max}")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The maximum it had to fit.
        max: usize,
    },
    /// A field is longer than its length prefix can say.
    #[error("{field} of {len} bytes is over its maximum of {max}")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The most its prefix can hold.
        max: usize,
    },
}
