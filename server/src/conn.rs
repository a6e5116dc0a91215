//! One client connection: its socket, buffers, queued commands, the running
//! command and its timers. [`Connection::drive`] makes all the progress it
//! can without blocking and says when the connection is done.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mio::event::Event;
use mio::net::TcpStream;
use mio::Registry;
use protocol::handshake::{HandshakeError, ServerHandshake, ServerStep};
use protocol::{legacy, Decoder, ErrorCode, ErrorFrame, Exec, Exit, Frame, Termination};

use crate::config::Config;
use crate::job::{kind, Job, ReadOutcome, Stream, PIPE_SIZE};
use crate::outbuf::OutBuf;

/// While the client has half-closed and a command runs, send a `Ping` this
/// often: a client that is gone altogether answers with a reset, and its
/// command is killed.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// After sending a final error, read and discard the client's bytes for at
/// most this long before closing, so the error is not lost to a reset.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);

/// Legacy mode: a request is complete once this long passes with no more
/// bytes (or once it reaches 1024 bytes). The seed's format has no framing,
/// so a request cut into several segments on its way (a proxy, a slow
/// link) would otherwise run as several commands; the seed's client waits
/// for each reply, so nothing legitimate arrives this close together.
const LEGACY_QUIET: Duration = Duration::from_millis(30);

/// The `Error` message for a stream that ended inside a frame.
const ENDED_MID_FRAME: &str = "the stream ended in the middle of a frame";

/// Bytes read from the socket per `read` call.
pub(crate) const SOCKET_READ_CHUNK: usize = 64 * 1024;

/// Most bytes read from a command's pipe per `read` call: the largest
/// `Stdout`/`Stderr` payload the server sends.
pub(crate) const OUTPUT_CHUNK: usize = 64 * 1024;

/// Server-wide state shared by every connection.
pub struct Shared {
    /// Commands running server-wide.
    pub running: usize,
    /// Connections waiting for a free slot to start a command, in order.
    pub waiting: VecDeque<u64>,
    /// Scratch space for reads.
    pub scratch: Vec<u8>,
}

/// What a connection needs from the server while it makes progress.
pub struct Ctx<'a> {
    /// The event loop's registry, for a command's pipes.
    pub registry: &'a Registry,
    /// The configuration.
    pub config: &'a Config,
    /// Server-wide counters and buffers.
    pub shared: &'a mut Shared,
    /// The time of this turn of the loop.
    pub now: Instant,
    /// Whether the server is shutting down.
    pub shutting_down: bool,
}

impl<'a> Ctx<'a> {
    /// The context for one turn of the loop.
    pub fn new(
        registry: &'a Registry,
        config: &'a Config,
        shared: &'a mut Shared,
        now: Instant,
        shutting_down: bool,
    ) -> Ctx<'a> {
        Ctx {
            registry,
            config,
            shared,
            now,
            shutting_down,
        }
    }
}

/// What [`Connection::drive`] concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// Still open, nothing pending.
    Open,
    /// Still open, with work left that the read budget cut short: drive it
    /// again next turn.
    More,
    /// Done: drop it.
    Closed,
}

enum Phase {
    Handshake(ServerHandshake),
    /// A failed authentication, answered only once `until` passes.
    AuthDelay {
        until: Instant,
        reply: Frame,
    },
    Ready,
    /// A final frame is queued: send it, then close.
    Closing,
    /// Our FIN is sent; discard what the client still sends, then close.
    Draining {
        until: Instant,
    },
    /// The client is gone; wait for the command's process to be reaped.
    Reaping,
}

/// A command received from the client, queued or running.
struct Cmd {
    /// Which `Exec` of the connection this is, counting from 1.
    seq: u64,
    exec: Exec,
    stdin: BytesMut,
    stdin_eof: bool,
    cancelled: Option<u8>,
    job: Option<Job>,
    waiting: bool,
    /// Its turn came (see `take_waiting`): it starts even though others
    /// still wait behind it.
    granted: bool,
    /// Legacy mode: the output, collected until the command ends.
    legacy_out: [BytesMut; 2],
}

impl Cmd {
    fn new(seq: u64, exec: Exec) -> Cmd {
        let stdin_eof = !exec.stdin;
        Cmd {
            seq,
            exec,
            stdin: BytesMut::new(),
            stdin_eof,
            cancelled: None,
            job: None,
            waiting: false,
            granted: false,
            legacy_out: [BytesMut::new(), BytesMut::new()],
        }
    }
}

/// One client connection.
pub struct Connection {
    id: u64,
    socket: Option<TcpStream>,
    peer: SocketAddr,
    legacy: bool,
    phase: Phase,
    decoder: Decoder,
    inbuf: BytesMut,
    out: OutBuf,
    sock_readable: bool,
    sock_writable: bool,
    read_closed: bool,
    peer_gone: bool,
    /// Turned away at the connection limit: only its `Error` is left to
    /// send, and it does not count toward the limit.
    refused: bool,
    /// The client's stream ended in the middle of a frame: once everything
    /// before it is answered, it gets an `Error` before the close.
    ended_mid_frame: bool,
    /// The client's end of stream was read, and is acted on (see
    /// `on_read_closed`) once every frame received before it is decoded.
    eof_pending: bool,
    paused: bool,
    cmds: VecDeque<Cmd>,
    /// How many `Exec`s have arrived: the sequence number of the latest,
    /// which `Stdin`, `StdinEof` and `Signal` frames refer to.
    execs: u64,
    /// Whether the latest `Exec` asked for stdin and its `StdinEof` has
    /// not come yet: its `Stdin` frames are still expected, whether or not
    /// the command is still there to take them.
    stdin_expected: bool,
    last_activity: Instant,
    handshake_deadline: Instant,
    probe_at: Option<Instant>,
    /// Legacy mode: when the bytes in `inbuf` become a command.
    legacy_due: Option<Instant>,
    /// The deadline this connection holds in the server's timer set.
    pub timer: Option<Instant>,
    /// Whether it is already in this turn's list to drive.
    pub touched: bool,
}

