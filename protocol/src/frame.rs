//! Frame types, the fixed header, and each payload's layout.
//!
//! Every multi-byte integer is big-endian (network order). Payload layouts
//! are documented on each type and in `docs/PROTOCOL.md`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// Bytes in a frame header: a `u32` payload length, then a `u8` frame type.
pub const HEADER_LEN: usize = 5;

/// Offset of the payload length (`u32`, big-endian) in the header.
const LEN_OFFSET: usize = 0;
/// Offset of the frame type (`u8`) in the header.
const TYPE_OFFSET: usize = 4;

/// The largest payload a [`crate::Decoder`] accepts unless configured
/// otherwise: 1 MiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// The magic value that opens every [`Hello`]: ASCII `RCMD`.
pub const MAGIC: [u8; 4] = *b"RCMD";

/// The protocol version this crate speaks.
pub const VERSION: u16 = 1;

/// Bytes of the random nonce in a [`Challenge`].
pub const NONCE_LEN: usize = 32;

/// Bytes of the HMAC-SHA256 proof in an [`Auth`].
pub const PROOF_LEN: usize = 32;

macro_rules! frame_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// The type byte of a frame header.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum FrameType {
            $($(#[$doc])* $name = $value,)*
        }

        impl FrameType {
            /// Every frame type, in wire-value order.
            pub const ALL: &'static [FrameType] = &[$(FrameType::$name,)*];

            /// The frame type for a wire value, if it is one.
            ///
            /// ```
            /// use protocol::FrameType;
            /// assert_eq!(FrameType::from_u8(0x20), Some(FrameType::Stdout));
            /// assert_eq!(FrameType::from_u8(0xEE), None);
            /// ```
            #[inline]
            pub fn from_u8(value: u8) -> Option<FrameType> {
                match value {
                    $($value => Some(FrameType::$name),)*
                    _ => None,
                }
            }
        }
    };
}

frame_types! {
    /// Client → server: opens the handshake.
    Hello = 0x01,
    /// Server → client: asks for an authentication proof.
    Challenge = 0x02,
    /// Client → server: the authentication proof.
    Auth = 0x03,
    /// Server → client: the handshake succeeded.
    Welcome = 0x04,
    /// Client → server: run a command.
    Exec = 0x10,
    /// Client → server: bytes for the running command's stdin.
    Stdin = 0x11,
    /// Client → server: the running command's stdin is at its end.
    StdinEof = 0x12,
    /// Client → server: deliver a signal to the running command.
    Signal = 0x13,
    /// Server → client: bytes the command wrote to stdout.
    Stdout = 0x20,
    /// Server → client: bytes the command wrote to stderr.
    Stderr = 0x21,
    /// Server → client: the command has finished; its status.
    Exit = 0x22,
    /// Either way: an error, with a code and a message.
    Error = 0x30,
    /// Either way: a liveness probe.
    Ping = 0x40,
    /// Either way: the answer to a [`FrameType::Ping`].
    Pong = 0x41,
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the payload holds.
    pub frame_type: FrameType,
    /// The payload's length in bytes.
    pub len: u32,
}

impl Header {
    /// Parses a header from exactly [`HEADER_LEN`] bytes. The length is not
    /// checked against any maximum here: that is the decoder's job.
    ///
    /// ```
    /// use protocol::{FrameType, Header};
    /// let h = Header::parse(&[0, 0, 0, 3, 0x20])?;
    /// assert_eq!(h, Header { frame_type: FrameType::Stdout, len: 3 });
    /// # Ok::<(), protocol::DecodeError>(())
    /// ```
    #[inline]
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
        let len = u32::from_be_bytes([
            bytes[LEN_OFFSET],
            bytes[LEN_OFFSET + 1],
            bytes[LEN_OFFSET + 2],
            bytes[LEN_OFFSET + 3],
        ]);
        let type_byte = bytes[TYPE_OFFSET];
        let frame_type = FrameType::from_u8(type_byte).ok_or(DecodeError::UnknownType {
            frame_type: type_byte,
        })?;
        Ok(Header { frame_type, len })
    }

    /// The header's wire bytes.
    #[inline]
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let len = self.len.to_be_bytes();
        [len[0], len[1], len[2], len[3], self.frame_type as u8]
    }

    /// A header for a payload of `len` bytes, or an error when `len` does not
    /// fit the `u32` length field.
    #[inline]
    pub fn new(frame_type: FrameType, len: usize) -> Result<Header, EncodeError> {
        let len = u32::try_from(len).map_err(|_| EncodeError::PayloadTooLarge {
            len,
            max: u32::MAX as usize,
        })?;
        Ok(Header { frame_type, len })
    }
}

