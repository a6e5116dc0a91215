//! `udp-echo serve`: an RFC 862 echo server that is not a reflector.
//!
//! # Design
//!
//! * **Exact echo.** The reply is the received bytes, to the sender's address
//!   and port. Each receive slot holds [`DEFAULT_MAX_SIZE`] bytes (more than
//!   the largest UDP payload), and a datagram the kernel had to cut
//!   (`MSG_TRUNC`) is counted as truncated and never answered: a shortened
//!   echo would be a wrong echo.
//! * **Not a reflector.** A spoofed source turns an echo server into an
//!   amplifier pointed at a victim, or into one end of an echo/chargen loop
//!   (CVE-1999-0103). So datagrams from source port 0 or below 1024 (where
//!   echo, chargen, DNS and NTP live) are dropped unless
//!   `--allow-low-ports`, and each source address gets a token bucket
//!   ([`crate::limiter`]): generous for one tester, a cap for a flood.
//!   A datagram whose source is one of the server's own sockets (spoofed,
//!   or through a relay) is dropped too, whatever the port: echoing it
//!   would send the server its own reply, again and again (an
//!   echo-to-itself loop; one such datagram used to be echoed 6,000 times
//!   until the rate limit cut it, and for ever with `--rate-limit 0`).
//!   The first datagram dropped for the limit is logged once (warn) with the
//!   flag that raises it: otherwise a `flood --rate max` or a long `ping -i
//!   0` against a default server measures the limit and nothing says so.
//! * **`--annotate`** answers as the seed did: the message, `-`, then the
//!   sender's address as the server saw it (`127.0.0.1:40000`,
//!   `[::1]:40000`). That reply is *larger* than the request, so it is
//!   charged `ceil(reply / request)` tokens: the limiter bounds replied
//!   datagrams *and* amplification.
//! * **The decision is pure.** [`Gate::judge`] takes the source, length,
//!   truncation flag and the time and returns a [`Verdict`]; the I/O loop only
//!   carries it out, so every policy has a unit test without sockets.
//! * **Fast path.** Large socket buffers and [`crate::sys::Batch`]:
//!   `recvmmsg`/`sendmmsg` move up to `--batch` datagrams per system call.
//!   One thread serves every socket: the echo work is the system calls, and
//!   on a small machine the client needs the other core.
//! * **Waiting.** With several `--listen` sockets the loop waits in
//!   `poll(2)` on all of them plus a self-pipe that signal handlers (and
//!   [`Handle`]) write to, and drains each a bounded number of batches per
//!   wake-up (fairness). With one socket (the common case) it waits in the
//!   receive itself, no `poll`: `recvmmsg` with `MSG_WAITFORONE` (see
//!   [`crate::sys`]) takes a whole batch when datagrams queue up; while they
//!   come one per wait (ping-pong), plain `recvfrom`/`sendto` serve them,
//!   as cheap as the simplest loop, and every [`PROBE_EVERY`]-th wait is a
//!   batched one again to catch a burst. That wait ends on a signal (`EINTR`: `SO_RCVTIMEO` is set,
//!   so it is not restarted) or after [`WAKE_INTERVAL`], so SIGUSR1 (print
//!   counters) and SIGINT/SIGTERM (print counters, exit) act at once, and
//!   [`Handle::stop`] from another thread within that interval.
//! * **Never blocks on output.** Sends are non-blocking; a full send buffer
//!   drops the reply (counted), as UDP may.

