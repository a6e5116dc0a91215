//! `udp-echo ping`: RTT, loss, duplicates and reordering against any RFC 862
//! echo server.
//!
//! # Design
//!
//! * Each probe is a [`crate::probe`] header plus padding up to `--size`, so
//!   a plain echo server (socat, inetd) returns all we need; the server needs
//!   no cooperation and no clock.
//! * The accounting is [`crate::stats::Tracker`], a pure state machine; this
//!   module only does the sending, waiting and printing.
//! * The socket is connected ([`crate::client::connect`]): an ICMP port
//!   unreachable surfaces as `ECONNREFUSED` and is charged to the oldest
//!   pending probe as *refused*, never as loss.
//! * **Never stalls on loss.** With `--interval MS` probes leave on a fixed
//!   schedule whatever comes back, and the wait is `poll(2)` until the next
//!   send or the earliest time-out. With `--interval 0` (ping-pong, as
//!   `sockperf ping-pong`) the next probe leaves as soon as the reply or the
//!   time-out of the previous one arrives, and the wait is a single blocking
//!   `recv` with `SO_RCVTIMEO` (one system call per reply: this mode is the
//!   latency measurement, and an extra `poll` would be in it).
//! * Ctrl-C sets a flag; `poll` and a `recv` with a time-out both return
//!   `EINTR` on a signal, so the summary is printed at once. Probes still in
//!   flight then count as lost, as in ping(8).
//! * RTT is the full round trip (not RTT/2): the receive time minus the
//!   time [`Tracker`] recorded when that sequence number left, both from one
//!   monotonic clock. The send time carried in the probe is only a
//!   cross-check, since an echo server may alter it.
//! * **Every reply is checked byte for byte** against the probe sent: magic
//!   and session here, sequence number and send time against the tracker's
//!   record, length and padding by [`probe::check_body`]. A reply cut short
//!   (socat cuts at 8192 bytes), longer (an `--annotate` server) or altered
//!   is counted as *corrupted* and its live line says so (`truncated`,
//!   `wrong length`, `wrong data`, `altered`), as ping(8) flags "wrong
//!   data". One whose header matches still counts as received; see
//!   [`crate::stats`] for the exact rules.

use crate::probe::{self, Probe, HEADER_LEN};
use crate::stats::{self, Integrity, Reply, Summary, Tracker};
use crate::{sys, Error};
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Default `--size`: bytes per probe.
pub const DEFAULT_SIZE: usize = 64;
/// Default `--interval` in milliseconds.
pub const DEFAULT_INTERVAL_MS: u64 = 1000;

/// What `ping` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// The echo server.
    pub target: SocketAddr,
    /// Probes to send; `None`: until stopped.
    pub count: Option<u64>,
    /// Gap between probes; zero is ping-pong.
    pub interval: Duration,
    /// Bytes per probe, header included.
    pub size: usize,
    /// How long a probe waits for its reply before it counts as lost.
    pub timeout: Duration,
    /// No live lines.
    pub quiet: bool,
}