/// `Hello`: the client's first frame.
///
/// Payload: `magic[4] version:u16`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// The client's protocol version.
    pub version: u16,
}

impl Default for Hello {
    fn default() -> Hello {
        Hello {
            magic: MAGIC,
            version: VERSION,
        }
    }
}

/// `Challenge`: the server requires authentication.
///
/// Payload: `version:u16 nonce[32]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The server's protocol version.
    pub version: u16,
    /// A fresh random value the client's proof must cover.
    pub nonce: [u8; NONCE_LEN],
}

/// `Auth`: the client's proof that it knows the token.
///
/// Payload: `proof[32]`, HMAC-SHA256 keyed by the token (see [`crate::auth`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The HMAC-SHA256 proof.
    pub proof: [u8; PROOF_LEN],
}

/// `Welcome`: the handshake is done; commands may follow.
///
/// Payload: `version:u16`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The server's protocol version.
    pub version: u16,
}

/// `Exec` flag: a [`Exec::timeout_ms`] follows.
const EXEC_HAS_TIMEOUT: u8 = 0x01;
/// `Exec` flag: a [`Exec::cwd`] follows.
const EXEC_HAS_CWD: u8 = 0x02;
/// `Exec` flag: `Stdin` frames will follow; keep the command's stdin open.
const EXEC_STDIN: u8 = 0x04;
const EXEC_KNOWN_FLAGS: u8 = EXEC_HAS_TIMEOUT | EXEC_HAS_CWD | EXEC_STDIN;

/// `Exec`: run a command.
///
/// Payload: `flags:u8 [timeout_ms:u32] [cwd_len:u16 cwd] env_count:u16
/// (key_len:u16 key value_len:u32 value)* command…` (the command is the rest
/// of the payload). Flags: `0x01` timeout present, `0x02` cwd present,
/// `0x04` stdin follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exec {
    /// The command line, handed to the server's shell as `SHELL -c COMMAND`.
    pub command: Bytes,
    /// A time limit in milliseconds; `None` leaves the server's default.
    pub timeout_ms: Option<u32>,
    /// The working directory; `None` leaves the server's.
    pub cwd: Option<Bytes>,
    /// Environment variables to set for the command.
    pub env: Vec<(Bytes, Bytes)>,
    /// Whether `Stdin` frames (and a `StdinEof`) will follow; when false the
    /// command's stdin is `/dev/null`.
    pub stdin: bool,
}

impl Exec {
    /// An `Exec` for `command` with every option left at its default.
    ///
    /// ```
    /// let exec = protocol::Exec::new("echo hi");
    /// assert_eq!(&exec.command[..], b"echo hi");
    /// assert!(!exec.stdin);
    /// ```
    pub fn new(command: impl Into<Bytes>) -> Exec {
        Exec {
            command: command.into(),
            ..Exec::default()
        }
    }
}

/// `Signal`: deliver a signal to the running command's process group.
///
/// Payload: `signal:u8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// The signal number (2 is SIGINT, the cancel a Ctrl-C sends).
    pub signal: u8,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// It exited with this code.
    Code(i32),
    /// A signal with this number killed it.
    Signal(i32),
}

const TERMINATION_CODE: u8 = 0;
const TERMINATION_SIGNAL: u8 = 1;
const EXIT_TIMED_OUT: u8 = 0x01;

/// `Exit`: the command has finished and all its output has been sent.
///
/// Payload: `kind:u8 value:i32 flags:u8 runtime_us:u64`; kind 0 is an exit
/// code, 1 a signal number; flag `0x01` means the time limit killed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code or the signal that killed it.
    pub termination: Termination,
    /// Whether the time limit ended it.
    pub timed_out: bool,
    /// How long it ran, in microseconds.
    pub runtime_us: u64,
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// The code of an `Error` frame.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
            /// A code this version does not know, kept as received.
            Other(u16),
        }

        impl ErrorCode {
            /// The wire value.
            pub fn to_u16(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $value,)*
                    ErrorCode::Other(value) => value,
                }
            }

            /// The code for a wire value.
            pub fn from_u16(value: u16) -> ErrorCode {
                match value {
                    $($value => ErrorCode::$name,)*
                    other => ErrorCode::Other(other),
                }
            }
        }
    };
}

