//! Connecting, the handshake, and a connection's two halves.
//!
//! # Design
//!
//! A [`Connection`] is one blocking `TcpStream` split in two: a
//! [`protocol::io::FrameReader`] owned by whoever reads (the main thread),
//! and a [`FrameWriter`] shared by everyone who writes (the main thread,
//! the stdin forwarder, the Ctrl-C thread). The writer encodes a whole
//! frame into a buffer and writes it under a mutex, so frames from two
//! threads never interleave on the wire. It keeps a second handle on the
//! socket, outside the mutex, to shut it down even while a writer is stuck
//! in `write` (a second Ctrl-C must always work). Quitting that way closes
//! with a reset rather than a FIN (`SO_LINGER` 0, through `socket2` since
//! std does not expose it): a FIN would look like a half-close to the
//! server, which then keeps the command running.
//!
//! The handshake itself is the protocol crate's sans-I/O
//! [`ClientHandshake`]; this module only moves its frames, with the
//! `--connect-timeout` as the read deadline so a silent peer cannot hang us
//! (a timeout of zero means no deadline of our own, as the server's
//! `--timeout 0` means none).
//!
//! In stdin mode the writer also keeps the *command stream*: the `Exec`s a
//! feeder sends go through [`FrameWriter::send_commands`], which counts
//! them, and a Ctrl-C closes that stream and sends its `Signal` in one step
//! under the writer's lock ([`FrameWriter::close_commands_with`]). So no
//! `Exec` can follow the cancel on the wire, and once the stream is closed
//! the count of commands that went out is final.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use protocol::handshake::{ClientHandshake, ClientStep, HandshakeError};
use protocol::io::{FrameReader, ReadError};
use protocol::{Encoder, Frame, FrameRef};

use crate::cli::DEFAULT_PORT;
use crate::error::{Cause, SessionError};
use crate::peer_text::sanitize;

/// `addr` with [`DEFAULT_PORT`] added when it names no port: an IPv4 or
/// IPv6 address (bare or in brackets) or a host name. Anything else is
/// returned as is, for the resolver to judge.
///
/// A bare IPv6 address followed by `:PORT` is ambiguous (`::1:2011` is also
/// an address): as the standard resolver does, the text after the last
/// colon is the port whenever what precedes it is an address; only when it
/// is not (`::1`, `fe80::1`) is the whole text the address.
///
/// ```
/// use client::conn::with_default_port;
/// assert_eq!(with_default_port("10.0.0.5"), "10.0.0.5:8080");
/// assert_eq!(with_default_port("[::1]"), "[::1]:8080");
/// assert_eq!(with_default_port("::1"), "[::1]:8080");
/// assert_eq!(with_default_port("fe80::1"), "[fe80::1]:8080");
/// assert_eq!(with_default_port("::1:2011"), "[::1]:2011");
/// assert_eq!(with_default_port("box"), "box:8080");
/// assert_eq!(with_default_port("box:22"), "box:22");
/// ```
pub fn with_default_port(addr: &str) -> Cow<'_, str> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Cow::Borrowed(addr);
    }
    if let Some((host, port)) = addr.rsplit_once(':') {
        if let (Ok(ip), Ok(port)) = (host.parse::<Ipv6Addr>(), port.parse::<u16>()) {
            return Cow::Owned(SocketAddr::new(IpAddr::V6(ip), port).to_string());
        }
    }
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Cow::Owned(SocketAddr::new(ip, DEFAULT_PORT).to_string());
    }
    let bracketed_v6 = addr
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|inner| inner.parse::<Ipv6Addr>().is_ok());
    if bracketed_v6 || (!addr.is_empty() && !addr.contains(':')) {
        return Cow::Owned(format!("{addr}:{DEFAULT_PORT}"));
    }
    Cow::Borrowed(addr)
}

/// Opens a TCP connection to `addr` (resolved here, each address tried in
/// turn; [`DEFAULT_PORT`] when it names none), giving up after `timeout`
/// in all; a zero `timeout` leaves it to the operating system.
pub fn connect_tcp(addr: &str, timeout: Duration) -> Result<TcpStream, Cause> {
    let addrs: Vec<SocketAddr> = with_default_port(addr)
        .to_socket_addrs()
        .map_err(Cause::Resolve)?
        .collect();
    let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
    let mut last = Cause::NoAddress;
    for candidate in addrs {
        let attempt = match deadline {
            None => TcpStream::connect(candidate),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Cause::ConnectTimedOut(timeout));
                }
                TcpStream::connect_timeout(&candidate, left)
            }
        };
        match attempt {
            Ok(stream) => {
                // Commands and signals are small and latency-bound.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = classify_connect_error(e, timeout),
        }
    }
    Err(last)
}

fn classify_connect_error(error: io::Error, timeout: Duration) -> Cause {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Cause::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Cause::ConnectTimedOut(timeout),
        _ => Cause::Connect(error),
    }
}

