//! The sans-I/O decoder: bytes in, in any chunking; whole frames out.

use bytes::{Buf, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::frame::{Frame, FrameType, Header, DEFAULT_MAX_PAYLOAD, HEADER_LEN};

/// Turns a byte stream, received in chunks of any size, into frames.
///
/// A pure state machine over the caller's buffer, after tokio-util's
/// length-delimited codec: in state `Head` it waits for [`HEADER_LEN`] bytes,
/// checks the announced length against the maximum **before** anything else
/// happens, then in state `Data` waits for the whole payload. `Ok(None)`
/// means "need more bytes"; `Err` means the stream is corrupt and should be
/// closed. The decoder never reserves memory because of what a header
/// claims: the buffer grows only with bytes actually received.
///
/// ```
/// use bytes::BytesMut;
/// use protocol::{Decoder, Frame};
///
/// let mut decoder = Decoder::new();
/// // A Stdout frame "hi", arriving in two pieces: half a header first.
/// let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// buf.extend_from_slice(&[2, 0x20, b'h', b'i']);
/// assert_eq!(decoder.decode(&mut buf)?, Some(Frame::Stdout("hi".into())));
/// assert!(buf.is_empty());
/// # Ok::<(), protocol::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    max_payload: usize,
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Head,
    Data(Header),
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder accepting payloads up to [`DEFAULT_MAX_PAYLOAD`] (1 MiB).
    pub fn new() -> Decoder {
        Decoder::with_max_payload(DEFAULT_MAX_PAYLOAD)
    }

    /// A decoder accepting payloads up to `max_payload` bytes.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use protocol::{DecodeError, Decoder};
    ///
    /// let mut decoder = Decoder::with_max_payload(4);
    /// let mut buf = BytesMut::from(&[0u8, 0, 0, 5, 0x20][..]);
    /// assert_eq!(
    ///     decoder.decode(&mut buf),
    ///     Err(DecodeError::FrameTooLarge { len: 5, max: 4 })
    /// );
    /// ```
    pub fn with_max_payload(max_payload: usize) -> Decoder {
        Decoder {
            max_payload,
            state: State::Head,
        }
    }

    /// The largest payload this decoder accepts.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Whether the decoder is between frames (no partial header or payload
    /// consumed). A stream that ends here ended cleanly.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// The header at the front of `src`, its length checked against the
    /// maximum; `None` until all of it is there. Consumes nothing.
    #[inline]
    fn parse_header(&self, src: &[u8]) -> Result<Option<Header>, DecodeError> {
        let Some(head) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let head: &[u8; HEADER_LEN] = head.try_into().expect("slice of HEADER_LEN");
        let header = Header::parse(head)?;
        if u64::from(header.len) > self.max_payload as u64 {
            return Err(DecodeError::FrameTooLarge {
                len: u64::from(header.len),
                max: self.max_payload,
            });
        }
        Ok(Some(header))
    }

    /// Decodes one frame from the front of `src`, consuming its bytes.
    #[inline]
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let header = match self.state {
            State::Data(header) => header,
            State::Head => {
                let Some(header) = self.parse_header(src)? else {
                    return Ok(None);
                };
                src.advance(HEADER_LEN);
                self.state = State::Data(header);
                header
            }
        };
        // Checked against max_payload above, so this fits usize.
        let len = header.len as usize;
        if src.len() < len {
            return Ok(None);
        }
        self.state = State::Head;
        let payload = src.split_to(len).freeze();
        // The data frames are most of the traffic: build them directly.
        Ok(Some(match header.frame_type {
            FrameType::Stdout => Frame::Stdout(payload),
            FrameType::Stderr => Frame::Stderr(payload),
            FrameType::Stdin => Frame::Stdin(payload),
            other => Frame::decode_payload(other, payload)?,
        }))
    }

    /// Decodes the frame at the front of `src` in place, without copying the
    /// payload or touching a reference count: the borrowed counterpart of
    /// [`Decoder::decode`], for callers that use a frame before reading more
    /// (write the output out, then drop the bytes). Returns the frame and how
    /// many bytes of `src` it took; the caller consumes them. `Ok(None)`
    /// means `src` does not hold a whole frame yet. The decoder's own state
    /// is not used, so do not mix this with a half-finished [`Decoder::decode`].
    ///
    /// ```
    /// use protocol::{Decoder, FrameRef};
    ///
    /// let wire = [0u8, 0, 0, 2, 0x20, b'h', b'i', 0, 0];
    /// let decoder = Decoder::new();
    /// let (frame, used) = decoder.decode_borrowed(&wire)?.unwrap();
    /// assert_eq!(frame, FrameRef::Stdout(b"hi"));
    /// assert_eq!(used, 7);
    /// assert_eq!(decoder.decode_borrowed(&wire[used..])?, None);
    /// # Ok::<(), protocol::DecodeError>(())
    /// ```
    #[inline]
    pub fn decode_borrowed<'a>(
        &self,
        src: &'a [u8],
    ) -> Result<Option<(FrameRef<'a>, usize)>, DecodeError> {
        let Some(header) = self.parse_header(src)? else {
            return Ok(None);
        };
        // Checked against max_payload, so this fits usize.
        let end = HEADER_LEN + header.len as usize;
        let Some(payload) = src.get(HEADER_LEN..end) else {
            return Ok(None);
        };
        let frame = match header.frame_type {
            FrameType::Stdout => FrameRef::Stdout(payload),
            FrameType::Stderr => FrameRef::Stderr(payload),
            FrameType::Stdin => FrameRef::Stdin(payload),
            other => FrameRef::Other(Frame::decode_payload(
                other,
                bytes::Bytes::copy_from_slice(payload),
            )?),
        };
        Ok(Some((frame, end)))
    }

    /// The whole length (header and payload) of the frame at the front of
    /// `src`, once its header is there and its length is checked against the
    /// maximum; `None` while the header is incomplete. Consumes nothing, so a
    /// caller that keeps its own buffer can tell how much room the frame
    /// needs before all of it has arrived.
    ///
    /// ```
    /// use protocol::{Decoder, HEADER_LEN};
    ///
    /// let decoder = Decoder::new();
    /// assert_eq!(decoder.frame_len(&[0, 0, 0])?, None);
    /// assert_eq!(decoder.frame_len(&[0, 0, 0, 9, 0x20, b'x'])?, Some(HEADER_LEN + 9));
    /// # Ok::<(), protocol::DecodeError>(())
    /// ```
    #[inline]
    pub fn frame_len(&self, src: &[u8]) -> Result<Option<usize>, DecodeError> {
        // Checked against max_payload, so this fits usize.
        Ok(self
            .parse_header(src)?
            .map(|header| HEADER_LEN + header.len as usize))
    }

    /// Whether `src` holds the start of a frame that was cut off: the stream
    /// ended mid-frame if this is true at end of input.
    pub fn has_partial(&self, src: &BytesMut) -> bool {
        !self.is_idle() || !src.is_empty()
    }
}

