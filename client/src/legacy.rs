//! `--legacy`: the seed's wire format, for the seed's own Python server.
//!
//! # Design
//!
//! The seed's format has no framing on the request side: the server takes
//! whatever one `recv(1024)` returns as the command. So requests go out
//! one at a time, each waiting for its reply, never longer than
//! [`protocol::legacy::MAX_REQUEST`]; and an empty line is never sent (the
//! seed would wait for it forever). The reply (a little-endian length then
//! exactly that many bytes, stdout then stderr merged) is decoded by the
//! protocol crate's [`ReplyDecoder`], which checks the length against a
//! maximum before anything is buffered. The format carries no exit status,
//! so every command that got a reply counts as status 0.
//!
//! A terminal gets the seed's `CMD:` prompt (with line editing); piped
//! input is read one command a line, without prompts. `bye`/`exit` end the
//! session by closing the connection, which the seed's server survives.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::TcpStream;

use bytes::{Bytes, BytesMut};
use protocol::legacy::{ReplyDecoder, MAX_REQUEST};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::conn::connect_tcp;
use crate::error::{Cause, Error, SessionError};
use crate::session::{classify_line, Line};
use crate::status;
use crate::Options;

/// The seed's prompt.
pub const PROMPT: &str = "CMD:";

/// A connection speaking the seed's format.
#[derive(Debug)]
pub struct LegacySession {
    stream: TcpStream,
    decoder: ReplyDecoder,
    buf: BytesMut,
    /// Replies decoded so far: after one, the server is known to speak
    /// the format, and a bad reply gets no "is it --legacy?" hint.
    replies: usize,
}

impl LegacySession {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> LegacySession {
        LegacySession {
            stream,
            decoder: ReplyDecoder::new(),
            buf: BytesMut::new(),
            replies: 0,
        }
    }

    /// Sends one command and returns its whole reply.
    pub fn run(&mut self, command: &[u8]) -> Result<Bytes, Cause> {
        if command.len() > MAX_REQUEST {
            return Err(Cause::LegacyRequestTooLong {
                len: command.len(),
                max: MAX_REQUEST,
            });
        }
        self.stream.write_all(command).map_err(Cause::Io)?;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let decoded = self.decoder.decode(&mut self.buf).map_err(|e| {
                if self.replies == 0 {
                    Cause::Legacy(e)
                } else {
                    Cause::LegacyLater(e)
                }
            })?;
            if let Some(reply) = decoded {
                self.replies += 1;
                return Ok(reply);
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Cause::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Cause::Io(e)),
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Runs `--legacy` mode: one-shot with a COMMAND, else a `CMD:` loop.
pub fn run(options: &Options) -> Result<u8, Error> {
    let addr = options.connect.as_str();
    let fail = |cause| Error::from(SessionError::new(addr, cause));
    let stream = connect_tcp(addr, options.connect_timeout).map_err(fail)?;
    let mut session = LegacySession::new(stream);
    // `end_line`: at a terminal, a reply that leaves its last line open
    // (`printf abc`) gets a newline, or the next prompt would draw over it.
    let mut exec = |command: &[u8], end_line: bool| -> Result<bool, Error> {
        let reply = session.run(command).map_err(fail)?;
        let mut out = io::stdout().lock();
        let open = end_line && reply.last().is_some_and(|&b| b != b'\n');
        let newline: &[u8] = if open { b"\n" } else { b"" };
        // A closed stdout ends the session quietly; output lost otherwise
        // (a full disk) is an error.
        match out
            .write_all(&reply)
            .and_then(|()| out.write_all(newline))
            .and_then(|()| out.flush())
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(fail(Cause::Output(e))),
        }
    };
    if let Some(command) = options.command_line() {
        exec(&command, false)?;
        return Ok(status::SUCCESS);
    }
    if io::stdin().is_terminal() {
        let mut editor = DefaultEditor::new().map_err(|e| Error::Editor(e.to_string()))?;
        loop {
            let line = match editor.readline(PROMPT) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(Error::Editor(e.to_string())),
            };
            match classify_line(line.as_bytes()) {
                Line::Blank => continue,
                Line::Quit => break,
                Line::Command(command) => {
                    let _ = editor.add_history_entry(line.trim());
                    if !exec(command, true)? {
                        break;
                    }
                }
            }
        }
    } else {
        let mut stdin = io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            if stdin.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                break;
            }
            match classify_line(&line) {
                Line::Blank => continue,
                Line::Quit => break,
                Line::Command(command) => {
                    if !exec(command, false)? {
                        break;
                    }
                }
            }
        }
    }
    Ok(status::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A session with a peer on loopback that runs `script` on its end of
    /// the connection, the first request already read into `request`.
    fn with_peer(
        script: impl FnOnce(TcpStream, &mut [u8; 1024], usize) + Send + 'static,
    ) -> (LegacySession, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = conn.read(&mut request).unwrap();
            script(conn, &mut request, n);
        });
        (
            LegacySession::new(TcpStream::connect(addr).unwrap()),
            server,
        )
    }

    #[test]
    fn reply_split_across_reads_is_reassembled() {
        let (mut session, server) = with_peer(|mut conn, request, n| {
            assert_eq!(&request[..n], b"echo hi");
            for piece in [&[3u8, 0][..], &[0, 0, b'h'], b"i\n"] {
                conn.write_all(piece).unwrap();
                conn.flush().unwrap();
                thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        assert_eq!(&session.run(b"echo hi").unwrap()[..], b"hi\n");
        server.join().unwrap();
    }

    #[test]
    fn negative_length_is_a_protocol_error_not_a_panic() {
        let (mut session, server) = with_peer(|mut conn, _, _| {
            conn.write_all(&(-5i32).to_le_bytes()).unwrap();
        });
        assert!(matches!(session.run(b"x"), Err(Cause::Legacy(_))));
        server.join().unwrap();
    }

    /// Regression: a bad reply after good ones still asked whether the
    /// server was in --legacy mode, which it had just shown it is.
    #[test]
    fn bad_reply_after_a_good_one_has_no_legacy_mode_hint() {
        let (mut session, server) = with_peer(|mut conn, request, _| {
            conn.write_all(&[2, 0, 0, 0, b'o', b'k']).unwrap();
            let _ = conn.read(request).unwrap();
            conn.write_all(&(-5i32).to_le_bytes()).unwrap();
        });
        assert_eq!(&session.run(b"a").unwrap()[..], b"ok");
        let error = session.run(b"b").unwrap_err();
        assert!(matches!(error, Cause::LegacyLater(_)), "{error:?}");
        assert!(!error.to_string().contains("--legacy"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn overlong_command_is_refused_before_sending() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut session = LegacySession::new(stream);
        assert!(matches!(
            session.run(&[b'x'; MAX_REQUEST + 1]),
            Err(Cause::LegacyRequestTooLong {
                len: 1025,
                max: 1024
            })
        ));
    }
}