impl Connection {
    /// A new connection in its handshake (or legacy) phase.
    pub fn new(
        id: u64,
        socket: TcpStream,
        peer: SocketAddr,
        config: &Config,
        nonce: [u8; protocol::NONCE_LEN],
        now: Instant,
    ) -> Connection {
        let phase = if config.legacy {
            Phase::Ready
        } else {
            Phase::Handshake(ServerHandshake::new(config.token.clone(), nonce))
        };
        Connection {
            id,
            socket: Some(socket),
            peer,
            legacy: config.legacy,
            phase,
            decoder: Decoder::with_max_payload(config.max_frame),
            inbuf: BytesMut::new(),
            out: OutBuf::default(),
            sock_readable: true,
            sock_writable: true,
            read_closed: false,
            peer_gone: false,
            refused: false,
            ended_mid_frame: false,
            eof_pending: false,
            paused: false,
            cmds: VecDeque::new(),
            execs: 0,
            stdin_expected: false,
            last_activity: now,
            handshake_deadline: now + config.handshake_timeout,
            probe_at: None,
            legacy_due: None,
            timer: None,
            touched: false,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the client is still connected (not just awaiting a reap).
    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    /// Whether it was turned away at the connection limit.
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    /// Records what an event says is ready.
    pub fn on_event(&mut self, source: usize, event: &Event) {
        match source {
            kind::SOCKET => {
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.sock_readable = true;
                }
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    self.sock_writable = true;
                }
                if event.is_write_closed() || event.is_error() {
                    // A reset (perhaps provoked by a probe) or an error: the
                    // client is gone for good, whatever we were waiting for.
                    self.peer_gone = true;
                }
            }
            _ => {
                let Some(job) = self.cmds.front_mut().and_then(|c| c.job.as_mut()) else {
                    return;
                };
                match source {
                    kind::STDOUT => job.stdout_ready = true,
                    kind::STDERR => job.stderr_ready = true,
                    kind::STDIN => job.stdin_ready = true,
                    kind::PIDFD => job.exit_ready = true,
                    _ => {}
                }
            }
        }
    }

