//! The event loop: one mio `Poll` in one thread serves every connection.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::Config;
use crate::conn::{Connection, Ctx, Shared, Status, OUTPUT_CHUNK, SOCKET_READ_CHUNK};
use crate::job::{kind, token};
use crate::sys;

/// Token of the signal source (connection id 0 is never allocated).
const SIGNAL: Token = Token(0);

/// Events taken from the kernel per `poll` call.
const EVENTS_CAPACITY: usize = 1024;

/// Bytes of the scratch buffer that socket reads and legacy-mode pipe reads
/// go through (at least `SOCKET_READ_CHUNK` and `OUTPUT_CHUNK` in `conn`).
const SCRATCH_LEN: usize = 64 * 1024;
const _: () = assert!(SCRATCH_LEN >= SOCKET_READ_CHUNK && SCRATCH_LEN >= OUTPUT_CHUNK);

/// At most this many connections refused at the connection limit are kept
/// open, each until its `Error` is read (a second at most); more are closed
/// at once, unanswered.
const REFUSING_MAX: usize = 128;

/// After an accept error such as EMFILE, wait this long before accepting
/// again, instead of spinning on a listener that stays ready.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// After the shutdown grace and the kill, wait at most this long for the
/// last frames to reach their clients.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding an address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The event loop itself failed.
    #[error("event loop: {0}")]
    Poll(#[source] io::Error),
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    poll: Poll,
    config: Config,
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    signals: Signals,
    conns: HashMap<u64, Connection>,
    next_id: u64,
    timers: BTreeSet<(Instant, u64)>,
    shared: Shared,
    accept_paused_until: Option<Instant>,
    /// An accept error was logged and no accept has worked since.
    accept_failing: bool,
    shutdown: Option<Shutdown>,
}

#[derive(Clone, Copy)]
struct Shutdown {
    kill_at: Instant,
    give_up_at: Instant,
    killed: bool,
}