/// A frame decoded in place by [`Decoder::decode_borrowed`]: data frames
/// borrow their payload from the receive buffer; the rest are owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// Bytes from the command's stdout.
    Stdout(&'a [u8]),
    /// Bytes from the command's stderr.
    Stderr(&'a [u8]),
    /// Bytes for the command's stdin.
    Stdin(&'a [u8]),
    /// Any other frame.
    Other(Frame),
}

impl FrameRef<'_> {
    /// The owned frame.
    pub fn to_owned(&self) -> Frame {
        self.clone().into_owned()
    }

    /// The owned frame; data payloads are copied, other frames moved.
    pub fn into_owned(self) -> Frame {
        match self {
            FrameRef::Stdout(d) => Frame::Stdout(bytes::Bytes::copy_from_slice(d)),
            FrameRef::Stderr(d) => Frame::Stderr(bytes::Bytes::copy_from_slice(d)),
            FrameRef::Stdin(d) => Frame::Stdin(bytes::Bytes::copy_from_slice(d)),
            FrameRef::Other(frame) => frame,
        }
    }
}

/// Borrows a data frame's payload; other frames are cloned (they are small).
///
/// ```
/// use protocol::{Frame, FrameRef};
///
/// let frame = Frame::Stdout("hi".into());
/// assert_eq!(FrameRef::from(&frame), FrameRef::Stdout(b"hi"));
/// assert_eq!(FrameRef::from(&Frame::Ping(1)), FrameRef::Other(Frame::Ping(1)));
/// ```
impl<'a> From<&'a Frame> for FrameRef<'a> {
    fn from(frame: &'a Frame) -> FrameRef<'a> {
        match frame {
            Frame::Stdout(d) => FrameRef::Stdout(d),
            Frame::Stderr(d) => FrameRef::Stderr(d),
            Frame::Stdin(d) => FrameRef::Stdin(d),
            other => FrameRef::Other(other.clone()),
        }
    }
}

/// Encodes frames into a caller's buffer, refusing payloads over the peer's
/// maximum so that nothing is sent the other side must reject.
///
/// ```
/// use bytes::BytesMut;
/// use protocol::{Encoder, Frame};
///
/// let encoder = Encoder::with_max_payload(4);
/// let mut buf = BytesMut::new();
/// encoder.encode(&Frame::Stdout("abcd".into()), &mut buf)?;
/// assert!(encoder.encode(&Frame::Stdout("abcde".into()), &mut buf).is_err());
/// assert_eq!(buf.len(), 5 + 4);
/// # Ok::<(), protocol::EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Encoder {
    max_payload: usize,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder for peers with the default maximum (1 MiB).
    pub fn new() -> Encoder {
        Encoder::with_max_payload(DEFAULT_MAX_PAYLOAD)
    }

    /// An encoder for peers accepting payloads up to `max_payload` bytes.
    pub fn with_max_payload(max_payload: usize) -> Encoder {
        Encoder { max_payload }
    }

    /// The largest payload this encoder writes.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Appends `frame` to `dst`, or fails writing nothing.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let len = frame.payload_len();
        if len > self.max_payload {
            return Err(EncodeError::PayloadTooLarge {
                len,
                max: self.max_payload,
            });
        }
        frame.encode(dst)
    }
}