error_codes! {
    /// A frame could not be decoded: garbage, an unknown type, a bad payload.
    Malformed = 1,
    /// A frame's length is over the receiver's maximum.
    FrameTooLarge = 2,
    /// The `Hello` did not carry [`MAGIC`].
    BadMagic = 3,
    /// The peers speak different protocol versions.
    VersionMismatch = 4,
    /// The authentication proof was wrong.
    AuthFailed = 5,
    /// The server is at its connection limit.
    TooManyConnections = 6,
    /// The server cannot take the request now.
    Busy = 7,
    /// The handshake or the connection's idle time ran out.
    Timeout = 8,
    /// The command could not be started.
    SpawnFailed = 9,
    /// A frame that is valid but not allowed at this point.
    UnexpectedFrame = 10,
    /// The server is shutting down.
    ShuttingDown = 11,
    /// Something went wrong inside the server.
    Internal = 12,
}

/// `Error`: something went wrong; usually the sender closes next.
///
/// Payload: `code:u16 message…` (the message is the rest: bytes, UTF-8 by
/// convention).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFrame {
    /// What kind of error.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: Bytes,
}

impl ErrorFrame {
    /// An error frame with a text message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorFrame {
        ErrorFrame {
            code,
            message: Bytes::from(message.into()),
        }
    }

    /// The message as text, with invalid UTF-8 replaced.
    pub fn message_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.message)
    }
}

/// One frame of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Challenge`].
    Challenge(Challenge),
    /// See [`Auth`].
    Auth(Auth),
    /// See [`Welcome`].
    Welcome(Welcome),
    /// See [`Exec`].
    Exec(Exec),
    /// Bytes for the command's stdin. Payload: the bytes.
    Stdin(Bytes),
    /// End of the command's stdin. Payload: empty.
    StdinEof,
    /// See [`Signal`].
    Signal(Signal),
    /// Bytes from the command's stdout. Payload: the bytes.
    Stdout(Bytes),
    /// Bytes from the command's stderr. Payload: the bytes.
    Stderr(Bytes),
    /// See [`Exit`].
    Exit(Exit),
    /// See [`ErrorFrame`].
    Error(ErrorFrame),
    /// A liveness probe. Payload: `token:u64`, echoed by the `Pong`.
    Ping(u64),
    /// The answer to a `Ping`. Payload: the ping's `token:u64`.
    Pong(u64),
}

