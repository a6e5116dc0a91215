//! `udp-echo`: an RFC 862 echo server that is safe to expose, and a client
//! that measures against any echo server.
//!
//! The seed's UDP server answered `'{msg}-{addr}'` from a 1024-byte
//! `recvfrom`: a reply larger than the request (an amplifier) and long
//! datagrams silently cut. This crate echoes exactly, up to the largest UDP
//! datagram, and measures what socat or inetd cannot tell you.
//!
//! | subcommand | module | what it does |
//! | --- | --- | --- |
//! | `serve` | [`server`] | echo per RFC 862; low-port and own-socket (loop) drop, per-source token bucket, counters on SIGUSR1 and at exit; `--annotate` for the seed's reply |
//! | `send` | [`client`] | one datagram, print the reply; time-out and "refused" are errors |
//! | `ping` | [`ping`] | full RTT percentiles, loss, duplicates, reordering, late and corrupted replies; `--json` |
//! | `flood` | [`flood`] | offered and echoed packets per second, loss; `--json` |
//!
//! ```
//! use std::{sync::atomic::AtomicBool, time::Duration};
//! use udp_echo::{ping, server};
//! let cfg = server::ServeConfig { listen: vec!["127.0.0.1:0".parse()?], ..Default::default() };
//! let mut srv = server::Server::bind(&cfg)?;
//! let target = srv.local_addrs()?[0];
//! let handle = srv.handle();
//! let t = std::thread::spawn(move || srv.run(|_| {}));
//! let p = ping::PingConfig { target, count: Some(5), interval: Duration::ZERO, size: 100,
//!                            timeout: Duration::from_secs(5), quiet: true };
//! let s = ping::ping(&p, &AtomicBool::new(false), &mut std::io::sink())?;
//! assert_eq!((s.sent, s.received, s.duplicates), (5, 5, 0));
//! handle.stop();
//! assert_eq!(t.join().unwrap()?.echoed, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! * **Pure cores, thin I/O.** The probe format ([`probe`]), the ping
//!   accounting ([`stats`]), the rate limiter ([`limiter`]) and the server's
//!   per-datagram policy ([`server::Gate`]) do no I/O and read no clock: the
//!   caller passes bytes and `now` in. The loops in [`server`], [`ping`] and
//!   [`flood`] only move datagrams and carry out decisions.
//! * **Batched I/O when it pays** ([`sys`], [`server`]): under load one
//!   `recvmmsg`/`sendmmsg` pair moves a whole batch (on Linux), so an echo
//!   costs a fraction of a system call; while datagrams come one at a time
//!   the server uses plain `recvfrom`/`sendto`, the cheapest round trip.
//!   `MSG_TRUNC` detects cut datagrams on both paths. Measured in
//!   `docs/BENCHMARKS.md` (`bench/udp-echo/run.sh`).
//! * **Not a reflector**: source ports below 1024 dropped, as is a
//!   datagram from the server's own socket (`dropped_loop`), a token bucket
//!   per source address, `--annotate` replies charged by their size.
//! * **Every bound is named**: slot size, batch size, socket buffers, rate,
//!   burst, tracked sources, time-outs, flood duration; each is a constant
//!   with a flag to change it.
//! * **Exit codes** (see [`Error::exit_code`]): 0 success; 1 the network
//!   said no (time-out, refused, no reply at all, a host name that does not
//!   resolve, I/O error); 2 bad usage (including an address that is not
//!   `HOST:PORT` at all).
//!
//! # Dependencies, and why
//!
//! * `libc`: `recvmmsg`/`sendmmsg`/`poll`, which std does not expose.
//! * `socket2`: socket options std lacks (buffer sizes, `IPV6_V6ONLY`).
//! * `signal-hook`: SIGUSR1/SIGINT/SIGTERM as flags (plus a self-pipe for
//!   the `poll` loop), the async-signal-safe way to act on a signal.
//! * `hdrhistogram`: RTT percentiles with bounded memory and error.
//! * `serde`/`serde_json`: the `--json` documents.
//! * `clap`: argument parsing; `log`/`env_logger`: diagnostics (`RUST_LOG`).
//! * `thiserror`: the typed [`Error`].
//!
//! Written by hand, being this crate's own craft: the probe wire format,
//! the token bucket and the batched-socket glue.
#![deny(missing_docs)]

pub mod cli;
pub mod client;
pub mod flood;
pub mod limiter;
pub mod ping;
pub mod probe;
pub mod server;
pub mod stats;
pub mod sys;

pub use cli::run;

use std::io;
use std::net::SocketAddr;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the network said no (time-out, refused, no replies, name
/// not resolved, I/O).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: bad arguments.
pub const EXIT_USAGE: u8 = 2;

/// Everything that can go wrong, with the input that caused it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Arguments that make no sense together or exceed a bound.
    #[error("{0}")]
    Usage(String),
    /// A host name that does not resolve, or resolves to nothing. A network
    /// failure (exit 1), not bad usage: the name is well formed, DNS or
    /// `/etc/hosts` said no, and may say yes later. Text that is not
    /// `HOST:PORT` at all is [`Error::Usage`].
    #[error("cannot resolve {addr:?}: {reason}")]
    Resolve {
        /// What was given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A message larger than one datagram can carry.
    #[error("message of {len} bytes exceeds the {max}-byte UDP datagram limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit for the address family.
        max: usize,
    },
    /// A listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS's reason.
        source: io::Error,
    },
    /// A client socket could not be set up.
    #[error("cannot connect a UDP socket to {addr}: {source}")]
    Connect {
        /// The target.
        addr: SocketAddr,
        /// The OS's reason.
        source: io::Error,
    },
    /// No reply in time.
    #[error("no reply from {addr} within {timeout_ms} ms")]
    Timeout {
        /// The target.
        addr: SocketAddr,
        /// The time-out.
        timeout_ms: u64,
    },
    /// ICMP port unreachable: nothing listens there.
    #[error(
        "{addr} refused the datagram (ICMP port unreachable: is an echo server listening there?)"
    )]
    Refused {
        /// The target.
        addr: SocketAddr,
    },
    /// Signal handlers or the self-pipe could not be set up.
    #[error("cannot set up signal handling: {source}")]
    Signals {
        /// The OS's reason.
        source: io::Error,
    },
    /// Any other system call failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS's reason.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: &str, source: io::Error) -> Error {
        Error::Io {
            context: context.to_owned(),
            source,
        }
    }

    /// The process exit code for this error: [`EXIT_USAGE`] for bad input
    /// (arguments, a message too large), [`EXIT_FAILURE`] for everything the
    /// network or the system said no to, name resolution included.
    ///
    /// ```
    /// use udp_echo::{Error, EXIT_FAILURE, EXIT_USAGE};
    /// assert_eq!(Error::Usage("bad".into()).exit_code(), EXIT_USAGE);
    /// let e = Error::Resolve { addr: "nosuchhost.invalid:7".into(), reason: "not known".into() };
    /// assert_eq!(e.exit_code(), EXIT_FAILURE);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::TooLarge { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}
