//! The command line: clap definitions and [`run`], which the thin `main`
//! calls.
//!
//! # Design
//!
//! Parsing is clap's (derive); this module turns arguments into the library
//! configurations, installs signal handling, prints (live lines and
//! summaries on stdout, `listening on ADDR` and counters on stderr whatever
//! the log level) and returns the exit code. A closed stdout (`| head`) is
//! not an error: output is best effort, the measurement goes on.

use crate::flood::{self, FloodConfig};
use crate::limiter::{self, Limits};
use crate::ping::{self, PingConfig};
use crate::server::{self, ServeConfig, Server};
use crate::{client, Error, EXIT_FAILURE, EXIT_OK};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// An RFC 862 UDP echo server and a ping/flood client for any echo server.
#[derive(Debug, Parser)]
#[command(
    name = "udp-echo",
    version,
    about,
    after_help = "Exit status: 0 success; 1 time-out, refused, no reply at all, host name not resolved or I/O error; 2 bad usage."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Echo datagrams back to their sender (RFC 862).
    #[command(
        after_help = "Prints `listening on ADDR` on stderr once bound; counters on stderr on SIGUSR1 and at exit (SIGINT/SIGTERM).\n\n\
                      A datagram whose source is one of the server's own sockets (spoofed, it would be echoed to \
                      itself for ever) is dropped and counted as `dropped_loop`, whatever --allow-low-ports says.\n\n\
                      Measuring capacity (`flood --rate max`, long `ping -i 0` runs) needs `serve --rate-limit 0`: \
                      otherwise the per-source rate limit is what gets measured. The first datagram dropped for the \
                      limit is logged (warn) once; `dropped_rate_limited` counts them all."
    )]
    Serve(ServeArgs),
    /// Send one datagram and print the reply.
    Send(SendArgs),
    /// Measure round-trip time and loss against an echo server.
    Ping(PingArgs),
    /// Offer datagrams at a rate and count the echoes.
    #[command(
        after_help = "Against `udp-echo serve`, measure echo capacity with the server started as \
                      `udp-echo serve --rate-limit 0`: its default per-source rate limit drops the excess, \
                      and `--rate max` would measure that limit instead."
    )]
    Flood(FloodArgs),
}

/// `serve` arguments.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, `HOST:PORT` (a name binds the first address it
    /// resolves to, as `send`/`ping` use); repeat for several (IPv4 and IPv6)
    /// [default: 127.0.0.1:8002]
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
    /// Reply with the message, `-` and the sender's address (the seed's
    /// behaviour); such replies are larger and cost more tokens.
    #[arg(long)]
    pub annotate: bool,
    /// Also answer source ports 0-1023 (off: echo/chargen loops, CVE-1999-0103).
    #[arg(long)]
    pub allow_low_ports: bool,
    /// Echoes per second per source address; 0 turns the limit off (needed to
    /// measure capacity: `flood --rate max`, long `ping -i 0` runs).
    #[arg(long, value_name = "PPS", default_value_t = limiter::DEFAULT_RATE)]
    pub rate_limit: u64,
    /// Token bucket size per source address (at least 1 unless --rate-limit 0).
    #[arg(long, value_name = "N", default_value_t = limiter::DEFAULT_BURST)]
    pub burst: u64,
    /// Source addresses tracked by the rate limiter at most (at least 1 unless
    /// --rate-limit 0).
    #[arg(long, value_name = "N", default_value_t = limiter::DEFAULT_MAX_SOURCES)]
    pub max_sources: usize,
    /// Receive slot size, 1 to 65,536; longer datagrams are counted
    /// truncated and dropped.
    #[arg(long, value_name = "B", default_value_t = server::DEFAULT_MAX_SIZE)]
    pub max_size: usize,
    /// Datagrams per recvmmsg/sendmmsg, 1 to 1024.
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_BATCH)]
    pub batch: usize,
    /// Socket receive/send buffer size to ask for.
    #[arg(long, value_name = "B", default_value_t = server::DEFAULT_SOCKET_BUFFER)]
    pub socket_buffer: usize,
}

