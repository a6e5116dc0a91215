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

use crate::codec::{Decoder, Encoder, FrameRef};
use crate::error::{DecodeError, EncodeError};
use crate::frame::{Frame, HEADER_LEN};

/// Most bytes asked of the reader per `read` call.
pub const READ_CHUNK: usize = 256 * 1024;

/// Least free room worth a `read`: with less behind the buffered bytes, the
/// unfinished frame moves to the front of the buffer first.
pub const MIN_READ: usize = 64 * 1024;

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
///
/// The reader reads straight into one buffer and hands out frames that
/// borrow from it ([`FrameReader::read_frame_ref`]), so output can go from
/// the socket to its destination with no copy in between. Only the
/// unfinished tail of a read is ever moved, to the front of the buffer. The
/// buffer starts at twice [`READ_CHUNK`] and grows past that only for a
/// frame that really arrives and needs it, to at most one frame of the
/// decoder's maximum size plus [`MIN_READ`] (see [`FrameReader::capacity`]).
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    decoder: Decoder,
    /// Zero-initialised once; `buf[start..end]` is received, not decoded.
    buf: Vec<u8>,
    start: usize,
    end: usize,
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
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The next frame; `Ok(None)` when the stream ended cleanly between
    /// frames.
    pub fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        Ok(self.read_frame_ref()?.map(FrameRef::into_owned))
    }

    /// The next frame, its payload borrowed from the reader's buffer until
    /// the next call; `Ok(None)` when the stream ended cleanly between
    /// frames.
    ///
    /// ```
    /// use protocol::io::{write_frame, FrameReader};
    /// use protocol::{Frame, FrameRef};
    ///
    /// let mut wire = Vec::new();
    /// write_frame(&mut wire, &Frame::Stdout("hi".into()))?;
    /// let mut reader = FrameReader::new(&wire[..]);
    /// assert_eq!(reader.read_frame_ref()?, Some(FrameRef::Stdout(b"hi")));
    /// assert_eq!(reader.read_frame_ref()?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_frame_ref(&mut self) -> Result<Option<FrameRef<'_>>, ReadError> {
        loop {
            let pending = &self.buf[self.start..self.end];
            let len = self.decoder.frame_len(pending)?;
            match len {
                Some(len) if len <= pending.len() => {
                    let at = self.start;
                    self.start += len;
                    let (frame, _) = self
                        .decoder
                        .decode_borrowed(&self.buf[at..at + len])?
                        .expect("a whole frame is buffered");
                    return Ok(Some(frame));
                }
                _ => {
                    if !self.fill(len.unwrap_or(HEADER_LEN))? {
                        return if self.start < self.end {
                            Err(ReadError::UnexpectedEof)
                        } else {
                            Ok(None)
                        };
                    }
                }
            }
        }
    }

    /// Reads once into the buffer; false at the end of the stream.
    ///
    /// Room comes first. The unfinished frame (`frame_len` bytes once
    /// whole) moves to the front if it would not fit where it starts or if
    /// less than [`MIN_READ`] is free behind it. Only if that is not enough
    /// does the buffer grow, by doubling and never past
    /// [`FrameReader::capacity`]'s bound: it grows with the bytes that
    /// arrive, never because a header claims a size.
    fn fill(&mut self, frame_len: usize) -> Result<bool, ReadError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.start > 0
            && (self.buf.len() < self.end + MIN_READ || self.buf.len() < self.start + frame_len)
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + MIN_READ;
        if self.buf.len() < needed {
            // Here the buffered bytes are less than one frame, so `needed`
            // is within the bound.
            let bound = (2 * READ_CHUNK).max(HEADER_LEN + self.decoder.max_payload() + MIN_READ);
            let len = needed
                .max(2 * self.buf.len())
                .max(2 * READ_CHUNK)
                .min(bound);
            // Zeroed by the allocator (fresh pages), not written here.
            let mut bigger = vec![0; len];
            bigger[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
            self.buf = bigger;
            self.end -= self.start;
            self.start = 0;
        }
        let room = self.buf.len().min(self.end + READ_CHUNK);
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..room]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.end += n;
        Ok(n > 0)
    }

    /// Bytes of buffer the reader holds: 0 before the first read, then at
    /// most `max(2 × READ_CHUNK, HEADER_LEN + max payload + MIN_READ)`.
    pub fn capacity(&self) -> usize {
        self.buf.len()
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
