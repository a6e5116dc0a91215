//! A remote command service on one mio event loop.
//!
//! Clients connect over TCP, finish a handshake (with an HMAC token proof
//! when the server has a token), then send `Exec` frames. Each command runs
//! as `SHELL -c COMMAND` in its own process group; its stdout and stderr are
//! streamed back as they are produced, in separate frames, followed by one
//! `Exit` frame with the exit code or the signal that killed it, whether the
//! time limit ended it, and how long it ran. The wire format is the
//! `protocol` crate's (see `docs/PROTOCOL.md`).
//!
//! ```no_run
//! use server::{Config, Server};
//!
//! let config = Config {
//!     listen: vec!["127.0.0.1:0".parse()?],
//!     ..Config::default()
//! };
//! let server = Server::bind(config)?;
//! eprintln!("listening on {}", server.local_addrs()[0]);
//! server.run()?; // until SIGINT, SIGTERM or SIGHUP
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! * **One thread, one `Poll`, nothing blocks it.** Sockets, the children's
//!   stdout/stderr/stdin pipes and a pidfd per child are all registered with
//!   the same mio `Poll`, edge-triggered. Each source is drained until
//!   `WouldBlock`; readiness is remembered per source so that work cut short
//!   (by a budget or a watermark) resumes without waiting for an edge that
//!   will never come. Timers (time limits, kill grace, linger, handshake and
//!   idle time-outs, the auth-failure delay) are an ordered set consulted for
//!   the `poll` time-out.
//! * **Children's exit: pidfd, not SIGCHLD.** A pidfd (Linux 5.3+) is a
//!   descriptor per child that becomes readable when it exits: it plugs into
//!   the same `Poll` as everything else, needs no process-wide signal handler
//!   (which would race with std's own `waitpid` in `Child::try_wait`), and
//!   names exactly one child, so reaping never steals another's status.
//!   Where the kernel has no `pidfd_open`, a 20 ms timer polls `try_wait`
//!   instead. The child only ever sees blocking pipe ends; only the server's
//!   ends are non-blocking.
//! * **Nothing lost.** `Exit` is sent only once the process is reaped *and*
//!   both pipes reached end of file, so no tail of output is cut. A
//!   background process that keeps the pipes open (`sleep 100 & echo
//!   started`) gets a bounded linger (1 s by default) after the shell
//!   exits; then what the pipes hold is read, past the watermark if need
//!   be (backpressure from a slow client may have left the shell's last
//!   output there; at most a full pipe each), its group gets SIGHUP, as
//!   from a closing terminal (so `nohup` works as users expect), and
//!   `Exit` goes out.
//! * **Output is copied, not spliced.** `splice(2)` from the pipe into the
//!   socket was tried and measured: it saves the server a copy but makes
//!   the *producer* allocate a fresh page for every write (the pipe's pages
//!   leave with the socket) and contend on the pipe lock, so the whole
//!   pipeline used 17 % more CPU and streamed 15 % slower on two cores
//!   (`docs/BENCHMARKS.md`). A plain `read` won: straight from the pipe
//!   into the connection's outgoing queue, behind room for the frame header
//!   ([`outbuf::OutBuf`]), then one `write` per batch of frames.
//! * **Bounded memory.** Each connection's outgoing buffer has a high and a
//!   low watermark: above the high one the server stops reading the
//!   command's pipes (the child then blocks in `write`), below the low one
//!   it resumes. Incoming data is bounded likewise (frame size, queued
//!   commands in number and in bytes, buffered stdin): past a bound the
//!   server stops reading that socket. A per-turn read budget keeps one
//!   busy command from starving the rest.
//! * **Nobody left behind.** A client that disconnects (or resets) mid
//!   command gets its command's whole process group SIGKILLed and reaped. A
//!   client that half-closes still receives everything; since a FIN alone
//!   cannot tell "half-closed" from "gone", a `Ping` probe is sent every 2 s
//!   while its commands run or wait, and once more right before each of its
//!   commands starts; a reset in answer means gone. `--legacy` clients get
//!   no probe (the seed's format has no frame for it): a legacy command
//!   queued before a plain close still runs; a reset still stops it.
//! * **Limits.** Past `--max-connections`, a client gets an `Error` frame
//!   and is closed; while it is being closed it does not count toward the
//!   limit (at most 128 such are held; more are closed unanswered). Past `--max-running` (server-wide), commands **wait**
//!   in arrival order rather than fail: a queue is what a pipelining client
//!   wants, and the connection limit already bounds the queue. Accept
//!   errors such as EMFILE pause accepting for 100 ms rather than spin.
//! * **The log never blocks the loop.** Log and audit lines are queued (1
//!   MiB at most) for a thread that writes them to stderr; on a stderr that
//!   nobody reads, lines past the bound are dropped and counted rather
//!   than stopping every client ([`logging`]).
//! * **Graceful shutdown** on SIGINT/SIGTERM, and on SIGHUP unless it is
//!   ignored (`nohup`): stop accepting, drop queued commands, let running
//!   ones finish within `--shutdown-grace` (still reading the stdin they
//!   take, or they could not), then SIGKILL their groups,
//!   deliver their output and `Exit`, and only then tell every client with
//!   one `ShuttingDown` error, exit 0. A second signal skips the grace.
//!
//! Dependencies: `mio` (the event loop), `libc` (pidfd, process groups,
//! rlimits), `signal-hook` + `signal-hook-mio` (SIGINT/SIGTERM/SIGHUP as a
//! pollable source), `getrandom` (auth nonces), `clap` (the command line),
//! `log` + `env_logger` (logging and the audit line), `bytes` and
//! `thiserror` (buffers and typed errors), `protocol` (the wire format).
#![deny(missing_docs)]

mod config;
mod conn;
mod event_loop;
mod job;
pub mod logging;
pub mod outbuf;
mod sys;

pub use config::{read_token, Cli, Config, ConfigError, DEFAULT_LISTEN};
pub use conn::effective_timeout;
pub use event_loop::{Server, ServerError};

/// Marks the descriptors this process inherited (above stderr) close-on-exec,
/// so commands do not inherit them. For the `server` binary, first thing:
/// a program embedding the server keeps its descriptors as they are.
pub fn close_inherited_on_exec() -> std::io::Result<()> {
    sys::close_inherited_on_exec()
}

/// Binds, prints `listening on ADDR` on stderr for every bound address
/// (whatever the log level), and serves until SIGINT, SIGTERM or SIGHUP.
pub fn run(config: Config) -> Result<(), ServerError> {
    let server = Server::bind(config)?;
    for addr in server.local_addrs() {
        eprintln!("listening on {addr}");
    }
    server.run()
}