use crate::limiter::{Limiter, Limits};
use crate::sys::{self, Batch};
use crate::Error;
use std::fmt;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Default listening address: the seed's port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8002";
/// Default receive slot size: above the largest UDP payload (65,527), so
/// only a jumbogram or a smaller `--max-size` can truncate.
pub const DEFAULT_MAX_SIZE: usize = 65_536;
/// Default datagrams per `recvmmsg`/`sendmmsg`.
pub const DEFAULT_BATCH: usize = 32;
/// Largest `--batch`.
pub const MAX_BATCH: usize = 1024;
/// Default socket receive and send buffer request, in bytes (the kernel caps
/// it at `net.core.rmem_max`/`wmem_max`).
pub const DEFAULT_SOCKET_BUFFER: usize = 4 << 20;
/// Room after each slot for the `--annotate` suffix (`-[v6 addr%scope]:port`).
const ANNOTATE_ROOM: usize = 64;
/// Batches drained from one socket before the others get a turn.
const BATCHES_PER_WAKE: usize = 16;
/// Longest wait in `recvmmsg` before the one-socket loop rechecks its flags
/// (only matters for [`Handle::stop`] from a thread: signals cut it short).
pub const WAKE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
/// In the one-socket loop, while datagrams come one per wait, every this
/// many-th wait is a batched one (to notice a burst); the others are plain
/// `recvfrom`.
pub const PROBE_EVERY: u32 = 8;
/// Lowest source port answered without `--allow-low-ports`.
pub const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// Everything `serve` can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Addresses to bind, one socket each.
    pub listen: Vec<SocketAddr>,
    /// Reply with message + `-` + sender address instead of the message.
    pub annotate: bool,
    /// Answer source ports 0..1024 too.
    pub allow_low_ports: bool,
    /// Per-source rate limit.
    pub limits: Limits,
    /// Receive slot size: datagrams longer than this are truncated+dropped.
    pub max_size: usize,
    /// Datagrams per batched system call.
    pub batch: usize,
    /// Socket buffer sizes requested.
    pub socket_buffer: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            // A constant that parses: failing here is a programming error.
            listen: vec![DEFAULT_LISTEN.parse().expect("valid default address")],
            annotate: false,
            allow_low_ports: false,
            limits: Limits::default(),
            max_size: DEFAULT_MAX_SIZE,
            batch: DEFAULT_BATCH,
            socket_buffer: DEFAULT_SOCKET_BUFFER,
        }
    }
}

/// What the server has done since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams read.
    pub received: u64,
    /// Replies sent.
    pub echoed: u64,
    /// Payload bytes read (as stored; truncated ones count what was kept).
    pub bytes_received: u64,
    /// Payload bytes sent.
    pub bytes_echoed: u64,
    /// Datagrams longer than the receive slot (never answered).
    pub truncated: u64,
    /// Dropped: source port 0 or below 1024.
    pub dropped_low_port: u64,
    /// Dropped: the source's token bucket was empty.
    pub dropped_rate_limited: u64,
    /// Dropped: the `--annotate` reply would exceed the largest datagram.
    pub dropped_too_long: u64,
    /// Dropped: the reply could not be sent (full buffer, route error...).
    pub dropped_send_error: u64,
    /// Dropped: the source is one of the server's own sockets (an
    /// echo-to-itself loop).
    pub dropped_loop: u64,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "counters: received={} echoed={} bytes_received={} bytes_echoed={} truncated={} \
             dropped_low_port={} dropped_rate_limited={} dropped_too_long={} dropped_send_error={} \
             dropped_loop={}",
            self.received,
            self.echoed,
            self.bytes_received,
            self.bytes_echoed,
            self.truncated,
            self.dropped_low_port,
            self.dropped_rate_limited,
            self.dropped_too_long,
            self.dropped_send_error,
            self.dropped_loop
        )
    }
}

/// What to do with one received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send back `reply_len` bytes (the datagram, or it annotated).
    Echo {
        /// Length of the reply.
        reply_len: usize,
    },
    /// Source port 0 or privileged.
    DropLowPort,
    /// The source's bucket is empty.
    DropRateLimited,
    /// The kernel cut the datagram.
    DropTruncated,
    /// The annotated reply would not fit in one datagram.
    DropTooLong,
    /// The source is one of the server's own sockets: the reply would come
    /// straight back as a new request (see [`Gate::set_own_addrs`]).
    DropLoop,
}

/// The suffix `--annotate` appends: `-` and the sender's address.
///
/// ```
/// let src = "127.0.0.1:40000".parse()?;
/// assert_eq!(udp_echo::server::annotation(src), "-127.0.0.1:40000");
/// let src6 = "[::1]:40000".parse()?;
/// assert_eq!(udp_echo::server::annotation(src6), "-[::1]:40000");
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn annotation(source: SocketAddr) -> String {
    format!("-{source}")
}