/// The `--json` document: the configuration and every figure.
#[derive(Debug, Clone, Serialize)]
pub struct PingReport {
    /// The echo server.
    pub target: SocketAddr,
    /// Bytes per probe.
    pub size: usize,
    /// `--interval` in milliseconds.
    pub interval_ms: u64,
    /// `--timeout` in milliseconds.
    pub timeout_ms: u64,
    /// The figures.
    #[serde(flatten)]
    pub summary: Summary,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

impl PingConfig {
    /// Checks the bounds: at least one probe, the probe must hold its header
    /// and fit one datagram, and ping-pong needs a time-out.
    pub fn validate(&self) -> Result<(), Error> {
        if self.count == Some(0) {
            return Err(Error::Usage(
                "--count must be at least 1 (leave it out to ping until Ctrl-C)".into(),
            ));
        }
        let max = sys::max_payload(&self.target);
        if self.size < HEADER_LEN || self.size > max {
            return Err(Error::Usage(format!(
                "--size {} is outside {HEADER_LEN}..={max} (probe header .. largest datagram)",
                self.size
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::Usage("--timeout must be at least 1 ms".into()));
        }
        Ok(())
    }

    /// Wraps a summary with this configuration.
    pub fn report(&self, summary: Summary) -> PingReport {
        PingReport {
            target: self.target,
            size: self.size,
            interval_ms: ms(self.interval),
            timeout_ms: ms(self.timeout),
            summary,
        }
    }
}

enum Wait {
    Data(usize),
    Nothing,
    Refused,
}

/// Runs the probes; live lines go to `out` unless `quiet`. Returns when
/// `count` probes are answered or timed out, or at once when `stop` is set.
///
/// ```
/// use std::{sync::atomic::AtomicBool, time::Duration};
/// use udp_echo::ping::{ping, PingConfig};
/// # let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// # let target = server.local_addr()?;
/// # std::thread::spawn(move || loop { let mut b = [0; 128];
/// #     let (n, from) = server.recv_from(&mut b).unwrap(); server.send_to(&b[..n], from).unwrap(); });
/// let cfg = PingConfig { target, count: Some(3), interval: Duration::ZERO, size: 64,
///                        timeout: Duration::from_secs(5), quiet: true };
/// let s = ping(&cfg, &AtomicBool::new(false), &mut std::io::sink())?;
/// assert_eq!((s.sent, s.received), (3, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ping(cfg: &PingConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<Summary, Error> {
    cfg.validate()?;
    let sock = crate::client::connect(cfg.target)?;
    let fd = sock.as_raw_fd();
    let pingpong = cfg.interval.is_zero();
    if pingpong {
        sock.set_read_timeout(Some(cfg.timeout))
            .map_err(|e| Error::io("set time-out", e))?;
    }
    let session = probe::random_session();
    let start = Instant::now();
    let now_ns = || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let interval_ns = u64::try_from(cfg.interval.as_nanos()).unwrap_or(u64::MAX);
    let timeout_ms = ms(cfg.timeout);
    let mut tracker = Tracker::new(u64::try_from(cfg.timeout.as_nanos()).unwrap_or(u64::MAX));
    let mut probe_buf = vec![0u8; cfg.size];
    let mut reply = vec![0u8; sys::MAX_UDP_V6 + 1];
    let mut next_send = 0u64;
    let mut seq = 0u64;
    // Ping-pong: whether the socket's read time-out is the whole `-W`
    // (false after a stray datagram shortened it to what was left).
    let mut full_wait = true;
    let target = cfg.target;
    // Live lines are best effort: a closed stdout must not stop the count.
    let mut say = |line: std::fmt::Arguments<'_>| {
        if !cfg.quiet {
            let _ = writeln!(out, "{line}");
        }
    };