/// `send` arguments.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The echo server, `HOST:PORT`.
    pub addr: String,
    /// The message, sent as its UTF-8 bytes.
    pub message: String,
    /// Milliseconds to wait for the reply (at least 1).
    #[arg(long, value_name = "MS", default_value_t = client::DEFAULT_TIMEOUT_MS,
          value_parser = parse_timeout_ms)]
    pub timeout: u64,
}

/// `ping` arguments.
#[derive(Debug, clap::Args)]
pub struct PingArgs {
    /// The echo server, `HOST:PORT`.
    pub addr: String,
    /// Probes to send, at least 1 [default: until Ctrl-C].
    #[arg(long, short = 'c', value_name = "N", value_parser = parse_count)]
    pub count: Option<u64>,
    /// Milliseconds between probes; 0: ping-pong (next probe on reply).
    #[arg(long, short = 'i', value_name = "MS", default_value_t = ping::DEFAULT_INTERVAL_MS)]
    pub interval: u64,
    /// Bytes per probe, header included: 24 to 65,507 (65,527 to an IPv6 address not IPv4-mapped).
    #[arg(long, short = 's', value_name = "B", default_value_t = ping::DEFAULT_SIZE)]
    pub size: usize,
    /// Milliseconds before an unanswered probe counts as lost (at least 1).
    #[arg(long, short = 'W', value_name = "MS", default_value_t = client::DEFAULT_TIMEOUT_MS,
          value_parser = parse_timeout_ms)]
    pub timeout: u64,
    /// Print only one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// No per-probe lines, only the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `flood` arguments.
#[derive(Debug, clap::Args)]
pub struct FloodArgs {
    /// The echo server, `HOST:PORT`.
    pub addr: String,
    /// Datagrams per second offered, or `max`.
    #[arg(long, value_name = "PPS|max", default_value = "max", value_parser = parse_rate)]
    pub rate: Rate,
    /// Bytes per datagram, header included: 24 to 65,507 (65,527 to an IPv6 address not IPv4-mapped).
    #[arg(long, short = 's', value_name = "B", default_value_t = ping::DEFAULT_SIZE)]
    pub size: usize,
    /// Seconds to send (fractions allowed).
    #[arg(long, value_name = "S", default_value_t = flood::DEFAULT_DURATION_S)]
    pub duration: f64,
    /// Milliseconds to wait for in-flight echoes after sending stops.
    #[arg(long, value_name = "MS", default_value_t = flood::DEFAULT_DRAIN_MS)]
    pub timeout: u64,
    /// Print only one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A `--rate`: a number of datagrams per second or as fast as possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub Option<u64>);

/// A whole number of at least 1, checked while parsing so that a zero is
/// bad usage (exit 2) before any name is looked up.
fn at_least_one(s: &str, zero: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err(zero.into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    at_least_one(
        s,
        "must be at least 1 (leave --count out to ping until Ctrl-C)",
    )
}

fn parse_timeout_ms(s: &str) -> Result<u64, String> {
    at_least_one(s, "must be at least 1 ms: a zero wait could only time out")
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate(None));
    }
    match s.parse::<u64>() {
        Ok(0) => Err("the rate must be at least 1 datagram per second, or `max`".into()),
        Ok(n) => Ok(Rate(Some(n))),
        Err(_) => Err(format!(
            "`{s}` is neither a number of datagrams per second nor `max`"
        )),
    }
}