/// The per-datagram policy, without I/O.
#[derive(Debug)]
pub struct Gate {
    annotate: bool,
    allow_low_ports: bool,
    limiter: Limiter,
    own: Vec<SocketAddr>,
}

impl Gate {
    /// A gate for this configuration.
    pub fn new(cfg: &ServeConfig) -> Gate {
        Gate {
            annotate: cfg.annotate,
            allow_low_ports: cfg.allow_low_ports,
            limiter: Limiter::new(cfg.limits),
            own: Vec::new(),
        }
    }

    /// Tells the gate the server's own bound addresses (ports resolved), so
    /// that a datagram from one of them is [`Verdict::DropLoop`]: a source
    /// equal to a bound address, or, for a socket bound to the unspecified
    /// address (`0.0.0.0:P`, `[::]:P`), port `P` on an address of this host
    /// (loopback, or one a socket can be bound to; checked only when the
    /// port matches, so it costs nothing otherwise).
    ///
    /// ```
    /// use udp_echo::server::{Gate, ServeConfig, Verdict};
    /// let mut g = Gate::new(&ServeConfig::default());
    /// g.set_own_addrs(vec!["127.0.0.1:8002".parse()?]);
    /// assert_eq!(g.judge("127.0.0.1:8002".parse()?, 5, false, 0), Verdict::DropLoop);
    /// assert_eq!(g.judge("127.0.0.2:8002".parse()?, 5, false, 0), Verdict::Echo { reply_len: 5 });
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn set_own_addrs(&mut self, own: Vec<SocketAddr>) {
        self.own = own;
    }

    fn is_own(&self, source: SocketAddr) -> bool {
        self.own.iter().any(|o| {
            o.port() == source.port()
                && o.is_ipv4() == source.is_ipv4()
                && (o.ip() == source.ip() || (o.ip().is_unspecified() && is_local_ip(source.ip())))
        })
    }

    /// Decides what to do with a datagram of `len` bytes from `source`.
    ///
    /// ```
    /// use udp_echo::server::{Gate, ServeConfig, Verdict};
    /// let mut g = Gate::new(&ServeConfig::default());
    /// let src = "127.0.0.1:40000".parse()?;
    /// assert_eq!(g.judge(src, 5, false, 0), Verdict::Echo { reply_len: 5 });
    /// assert_eq!(g.judge("127.0.0.1:7".parse()?, 5, false, 0), Verdict::DropLowPort);
    /// assert_eq!(g.judge(src, 5, true, 0), Verdict::DropTruncated);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn judge(
        &mut self,
        source: SocketAddr,
        len: usize,
        truncated: bool,
        now_ns: u64,
    ) -> Verdict {
        if truncated {
            return Verdict::DropTruncated;
        }
        if self.is_own(source) {
            return Verdict::DropLoop;
        }
        if !self.allow_low_ports && source.port() < FIRST_UNPRIVILEGED_PORT {
            return Verdict::DropLowPort;
        }
        let reply_len = if self.annotate {
            len + annotation(source).len()
        } else {
            len
        };
        if reply_len > sys::max_payload(&source) {
            return Verdict::DropTooLong;
        }
        // An echo costs one token; an annotated one as many as it is times
        // larger than the request, so amplification is limited too.
        let cost = if self.annotate {
            reply_len.div_ceil(len.max(1)) as u64
        } else {
            1
        };
        if !self.limiter.admit(source.ip(), cost, now_ns) {
            return Verdict::DropRateLimited;
        }
        Verdict::Echo { reply_len }
    }
}