    /// The earliest moment this connection needs the loop to call it back.
    pub fn next_deadline(&self, config: &Config) -> Option<Instant> {
        let mut deadline: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
        };
        match &self.phase {
            Phase::Handshake(_) => consider(Some(self.handshake_deadline)),
            Phase::AuthDelay { until, .. } | Phase::Draining { until } => consider(Some(*until)),
            Phase::Ready if self.cmds.is_empty() => {
                consider(config.idle_timeout.map(|idle| self.last_activity + idle))
            }
            _ => {}
        }
        consider(self.legacy_due);
        if !self.cmds.is_empty() {
            consider(self.probe_at);
        }
        if let Some(job) = self.cmds.front().and_then(|c| c.job.as_ref()) {
            consider(job.deadline);
            consider(job.kill_at);
            consider(job.exited_at.map(|t| t + config.linger));
            if job.status.is_none() {
                // Without a pidfd: the next poll for its exit.
                consider(job.next_exit_poll);
            }
        }
        deadline
    }

    /// Handles whatever deadlines have passed.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        match &self.phase {
            Phase::Handshake(_) if now >= self.handshake_deadline => {
                log::warn!("{}: handshake not finished in time; closing", self.peer);
                let secs = ctx.config.handshake_timeout.as_secs();
                self.fail(
                    ErrorCode::Timeout,
                    format!("handshake not completed within {secs} s"),
                );
            }
            Phase::AuthDelay { until, reply } if now >= *until => {
                let reply = reply.clone();
                self.push_frame(&reply);
                self.phase = Phase::Closing;
            }
            Phase::Ready if self.cmds.is_empty() => {
                if let Some(idle) = ctx.config.idle_timeout {
                    if now >= self.last_activity + idle {
                        log::info!("{}: idle for {} s; closing", self.peer, idle.as_secs());
                        self.fail(
                            ErrorCode::Timeout,
                            format!("idle for {} s; closing", idle.as_secs()),
                        );
                    }
                }
            }
            _ => {}
        }
        if self.legacy_due.is_some_and(|t| now >= t) {
            self.legacy_take();
        }
        let grace = ctx.config.kill_grace;
        // Probe while a command runs or waits: either way a client gone
        // after a FIN must be found out (see `on_read_closed`).
        let due = !self.cmds.is_empty() && self.probe_at.is_some_and(|t| now >= t);
        let mut probe = due;
        if let Some(job) = self.cmds.front_mut().and_then(|c| c.job.as_mut()) {
            // Even with the shell reaped: what is left of its group (a
            // background process that ignored the SIGTERM) gets the SIGKILL,
            // and a passed `kill_at` must not stay armed.
            if job.kill_at.is_some_and(|d| now >= d) {
                job.kill_at = None;
                job.kill(libc::SIGKILL);
            }
            if job.status.is_none() {
                if job.deadline.is_some_and(|d| now >= d) {
                    job.time_out(now, grace);
                }
                if !job.has_pidfd() {
                    job.exit_poll_due(now);
                }
            } else {
                // Exited: its output is being read; nothing to find out.
                probe = false;
            }
        }
        if due {
            // Moved on even when no ping goes out, so a past probe time
            // never keeps the timer firing.
            self.probe_at = Some(now + PROBE_INTERVAL);
        }
        if probe {
            self.push_frame(&Frame::Ping(0));
        }
    }

    /// Refuses the connection: the server is at its connection limit.
    pub fn refuse(&mut self, limit: usize) {
        self.refused = true;
        self.fail(
            ErrorCode::TooManyConnections,
            format!("server busy: at its limit of {limit} connections"),
        );
    }

    /// Begins a graceful shutdown: queued commands that have not started
    /// are dropped, and nothing new is read, except the stdin of the
    /// running command while it still takes it (see
    /// `stop_reading_at_shutdown`). The running one goes on; after its
    /// output and `Exit`, one `ShuttingDown` error answers whatever the
    /// client sent after it, and the connection closes (see
    /// `check_closed`). An error sent at once would overtake that output,
    /// and a client stops at the first `Error`. A client still in its
    /// handshake is told at once: it has nothing running to wait for.
    pub fn begin_shutdown(&mut self) {
        if matches!(self.phase, Phase::Handshake(_)) {
            self.fail(ErrorCode::ShuttingDown, "server shutting down".to_string());
        }
        self.drop_queued("server shutting down");
        self.stop_reading_at_shutdown();
    }

    /// At shutdown the client's stream is read only as long as the running
    /// command still takes its stdin: a command reading it (`wc -c`,
    /// `sha256sum` of an upload) can only finish within the grace if its
    /// input keeps coming. Frames that come with it are still handled: a
    /// `Signal` reaches the command, a late `Exec` is answered by the
    /// `ShuttingDown` error. Once that stdin ends, reading stops for good.
    fn stop_reading_at_shutdown(&mut self) {
        if self.read_closed {
            return;
        }
        let takes_stdin = self.cmds.front().is_some_and(|cmd| {
            !cmd.stdin_eof
                && cmd.seq == self.execs
                && cmd
                    .job
                    .as_ref()
                    .is_some_and(|job| job.status.is_none() && job.stdin_open())
        });
        if !takes_stdin {
            self.read_closed = true;
        }
    }

    /// Drops the commands that have not started, each with an audit line:
    /// every command received is accounted for in the log.
    fn drop_queued(&mut self, why: &str) {
        let keep = usize::from(self.cmds.front().is_some_and(|c| c.job.is_some()));
        for cmd in self.cmds.drain(keep..) {
            let command = display_text(&cmd.exec.command);
            log::info!(target: "audit", "{} not-run ({why}) cmd={command}", self.peer);
        }
    }

    /// Ends the grace period: kills the running command's process group.
    pub fn force_kill(&mut self) {
        if let Some(job) = self.cmds.front().and_then(|c| c.job.as_ref()) {
            if job.status.is_none() {
                job.kill(libc::SIGKILL);
            }
        }
    }

    /// Makes all the progress possible now, within the read budget.
    pub fn drive(&mut self, ctx: &mut Ctx<'_>) -> Status {
        let mut budget = ctx.config.read_budget;
        if self.peer_gone {
            self.peer_gone = false;
            self.abort("connection reset by the client");
        }
        loop {
            let mut progress = false;
            match self.read_socket(ctx, &mut budget) {
                Ok(p) => progress |= p,
                Err(e) => {
                    self.abort(&format!("connection lost: {e}"));
                }
            }
            progress |= self.process_input(ctx);
            progress |= self.advance_commands(ctx, &mut budget);
            match self.flush() {
                Ok(p) => progress |= p,
                Err(e) => self.abort(&format!("connection lost: {e}")),
            }
            if ctx.shutting_down {
                self.stop_reading_at_shutdown();
            }
            if let Some(status) = self.check_closed(ctx) {
                return status;
            }
            if !progress {
                return Status::Open;
            }
            if budget == 0 {
                return Status::More;
            }
        }
    }

    fn check_closed(&mut self, ctx: &mut Ctx<'_>) -> Option<Status> {
        match self.phase {
            Phase::Reaping => {
                if self.cmds.is_empty() {
                    return Some(Status::Closed);
                }
                None
            }
            Phase::Closing if self.out.is_empty() => {
                if let Some(socket) = &self.socket {
                    let _ = socket.shutdown(Shutdown::Write);
                }
                self.phase = Phase::Draining {
                    until: ctx.now + CLOSE_DRAIN,
                };
                None
            }
            Phase::Draining { until } => {
                if self.read_closed || ctx.now >= until {
                    self.kill_all();
                    if self.cmds.is_empty() {
                        return Some(Status::Closed);
                    }
                    self.socket = None;
                    self.phase = Phase::Reaping;
                }
                None
            }
            Phase::Ready if self.read_closed && self.cmds.is_empty() && self.out.is_empty() => {
                let last_word = if ctx.shutting_down && !self.legacy {
                    Some((ErrorCode::ShuttingDown, "server shutting down"))
                } else if std::mem::take(&mut self.ended_mid_frame) {
                    Some((ErrorCode::Malformed, ENDED_MID_FRAME))
                } else {
                    None
                };
                let Some((code, message)) = last_word else {
                    return Some(Status::Closed);
                };
                // Sent now: nothing else may come to drive this connection
                // again (an idle client told of a shutdown, say).
                self.push_error(code, message);
                self.phase = Phase::Closing;
                if let Err(e) = self.flush() {
                    self.abort(&format!("connection lost: {e}"));
                }
                self.check_closed(ctx)
            }
            // The client stopped sending before the handshake was done, and
            // nothing it sent is left to answer.
            Phase::Handshake(_) if self.read_closed => {
                self.abort("closed during the handshake");
                None
            }
            _ => None,
        }
    }

    /// The client is gone: kill the running command, stop all I/O, and wait
    /// only for the reap.
    fn abort(&mut self, why: &str) {
        if self.socket.is_none() {
            return;
        }
        log::info!("{}: {why}", self.peer);
        self.socket = None;
        self.out.clear();
        self.kill_all();
        self.phase = Phase::Reaping;
    }

    /// Whether a client that half-closed has since gone: a `Ping` is sent
    /// and the socket checked for the reset it draws. Over loopback the
    /// reset is back before the write returns; over a network it may come
    /// later, and the periodic probe finds it then. Legacy clients get no
    /// ping (the seed's format has none) and are taken as still there.
    fn client_left(&mut self) -> bool {
        if self.legacy {
            return false;
        }
        self.push_frame(&Frame::Ping(0));
        match (self.flush(), &self.socket) {
            (Err(_), _) | (_, None) => true,
            (Ok(_), Some(socket)) => !matches!(socket.take_error(), Ok(None)),
        }
    }

    /// Kills the running command and drops those not started yet.
    fn kill_all(&mut self) {
        self.drop_queued("connection closed");
        if let Some(job) = self.cmds.front_mut().and_then(|c| c.job.as_mut()) {
            if job.status.is_none() || job.kill_at.is_some() {
                // Running, or a timed-out group's survivor due its SIGKILL.
                job.kill(libc::SIGKILL);
            } else if !job.output_closed() {
                // The shell is reaped but its group lingers, holding the
                // output (`sleep 100 & echo x`): the hang-up the linger
                // would have ended with, now. Closing the pipes alone
                // left it running, an orphan.
                job.kill(libc::SIGHUP);
            }
            job.close_output();
            job.close_stdin();
        }
    }

    fn accepts_input(&self, ctx: &Ctx<'_>) -> bool {
        let (mut stdin_buffered, mut queued_bytes) = (0, 0);
        for cmd in &self.cmds {
            stdin_buffered += cmd.stdin.len();
            queued_bytes += exec_bytes(&cmd.exec);
        }
        match self.phase {
            Phase::Handshake(_) | Phase::Ready => {
                self.cmds.len() < ctx.config.max_queued
                    && queued_bytes < ctx.config.max_queued_bytes
                    && stdin_buffered < ctx.config.stdin_high_watermark
                    && self.out.len() < ctx.config.out_high_watermark
            }
            Phase::Draining { .. } => true,
            _ => false,
        }
    }

    fn read_socket(&mut self, ctx: &mut Ctx<'_>, budget: &mut usize) -> io::Result<bool> {
        let mut progress = false;
        let chunk = if self.legacy {
            legacy::MAX_REQUEST
        } else {
            SOCKET_READ_CHUNK
        };
        let in_limit = ctx.config.max_frame + protocol::HEADER_LEN + SOCKET_READ_CHUNK;
        while self.sock_readable
            && !self.read_closed
            && *budget > 0
            && self.accepts_input(ctx)
            && (self.legacy || self.inbuf.len() < in_limit)
        {
            let Some(socket) = &mut self.socket else {
                break;
            };
            let buf = &mut ctx.shared.scratch[..chunk];
            match socket.read(buf) {
                Ok(0) => {
                    self.read_closed = true;
                    progress = true;
                    if self.legacy {
                        self.on_read_closed(ctx);
                    } else {
                        // Acted on once the frames read before it are
                        // decoded (`process_input`): a `Stdin` that came
                        // with the FIN is still expected. Whether the
                        // client is still there is worth asking at once.
                        self.eof_pending = true;
                        if !self.cmds.is_empty() {
                            self.probe_at = Some(ctx.now);
                        }
                    }
                }
                Ok(n) => {
                    progress = true;
                    *budget = budget.saturating_sub(n);
                    if self.legacy {
                        // The seed's format has no frames: bytes are activity.
                        self.last_activity = ctx.now;
                    }
                    if matches!(self.phase, Phase::Draining { .. }) {
                        continue;
                    }
                    self.inbuf.extend_from_slice(&buf[..n]);
                    if self.legacy {
                        self.legacy_gather(ctx.now);
                    }
                }
                // Drained; wait for the next readiness event.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.sock_readable = false,
                // Interrupted by a signal before reading anything: retry.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Reset or another error: the client is gone.
                Err(e) => return Err(e),
            }
        }
        Ok(progress)
    }

    fn on_read_closed(&mut self, ctx: &Ctx<'_>) {
        match self.phase {
            Phase::Handshake(_) if self.inbuf.is_empty() && self.decoder.is_idle() => {
                // Nothing to answer; a client that gives up is just gone.
                self.abort("closed during the handshake");
            }
            Phase::Ready => {
                if self.legacy {
                    self.legacy_take();
                }
                // The end of the stream is the end of any open stdin.
                self.stdin_expected = false;
                if let Some(latest) = self.latest() {
                    latest.stdin_eof = true;
                }
                if !self.cmds.is_empty() {
                    // Half-closed, or gone? A probe tells, whether a
                    // command runs or only waits for a slot: a waiting
                    // command of a client that is gone must not run.
                    self.probe_at = Some(ctx.now);
                }
            }
            _ => {}
        }
    }

    /// Legacy mode: whole 1024-byte requests run at once; a shorter one
    /// waits for [`LEGACY_QUIET`] without more bytes.
    fn legacy_gather(&mut self, now: Instant) {
        while self.inbuf.len() >= legacy::MAX_REQUEST {
            let request = self.inbuf.split_to(legacy::MAX_REQUEST);
            self.legacy_request(&request);
        }
        self.legacy_due = (!self.inbuf.is_empty()).then(|| now + LEGACY_QUIET);
    }

    /// Legacy mode: the bytes gathered so far are one request.
    fn legacy_take(&mut self) {
        self.legacy_due = None;
        if !self.inbuf.is_empty() {
            let request = self.inbuf.split();
            self.legacy_request(&request);
        }
    }

    fn legacy_request(&mut self, request: &[u8]) {
        if request == b"bye" {
            // The seed's client says bye, then closes.
            self.read_closed = true;
            return;
        }
        let exec = Exec::new(bytes::Bytes::copy_from_slice(request));
        self.execs += 1;
        self.cmds.push_back(Cmd::new(self.execs, exec));
    }

    fn process_input(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let mut progress = false;
        while !self.legacy && self.accepts_input(ctx) {
            if matches!(self.phase, Phase::Draining { .. }) {
                self.inbuf.clear();
                break;
            }
            let frame = match self.decoder.decode(&mut self.inbuf) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    if self.read_closed && self.decoder.has_partial(&self.inbuf) {
                        log::warn!("{}: stream ended in the middle of a frame", self.peer);
                        self.inbuf.clear();
                        self.decoder = Decoder::with_max_payload(ctx.config.max_frame);
                        if matches!(self.phase, Phase::Handshake(_)) {
                            self.fail(ErrorCode::Malformed, ENDED_MID_FRAME.to_string());
                        } else {
                            // Complete commands before it still run first.
                            self.ended_mid_frame = true;
                        }
                        progress = true;
                    }
                    if self.read_closed && std::mem::take(&mut self.eof_pending) {
                        self.on_read_closed(ctx);
                        progress = true;
                    }
                    break;
                }
                Err(e) => {
                    log::warn!("{}: bad frame: {e}; closing", self.peer);
                    self.inbuf.clear();
                    self.fail(e.code(), e.to_string());
                    progress = true;
                    break;
                }
            };
            progress = true;
            // Only whole frames count as activity: a peer that trickles
            // bytes which never make a frame is idle all the same.
            self.last_activity = ctx.now;
            self.on_frame(frame, ctx);
        }
        progress
    }

    fn on_frame(&mut self, frame: Frame, ctx: &mut Ctx<'_>) {
        if let Phase::Handshake(handshake) = &mut self.phase {
            match handshake.receive(frame) {
                ServerStep::Reply(reply) => self.push_frame(&reply),
                ServerStep::Accept(welcome) => {
                    log::debug!("{}: handshake done", self.peer);
                    self.push_frame(&welcome);
                    self.phase = Phase::Ready;
                }
                ServerStep::Reject { reply, reason } => {
                    log::warn!("{}: handshake refused: {reason}", self.peer);
                    if reason == HandshakeError::AuthFailed {
                        self.phase = Phase::AuthDelay {
                            until: ctx.now + ctx.config.auth_failure_delay,
                            reply,
                        };
                    } else {
                        self.push_frame(&reply);
                        self.phase = Phase::Closing;
                    }
                }
            }
            return;
        }
        match frame {
            Frame::Exec(exec) => {
                // Stdin frames now go to this Exec: the one before it can
                // get no more, so its stdin ends here (as by a `StdinEof`),
                // or it would wait for it forever.
                if std::mem::take(&mut self.stdin_expected) {
                    if let Some(previous) = self.latest() {
                        previous.stdin_eof = true;
                    }
                }
                self.execs += 1;
                self.stdin_expected = exec.stdin;
                // Already received, but too late to run: the `ShuttingDown`
                // error that ends the connection answers it.
                if !ctx.shutting_down {
                    self.cmds.push_back(Cmd::new(self.execs, exec));
                }
            }
            // Stdin for a command that has already ended (or was dropped at
            // shutdown) is let go: the client cannot know it came too late.
            Frame::Stdin(data) if self.stdin_expected => {
                if let Some(latest) = self.latest() {
                    latest.stdin.extend_from_slice(&data);
                }
            }
            Frame::StdinEof if self.stdin_expected => {
                self.stdin_expected = false;
                if let Some(latest) = self.latest() {
                    latest.stdin_eof = true;
                }
            }
            Frame::Stdin(_) | Frame::StdinEof => {
                let what = format!(
                    "{:?} frame, but the latest Exec takes no stdin or already ended it",
                    frame.frame_type()
                );
                self.protocol_error(&what);
            }
            Frame::Signal(signal) => self.deliver_signal(signal.signal),
            Frame::Ping(token) => self.push_frame(&Frame::Pong(token)),
            Frame::Pong(_) => {}
            Frame::Error(error) => {
                let message = display_text(&error.message);
                log::info!("{}: client error: {message}", self.peer);
                // The client closes next: its stream ends here, like a
                // FIN (open stdin ended, probes find out when it is gone).
                self.read_closed = true;
                self.eof_pending = true;
                self.inbuf.clear();
            }
            other => {
                let what = format!("unexpected {:?} frame from a client", other.frame_type());
                self.protocol_error(&what);
            }
        }
    }

    /// The latest `Exec`'s command, if it is still queued or running.
    fn latest(&mut self) -> Option<&mut Cmd> {
        self.cmds.back_mut().filter(|c| c.seq == self.execs)
    }

    /// A `Signal` acts as Ctrl-C on a running script: the command running
    /// gets it, and every command queued behind it is cancelled. Only
    /// commands whose `Exec` came before the `Signal` are still here; with
    /// none, a late cancel has nothing to do. A signal that ends no process
    /// by default (SIGWINCH, SIGCONT, SIGSTOP, …) cancels nothing: only the
    /// running command gets it.
    fn deliver_signal(&mut self, signal: u8) {
        if !(1..=64).contains(&signal) {
            self.protocol_error("signal number out of range 1-64");
            return;
        }
        let cancels = ends_a_process(i32::from(signal));
        for cmd in &mut self.cmds {
            match &cmd.job {
                Some(job) if job.status.is_none() => job.kill(i32::from(signal)),
                // Exited; its output is still being read.
                Some(_) => {}
                None if cancels => cmd.cancelled = Some(signal),
                None => {}
            }
        }
    }

    fn protocol_error(&mut self, what: &str) {
        log::warn!("{}: {what}; closing", self.peer);
        self.fail(ErrorCode::UnexpectedFrame, what.to_string());
    }

    /// Queues an `Error` frame and closes once it is sent.
    fn fail(&mut self, code: ErrorCode, message: String) {
        self.push_error(code, &message);
        self.kill_all();
        self.phase = Phase::Closing;
    }

    fn push_error(&mut self, code: ErrorCode, message: &str) {
        self.push_frame(&Frame::Error(ErrorFrame::new(code, message)));
    }

    fn push_frame(&mut self, frame: &Frame) {
        if self.legacy || self.socket.is_none() {
            return;
        }
        // Frames built by the server always fit their length fields.
        let mut wire = BytesMut::with_capacity(frame.encoded_len());
        match frame.encode(&mut wire) {
            Ok(()) => self.out.extend_from_slice(&wire),
            Err(e) => log::error!("{}: cannot encode {:?}: {e}", self.peer, frame.frame_type()),
        }
    }

    /// Starts, feeds, reads and finishes commands, front of the queue first.
    fn advance_commands(&mut self, ctx: &mut Ctx<'_>, budget: &mut usize) -> bool {
        let mut progress = false;
        loop {
            let Some(cmd) = self.cmds.front_mut() else {
                return progress;
            };
            if cmd.job.is_none() {
                if matches!(self.phase, Phase::Reaping) {
                    self.cmds.clear();
                    return true;
                }
                if !self.start_front(ctx) {
                    return progress;
                }
                progress = true;
            }
            progress |= self.pump_front(ctx, budget);
            if !self.finish_front(ctx) {
                return progress;
            }
            progress = true;
        }
    }

    /// Starts the command at the front of the queue; false when it must wait.
    fn start_front(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(cmd) = self.cmds.front_mut() else {
            return false;
        };
        if let Some(signal) = cmd.cancelled {
            // Cancelled before it started: report it as killed, run nothing.
            if cmd.waiting {
                // Its place in the wait for a slot goes too.
                ctx.shared.waiting.retain(|&id| id != self.id);
            }
            let exit = Exit {
                termination: Termination::Signal(i32::from(signal)),
                timed_out: false,
                runtime_us: 0,
            };
            let command = display_text(&cmd.exec.command);
            log::info!(
                target: "audit",
                "{} {} cancelled-before-start time=0.000s out=0 cmd={command}",
                self.peer,
                describe(&exit)
            );
            self.cmds.pop_front();
            self.push_frame(&Frame::Exit(exit));
            return true;
        }
        // First come, first served across connections: with others waiting
        // for a slot, this connection's next command queues behind them
        // even if a slot is free (its own last command just gave one back).
        let others_first = !cmd.granted && !ctx.shared.waiting.is_empty();
        if ctx.shared.running >= ctx.config.max_running || others_first {
            if !cmd.waiting {
                cmd.waiting = true;
                ctx.shared.waiting.push_back(self.id);
            }
            return false;
        }
        cmd.waiting = false;
        if self.read_closed && self.client_left() {
            self.abort("the client is gone (a probe before its next command was reset)");
            return true;
        }
        let Some(cmd) = self.cmds.front_mut() else {
            return false;
        };
        match Job::spawn(&ctx.config.shell, &cmd.exec, ctx.registry, self.id) {
            Ok(mut job) => {
                // From the spawn, not from this turn's start.
                job.deadline = effective_timeout(cmd.exec.timeout_ms, ctx.config.timeout)
                    .map(|limit| job.started + limit);
                ctx.shared.running += 1;
                cmd.job = Some(job);
                if self.read_closed {
                    // Started after the client half-closed (a pipelined
                    // command, or one sent just before the shutdown of its
                    // sending side): only a probe can tell whether the
                    // client is still there to be killed for.
                    self.probe_at = Some(ctx.now);
                }
                true
            }
            Err(e) => {
                let command = display_text(&cmd.exec.command);
                log::warn!(target: "audit", "{} spawn-failed ({e}) cmd={command}", self.peer);
                let message = format!("cannot start command: {e}");
                self.cmds.pop_front();
                if self.legacy {
                    let mut reply = BytesMut::new();
                    let _ = legacy::encode_reply(message.as_bytes(), &mut reply);
                    self.out.extend_from_slice(&reply);
                } else {
                    self.push_error(ErrorCode::SpawnFailed, &message);
                }
                true
            }
        }
    }

    /// Moves bytes: stdin into the command, output out of it.
    fn pump_front(&mut self, ctx: &mut Ctx<'_>, budget: &mut usize) -> bool {
        let mut progress = false;
        let Some(cmd) = self.cmds.front_mut() else {
            return false;
        };
        let Some(job) = cmd.job.as_mut() else {
            return false;
        };
        // Stdin: write what is buffered; close at the end.
        if job.stdin_open() && job.stdin_ready && !cmd.stdin.is_empty() {
            match job.write_stdin(&cmd.stdin) {
                Ok(n) => {
                    progress |= n > 0;
                    cmd.stdin.advance(n);
                }
                // The command stopped reading stdin: the rest is moot.
                Err(_) => cmd.stdin.clear(),
            }
        }
        if job.stdin_open() && cmd.stdin_eof && cmd.stdin.is_empty() {
            job.close_stdin();
        }
        if !job.stdin_open() && !cmd.stdin.is_empty() {
            cmd.stdin.clear();
        }
        progress |= self.read_output(ctx, budget, true);
        let Some(job) = self.cmds.front_mut().and_then(|c| c.job.as_mut()) else {
            return progress;
        };
        if job.exit_ready && job.status.is_none() && job.poll_exit(ctx.now) {
            progress = true;
        }
        progress
    }

    /// Reads the front command's output, stdout and stderr in turn so
    /// neither starves the other, within `budget` and, if `watermarks`, only
    /// while the outgoing queue is below its high watermark.
    fn read_output(&mut self, ctx: &mut Ctx<'_>, budget: &mut usize, watermarks: bool) -> bool {
        let mut progress = false;
        let Some(cmd) = self.cmds.front_mut() else {
            return false;
        };
        let Some(job) = cmd.job.as_mut() else {
            return false;
        };
        if self.out.len() >= ctx.config.out_high_watermark {
            self.paused = true;
        } else if self.out.len() < ctx.config.out_low_watermark {
            self.paused = false;
        }
        let legacy_cap = ctx.config.legacy_max_output;
        while !(watermarks && self.paused) && *budget > 0 {
            let mut read_any = false;
            for stream in [Stream::Stdout, Stream::Stderr] {
                // The final drain reads what is there, event or not.
                let ready = job.is_ready(stream) || (!watermarks && job.is_open(stream));
                if !ready || *budget == 0 {
                    continue;
                }
                let limit = OUTPUT_CHUNK.min(*budget);
                let outcome = if self.legacy {
                    let outcome = job.read_output(stream, &mut ctx.shared.scratch[..limit]);
                    if let ReadOutcome::Data(n) = outcome {
                        let total = cmd.legacy_out[0].len() + cmd.legacy_out[1].len();
                        let room = legacy_cap.saturating_sub(total).min(n);
                        if room < n {
                            log::warn!("{}: legacy reply cut at {legacy_cap} bytes", self.peer);
                        }
                        cmd.legacy_out[stream as usize]
                            .extend_from_slice(&ctx.shared.scratch[..room]);
                    }
                    outcome
                } else {
                    read_frame(&mut self.out, &mut ctx.shared.scratch, job, stream, limit)
                };
                match outcome {
                    ReadOutcome::Data(n) => {
                        read_any = true;
                        *budget = budget.saturating_sub(n);
                        job.bytes_out += n as u64;
                    }
                    ReadOutcome::Eof => read_any = true,
                    // Nothing there now (a final drain tries each once).
                    ReadOutcome::WouldBlock => {}
                }
            }
            progress |= read_any;
            if !read_any {
                break;
            }
            if self.out.len() >= ctx.config.out_high_watermark {
                self.paused = true;
            }
        }
        progress
    }

    /// Sends the front command's `Exit` once it is reaped and its output is
    /// complete (or the linger ran out); true if it finished.
    fn finish_front(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(job) = self.cmds.front().and_then(|c| c.job.as_ref()) else {
            return false;
        };
        let Some(exited_at) = job.exited_at else {
            return false;
        };
        if !job.output_closed() {
            if ctx.now < exited_at + ctx.config.linger {
                return false;
            }
            // The linger ran out. What the pipes hold now was written
            // before the hang-up, perhaps by the shell itself, and left
            // there by backpressure (a slow client) or the read budget: it
            // is read and sent, past the watermark if need be, but at most
            // a full pipe's worth each, so a process that keeps writing
            // cannot keep us here.
            let mut budget = 2 * PIPE_SIZE as usize;
            self.read_output(ctx, &mut budget, false);
        }
        let Some(cmd) = self.cmds.front_mut() else {
            return false;
        };
        let Some(job) = cmd.job.as_mut() else {
            return false;
        };
        if !job.output_closed() {
            // A background process still holds the output. Hang up on it,
            // as a closing terminal would, and report the shell's status.
            log::info!(
                "{}: pid {} exited but its output is still held open; hanging up after {:?}",
                self.peer,
                job.pid(),
                ctx.config.linger
            );
            job.kill(libc::SIGHUP);
            job.close_output();
        }
        let exit = Exit {
            termination: job.termination(),
            timed_out: job.timed_out,
            runtime_us: job.runtime_us(ctx.now),
        };
        let bytes_out = job.bytes_out;
        let command = display_text(&cmd.exec.command);
        log::info!(
            target: "audit",
            "{} {} time={:.3}s out={} cmd={}",
            self.peer,
            describe(&exit),
            exit.runtime_us as f64 / 1e6,
            bytes_out,
            command
        );
        let cmd = self.cmds.pop_front().expect("front command exists");
        ctx.shared.running -= 1;
        // A half-closed client with commands left, running or waiting: keep
        // finding out whether it is still there.
        self.probe_at = (self.read_closed && !self.cmds.is_empty()).then_some(ctx.now);
        self.last_activity = ctx.now;
        if self.legacy {
            let [stdout, stderr] = &cmd.legacy_out;
            let mut reply = BytesMut::new();
            // The output was capped well below i32::MAX.
            if legacy::encode_reply_header(stdout.len() + stderr.len(), &mut reply).is_ok() {
                self.out.extend_from_slice(&reply);
                self.out.extend_from_slice(stdout);
                self.out.extend_from_slice(stderr);
            }
        } else {
            self.push_frame(&Frame::Exit(exit));
        }
        true
    }

    /// Writes queued output to the socket until it is empty or full.
    fn flush(&mut self) -> io::Result<bool> {
        let mut progress = false;
        let Some(socket) = &mut self.socket else {
            return Ok(false);
        };
        while self.sock_writable && !self.out.is_empty() {
            match socket.write(self.out.as_slice()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.advance(n);
                    progress = true;
                }
                // The socket buffer is full; a writable event resumes us.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.sock_writable = false,
                // Interrupted by a signal: retry.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Reset, broken pipe: the client is gone.
                Err(e) => return Err(e),
            }
        }
        let running = self.cmds.front().is_some_and(|cmd| cmd.job.is_some());
        if self.out.is_empty() && self.out.capacity() > 0 && !running {
            // Give the buffer back once no command runs: idle connections
            // should cost next to nothing. While one runs the buffer stays
            // (bounded by the watermarks: see `OutBuf`), since a stream's
            // queue empties and refills all the time; giving it back at
            // each empty cost a reallocation and a memset per refill.
            self.out.release();
        }
        Ok(progress)
    }

    /// The id of this connection.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Gives the connection its turn for a slot; true if its front command
    /// was waiting (false: a stale entry). It starts when next driven.
    pub fn take_waiting(&mut self) -> bool {
        self.cmds.front_mut().is_some_and(|c| {
            let waited = std::mem::take(&mut c.waiting);
            c.granted |= waited;
            waited
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Count the running command out; Job's own drop kills what is left.
        self.kill_all();
    }
}

/// The bytes an `Exec` holds while it is queued.
fn exec_bytes(exec: &Exec) -> usize {
    let env: usize = exec.env.iter().map(|(k, v)| k.len() + v.len()).sum();
    exec.command.len() + exec.cwd.as_ref().map_or(0, |c| c.len()) + env
}

/// Reads up to `limit` bytes of a command's output and queues them as one
/// `Stdout`/`Stderr` frame. Straight from the pipe into the queue, behind
/// room for the header, when the queue has that room already; otherwise
/// through `scratch`, so that a command printing a line, or nothing before
/// its end of file, never makes the queue reserve a whole chunk.
fn read_frame(
    out: &mut OutBuf,
    scratch: &mut [u8],
    job: &mut Job,
    stream: Stream,
    limit: usize,
) -> ReadOutcome {
    let frame_type = match stream {
        Stream::Stdout => protocol::FrameType::Stdout,
        Stream::Stderr => protocol::FrameType::Stderr,
    };
    let header = |n| {
        protocol::Header::new(frame_type, n)
            .expect("an OUTPUT_CHUNK payload fits a header")
            .to_bytes()
    };
    if !out.fits(protocol::HEADER_LEN + limit) {
        let outcome = job.read_output(stream, &mut scratch[..limit]);
        if let ReadOutcome::Data(n) = outcome {
            out.extend_from_slice(&header(n));
            out.extend_from_slice(&scratch[..n]);
        }
        return outcome;
    }
    let mut outcome = ReadOutcome::WouldBlock;
    out.append_with(protocol::HEADER_LEN, limit, |head, payload| {
        outcome = job.read_output(stream, payload);
        let ReadOutcome::Data(n) = outcome else {
            return 0;
        };
        head.copy_from_slice(&header(n));
        n
    });
    outcome
}

/// Whether `signal`'s default action ends a process: those a queued
/// command is cancelled for. The others (a child's exit, a window resize,
/// urgent data, stop and continue) would leave it running, or stopped.
fn ends_a_process(signal: i32) -> bool {
    !matches!(
        signal,
        libc::SIGCHLD
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
            | libc::SIGURG
            | libc::SIGWINCH
    )
}

/// The time limit for a command: the client's, capped by the server's.
/// A client may ask for less time than the server's default, never more;
/// 0 from the client means "the server's default".
pub fn effective_timeout(client_ms: Option<u32>, server: Option<Duration>) -> Option<Duration> {
    let client = client_ms
        .filter(|&ms| ms > 0)
        .map(|ms| Duration::from_millis(u64::from(ms)));
    match (client, server) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, s) => c.or(s),
    }
}

