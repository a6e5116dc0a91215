//! The crate's typed errors.
//!
//! # Design
//!
//! A [`SessionError`] names the server address and a [`Cause`]; its
//! `Display` is the one line the binary prints (`127.0.0.1:1: connection
//! refused`), so whoever reads stderr learns where and why in one go.
//! [`Error`] adds the failures that happen before any connection (a token
//! or hosts file that cannot be read, a usage mistake) and knows its own
//! exit status.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use protocol::handshake::HandshakeError;
use protocol::{DecodeError, EncodeError, ErrorCode, ErrorFrame, FrameType, Termination};

use crate::peer_text::sanitize;
use crate::status;

/// Why a session with one server failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The address could not be resolved.
    #[error("cannot resolve address: {0}")]
    Resolve(io::Error),
    /// The address resolved to nothing.
    #[error("address resolves to nothing")]
    NoAddress,
    /// Nothing listens there.
    #[error("connection refused")]
    Refused,
    /// The connect did not complete in time.
    #[error("connect timed out after {}", secs(*.0))]
    ConnectTimedOut(Duration),
    /// The connect failed otherwise.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// The server did not finish the handshake in time.
    #[error("handshake timed out after {} (is it a --legacy server?)", secs(*.0))]
    HandshakeTimedOut(Duration),
    /// The handshake failed: auth failed, version mismatch, refused.
    #[error("{0}")]
    Handshake(HandshakeError),
    /// The server hung up during the handshake. A server of ours says why
    /// before it closes (an `Error` frame); a bare close is what the
    /// seed's server does with a framed hello.
    #[error("server closed the connection during the handshake (is it a --legacy server?)")]
    ClosedDuringHandshake,
    /// The server hung up before the command finished.
    #[error("connection closed by the server before the command finished")]
    Closed,
    /// Reading or writing the socket failed.
    #[error("connection lost: {0}")]
    Io(io::Error),
    /// Writing the command's output to our stdout or stderr failed other
    /// than by a closed pipe (a full disk, say): output was lost, which must
    /// not pass for success.
    #[error("cannot write the command's output here: {0}")]
    Output(io::Error),
    /// The server sent bytes that are not a valid frame, after a
    /// handshake that went well: it is no legacy server, so no hint.
    #[error("protocol error: {0}")]
    Decode(DecodeError),
    /// The server's answer to our hello is not a valid frame: most often a
    /// legacy server's reply (its little-endian length, read as a frame
    /// header, is huge).
    #[error("protocol error: {0} (is it a --legacy server?)")]
    HandshakeDecode(DecodeError),
    /// The server ended the session with an `Error` frame.
    #[error("server error: {message} ({code:?})")]
    Server {
        /// Its code.
        code: ErrorCode,
        /// Its message, made printable ([`crate::peer_text::sanitize`]).
        message: String,
    },
    /// The server reported an exit no process can have (code outside
    /// 0..=255, signal outside 1..=127).
    #[error("protocol error: the server reported an impossible {}", describe_termination(*.0))]
    ExitOutOfRange(Termination),
    /// The server sent a frame that has no place here.
    #[error("protocol error: unexpected {0:?} frame from the server")]
    Unexpected(FrameType),
    /// A frame could not be encoded (a command too large for the server).
    #[error("cannot send: {0}")]
    Encode(EncodeError),
    /// A line of stdin mode grew past the frame limit before its end: it
    /// cannot be sent, so it is not buffered further.
    #[error("cannot send: a command line of over {max} bytes is over the frame limit")]
    LineTooLong {
        /// The frame payload limit.
        max: usize,
    },
    /// A legacy-mode reply could not be decoded; most often the server
    /// speaks the framed protocol (its `Error` frame's header, read as a
    /// little-endian length, is huge).
    #[error("legacy protocol error: {0} (is the server in --legacy mode?)")]
    Legacy(protocol::legacy::LegacyError),
    /// A legacy-mode reply after good ones could not be decoded: the
    /// server does speak the format, so no hint.
    #[error("legacy protocol error: {0}")]
    LegacyLater(protocol::legacy::LegacyError),
    /// A legacy-mode request is over the seed server's read size.
    #[error("command of {len} bytes is over the legacy limit of {max}")]
    LegacyRequestTooLong {
        /// The command's length.
        len: usize,
        /// The seed's `recv` size.
        max: usize,
    },
}

fn secs(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

fn describe_termination(termination: Termination) -> String {
    match termination {
        Termination::Code(code) => format!("exit code {code}"),
        Termination::Signal(signal) => format!("signal {signal}"),
    }
}

impl Cause {
    /// The cause for an `Error` frame that ends the session, its message
    /// made printable.
    pub fn server(error: &ErrorFrame) -> Cause {
        Cause::Server {
            code: error.code,
            message: sanitize(&error.message),
        }
    }
}

impl From<protocol::io::ReadError> for Cause {
    fn from(error: protocol::io::ReadError) -> Cause {
        match error {
            protocol::io::ReadError::Io(e) => Cause::Io(e),
            protocol::io::ReadError::Decode(e) => Cause::Decode(e),
            protocol::io::ReadError::UnexpectedEof => Cause::Closed,
        }
    }
}

impl From<protocol::io::WriteError> for Cause {
    fn from(error: protocol::io::WriteError) -> Cause {
        match error {
            protocol::io::WriteError::Io(e) => Cause::Io(e),
            protocol::io::WriteError::Encode(e) => Cause::Encode(e),
        }
    }
}

/// A session with the server at `addr` failed.
///
/// ```
/// use client::{Cause, SessionError};
/// let error = SessionError::new("127.0.0.1:1", Cause::Refused);
/// assert_eq!(error.to_string(), "127.0.0.1:1: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{addr}: {cause}")]
pub struct SessionError {
    /// The server's address, as given.
    pub addr: String,
    /// What went wrong.
    pub cause: Cause,
}

impl SessionError {
    /// An error for `addr`.
    pub fn new(addr: impl Into<String>, cause: Cause) -> SessionError {
        SessionError {
            addr: addr.into(),
            cause,
        }
    }
}

/// Everything [`crate::run`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A session failed (connect, handshake, protocol).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The token file could not be read.
    #[error("cannot read token file {}: {source}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The hosts file could not be read.
    #[error("cannot read hosts file {}: {source}", path.display())]
    HostsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The options do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The Ctrl-C handler could not be installed.
    #[error("cannot install the Ctrl-C handler: {0}")]
    Signals(io::Error),
    /// The terminal's line editor failed.
    #[error("line editor: {0}")]
    Editor(String),
}

impl Error {
    /// The documented exit status for this error: [`status::USAGE`] for
    /// usage mistakes, [`status::FAILURE`] for everything else.
    ///
    /// ```
    /// use client::Error;
    /// assert_eq!(Error::Usage("no".into()).exit_code(), 2);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => status::USAGE,
            _ => status::FAILURE,
        }
    }
}