    while !stop.load(Ordering::SeqCst) {
        let now = now_ns();
        for lost in tracker.expire(now) {
            say(format_args!("seq={lost}: no reply within {timeout_ms} ms"));
        }
        let more = cfg.count.is_none_or(|c| seq < c);
        let may_send = if pingpong {
            tracker.pending() == 0
        } else {
            now >= next_send
        };
        if more && may_send {
            if !full_wait {
                sock.set_read_timeout(Some(cfg.timeout))
                    .map_err(|e| Error::io("set time-out", e))?;
                full_wait = true;
            }
            let sent_ns = now_ns();
            Probe {
                session,
                seq,
                sent_ns,
            }
            .encode(&mut probe_buf)
            .map_err(|e| Error::Usage(e.to_string()))?;
            tracker.on_sent(seq, sent_ns);
            // One retry: a refusal reported on send belongs to an earlier
            // probe and consumes the socket error.
            for _ in 0..2 {
                match sock.send(&probe_buf) {
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        if let Some(s) = tracker.on_refused() {
                            say(format_args!(
                                "seq={s}: refused by {target} (ICMP port unreachable)"
                            ));
                        }
                    }
                    Err(e) => return Err(Error::io("send", e)),
                }
            }
            seq += 1;
            // Fixed schedule; after a stall, restart it rather than burst.
            next_send = next_send.saturating_add(interval_ns);
            if next_send < sent_ns {
                next_send = sent_ns.saturating_add(interval_ns);
            }
            continue;
        }
        if !more && tracker.pending() == 0 {
            break;
        }
        let wait = if pingpong {
            match sock.recv(&mut reply) {
                Ok(n) => Wait::Data(n),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => Wait::Nothing,
                    io::ErrorKind::ConnectionRefused => Wait::Refused,
                    _ => return Err(Error::io("receive", e)),
                },
            }
        } else {
            let mut wake = tracker.next_deadline().unwrap_or(u64::MAX);
            if more {
                wake = wake.min(next_send);
            }
            let wait_ns = wake.saturating_sub(now_ns());
            // Round up so the wake-up is never early (that would spin).
            let wait_ms = i32::try_from(wait_ns.div_ceil(1_000_000)).unwrap_or(i32::MAX);
            let ready = sys::poll_readable(&[fd], wait_ms).map_err(|e| Error::io("poll", e))?;
            if ready[0] {
                match sys::recv_now(fd, &mut reply) {
                    Ok(Some(n)) => Wait::Data(n),
                    Ok(None) => Wait::Nothing,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Wait::Refused,
                    Err(e) => return Err(Error::io("receive", e)),
                }
            } else {
                Wait::Nothing
            }
        };
        match wait {
            Wait::Nothing => {}
            Wait::Refused => {
                if let Some(s) = tracker.on_refused() {
                    say(format_args!(
                        "seq={s}: refused by {target} (ICMP port unreachable)"
                    ));
                }
            }
            Wait::Data(n) => {
                let now = now_ns();
                // A reply after its probe's time-out is late, even when the
                // wait for it ran long (ping-pong waits in `recv`, which
                // other datagrams restart): settle the deadlines first.
                for lost in tracker.expire(now) {
                    say(format_args!("seq={lost}: no reply within {timeout_ms} ms"));
                }
                let ours = Probe::decode(&reply[..n])
                    .ok()
                    .filter(|p| p.session == session);
                let Some(p) = ours else {
                    tracker.on_foreign();
                    say(format_args!(
                        "{n} bytes from {target}: not a probe of this run (foreign: too short, or magic or session changed)"
                    ));
                    if pingpong {
                        shorten_wait(&sock, &mut tracker, now, &mut full_wait)?;
                    }
                    continue;
                };
                let damage = probe::check_body(&reply[..n], cfg.size).err();
                let integrity = if damage.is_some() {
                    Integrity::Damaged
                } else {
                    Integrity::Intact
                };
                let flag = damage.map(|d| format!(" ({d})")).unwrap_or_default();
                let rtt_ms = |ns: u64| ns as f64 / 1e6;
                match tracker.on_reply(p.seq, p.sent_ns, integrity, now) {
                    Reply::Fresh { rtt_ns, reordered } => say(format_args!(
                        "{n} bytes from {target}: seq={} rtt={:.3} ms{}{flag}",
                        p.seq,
                        rtt_ms(rtt_ns),
                        if reordered { " (reordered)" } else { "" }
                    )),
                    Reply::Duplicate => say(format_args!(
                        "{n} bytes from {target}: seq={} (DUP!){flag}",
                        p.seq
                    )),
                    Reply::Late { rtt_ns } => say(format_args!(
                        "{n} bytes from {target}: seq={} rtt={:.3} ms (late: after the {timeout_ms} ms time-out, counted lost){flag}",
                        p.seq,
                        rtt_ms(rtt_ns)
                    )),
                    Reply::Forgotten => say(format_args!(
                        "{n} bytes from {target}: seq={} (late: older than the {} probes remembered; RTT unknown){flag}",
                        p.seq,
                        crate::stats::HISTORY
                    )),
                    Reply::Altered => say(format_args!(
                        "{n} bytes from {target}: seq={} (altered: sequence number or send time differs from the probe sent; answers no probe)",
                        p.seq
                    )),
                }
                if pingpong && tracker.pending() > 0 {
                    // Not the answer awaited: wait only what is left of its
                    // time-out, not a whole new one.
                    shorten_wait(&sock, &mut tracker, now, &mut full_wait)?;
                }
            }
        }
    }
    // Stopped early (Ctrl-C): probes still in flight count as lost, as
    // ping(8) does, so that sent = received + lost + refused.
    tracker.expire(u64::MAX);
    Ok(tracker.summary())
}