/// The writing half of a connection, shared between threads.
#[derive(Debug, Clone)]
pub struct FrameWriter {
    stream: Arc<Mutex<TcpStream>>,
    control: Arc<TcpStream>,
    encoder: Encoder,
    commands: Arc<CommandStream>,
}

/// The state of the command stream (see the module docs); both fields
/// change only under the writer's lock and are read without it.
#[derive(Debug, Default)]
struct CommandStream {
    closed: AtomicBool,
    sent: AtomicUsize,
}

impl FrameWriter {
    pub(crate) fn new(stream: &TcpStream) -> io::Result<FrameWriter> {
        Ok(FrameWriter {
            stream: Arc::new(Mutex::new(stream.try_clone()?)),
            control: Arc::new(stream.try_clone()?),
            encoder: Encoder::new(),
            commands: Arc::default(),
        })
    }

    /// Sends `frames` (`Exec`s) in one write as part of the command stream,
    /// and counts them; `Ok(false)`, sending nothing, once the stream is
    /// closed. A frame that cannot be encoded (a command over the frame
    /// limit) stops there: the frames before it still go out and count,
    /// then the encode error is returned.
    pub fn send_commands(&self, frames: &[Frame]) -> Result<bool, Cause> {
        let mut buf = BytesMut::with_capacity(frames.iter().map(|f| f.encoded_len()).sum());
        let mut encoded = 0;
        let mut failure = None;
        for frame in frames {
            if let Err(e) = self.encoder.encode(frame, &mut buf) {
                failure = Some(Cause::Encode(e));
                break;
            }
            encoded += 1;
        }
        let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        if self.commands.closed.load(Ordering::SeqCst) {
            return Ok(false);
        }
        stream.write_all(&buf).map_err(Cause::Io)?;
        self.commands.sent.fetch_add(encoded, Ordering::SeqCst);
        drop(stream);
        failure.map_or(Ok(true), Err)
    }

    /// Closes the command stream and sends `frame` (the cancel) after
    /// everything it sent, in one step: no command can follow it.
    pub fn close_commands_with(&self, frame: &Frame) -> Result<(), Cause> {
        let mut buf = BytesMut::with_capacity(frame.encoded_len());
        self.encoder
            .encode(frame, &mut buf)
            .map_err(Cause::Encode)?;
        let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        self.commands.closed.store(true, Ordering::SeqCst);
        stream.write_all(&buf).map_err(Cause::Io)
    }

    /// Whether [`FrameWriter::close_commands_with`] has closed the command
    /// stream.
    pub fn commands_closed(&self) -> bool {
        self.commands.closed.load(Ordering::SeqCst)
    }

    /// How many commands [`FrameWriter::send_commands`] has sent; final
    /// once the stream is closed.
    pub fn commands_sent(&self) -> usize {
        self.commands.sent.load(Ordering::SeqCst)
    }

    /// Sends one whole frame; frames from different threads never mix.
    pub fn send(&self, frame: &Frame) -> Result<(), Cause> {
        self.send_all(&[frame])
    }

    /// Sends several frames in one write, in order.
    pub fn send_all(&self, frames: &[&Frame]) -> Result<(), Cause> {
        let mut buf = BytesMut::with_capacity(frames.iter().map(|f| f.encoded_len()).sum());
        for frame in frames {
            self.encoder
                .encode(frame, &mut buf)
                .map_err(Cause::Encode)?;
        }
        let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        stream.write_all(&buf).map_err(Cause::Io)
    }

    /// Says we will send nothing more; the server still answers what it has.
    pub fn finish(&self) {
        let _ = self.control.shutdown(Shutdown::Write);
    }

    /// Ends the connection abortively: wakes a reader blocked on the socket
    /// and makes the final close a reset (`SO_LINGER` 0), which the server
    /// cannot mistake for a half-close, so it kills the running command at
    /// once. Shutting down only our reading side sends nothing yet.
    pub fn abort(&self) {
        let _ = socket2::SockRef::from(&*self.control).set_linger(Some(Duration::ZERO));
        let _ = self.control.shutdown(Shutdown::Read);
    }
}

/// The socket as the frame reader sees it: while a deadline is set, each
/// read may wait only for what is left until it, so a peer that sends a
/// byte now and then cannot stretch the handshake past its time-out.
#[derive(Debug)]
pub struct Socket {
    stream: TcpStream,
    deadline: Option<Instant>,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        self.stream.read(buf)
    }
}

impl Deref for Socket {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

/// A connection that has completed the handshake.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    reader: FrameReader<Socket>,
    writer: FrameWriter,
}

