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
//! `--connect-timeout` as the read deadline so a silent peer cannot hang us.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use protocol::handshake::{ClientHandshake, ClientStep};
use protocol::io::FrameReader;
use protocol::{Encoder, Frame, FrameRef};

use crate::error::{Cause, SessionError};

/// Opens a TCP connection to `addr` (resolved here, each address tried in
/// turn), giving up after `timeout` in all.
pub fn connect_tcp(addr: &str, timeout: Duration) -> Result<TcpStream, Cause> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(Cause::Resolve)?.collect();
    let deadline = Instant::now() + timeout;
    let mut last = Cause::NoAddress;
    for candidate in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Cause::ConnectTimedOut(timeout));
        }
        match TcpStream::connect_timeout(&candidate, left) {
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
}

impl FrameWriter {
    pub(crate) fn new(stream: &TcpStream) -> io::Result<FrameWriter> {
        Ok(FrameWriter {
            stream: Arc::new(Mutex::new(stream.try_clone()?)),
            control: Arc::new(stream.try_clone()?),
            encoder: Encoder::new(),
        })
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

/// A connection that has completed the handshake.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    reader: FrameReader<TcpStream>,
    writer: FrameWriter,
}

impl Connection {
    /// Connects to `addr` and completes the handshake, proving knowledge of
    /// `token` if the server asks; `timeout` bounds each of the two steps.
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
        stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| fail(Cause::Io(e)))?;
        let mut reader = FrameReader::new(stream);
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
                Err(e) => return Err(fail(e.into())),
            };
            match handshake.receive(frame) {
                Ok(ClientStep::Send(reply)) => writer.send(&reply).map_err(fail)?,
                Ok(ClientStep::Done { .. }) => break,
                Err(e) => return Err(fail(Cause::Handshake(e))),
            }
        }
        // Commands may run for as long as they like; the server bounds them.
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

    /// Splits off the reading half, for a reader thread.
    pub fn into_parts(self) -> (FrameReader<TcpStream>, FrameWriter) {
        (self.reader, self.writer)
    }
}