impl Frame {
    /// This frame's type byte.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Hello(_) => FrameType::Hello,
            Frame::Challenge(_) => FrameType::Challenge,
            Frame::Auth(_) => FrameType::Auth,
            Frame::Welcome(_) => FrameType::Welcome,
            Frame::Exec(_) => FrameType::Exec,
            Frame::Stdin(_) => FrameType::Stdin,
            Frame::StdinEof => FrameType::StdinEof,
            Frame::Signal(_) => FrameType::Signal,
            Frame::Stdout(_) => FrameType::Stdout,
            Frame::Stderr(_) => FrameType::Stderr,
            Frame::Exit(_) => FrameType::Exit,
            Frame::Error(_) => FrameType::Error,
            Frame::Ping(_) => FrameType::Ping,
            Frame::Pong(_) => FrameType::Pong,
        }
    }

    /// The payload's length in bytes once encoded.
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::Hello(_) => 6,
            Frame::Challenge(_) => 2 + NONCE_LEN,
            Frame::Auth(_) => PROOF_LEN,
            Frame::Welcome(_) => 2,
            Frame::Exec(exec) => {
                let mut len = 1 + 2 + exec.command.len();
                if exec.timeout_ms.is_some() {
                    len += 4;
                }
                if let Some(cwd) = &exec.cwd {
                    len += 2 + cwd.len();
                }
                for (key, value) in &exec.env {
                    len += 2 + key.len() + 4 + value.len();
                }
                len
            }
            Frame::Stdin(data) | Frame::Stdout(data) | Frame::Stderr(data) => data.len(),
            Frame::StdinEof => 0,
            Frame::Signal(_) => 1,
            Frame::Exit(_) => 1 + 4 + 1 + 8,
            Frame::Error(error) => 2 + error.message.len(),
            Frame::Ping(_) | Frame::Pong(_) => 8,
        }
    }

    /// The frame's whole encoded length: header plus payload.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Appends the encoded frame (header and payload) to `dst`.
    ///
    /// Fails, writing nothing, when the payload does not fit the header's
    /// `u32` length or a field does not fit its own length prefix.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use protocol::Frame;
    /// let mut buf = BytesMut::new();
    /// Frame::Stdout("hi".into()).encode(&mut buf)?;
    /// assert_eq!(&buf[..], &[0, 0, 0, 2, 0x20, b'h', b'i']);
    /// # Ok::<(), protocol::EncodeError>(())
    /// ```
    #[inline]
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if let Frame::Stdout(data) | Frame::Stderr(data) | Frame::Stdin(data) = self {
            // The data frames are most of the traffic: no fields to check.
            let header = Header::new(self.frame_type(), data.len())?;
            dst.reserve(HEADER_LEN + data.len());
            dst.put_slice(&header.to_bytes());
            dst.put_slice(data);
            return Ok(());
        }
        self.check_fields()?;
        let header = Header::new(self.frame_type(), self.payload_len())?;
        dst.reserve(self.encoded_len());
        dst.put_slice(&header.to_bytes());
        match self {
            Frame::Hello(hello) => {
                dst.put_slice(&hello.magic);
                dst.put_u16(hello.version);
            }
            Frame::Challenge(challenge) => {
                dst.put_u16(challenge.version);
                dst.put_slice(&challenge.nonce);
            }
            Frame::Auth(auth) => dst.put_slice(&auth.proof),
            Frame::Welcome(welcome) => dst.put_u16(welcome.version),
            Frame::Exec(exec) => encode_exec(exec, dst),
            Frame::Stdin(data) | Frame::Stdout(data) | Frame::Stderr(data) => dst.put_slice(data),
            Frame::StdinEof => {}
            Frame::Signal(signal) => dst.put_u8(signal.signal),
            Frame::Exit(exit) => {
                let (kind, value) = match exit.termination {
                    Termination::Code(code) => (TERMINATION_CODE, code),
                    Termination::Signal(signal) => (TERMINATION_SIGNAL, signal),
                };
                dst.put_u8(kind);
                dst.put_i32(value);
                dst.put_u8(if exit.timed_out { EXIT_TIMED_OUT } else { 0 });
                dst.put_u64(exit.runtime_us);
            }
            Frame::Error(error) => {
                dst.put_u16(error.code.to_u16());
                dst.put_slice(&error.message);
            }
            Frame::Ping(token) | Frame::Pong(token) => dst.put_u64(*token),
        }
        Ok(())
    }

    /// Checks the length prefixes inside a payload before anything is written.
    fn check_fields(&self) -> Result<(), EncodeError> {
        let Frame::Exec(exec) = self else {
            return Ok(());
        };
        let too_long = |field: &'static str, len: usize, max: usize| {
            if len > max {
                Err(EncodeError::FieldTooLong { field, len, max })
            } else {
                Ok(())
            }
        };
        if let Some(cwd) = &exec.cwd {
            too_long("cwd", cwd.len(), u16::MAX as usize)?;
        }
        too_long("env count", exec.env.len(), u16::MAX as usize)?;
        for (key, value) in &exec.env {
            too_long("env key", key.len(), u16::MAX as usize)?;
            too_long("env value", value.len(), u32::MAX as usize)?;
        }
        Ok(())
    }

    /// Decodes a payload of the given type. `payload` is exactly the bytes
    /// the header announced; data frames keep a slice of it, without a copy.
    pub fn decode_payload(frame_type: FrameType, payload: Bytes) -> Result<Frame, DecodeError> {
        let mut cur = Cursor {
            frame_type,
            buf: payload,
        };
        let frame = match frame_type {
            FrameType::Hello => {
                let magic = cur.array::<4>("magic")?;
                let version = cur.u16("version")?;
                Frame::Hello(Hello { magic, version })
            }
            FrameType::Challenge => {
                let version = cur.u16("version")?;
                let nonce = cur.array::<NONCE_LEN>("nonce")?;
                Frame::Challenge(Challenge { version, nonce })
            }
            FrameType::Auth => Frame::Auth(Auth {
                proof: cur.array::<PROOF_LEN>("proof")?,
            }),
            FrameType::Welcome => Frame::Welcome(Welcome {
                version: cur.u16("version")?,
            }),
            FrameType::Exec => Frame::Exec(decode_exec(&mut cur)?),
            FrameType::Stdin => Frame::Stdin(cur.rest()),
            FrameType::StdinEof => Frame::StdinEof,
            FrameType::Signal => Frame::Signal(Signal {
                signal: cur.u8("signal")?,
            }),
            FrameType::Stdout => Frame::Stdout(cur.rest()),
            FrameType::Stderr => Frame::Stderr(cur.rest()),
            FrameType::Exit => {
                let kind = cur.u8("termination kind")?;
                let value = cur.i32("termination value")?;
                let termination = match kind {
                    TERMINATION_CODE => Termination::Code(value),
                    TERMINATION_SIGNAL => Termination::Signal(value),
                    _ => return Err(cur.malformed("termination kind is neither 0 nor 1")),
                };
                let flags = cur.u8("exit flags")?;
                if flags & !EXIT_TIMED_OUT != 0 {
                    return Err(cur.malformed("unknown exit flags"));
                }
                let runtime_us = cur.u64("runtime")?;
                Frame::Exit(Exit {
                    termination,
                    timed_out: flags & EXIT_TIMED_OUT != 0,
                    runtime_us,
                })
            }
            FrameType::Error => {
                let code = ErrorCode::from_u16(cur.u16("error code")?);
                Frame::Error(ErrorFrame {
                    code,
                    message: cur.rest(),
                })
            }
            FrameType::Ping => Frame::Ping(cur.u64("ping token")?),
            FrameType::Pong => Frame::Pong(cur.u64("pong token")?),
        };
        cur.finish()?;
        Ok(frame)
    }
}