/// Whether `ip` is an address of this host: loopback, or one a socket can
/// be bound to.
fn is_local_ip(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Asks a running [`Server`] to print counters or stop, from any thread.
#[derive(Debug, Clone)]
pub struct Handle {
    stop: Arc<AtomicBool>,
    report: Arc<AtomicBool>,
    wake: Arc<UnixStream>,
}

impl Handle {
    /// Makes [`Server::run`] return after the current batch.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = (&*self.wake).write(&[1]);
    }

    /// Makes [`Server::run`] report its counters.
    pub fn report(&self) {
        self.report.store(true, Ordering::SeqCst);
        let _ = (&*self.wake).write(&[1]);
    }

    /// Routes SIGUSR1 to [`Handle::report`] and SIGINT/SIGTERM to
    /// [`Handle::stop`] (a second SIGINT/SIGTERM kills at once).
    pub fn register_signals(&self) -> Result<(), Error> {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        let reg = |e| Error::Signals { source: e };
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&self.stop))
                .map_err(reg)?;
            signal_hook::flag::register(sig, Arc::clone(&self.stop)).map_err(reg)?;
        }
        signal_hook::flag::register(SIGUSR1, Arc::clone(&self.report)).map_err(reg)?;
        for sig in [SIGINT, SIGTERM, SIGUSR1] {
            let w = self.wake.try_clone().map_err(reg)?;
            signal_hook::low_level::pipe::register(sig, w).map_err(reg)?;
        }
        Ok(())
    }
}

/// Bound sockets plus the state of the echo loop.
pub struct Server {
    sockets: Vec<std::net::UdpSocket>,
    batch: Batch,
    gate: Gate,
    counters: Counters,
    wake_rx: UnixStream,
    handle: Handle,
    started: Instant,
    replies: Vec<usize>,
    limits: Limits,
}

fn bind_one(addr: SocketAddr, buffer: usize) -> Result<std::net::UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind_err = |e| Error::Bind { addr, source: e };
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_err)?;
    if addr.is_ipv6() {
        // So that `[::]:P` and `0.0.0.0:P` can both be listened on.
        s.set_only_v6(true).map_err(bind_err)?;
    }
    for (what, r) in [
        ("receive", s.set_recv_buffer_size(buffer)),
        ("send", s.set_send_buffer_size(buffer)),
    ] {
        if let Err(e) = r {
            log::warn!("{addr}: cannot set {what} buffer to {buffer} bytes: {e}");
        }
    }
    s.set_nonblocking(true).map_err(bind_err)?;
    s.bind(&addr.into()).map_err(bind_err)?;
    log::debug!(
        "{addr}: socket buffers receive={:?} send={:?}",
        s.recv_buffer_size(),
        s.send_buffer_size()
    );
    Ok(s.into())
}