/// Ping-pong: sets the socket's read time-out to what is left of the
/// pending probe's, so stray datagrams cannot stretch the wait.
fn shorten_wait(
    sock: &std::net::UdpSocket,
    tracker: &mut Tracker,
    now_ns: u64,
    full_wait: &mut bool,
) -> Result<(), Error> {
    let Some(deadline) = tracker.next_deadline() else {
        return Ok(());
    };
    // A zero time-out means "block forever" to the socket: keep 1 µs.
    let left = Duration::from_nanos(deadline.saturating_sub(now_ns).max(1_000));
    sock.set_read_timeout(Some(left))
        .map_err(|e| Error::io("set time-out", e))?;
    *full_wait = false;
    Ok(())
}

/// The human summary printed at the end, like ping's. The loss has one
/// decimal unless that would show a partial loss as 0.0% or 100.0%
/// ([`stats::format_percent`]); `corrupted` appears when non-zero.
pub fn render_summary(cfg: &PingConfig, s: &Summary) -> String {
    let mut corrupted = if s.corrupted > 0 {
        format!(", {} corrupted (truncated or altered replies)", s.corrupted)
    } else {
        String::new()
    };
    if s.foreign > 0 {
        corrupted.push_str(&format!(", {} foreign (not probes of this run)", s.foreign));
    }
    let mut t = format!(
        "--- {} udp-echo ping statistics ---\n\
         {} sent, {} received, {} lost ({}% loss), {} refused, {} duplicates, {} reordered, {} late{corrupted}\n",
        cfg.target,
        s.sent,
        s.received,
        s.lost,
        stats::format_percent(s.loss_percent, 1),
        s.refused,
        s.duplicates,
        s.reordered,
        s.late
    );
    let r = &s.rtt_us;
    if let (
        Some(min),
        Some(avg),
        Some(max),
        Some(sd),
        Some(p50),
        Some(p90),
        Some(p99),
        Some(p999),
    ) = (r.min, r.avg, r.max, r.stddev, r.p50, r.p90, r.p99, r.p999)
    {
        t.push_str(&format!(
            "full round-trip time (us): min/avg/max/stddev = {min:.1}/{avg:.1}/{max:.1}/{sd:.1}\n\
             percentiles (us): p50={p50:.1} p90={p90:.1} p99={p99:.1} p99.9={p999:.1}\n"
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn echo_once_each(n: usize) -> SocketAddr {
        tampering_echo(n, |_| {})
    }

    /// Echoes `n` datagrams, each after `tamper` has had its way with it.
    fn tampering_echo(n: usize, tamper: impl Fn(&mut Vec<u8>) + Send + 'static) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 2048];
            for _ in 0..n {
                let Ok((len, from)) = s.recv_from(&mut b) else {
                    return;
                };
                let mut reply = b[..len].to_vec();
                tamper(&mut reply);
                let _ = s.send_to(&reply, from);
            }
            // Keep the socket (and so the port) open but silent.
            std::thread::sleep(Duration::from_secs(30));
        });
        addr
    }

    fn cfg(target: SocketAddr) -> PingConfig {
        PingConfig {
            target,
            count: Some(3),
            interval: Duration::ZERO,
            size: 64,
            timeout: Duration::from_secs(5),
            quiet: false,
        }
    }

    #[test]
    fn size_below_header_is_a_usage_error() {
        let c = PingConfig {
            size: HEADER_LEN - 1,
            ..cfg("127.0.0.1:9".parse().unwrap())
        };
        assert!(matches!(c.validate(), Err(Error::Usage(_))));
        let c = PingConfig {
            size: 65_508,
            ..cfg("127.0.0.1:9".parse().unwrap())
        };
        assert!(matches!(c.validate(), Err(Error::Usage(_))));
    }

    #[test]
    fn count_zero_is_a_usage_error() {
        let c = PingConfig {
            count: Some(0),
            ..cfg("127.0.0.1:9".parse().unwrap())
        };
        let e = c.validate().unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(e.to_string().contains("--count"), "{e}");
    }

    fn seq_of(reply: &[u8]) -> u64 {
        Probe::decode(reply).map(|p| p.seq).unwrap_or(u64::MAX)
    }

    /// Runs `ping` to the end; its summary and the lines it printed.
    fn run(c: &PingConfig) -> (Summary, String) {
        let mut out = Vec::new();
        let s = ping(c, &AtomicBool::new(false), &mut out).unwrap();
        (s, String::from_utf8(out).unwrap())
    }

    /// Regression: the RTT was taken from the send time echoed in the reply,
    /// so a server zeroing bytes 16..24 of probe 2 made up an RTT as long as
    /// the run so far, and the reply counted as a normal receipt.
    /// Regression: in ping-pong a stray datagram restarted the wait in
    /// `recv`, so a reply 130 ms late under `-W 100` counted as received.
    #[test]
    fn pingpong_reply_after_the_time_out_is_lost_even_after_a_stray_datagram() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 2048];
            // seq 0: answered at once, and again 60 ms later (a duplicate
            // that lands while seq 1 waits); seq 1: answered after 130 ms.
            let (len, from) = s.recv_from(&mut b).unwrap();
            s.send_to(&b[..len], from).unwrap();
            let first = b[..len].to_vec();
            let (len, from) = s.recv_from(&mut b).unwrap();
            std::thread::sleep(Duration::from_millis(60));
            s.send_to(&first, from).unwrap();
            std::thread::sleep(Duration::from_millis(70));
            s.send_to(&b[..len], from).unwrap();
            std::thread::sleep(Duration::from_secs(5));
        });
        let c = PingConfig {
            count: Some(2),
            timeout: Duration::from_millis(100),
            ..cfg(target)
        };
        let (s, text) = run(&c);
        assert_eq!(
            (s.sent, s.received, s.lost, s.duplicates),
            (2, 1, 1, 1),
            "{s:?}\n{text}"
        );
        assert!(text.contains("seq=1: no reply within 100 ms"), "{text}");
    }

    #[test]
    fn datagrams_that_are_not_our_probes_are_shown_and_counted_as_foreign() {
        let target = tampering_echo(3, |r| {
            if seq_of(r) == 1 {
                r.truncate(3);
            }
        });
        let c = PingConfig {
            timeout: Duration::from_millis(300),
            ..cfg(target)
        };
        let (s, text) = run(&c);
        assert_eq!((s.received, s.lost, s.foreign), (2, 1, 1), "{s:?}");
        assert!(text.contains("3 bytes from"), "{text}");
        assert!(text.contains("(foreign"), "{text}");
        assert!(render_summary(&c, &s).contains(", 1 foreign"), "{text}");
    }

    #[test]
    fn zeroed_echoed_send_time_makes_no_rtt_and_counts_corrupted() {
        let target = tampering_echo(3, |r| {
            if seq_of(r) == 2 {
                r[16..24].fill(0);
            }
        });
        let c = PingConfig {
            timeout: Duration::from_millis(300),
            ..cfg(target)
        };
        let (s, text) = run(&c);
        assert_eq!(
            (s.sent, s.received, s.lost, s.corrupted),
            (3, 2, 1, 1),
            "{s:?}\n{text}"
        );
        assert!(text.contains("seq=2 (altered"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.contains("rtt=")).count(),
            2,
            "{text}"
        );
    }

    /// Regression: a reply cut short (socat cuts at 8192 bytes) counted as a
    /// normal receipt, flagged nowhere but in its byte count.
    #[test]
    fn truncated_replies_count_received_and_corrupted_and_are_flagged() {
        let target = tampering_echo(3, |r| r.truncate(92));
        let c = PingConfig {
            size: 100,
            ..cfg(target)
        };
        let (s, text) = run(&c);
        assert_eq!(
            (s.sent, s.received, s.lost, s.corrupted),
            (3, 3, 0, 3),
            "{s:?}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("rtt=") && l.ends_with("(truncated: 92 of 100 bytes)"))
                .count(),
            3,
            "{text}"
        );
        let summary = render_summary(&c, &s);
        assert!(summary.contains(", 3 corrupted"), "{summary}");
    }

    #[test]
    fn altered_padding_is_flagged_wrong_data() {
        let target = tampering_echo(3, |r| {
            if seq_of(r) == 1 {
                r[40] ^= 0x01;
            }
        });
        let (s, text) = run(&cfg(target));
        assert_eq!((s.received, s.corrupted), (3, 1), "{s:?}");
        assert!(text.contains("seq=1 rtt="), "{text}");
        assert!(text.contains("(wrong data at byte 40)"), "{text}");
    }

    #[test]
    fn pingpong_against_echo_receives_all_and_prints_lines() {
        let (s, text) = run(&cfg(echo_once_each(3)));
        assert_eq!((s.sent, s.received, s.lost), (3, 3, 0));
        assert_eq!(
            text.lines().filter(|l| l.contains("rtt=")).count(),
            3,
            "{text}"
        );
        assert!(text.contains("64 bytes from"), "{text}");
    }

    #[test]
    fn silent_server_loses_probes_without_stalling_past_timeouts() {
        let c = PingConfig {
            count: Some(5),
            timeout: Duration::from_millis(500),
            interval: Duration::from_millis(10),
            quiet: true,
            ..cfg(echo_once_each(1))
        };
        let t0 = Instant::now();
        let s = ping(&c, &AtomicBool::new(false), &mut io::sink()).unwrap();
        assert_eq!((s.sent, s.received, s.lost), (5, 1, 4));
        assert_eq!(s.loss_percent, 80.0);
        // The probes leave on schedule, not each after the previous one's
        // time-out: 4 intervals + 1 time-out = 540 ms, against 2 s.
        let took = t0.elapsed();
        assert!(took < Duration::from_millis(1800), "{took:?}");
    }

    #[test]
    fn closed_port_is_refused_not_lost() {
        let addr = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let c = PingConfig {
            quiet: true,
            ..cfg(addr)
        };
        let s = ping(&c, &AtomicBool::new(false), &mut io::sink()).unwrap();
        assert_eq!(s.sent, 3);
        assert_eq!(s.refused, 3, "{s:?}");
        assert_eq!((s.lost, s.loss_percent), (0, 0.0));
    }

    #[test]
    fn probes_in_flight_at_stop_count_as_lost() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = PingConfig {
            count: None,
            interval: Duration::from_millis(1),
            timeout: Duration::from_secs(60),
            quiet: true,
            ..cfg(silent.local_addr().unwrap())
        };
        let stop = AtomicBool::new(false);
        let s = std::thread::scope(|scope| {
            let t = scope.spawn(|| ping(&c, &stop, &mut io::sink()));
            // Wait (bounded) until at least one probe is out.
            let mut b = [0u8; 128];
            silent
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            silent.recv_from(&mut b).unwrap();
            stop.store(true, Ordering::SeqCst);
            t.join().unwrap().unwrap()
        });
        assert!(s.sent >= 1);
        assert_eq!(s.lost, s.sent, "{s:?}");
        assert_eq!(s.loss_percent, 100.0);
    }

    #[test]
    fn stop_flag_ends_an_endless_ping() {
        let c = PingConfig {
            count: None,
            quiet: true,
            ..cfg(echo_once_each(1))
        };
        let s = ping(&c, &AtomicBool::new(true), &mut io::sink()).unwrap();
        assert_eq!(s.sent, 0);
    }

    #[test]
    fn summary_text_labels_full_round_trip() {
        let mut t = Tracker::new(1_000_000_000);
        t.on_sent(0, 0);
        t.on_reply(0, 0, Integrity::Intact, 20_000);
        let text = render_summary(&cfg("127.0.0.1:9".parse().unwrap()), &t.summary());
        assert!(
            text.contains("full round-trip time (us): min/avg/max/stddev = 20.0/20.0/20.0/0.0"),
            "{text}"
        );
        assert!(
            text.contains("1 sent, 1 received, 0 lost (0.0% loss)"),
            "{text}"
        );
        assert!(
            !text.contains("corrupted"),
            "shown only when non-zero: {text}"
        );
    }

    /// Regression: one loss in 30,000 probes was printed as "0.0% loss".
    #[test]
    fn summary_never_shows_a_real_loss_as_zero_percent() {
        let mut t = Tracker::new(1_000);
        for seq in 0..30_000 {
            t.on_sent(seq, seq);
            if seq != 17 {
                t.on_reply(seq, seq, Integrity::Intact, seq + 10);
            }
        }
        t.expire(u64::MAX);
        let text = render_summary(&cfg("127.0.0.1:9".parse().unwrap()), &t.summary());
        assert!(
            text.contains("30000 sent, 29999 received, 1 lost (0.00333% loss)"),
            "{text}"
        );
    }
}