fn describe(exit: &Exit) -> String {
    let status = match exit.termination {
        Termination::Code(code) => format!("exit={code}"),
        Termination::Signal(signal) => format!("signal={signal}"),
    };
    if exit.timed_out {
        format!("{status} timed-out")
    } else {
        status
    }
}

/// Client-supplied bytes (a command, an error message) as the log shows
/// them: quoted, control characters escaped so that no line can be forged,
/// bytes that are not UTF-8 as `\xNN` so the record stays faithful, at most
/// `MAX_SHOWN` characters.
fn display_text(bytes: &[u8]) -> String {
    const MAX_SHOWN: usize = 200;
    let mut shown = String::from("\"");
    let mut count = 0;
    'chunks: for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if count == MAX_SHOWN {
                shown.push('…');
                break 'chunks;
            }
            shown.extend(c.escape_debug());
            count += 1;
        }
        for b in chunk.invalid() {
            if count == MAX_SHOWN {
                shown.push('…');
                break 'chunks;
            }
            shown.push_str(&format!("\\x{b:02x}"));
            count += 1;
        }
    }
    shown.push('"');
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_pidfd_the_exit_is_polled_for_at_an_interval_not_at_every_turn() {
        let config = Config::default();
        let poll = mio::Poll::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_nonblocking(true).unwrap();
        let peer = stream.local_addr().unwrap();
        let start = Instant::now();
        let mut conn = Connection::new(
            1,
            TcpStream::from_std(stream),
            peer,
            &config,
            [0; protocol::NONCE_LEN],
            start,
        );
        conn.phase = Phase::Ready;
        let mut job = Job::spawn(&config.shell, &Exec::new("sleep 5"), poll.registry(), 1).unwrap();
        job.forget_pidfd();
        let mut cmd = Cmd::new(1, Exec::new("sleep 5"));
        cmd.job = Some(job);
        conn.cmds.push_back(cmd);
        let mut shared = Shared {
            running: 1,
            waiting: VecDeque::new(),
            scratch: vec![0; OUTPUT_CHUNK],
        };
        // Long after the start, with no traffic from the client: each
        // poll is followed by the next one an interval later, not by a
        // deadline already past (a wake-up at every turn of the loop).
        for turn in 1..=3 {
            let now = Instant::now() + Duration::from_millis(100 * turn);
            let mut ctx = Ctx::new(poll.registry(), &config, &mut shared, now, false);
            conn.on_timer(&mut ctx);
            let next = conn.next_deadline(&config).expect("a deadline");
            assert!(next > now, "turn {turn}: next deadline already past");
        }
        conn.force_kill();
    }

    #[test]
    fn client_may_shorten_but_not_lengthen_the_time_limit() {
        let s = Some(Duration::from_secs(10));
        assert_eq!(
            effective_timeout(Some(2000), s),
            Some(Duration::from_secs(2))
        );
        assert_eq!(effective_timeout(Some(60_000), s), s);
        assert_eq!(effective_timeout(None, s), s);
        assert_eq!(effective_timeout(Some(0), s), s);
        assert_eq!(
            effective_timeout(Some(500), None),
            Some(Duration::from_millis(500))
        );
        assert_eq!(effective_timeout(None, None), None);
    }

    #[test]
    fn audit_shows_long_commands_cut_and_escaped() {
        assert_eq!(display_text(b"echo \"hi\""), "\"echo \\\"hi\\\"\"");
        let long = vec![b'x'; 500];
        assert!(display_text(&long).chars().count() < 210);
    }

    #[test]
    fn logged_client_text_cannot_forge_a_line_and_keeps_its_bytes() {
        let shown = display_text(b"bye\r\n[INFO audit] forged \x1b[31m h\xc3\xa9 \xff\xfe");
        assert!(!shown.contains(['\n', '\r', '\x1b']), "{shown}");
        assert_eq!(
            shown,
            "\"bye\\r\\n[INFO audit] forged \\u{1b}[31m h\u{e9} \\xff\\xfe\""
        );
    }
}