/// Resolves `HOST:PORT` (or a literal address) to the first address found.
///
/// Text that is not `HOST:PORT` at all (no port, a port out of range, no
/// host) is bad usage ([`Error::Usage`], exit 2); a well-formed name the
/// resolver cannot turn into an address is [`Error::Resolve`] (exit 1): it
/// is the network (DNS) saying no, and the same name may resolve later.
///
/// ```
/// use udp_echo::{cli::resolve, Error};
/// assert_eq!(resolve("[::1]:7")?, "[::1]:7".parse().unwrap());
/// assert!(matches!(resolve("no-port-here"), Err(Error::Usage(_))));
/// assert!(matches!(resolve("localhost:99999"), Err(Error::Usage(_))));
/// # Ok::<(), udp_echo::Error>(())
/// ```
pub fn resolve(addr: &str) -> Result<SocketAddr, Error> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| Error::Usage(format!("`{addr}` is not HOST:PORT")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::Usage(format!("`{addr}`: `{port}` is not a port number (0-65535)")))?;
    // `[v6-literal]` that did not parse above (e.g. a scope name): let the
    // resolver try it without the brackets.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(Error::Usage(format!(
            "`{addr}` has no host before the port"
        )));
    }
    let resolve_err = |reason: String| Error::Resolve {
        addr: addr.to_owned(),
        reason,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| resolve_err(e.to_string()))?
        .next()
        .ok_or_else(|| resolve_err("no address found".into()))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A flag set by the first SIGINT/SIGTERM; a second one kills at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>, Error> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        let reg = |e| Error::Signals { source: e };
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&flag)).map_err(reg)?;
        signal_hook::flag::register(sig, Arc::clone(&flag)).map_err(reg)?;
    }
    Ok(flag)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::io("JSON", std::io::Error::other(e)))?;
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(())
}

/// Runs a parsed command line; returns the exit code on success.
pub fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Send(a) => {
            let target = resolve(&a.addr)?;
            let reply = client::send(target, a.message.as_bytes(), ms(a.timeout))?;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&reply).and_then(|()| out.write_all(b"\n"));
            Ok(EXIT_OK)
        }
        Command::Ping(a) => {
            let cfg = PingConfig {
                target: resolve(&a.addr)?,
                count: a.count,
                interval: ms(a.interval),
                size: a.size,
                timeout: ms(a.timeout),
                quiet: a.quiet || a.json,
            };
            cfg.validate()?;
            let stop = interrupt_flag()?;
            if !a.json {
                let _ = writeln!(
                    std::io::stdout(),
                    "UDP-ECHO PING {}: {} bytes per probe, full round-trip time",
                    cfg.target,
                    cfg.size
                );
            }
            let summary = ping::ping(&cfg, &stop, &mut std::io::stdout())?;
            let code = if summary.received > 0 {
                EXIT_OK
            } else {
                EXIT_FAILURE
            };
            if a.json {
                print_json(&cfg.report(summary))?;
            } else {
                let _ = write!(
                    std::io::stdout(),
                    "{}",
                    ping::render_summary(&cfg, &summary)
                );
            }
            Ok(code)
        }
        Command::Flood(a) => {
            if !(a.duration.is_finite() && a.duration > 0.0) {
                return Err(Error::Usage(format!(
                    "--duration {} must be above 0",
                    a.duration
                )));
            }
            let cfg = FloodConfig {
                target: resolve(&a.addr)?,
                rate: a.rate.0,
                size: a.size,
                duration: Duration::try_from_secs_f64(a.duration)
                    .map_err(|e| Error::Usage(format!("--duration {}: {e}", a.duration)))?,
                drain: ms(a.timeout),
            };
            cfg.validate()?;
            let stop = interrupt_flag()?;
            let report = flood::flood(&cfg, &stop)?;
            if a.json {
                print_json(&report)?;
            } else {
                let _ = write!(std::io::stdout(), "{}", flood::render_report(&report));
            }
            Ok(if report.received > 0 {
                EXIT_OK
            } else {
                EXIT_FAILURE
            })
        }
    }
}

