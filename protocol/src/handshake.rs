//! The handshake as two sans-I/O state machines: frames in, frames out.
//!
//! ```text
//! client                                   server
//!   Hello{magic, version}  ───────────────▶
//!                          ◀─────────────── Welcome{version}        (no token)
//!                          ◀─────────────── Challenge{version, nonce} (token)
//!   Auth{proof}            ───────────────▶
//!                          ◀─────────────── Welcome{version} | Error{AuthFailed}
//! ```
//!
//! Either side answers a bad magic or a version mismatch with a clear error;
//! the server sends it as an `Error` frame before closing.
//!
//! ```
//! use protocol::handshake::{ClientHandshake, ClientStep, ServerHandshake, ServerStep};
//!
//! let (mut client, hello) = ClientHandshake::new(Some(b"secret".to_vec()));
//! let mut server = ServerHandshake::new(Some(b"secret".to_vec()), [9; 32]);
//! let ServerStep::Reply(challenge) = server.receive(hello) else { panic!() };
//! let ClientStep::Send(auth) = client.receive(challenge)? else { panic!() };
//! let ServerStep::Accept(welcome) = server.receive(auth) else { panic!() };
//! assert!(matches!(client.receive(welcome)?, ClientStep::Done { server_version: 1 }));
//! # Ok::<(), protocol::handshake::HandshakeError>(())
//! ```

use crate::auth;
use crate::frame::{
    Auth, Challenge, ErrorCode, ErrorFrame, Frame, FrameType, Hello, Welcome, MAGIC, NONCE_LEN,
    VERSION,
};

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The client's hello did not start with [`MAGIC`]: not our protocol.
    #[error("not this protocol: bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The two sides speak different versions.
    #[error("protocol version mismatch: we speak {ours}, the peer speaks {theirs}")]
    VersionMismatch {
        /// Our version.
        ours: u16,
        /// The peer's.
        theirs: u16,
    },
    /// The server asks for a token and the client has none.
    #[error("the server requires authentication; give a token file")]
    TokenRequired,
    /// The proof was wrong.
    #[error("authentication failed")]
    AuthFailed,
    /// The server answered with an `Error` frame.
    #[error("server refused: {message} ({code:?})")]
    Refused {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// A frame that has no place in the handshake.
    #[error("unexpected {0:?} frame during the handshake")]
    Unexpected(FrameType),
}

/// What the client does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStep {
    /// Send this frame and wait for the next.
    Send(Frame),
    /// The handshake is done; commands may be sent.
    Done {
        /// The server's protocol version.
        server_version: u16,
    },
}

/// The client's side of the handshake.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    token: Option<Vec<u8>>,
    sent_auth: bool,
}

impl ClientHandshake {
    /// Starts a handshake; returns the machine and the `Hello` to send.
    pub fn new(token: Option<Vec<u8>>) -> (ClientHandshake, Frame) {
        let machine = ClientHandshake {
            token,
            sent_auth: false,
        };
        (machine, Frame::Hello(Hello::default()))
    }

    /// Feeds the server's next frame.
    pub fn receive(&mut self, frame: Frame) -> Result<ClientStep, HandshakeError> {
        match frame {
            Frame::Welcome(Welcome { version }) => {
                check_version(version)?;
                Ok(ClientStep::Done {
                    server_version: version,
                })
            }
            Frame::Challenge(Challenge { version, nonce }) if !self.sent_auth => {
                check_version(version)?;
                let token = self.token.as_deref().ok_or(HandshakeError::TokenRequired)?;
                self.sent_auth = true;
                Ok(ClientStep::Send(Frame::Auth(Auth {
                    proof: auth::proof(token, &nonce),
                })))
            }
            Frame::Error(error) => Err(match error.code {
                ErrorCode::AuthFailed => HandshakeError::AuthFailed,
                code => HandshakeError::Refused {
                    code,
                    message: error.message_lossy().into_owned(),
                },
            }),
            other => Err(HandshakeError::Unexpected(other.frame_type())),
        }
    }
}

fn check_version(theirs: u16) -> Result<(), HandshakeError> {
    if theirs == VERSION {
        Ok(())
    } else {
        Err(HandshakeError::VersionMismatch {
            ours: VERSION,
            theirs,
        })
    }
}

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this frame and wait for the client's next.
    Reply(Frame),
    /// Send this `Welcome`; the client is in.
    Accept(Frame),
    /// Send this `Error` and close, for this reason.
    Reject {
        /// The `Error` frame to send.
        reply: Frame,
        /// Why, for the log.
        reason: HandshakeError,
    },
}

/// The server's side of the handshake.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    token: Option<Vec<u8>>,
    nonce: [u8; NONCE_LEN],
    challenged: bool,
}

impl ServerHandshake {
    /// A handshake that requires `token` when it is `Some`. `nonce` must be
    /// fresh randomness for every connection.
    pub fn new(token: Option<Vec<u8>>, nonce: [u8; NONCE_LEN]) -> ServerHandshake {
        ServerHandshake {
            token,
            nonce,
            challenged: false,
        }
    }

    /// Feeds the client's next frame.
    pub fn receive(&mut self, frame: Frame) -> ServerStep {
        let welcome = || Frame::Welcome(Welcome { version: VERSION });
        match (frame, &self.token) {
            (Frame::Hello(hello), _) if !self.challenged => {
                if hello.magic != MAGIC {
                    return reject(
                        ErrorCode::BadMagic,
                        "not this protocol (bad magic in hello)".into(),
                        HandshakeError::BadMagic(hello.magic),
                    );
                }
                if hello.version != VERSION {
                    return reject(
                        ErrorCode::VersionMismatch,
                        format!(
                            "protocol version mismatch: server speaks {VERSION}, client sent {}",
                            hello.version
                        ),
                        HandshakeError::VersionMismatch {
                            ours: VERSION,
                            theirs: hello.version,
                        },
                    );
                }
                match self.token {
                    None => ServerStep::Accept(welcome()),
                    Some(_) => {
                        self.challenged = true;
                        ServerStep::Reply(Frame::Challenge(Challenge {
                            version: VERSION,
                            nonce: self.nonce,
                        }))
                    }
                }
            }
            (Frame::Auth(proof), Some(token)) if self.challenged => {
                if auth::verify(token, &self.nonce, &proof.proof) {
                    ServerStep::Accept(welcome())
                } else {
                    reject(
                        ErrorCode::AuthFailed,
                        "authentication failed".into(),
                        HandshakeError::AuthFailed,
                    )
                }
            }
            (other, _) => {
                let frame_type = other.frame_type();
                reject(
                    ErrorCode::UnexpectedFrame,
                    format!("unexpected {frame_type:?} frame during the handshake"),
                    HandshakeError::Unexpected(frame_type),
                )
            }
        }
    }
}

fn reject(code: ErrorCode, message: String, reason: HandshakeError) -> ServerStep {
    ServerStep::Reject {
        reply: Frame::Error(ErrorFrame::new(code, message)),
        reason,
    }
}