fn encode_exec(exec: &Exec, dst: &mut BytesMut) {
    let mut flags = 0;
    if exec.timeout_ms.is_some() {
        flags |= EXEC_HAS_TIMEOUT;
    }
    if exec.cwd.is_some() {
        flags |= EXEC_HAS_CWD;
    }
    if exec.stdin {
        flags |= EXEC_STDIN;
    }
    dst.put_u8(flags);
    if let Some(timeout) = exec.timeout_ms {
        dst.put_u32(timeout);
    }
    // The casts below were checked by `check_fields`.
    if let Some(cwd) = &exec.cwd {
        dst.put_u16(cwd.len() as u16);
        dst.put_slice(cwd);
    }
    dst.put_u16(exec.env.len() as u16);
    for (key, value) in &exec.env {
        dst.put_u16(key.len() as u16);
        dst.put_slice(key);
        dst.put_u32(value.len() as u32);
        dst.put_slice(value);
    }
    dst.put_slice(&exec.command);
}

fn decode_exec(cur: &mut Cursor) -> Result<Exec, DecodeError> {
    let flags = cur.u8("exec flags")?;
    if flags & !EXEC_KNOWN_FLAGS != 0 {
        return Err(cur.malformed("unknown exec flags"));
    }
    let timeout_ms = if flags & EXEC_HAS_TIMEOUT != 0 {
        Some(cur.u32("timeout")?)
    } else {
        None
    };
    let cwd = if flags & EXEC_HAS_CWD != 0 {
        let len = cur.u16("cwd length")?;
        Some(cur.bytes(usize::from(len), "cwd")?)
    } else {
        None
    };
    let count = cur.u16("env count")?;
    // Each entry takes at least 6 bytes, so a count the payload cannot hold
    // is refused before anything is allocated for it.
    if usize::from(count) * 6 > cur.buf.remaining() {
        return Err(cur.malformed("env count larger than the payload"));
    }
    let mut env = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let key_len = cur.u16("env key length")?;
        let key = cur.bytes(usize::from(key_len), "env key")?;
        let value_len = cur.u32("env value length")?;
        // u32 → usize cannot truncate on the 32- and 64-bit targets we build for.
        let value = cur.bytes(value_len as usize, "env value")?;
        env.push((key, value));
    }
    Ok(Exec {
        command: cur.rest(),
        timeout_ms,
        cwd,
        env,
        stdin: flags & EXEC_STDIN != 0,
    })
}

/// A bounds-checked reader over one payload: every accessor fails with a
/// typed error instead of panicking when the payload is short.
struct Cursor {
    frame_type: FrameType,
    buf: Bytes,
}

impl Cursor {
    fn malformed(&self, reason: &'static str) -> DecodeError {
        DecodeError::Malformed {
            frame_type: self.frame_type,
            reason,
        }
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        if self.buf.remaining() < n {
            Err(DecodeError::Truncated {
                frame_type: self.frame_type,
                field,
            })
        } else {
            Ok(())
        }
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.need(4, field)?;
        Ok(self.buf.get_i32())
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.need(8, field)?;
        Ok(self.buf.get_u64())
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        self.need(N, field)?;
        let mut out = [0; N];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }

    fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, field)?;
        Ok(self.buf.split_to(n))
    }

    fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                frame_type: self.frame_type,
                extra: self.buf.len(),
            })
        }
    }
}