fn serve(a: ServeArgs) -> Result<u8, Error> {
    let defaults = ServeConfig::default();
    let cfg = ServeConfig {
        listen: if a.listen.is_empty() {
            defaults.listen
        } else {
            a.listen
                .iter()
                .map(|l| resolve(l))
                .collect::<Result<_, _>>()?
        },
        annotate: a.annotate,
        allow_low_ports: a.allow_low_ports,
        limits: Limits {
            rate: a.rate_limit,
            burst: a.burst,
            max_sources: a.max_sources,
        },
        max_size: a.max_size,
        batch: a.batch,
        socket_buffer: a.socket_buffer,
    };
    let mut server = Server::bind(&cfg)?;
    server.handle().register_signals()?;
    for addr in server.local_addrs()? {
        eprintln!("listening on {addr}");
    }
    let counters = server.run(|c| eprintln!("{c}"))?;
    eprintln!("{counters}");
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_accepts_number_or_max_only() {
        assert_eq!(parse_rate("max"), Ok(Rate(None)));
        assert_eq!(parse_rate("1500"), Ok(Rate(Some(1500))));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_as_spelled_in_the_issue() {
        let c = Cli::try_parse_from([
            "udp-echo",
            "ping",
            "127.0.0.1:8002",
            "--count",
            "3",
            "--interval",
            "0",
            "--size",
            "100",
            "--timeout",
            "50",
            "--json",
            "-q",
        ])
        .unwrap();
        let Command::Ping(p) = c.command else {
            panic!("not ping")
        };
        assert_eq!(
            (p.count, p.interval, p.size, p.timeout, p.json, p.quiet),
            (Some(3), 0, 100, 50, true, true)
        );
        let c = Cli::try_parse_from([
            "udp-echo",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "[::1]:0",
            "--annotate",
            "--allow-low-ports",
        ])
        .unwrap();
        let Command::Serve(s) = c.command else {
            panic!("not serve")
        };
        assert_eq!(s.listen.len(), 2);
        assert!(Cli::try_parse_from([
            "udp-echo",
            "flood",
            "x:1",
            "--rate",
            "max",
            "--size",
            "64",
            "--duration",
            "1",
            "--json"
        ])
        .is_ok());
        assert!(Cli::try_parse_from(["udp-echo", "send", "x:1", "hi", "--timeout", "10"]).is_ok());
    }

    #[test]
    fn malformed_address_is_usage_but_unresolvable_name_is_a_network_failure() {
        for bad in ["no-port-here", "host:port", "host:70000", ":7", "[]:7"] {
            let e = resolve(bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::EXIT_USAGE, "{bad}: {e}");
        }
        // What the resolver says no to is exit 1, like any network failure.
        let e = Error::Resolve {
            addr: "nosuchhost.invalid:7".into(),
            reason: "Name or service not known".into(),
        };
        assert_eq!(e.exit_code(), crate::EXIT_FAILURE);
    }

    /// Regression: `ping nosuchhost:7 -c 0` reported the failed look-up
    /// (exit 1) instead of the usage error (exit 2).
    #[test]
    fn zero_count_or_wait_is_a_parse_error_before_any_lookup() {
        for args in [
            &["udp-echo", "ping", "nosuchhost.invalid:7", "-c", "0"][..],
            &["udp-echo", "ping", "nosuchhost.invalid:7", "-W", "0"],
            &[
                "udp-echo",
                "send",
                "nosuchhost.invalid:7",
                "hi",
                "--timeout",
                "0",
            ],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{args:?}"
            );
            assert!(e.to_string().contains("at least 1"), "{e}");
        }
        assert!(Cli::try_parse_from(["udp-echo", "ping", "x:7", "-c", "1", "-W", "1"]).is_ok());
    }

    #[test]
    fn serve_listen_takes_host_names() {
        let c = Cli::try_parse_from(["udp-echo", "serve", "--listen", "localhost:0"]).unwrap();
        let Command::Serve(s) = c.command else {
            panic!("not serve")
        };
        assert_eq!(s.listen, ["localhost:0"]);
        assert!(resolve(&s.listen[0]).unwrap().ip().is_loopback());
    }
}