impl Server {
    /// Binds every configured address and prepares the loop.
    pub fn bind(mut config: Config) -> Result<Server, ServerError> {
        config.validate()?;
        // Found once, from here: not from each command's directory, nor on
        // the PATH its Exec may set.
        config.shell = config.shell_path()?;
        match sys::raise_nofile_limit() {
            Ok(limit) => log::debug!("open-file limit: {limit}"),
            Err(e) => log::warn!("cannot raise the open-file limit: {e}"),
        }
        let poll = Poll::new().map_err(ServerError::Poll)?;
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for (i, &addr) in config.listen.iter().enumerate() {
            let mut listener =
                TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| ServerError::Bind { addr, source })?;
            poll.registry()
                .register(
                    &mut listener,
                    token(i as u64 + 1, kind::SOCKET),
                    Interest::READABLE,
                )
                .map_err(ServerError::Poll)?;
            listeners.push(listener);
            addrs.push(local);
        }
        // SIGHUP (the terminal closing) stops the server like SIGTERM, so
        // its commands go with it rather than live on as orphans; unless
        // it is ignored (`nohup server`), which asks the server to stay.
        let mut stop_on = vec![SIGINT, SIGTERM];
        if !sys::is_ignored(SIGHUP) {
            stop_on.push(SIGHUP);
        }
        let mut signals = Signals::new(stop_on).map_err(ServerError::Poll)?;
        poll.registry()
            .register(&mut signals, SIGNAL, Interest::READABLE)
            .map_err(ServerError::Poll)?;
        let next_id = listeners.len() as u64 + 1;
        Ok(Server {
            poll,
            config,
            listeners,
            addrs,
            signals,
            conns: HashMap::new(),
            next_id,
            timers: BTreeSet::new(),
            shared: Shared {
                running: 0,
                waiting: VecDeque::new(),
                scratch: vec![0; SCRATCH_LEN],
            },
            accept_paused_until: None,
            accept_failing: false,
            shutdown: None,
        })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Serves until SIGINT, SIGTERM or SIGHUP, then shuts down gracefully.
    pub fn run(mut self) -> Result<(), ServerError> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut touched: Vec<u64> = Vec::new();
        let mut again: Vec<u64> = Vec::new();
        loop {
            let timeout = if again.is_empty() {
                self.next_timeout(Instant::now())
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ServerError::Poll(e)),
            }
            let now = Instant::now();
            touched.append(&mut again);
            for event in events.iter() {
                let raw = event.token().0;
                if event.token() == SIGNAL {
                    self.on_signal(now);
                    continue;
                }
                let (id, source) = ((raw >> kind::BITS) as u64, raw & ((1 << kind::BITS) - 1));
                if id as usize <= self.listeners.len() && source == kind::SOCKET {
                    self.accept(id as usize - 1, now, &mut touched);
                } else if let Some(conn) = self.conns.get_mut(&id) {
                    conn.on_event(source, event);
                    touched.push(id);
                }
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                for i in 0..self.listeners.len() {
                    self.accept(i, now, &mut touched);
                }
            }
            self.fire_timers(now, &mut touched);
            self.drive_all(now, &mut touched, &mut again);
            if let Some(shutdown) = self.shutdown {
                if self.conns.is_empty() || now >= shutdown.give_up_at {
                    log::info!("shut down ({} connections left)", self.conns.len());
                    return Ok(());
                }
                if !shutdown.killed && now >= shutdown.kill_at {
                    log::info!("grace period over; killing running commands");
                    self.force_kill_all(now, &mut touched, &mut again);
                }
            }
        }
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        let mut next = self.timers.first().map(|&(t, _)| t);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.accept_paused_until);
        if let Some(s) = self.shutdown {
            consider(Some(if s.killed { s.give_up_at } else { s.kill_at }));
        }
        // Round up so a timer is not woken a hair early and spun on.
        next.map(|t| t.saturating_duration_since(now) + Duration::from_micros(500))
    }

    fn accept(&mut self, index: usize, now: Instant, touched: &mut Vec<u64>) {
        if self.shutdown.is_some() || self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if std::mem::take(&mut self.accept_failing) {
                        log::info!("accepting connections again");
                    }
                    self.admit(stream, peer, now, touched)
                }
                // Backlog empty: wait for the next readiness event.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A signal or a client that gave up in the backlog: go on.
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.kind() == io::ErrorKind::ConnectionAborted => {}
                // Out of descriptors or memory: back off rather than spin;
                // the pending client stays in the backlog.
                Err(e) => {
                    // Once per spell of failures, not ten times a second.
                    if std::mem::replace(&mut self.accept_failing, true) {
                        log::debug!("accept failed again: {e}");
                    } else {
                        log::warn!(
                            "accept failed: {e}; retrying every {ACCEPT_BACKOFF:?} until it works"
                        );
                    }
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        now: Instant,
        touched: &mut Vec<u64>,
    ) {
        // Connections being turned away hold a socket for a second at
        // most but serve no one: they do not count toward the limit, and
        // have a bound of their own.
        let (mut served, mut refusing) = (0, 0);
        for conn in self.conns.values().filter(|c| c.is_connected()) {
            if conn.is_refused() {
                refusing += 1;
            } else {
                served += 1;
            }
        }
        let over_limit = served >= self.config.max_connections;
        if over_limit {
            log::warn!(
                "{peer}: refused, at the limit of {} connections",
                self.config.max_connections
            );
            // The seed's format has no error to send; and past
            // `REFUSING_MAX` a flood gets a plain close, not an answer.
            if self.config.legacy || refusing >= REFUSING_MAX {
                return;
            }
        }
        let _ = stream.set_nodelay(true);
        let id = self.next_id;
        self.next_id += 1;
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token(id, kind::SOCKET),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("{peer}: cannot register: {e}");
            return;
        }
        let mut nonce = [0u8; protocol::NONCE_LEN];
        if self.config.token.is_some() {
            if let Err(e) = getrandom::getrandom(&mut nonce) {
                log::error!("{peer}: no randomness for a nonce ({e}); refusing");
                return;
            }
        }
        log::debug!("{peer}: connected");
        let mut conn = Connection::new(id, stream, peer, &self.config, nonce, now);
        if over_limit {
            // Answered like any other connection, so the error is not lost
            // to a reset; it closes within a second.
            conn.refuse(self.config.max_connections);
        }
        self.conns.insert(id, conn);
        touched.push(id);
    }

    fn on_signal(&mut self, now: Instant) {
        let mut got = false;
        for signal in self.signals.pending() {
            log::info!("signal {signal} received");
            got = true;
        }
        if !got {
            return;
        }
        if let Some(shutdown) = &mut self.shutdown {
            // A second signal: stop waiting for running commands.
            shutdown.kill_at = now;
            return;
        }
        log::info!(
            "shutting down: no new connections; running commands get {:?}",
            self.config.shutdown_grace
        );
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.shutdown = Some(Shutdown {
            kill_at: now + self.config.shutdown_grace,
            give_up_at: now + self.config.shutdown_grace + FINAL_FLUSH,
            killed: false,
        });
        for conn in self.conns.values_mut() {
            conn.begin_shutdown();
        }
        // Drive everyone once so idle connections are told and closed.
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        let mut again = Vec::new();
        let mut touched = ids;
        self.drive_all(now, &mut touched, &mut again);
    }

    fn force_kill_all(&mut self, now: Instant, touched: &mut Vec<u64>, again: &mut Vec<u64>) {
        if let Some(s) = &mut self.shutdown {
            s.killed = true;
            s.give_up_at = now + FINAL_FLUSH;
        }
        for conn in self.conns.values_mut() {
            conn.force_kill();
        }
        touched.extend(self.conns.keys().copied());
        self.drive_all(now, touched, again);
    }

    fn fire_timers(&mut self, now: Instant, touched: &mut Vec<u64>) {
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let fired = self.with_conn(id, now, |conn, ctx| {
                // A stale entry: the connection's deadline moved earlier.
                if conn.timer != Some(t) {
                    return false;
                }
                conn.timer = None;
                conn.on_timer(ctx);
                true
            });
            if fired == Some(true) {
                touched.push(id);
            }
        }
    }

    /// Runs `f` on connection `id` with this turn's context; `None` if the
    /// connection is gone.
    fn with_conn<R>(
        &mut self,
        id: u64,
        now: Instant,
        f: impl FnOnce(&mut Connection, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let conn = self.conns.get_mut(&id)?;
        let shutting_down = self.shutdown.is_some();
        let mut ctx = Ctx::new(
            self.poll.registry(),
            &self.config,
            &mut self.shared,
            now,
            shutting_down,
        );
        Some(f(conn, &mut ctx))
    }

    fn drive_all(&mut self, now: Instant, touched: &mut Vec<u64>, again: &mut Vec<u64>) {
        let mut i = 0;
        while i < touched.len() {
            let id = touched[i];
            i += 1;
            self.drive_one(id, now, again);
            self.dispatch(now, touched, again);
        }
        for id in touched.drain(..) {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.touched = false;
            }
        }
    }

    /// Drives connection `id` once this turn (a second call does nothing
    /// unless its `touched` flag was cleared).
    fn drive_one(&mut self, id: u64, now: Instant, again: &mut Vec<u64>) {
        let driven = self.with_conn(id, now, |conn, ctx| {
            // Driven once per turn, however many of its sources fired.
            if std::mem::replace(&mut conn.touched, true) {
                return None;
            }
            Some((conn.drive(ctx), conn.timer, conn.peer()))
        });
        let Some(Some((status, timer, peer))) = driven else {
            return;
        };
        match status {
            Status::Closed => {
                log::debug!("{peer}: closed");
                if let Some(t) = timer {
                    self.timers.remove(&(t, id));
                }
                self.conns.remove(&id);
            }
            Status::More => again.push(id),
            Status::Open => {}
        }
        if let Some(conn) = self.conns.get_mut(&id) {
            let deadline = conn.next_deadline(&self.config);
            reschedule(&mut self.timers, conn, deadline);
        }
    }

    /// Gives free slots to the connections waiting for one, oldest first,
    /// and drives each at once, before any other connection can take its
    /// slot. Stale entries (closed, or no longer waiting) are dropped.
    fn dispatch(&mut self, now: Instant, touched: &mut Vec<u64>, again: &mut Vec<u64>) {
        while self.shared.running < self.config.max_running {
            let Some(next) = self.shared.waiting.pop_front() else {
                return;
            };
            let Some(conn) = self.conns.get_mut(&next) else {
                continue;
            };
            if !conn.take_waiting() {
                continue;
            }
            conn.touched = false;
            touched.push(next);
            self.drive_one(next, now, again);
        }
    }
}

/// Keeps one entry per connection in the timer set, moved only when the
/// deadline gets earlier: a later deadline (idle time pushed back by
/// traffic) is found when the earlier one fires, which saves a tree update
/// per read.
fn reschedule(
    timers: &mut BTreeSet<(Instant, u64)>,
    conn: &mut Connection,
    deadline: Option<Instant>,
) {
    let Some(deadline) = deadline else {
        return;
    };
    if conn.timer.is_some_and(|t| t <= deadline) {
        return;
    }
    if let Some(old) = conn.timer.take() {
        timers.remove(&(old, conn.id()));
    }
    timers.insert((deadline, conn.id()));
    conn.timer = Some(deadline);
}