impl Connection {
    /// Connects to `addr` and completes the handshake, proving knowledge of
    /// `token` if the server asks; `timeout` bounds each of the two steps
    /// (connecting, then the whole handshake), zero meaning no limit.
    pub fn open(
        addr: &str,
        token: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Connection, SessionError> {
        Connection::open_with(addr, token, timeout, None).map(|(conn, _)| conn)
    }

    /// Like [`Connection::open`], and without a token sends `first` in the
    /// same write as the hello instead of a round trip later: a server that
    /// needs no proof takes it as soon as the handshake is done. Returns
    /// whether `first` was sent (with a token it is not: the proof must
    /// come first).
    pub fn open_with(
        addr: &str,
        token: Option<&[u8]>,
        timeout: Duration,
        first: Option<&Frame>,
    ) -> Result<(Connection, bool), SessionError> {
        let fail = |cause| SessionError::new(addr, cause);
        let stream = connect_tcp(addr, timeout).map_err(fail)?;
        let writer = FrameWriter::new(&stream).map_err(|e| fail(Cause::Io(e)))?;
        let mut reader = FrameReader::new(Socket {
            stream,
            // Zero means no limit.
            deadline: (!timeout.is_zero()).then(|| Instant::now() + timeout),
        });
        let (mut handshake, hello) = ClientHandshake::new(token.map(<[u8]>::to_vec));
        let first = first.filter(|_| token.is_none());
        match first {
            Some(frame) => writer.send_all(&[&hello, frame]).map_err(fail)?,
            None => writer.send(&hello).map_err(fail)?,
        }
        loop {
            let frame = match reader.read_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(protocol::io::ReadError::UnexpectedEof) => {
                    return Err(fail(Cause::ClosedDuringHandshake))
                }
                Err(protocol::io::ReadError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(fail(Cause::HandshakeTimedOut(timeout)))
                }
                Err(protocol::io::ReadError::Io(e))
                    if e.kind() == io::ErrorKind::ConnectionReset =>
                {
                    return Err(fail(Cause::ClosedDuringHandshake))
                }
                Err(protocol::io::ReadError::Decode(e)) => {
                    return Err(fail(Cause::HandshakeDecode(e)))
                }
                Err(e) => return Err(fail(e.into())),
            };
            match handshake.receive(frame) {
                Ok(ClientStep::Send(reply)) => writer.send(&reply).map_err(fail)?,
                Ok(ClientStep::Done { .. }) => break,
                // The server's words go to a terminal: make them one safe line.
                Err(HandshakeError::Refused { code, message }) => {
                    return Err(fail(Cause::Handshake(HandshakeError::Refused {
                        code,
                        message: sanitize(message.as_bytes()),
                    })))
                }
                Err(e) => return Err(fail(Cause::Handshake(e))),
            }
        }
        // Commands may run for as long as they like; the server bounds them.
        reader.get_mut().deadline = None;
        reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(|e| fail(Cause::Io(e)))?;
        let conn = Connection {
            addr: addr.to_string(),
            reader,
            writer,
        };
        Ok((conn, first.is_some()))
    }

    /// The address as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A handle for sending frames, from any thread.
    pub fn writer(&self) -> FrameWriter {
        self.writer.clone()
    }

    /// Sends one frame.
    pub fn send(&self, frame: &Frame) -> Result<(), Cause> {
        self.writer.send(frame)
    }

    /// The next frame from the server; the end of the stream is
    /// [`Cause::Closed`], since the server never closes first while we wait.
    pub fn read(&mut self) -> Result<Frame, Cause> {
        match self.reader.read_frame() {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(Cause::Closed),
            Err(e) => Err(e.into()),
        }
    }

    /// Like [`Connection::read`], with a data frame's payload borrowed from
    /// the receive buffer (no copy) until the next read.
    pub fn read_ref(&mut self) -> Result<FrameRef<'_>, Cause> {
        match self.reader.read_frame_ref() {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(Cause::Closed),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks, without waiting, that the server has not ended the session
    /// while we were not reading (the REPL sitting at its prompt past the
    /// server's idle time-out): `Err` says how it ended. Pings that arrived
    /// meanwhile are answered. Only for between commands: the socket is
    /// non-blocking for the moment of the check, for every handle on it.
    pub fn check_open(&mut self) -> Result<(), Cause> {
        self.reader
            .get_ref()
            .set_nonblocking(true)
            .map_err(Cause::Io)?;
        let outcome = loop {
            match self.reader.read_frame() {
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Ok(Some(Frame::Ping(token))) => {
                    if let Err(cause) = self.writer.send(&Frame::Pong(token)) {
                        break Err(cause);
                    }
                }
                Ok(Some(Frame::Error(error))) => break Err(Cause::server(&error)),
                Ok(Some(other)) => break Err(Cause::Unexpected(other.frame_type())),
                Ok(None) => break Err(Cause::Closed),
                Err(e) => break Err(e.into()),
            }
        };
        let blocking = self
            .reader
            .get_ref()
            .set_nonblocking(false)
            .map_err(Cause::Io);
        outcome.and(blocking)
    }

    /// Splits off the reading half, for a reader thread.
    pub fn into_parts(self) -> (FrameReader<Socket>, FrameWriter) {
        (self.reader, self.writer)
    }
}
