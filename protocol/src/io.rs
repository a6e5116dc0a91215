//! Blocking helpers over [`std::io::Read`] and [`std::io::Write`], on top of
//! the sans-I/O codec.
//!
//! ```
//! use protocol::io::{write_frame, FrameReader};
//! use protocol::Frame;
//!
//! let mut wire = Vec::new();
//! write_frame(&mut wire, &Frame::Ping(7))?;
//! let mut reader = FrameReader::new(&wire[..]);
//! assert_eq!(reader.read_frame()?, Some(Frame::Ping(7)));
//! assert_eq!(reader.read_frame()?, None); // clean end of stream
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};

use bytes::BytesMut;

use crate::codec::{Decoder, Encoder};
use crate::error::{DecodeError, EncodeError};
use crate::frame::Frame;

/// Bytes asked of the reader per `read` call.
pub const READ_CHUNK: usize = 256 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The reader failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The bytes are not a valid frame.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    UnexpectedEof,
}

/// Reads whole frames from a blocking reader.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    decoder: Decoder,
    buf: BytesMut,
    chunk: Box<[u8]>,
}

impl<R: Read> FrameReader<R> {
    /// A reader with the default decoder (1 MiB maximum payload).
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader::with_decoder(inner, Decoder::new())
    }

    /// A reader with a configured decoder.
    pub fn with_decoder(inner: R, decoder: Decoder) -> FrameReader<R> {
        FrameReader {
            inner,
            decoder,
            buf: BytesMut::new(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// The next frame; `Ok(None)` when the stream ended cleanly between
    /// frames.
    pub fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(frame));
            }
            let n = loop {
                match self.inner.read(&mut self.chunk) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            if n == 0 {
                return if self.decoder.has_partial(&self.buf) {
                    Err(ReadError::UnexpectedEof)
                } else {
                    Ok(None)
                };
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
        }
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The wrapped reader, mutably.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Why a frame could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The frame cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl From<WriteError> for io::Error {
    fn from(error: WriteError) -> io::Error {
        match error {
            WriteError::Io(e) => e,
            WriteError::Encode(e) => io::Error::new(io::ErrorKind::InvalidInput, e),
        }
    }
}

/// Encodes `frame` and writes all of it (default maximum payload).
pub fn write_frame<W: Write>(writer: &mut W, frame: &Frame) -> Result<(), WriteError> {
    write_frame_with(writer, &Encoder::new(), frame)
}

/// Encodes `frame` with `encoder` and writes all of it.
pub fn write_frame_with<W: Write>(
    writer: &mut W,
    encoder: &Encoder,
    frame: &Frame,
) -> Result<(), WriteError> {
    let mut buf = BytesMut::with_capacity(frame.encoded_len());
    encoder.encode(frame, &mut buf)?;
    writer.write_all(&buf)?;
    Ok(())
}