impl Server {
    /// Binds every `--listen` address; nothing is served until
    /// [`Server::run`].
    ///
    /// ```
    /// use udp_echo::server::{Server, ServeConfig};
    /// let cfg = ServeConfig { listen: vec!["127.0.0.1:0".parse()?], ..ServeConfig::default() };
    /// let mut server = Server::bind(&cfg)?;
    /// let addr = server.local_addrs()?[0];
    /// let handle = server.handle();
    /// let t = std::thread::spawn(move || server.run(|_| {}));
    /// let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// client.send_to(b"hi", addr)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(client.recv(&mut buf)?, 2);
    /// handle.stop();
    /// assert_eq!(t.join().unwrap()?.echoed, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind(cfg: &ServeConfig) -> Result<Server, Error> {
        if cfg.listen.is_empty() {
            return Err(Error::Usage(
                "serve needs at least one --listen address".into(),
            ));
        }
        if cfg.batch == 0 || cfg.batch > MAX_BATCH {
            return Err(Error::Usage(format!(
                "--batch {} is outside 1..={MAX_BATCH}",
                cfg.batch
            )));
        }
        if cfg.max_size == 0 || cfg.max_size > DEFAULT_MAX_SIZE {
            return Err(Error::Usage(format!(
                "--max-size {} is outside 1..={DEFAULT_MAX_SIZE}",
                cfg.max_size
            )));
        }
        // A limiter with no room would drop every datagram: a server that
        // never answers, silently. Refuse the configuration instead.
        if cfg.limits.rate > 0 && (cfg.limits.burst == 0 || cfg.limits.max_sources == 0) {
            // Name only the flag at fault: `--max-sources 65536 must be at
            // least 1` next to a `--burst 0` read as nonsense.
            let zero = match (cfg.limits.burst, cfg.limits.max_sources) {
                (0, 0) => "--burst 0 and --max-sources 0",
                (0, _) => "--burst 0",
                _ => "--max-sources 0",
            };
            return Err(Error::Usage(format!(
                "{zero}: must be at least 1 with a rate limit (otherwise nothing is ever \
                 echoed); --rate-limit 0 turns limiting off"
            )));
        }
        let sockets = cfg
            .listen
            .iter()
            .map(|&a| bind_one(a, cfg.socket_buffer))
            .collect::<Result<Vec<_>, _>>()?;
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(|e| Error::Signals { source: e })?;
        for s in [&wake_tx, &wake_rx] {
            s.set_nonblocking(true)
                .map_err(|e| Error::Signals { source: e })?;
        }
        let mut gate = Gate::new(cfg);
        let own = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::io("local address", e))?;
        gate.set_own_addrs(own);
        Ok(Server {
            sockets,
            batch: Batch::new(cfg.batch, cfg.max_size, ANNOTATE_ROOM),
            gate,
            counters: Counters::default(),
            wake_rx,
            handle: Handle {
                stop: Arc::new(AtomicBool::new(false)),
                report: Arc::new(AtomicBool::new(false)),
                wake: Arc::new(wake_tx),
            },
            started: Instant::now(),
            replies: Vec::with_capacity(cfg.batch),
            limits: cfg.limits,
        })
    }

    /// The bound addresses (with the OS's port for port 0), in `--listen`
    /// order.
    pub fn local_addrs(&self) -> Result<Vec<SocketAddr>, Error> {
        self.sockets
            .iter()
            .map(|s| {
                s.local_addr().map_err(|e| Error::Io {
                    context: "local address".into(),
                    source: e,
                })
            })
            .collect()
    }

    /// A handle to stop the server or ask for counters.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Serves until [`Handle::stop`] (or a registered signal); calls
    /// `on_report` for each [`Handle::report`]. Returns the final counters.
    pub fn run(&mut self, mut on_report: impl FnMut(&Counters)) -> Result<Counters, Error> {
        if cfg!(target_os = "linux") && self.sockets.len() == 1 {
            return self.run_one_socket(on_report);
        }
        let mut fds: Vec<_> = self.sockets.iter().map(|s| s.as_raw_fd()).collect();
        fds.push(self.wake_rx.as_raw_fd());
        loop {
            let ready = sys::poll_readable(&fds, -1).map_err(|e| Error::Io {
                context: "poll".into(),
                source: e,
            })?;
            if ready.last().copied().unwrap_or(false) {
                let mut sink = [0u8; 64];
                // Drain the self-pipe; WouldBlock ends it.
                while matches!((&self.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
            }
            if self.handle.report.swap(false, Ordering::SeqCst) {
                on_report(&self.counters);
            }
            if self.handle.stop.load(Ordering::SeqCst) {
                return Ok(self.counters);
            }
            for (i, &readable) in ready.iter().enumerate().take(self.sockets.len()) {
                if readable {
                    self.serve_socket(i);
                }
            }
        }
    }

    fn run_one_socket(&mut self, mut on_report: impl FnMut(&Counters)) -> Result<Counters, Error> {
        let sock = &self.sockets[0];
        let setup = |e| Error::io("set up the socket for waiting", e);
        sock.set_nonblocking(false).map_err(setup)?;
        sock.set_read_timeout(Some(WAKE_INTERVAL)).map_err(setup)?;
        let fd = sock.as_raw_fd();
        let mut idle_streak: u32 = 0;
        loop {
            if self.handle.report.swap(false, Ordering::SeqCst) {
                on_report(&self.counters);
            }
            if self.handle.stop.load(Ordering::SeqCst) {
                return Ok(self.counters);
            }
            // One at a time, recvfrom is cheaper than recvmmsg (measured:
            // about 0.7 us of a 12 us loopback round trip); every
            // PROBE_EVERY-th wait is a batch one, so a burst switches back.
            let single = !idle_streak.is_multiple_of(PROBE_EVERY);
            let got = if single {
                self.batch.recv_one_wait(fd)
            } else {
                self.batch.recv_wait(fd)
            };
            match &got {
                Ok(1) => idle_streak = idle_streak.wrapping_add(1),
                Ok(0) | Err(_) => {}
                Ok(_) => idle_streak = 0,
            }
            match got {
                Ok(0) => {} // time-out or signal: recheck the flags
                Ok(n) => {
                    self.echo_batch(fd, n);
                    // Take what queued meanwhile without waiting, bounded.
                    let mut last = n;
                    for _ in 1..BATCHES_PER_WAKE {
                        if last < self.batch.slots() {
                            break; // less than a batch was queued: drained
                        }
                        match self.batch.recv(fd) {
                            Ok(0) | Err(_) => break,
                            Ok(m) => {
                                self.echo_batch(fd, m);
                                last = m;
                            }
                        }
                    }
                }
                // Transient (ENOMEM, ENOBUFS...): the server carries on.
                Err(e) => log::warn!("receive: {e}"),
            }
        }
    }

    fn serve_socket(&mut self, i: usize) {
        let fd = self.sockets[i].as_raw_fd();
        for _ in 0..BATCHES_PER_WAKE {
            let n = match self.batch.recv(fd) {
                Ok(0) => return, // drained
                Ok(n) => n,
                Err(e) => {
                    // Transient (ENOMEM, ENOBUFS...): poll will say when to
                    // retry; the server itself carries on.
                    log::warn!("receive: {e}");
                    return;
                }
            };
            self.echo_batch(fd, n);
            if n < self.batch.slots() {
                return; // the socket had less than a batch: drained
            }
        }
    }

    /// Judges and answers the `n` datagrams of the last receive.
    fn echo_batch(&mut self, fd: std::os::fd::RawFd, n: usize) {
        let mut replies = std::mem::take(&mut self.replies);
        let now_ns = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        replies.clear();
        for k in 0..n {
            let r = self.batch.received()[k];
            self.counters.received += 1;
            self.counters.bytes_received += r.len as u64;
            let Some(source) = r.source else { continue };
            match self.gate.judge(source, r.len, r.truncated, now_ns) {
                Verdict::Echo { reply_len } => {
                    if reply_len != r.len {
                        let suffix = annotation(source);
                        self.batch.slot_mut(k)[r.len..reply_len].copy_from_slice(suffix.as_bytes());
                        self.batch.set_reply_len(k, reply_len);
                    }
                    replies.push(k);
                }
                Verdict::DropLowPort => self.counters.dropped_low_port += 1,
                Verdict::DropRateLimited => {
                    if self.counters.dropped_rate_limited == 0 {
                        log::warn!(
                            "{source}: over the rate limit of {} echoes/s per source address \
                             (burst {}); dropping the excess, counted as dropped_rate_limited \
                             (logged once). Raise it with --rate-limit PPS, or turn it off with \
                             --rate-limit 0 to measure echo capacity",
                            self.limits.rate,
                            self.limits.burst
                        );
                    }
                    self.counters.dropped_rate_limited += 1;
                }
                Verdict::DropTruncated => self.counters.truncated += 1,
                Verdict::DropTooLong => self.counters.dropped_too_long += 1,
                Verdict::DropLoop => self.counters.dropped_loop += 1,
            }
        }
        if !replies.is_empty() {
            let (sent, failed) = self.batch.send_back(fd, &replies);
            self.counters.echoed += sent as u64;
            for &k in &replies {
                if !failed.iter().any(|(f, _)| *f == k) {
                    self.counters.bytes_echoed += self.reply_len(k) as u64;
                }
            }
            for (_, e) in &failed {
                log::debug!("send: {e}");
            }
            self.counters.dropped_send_error += failed.len() as u64;
        }
        self.replies = replies;
    }

    fn reply_len(&self, k: usize) -> usize {
        self.batch.reply_len(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(f: impl FnOnce(&mut ServeConfig)) -> Gate {
        let mut c = ServeConfig::default();
        f(&mut c);
        Gate::new(&c)
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn source_equal_to_an_own_socket_is_a_loop_and_dropped() {
        let mut g = gate(|c| c.limits.rate = 0);
        g.set_own_addrs(vec![a("127.0.0.1:8002"), a("0.0.0.0:9000"), a("[::]:9001")]);
        for own in [
            "127.0.0.1:8002",
            "127.0.0.1:9000",
            "127.0.0.9:9000",
            "[::1]:9001",
        ] {
            assert_eq!(g.judge(a(own), 4, false, 0), Verdict::DropLoop, "{own}");
        }
        // Same port on another host, or another port: an ordinary client.
        for other in [
            "127.0.0.2:8002",
            "192.0.2.1:9000",
            "[2001:db8::1]:9001",
            "[::1]:9000",
        ] {
            assert!(
                matches!(g.judge(a(other), 4, false, 0), Verdict::Echo { .. }),
                "{other}"
            );
        }
    }

    #[test]
    fn plain_echo_replies_with_same_length() {
        let mut g = gate(|_| {});
        assert_eq!(
            g.judge(a("127.0.0.1:5000"), 0, false, 0),
            Verdict::Echo { reply_len: 0 }
        );
        assert_eq!(
            g.judge(a("[::1]:5000"), sys::MAX_UDP_V6, false, 0),
            Verdict::Echo {
                reply_len: sys::MAX_UDP_V6
            }
        );
    }

    #[test]
    fn source_port_zero_and_privileged_ports_are_dropped() {
        let mut g = gate(|_| {});
        for p in [0, 7, 19, 53, 123, 1023] {
            assert_eq!(
                g.judge(a(&format!("127.0.0.1:{p}")), 4, false, 0),
                Verdict::DropLowPort,
                "port {p}"
            );
        }
        assert!(matches!(
            g.judge(a("127.0.0.1:1024"), 4, false, 0),
            Verdict::Echo { .. }
        ));
    }

    #[test]
    fn allow_low_ports_answers_them() {
        let mut g = gate(|c| c.allow_low_ports = true);
        assert!(matches!(
            g.judge(a("127.0.0.1:7"), 4, false, 0),
            Verdict::Echo { .. }
        ));
    }

    #[test]
    fn truncated_datagram_is_never_answered() {
        let mut g = gate(|c| c.allow_low_ports = true);
        assert_eq!(
            g.judge(a("127.0.0.1:5000"), 10, true, 0),
            Verdict::DropTruncated
        );
    }

    #[test]
    fn annotate_reply_is_message_dash_address() {
        let mut g = gate(|c| c.annotate = true);
        assert_eq!(
            g.judge(a("127.0.0.1:5000"), 5, false, 0),
            Verdict::Echo {
                reply_len: 5 + "-127.0.0.1:5000".len()
            }
        );
    }

    #[test]
    fn annotate_reply_over_max_datagram_is_dropped_not_cut() {
        let mut g = gate(|c| c.annotate = true);
        assert_eq!(
            g.judge(a("127.0.0.1:5000"), sys::MAX_UDP_V4, false, 0),
            Verdict::DropTooLong
        );
    }

    #[test]
    fn annotate_charges_small_requests_more_tokens() {
        let mut g = gate(|c| {
            c.annotate = true;
            c.limits = Limits {
                rate: 1,
                burst: 32,
                max_sources: 4,
            };
        });
        // 1-byte request, 16-byte reply: 16 tokens each, so two fit in 32.
        let src = a("127.0.0.1:5000");
        assert!(matches!(g.judge(src, 1, false, 0), Verdict::Echo { .. }));
        assert!(matches!(g.judge(src, 1, false, 0), Verdict::Echo { .. }));
        assert_eq!(g.judge(src, 1, false, 0), Verdict::DropRateLimited);
    }

    #[test]
    fn rate_limit_applies_per_source_address() {
        let mut g = gate(|c| {
            c.limits = Limits {
                rate: 1,
                burst: 2,
                max_sources: 4,
            }
        });
        let src = a("127.0.0.1:5000");
        assert!(matches!(g.judge(src, 1, false, 0), Verdict::Echo { .. }));
        assert!(matches!(
            g.judge(a("127.0.0.1:5001"), 1, false, 0),
            Verdict::Echo { .. }
        ));
        assert_eq!(
            g.judge(src, 1, false, 0),
            Verdict::DropRateLimited,
            "same IP, other port"
        );
        assert!(matches!(
            g.judge(a("127.0.0.2:5000"), 1, false, 0),
            Verdict::Echo { .. }
        ));
    }

    #[test]
    fn counters_line_names_every_counter() {
        let c = Counters {
            received: 3,
            truncated: 1,
            ..Counters::default()
        };
        let line = c.to_string();
        for key in [
            "received=3",
            "echoed=0",
            "bytes_received=",
            "bytes_echoed=",
            "truncated=1",
            "dropped_low_port=",
            "dropped_rate_limited=",
            "dropped_too_long=",
            "dropped_send_error=",
            "dropped_loop=",
        ] {
            assert!(line.contains(key), "{key} missing from {line}");
        }
    }

    #[test]
    fn bind_rejects_a_rate_limit_that_could_never_echo() {
        let base = ServeConfig {
            listen: vec![a("127.0.0.1:0")],
            ..ServeConfig::default()
        };
        let with = |burst, max_sources, rate| ServeConfig {
            limits: Limits {
                rate,
                burst,
                max_sources,
            },
            ..base.clone()
        };
        for (cfg, named, not_named) in [
            (with(0, 16, 100), "--burst 0", "--max-sources"),
            (with(5, 0, 100), "--max-sources 0", "--burst"),
        ] {
            match Server::bind(&cfg) {
                // Only the flag at fault is named.
                Err(Error::Usage(why)) => {
                    assert!(why.contains(named) && !why.contains(not_named), "{why}")
                }
                other => panic!("{:?}: {:?}", cfg.limits, other.map(|_| ())),
            }
        }
        // With limiting off, burst and sources do not matter.
        assert!(Server::bind(&with(0, 0, 0)).is_ok());
        assert!(Server::bind(&with(1, 1, 100)).is_ok());
    }

    #[test]
    fn bind_rejects_bad_batch_and_max_size() {
        let base = ServeConfig {
            listen: vec![a("127.0.0.1:0")],
            ..ServeConfig::default()
        };
        assert!(matches!(
            Server::bind(&ServeConfig {
                batch: 0,
                ..base.clone()
            }),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            Server::bind(&ServeConfig {
                max_size: 70_000,
                ..base.clone()
            }),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            Server::bind(&ServeConfig {
                listen: vec![],
                ..base
            }),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn server_echoes_and_counts_in_process() {
        let cfg = ServeConfig {
            listen: vec![a("127.0.0.1:0")],
            max_size: 100,
            ..ServeConfig::default()
        };
        let mut s = Server::bind(&cfg).unwrap();
        let addr = s.local_addrs().unwrap()[0];
        let h = s.handle();
        let t = std::thread::spawn(move || s.run(|_| {}));
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        c.connect(addr).unwrap();
        c.send(&[1u8; 200]).unwrap(); // truncated: no reply
        c.send(b"\x00\xffbin").unwrap();
        let mut buf = [0u8; 300];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"\x00\xffbin",
            "the truncated one was not answered first"
        );
        h.stop();
        let counters = t.join().unwrap().unwrap();
        assert_eq!(
            (counters.received, counters.echoed, counters.truncated),
            (2, 1, 1)
        );
        assert_eq!(counters.bytes_echoed, 5);
    }

    #[test]
    fn several_listen_sockets_are_all_served() {
        let cfg = ServeConfig {
            listen: vec![a("127.0.0.1:0"), a("127.0.0.1:0")],
            ..ServeConfig::default()
        };
        let mut s = Server::bind(&cfg).unwrap();
        let addrs = s.local_addrs().unwrap();
        let h = s.handle();
        let t = std::thread::spawn(move || s.run(|_| {}));
        for addr in addrs {
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            c.send_to(b"ping", addr).unwrap();
            let mut buf = [0u8; 8];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"ping"[..], addr));
        }
        h.report();
        h.stop();
        assert_eq!(t.join().unwrap().unwrap().echoed, 2);
    }
}
