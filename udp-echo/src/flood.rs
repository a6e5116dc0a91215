//! `udp-echo flood`: offered versus echoed packets per second, and loss.
//!
//! # Design
//!
//! * One thread, one connected socket: send a batch (`sendmmsg`), drain
//!   whatever echoes are waiting (`recvmmsg`), repeat. On a 2-core machine
//!   the server gets the other core; a second client thread would only
//!   steal from it.
//! * `--rate PPS` paces by a schedule (the n-th datagram is due at n/PPS
//!   seconds), so a late wake-up is caught up in the next batch instead of
//!   lowering the rate; `--rate max` sends as fast as the socket takes.
//! * Bounded: sending stops at `--duration`; then echoes still in flight
//!   are awaited for at most `--timeout` ([`DEFAULT_DRAIN_MS`]).
//! * Every datagram is a [`crate::probe`] so an echo is counted once (one bit
//!   per datagram sent: duplicates are counted apart) and only echoes of this
//!   run count. `echoed_pps` is the unique echoes over the sending time.

use crate::probe::{self, Probe, HEADER_LEN};
use crate::sys::{self, Batch};
use crate::Error;
use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Default `--duration` in seconds.
pub const DEFAULT_DURATION_S: f64 = 3.0;
/// Default wait for in-flight echoes after sending stops, in milliseconds.
pub const DEFAULT_DRAIN_MS: u64 = 500;
/// Longest `--duration` in seconds: a flood is a measurement, not a siege.
pub const MAX_DURATION_S: f64 = 3600.0;
/// Datagrams per `sendmmsg`.
const SEND_BATCH: usize = 32;
/// Slots per `recvmmsg`.
const RECV_BATCH: usize = 64;

/// What `flood` is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodConfig {
    /// The echo server.
    pub target: SocketAddr,
    /// Datagrams per second offered; `None` is `max`.
    pub rate: Option<u64>,
    /// Bytes per datagram, header included.
    pub size: usize,
    /// How long to send.
    pub duration: Duration,
    /// How long to wait for in-flight echoes afterwards.
    pub drain: Duration,
}

/// The figures `flood` reports; also its `--json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodReport {
    /// The echo server.
    pub target: SocketAddr,
    /// Bytes per datagram.
    pub size: usize,
    /// Offered rate asked for; `null` for `max`.
    pub rate: Option<u64>,
    /// Seconds spent sending.
    pub duration_s: f64,
    /// Datagrams sent.
    pub sent: u64,
    /// Distinct datagrams echoed back.
    pub received: u64,
    /// Extra copies of an already echoed datagram.
    pub duplicates: u64,
    /// ICMP port unreachable reports seen. Unlike `ping`'s, these are not
    /// taken out of the loss: the kernel rate-limits ICMP errors, so at a
    /// flood's rates most refused datagrams vanish without a report, and
    /// this count is only a sign that nothing listens there.
    pub refused: u64,
    /// `sent / duration_s`.
    pub sent_pps: f64,
    /// `received / duration_s`.
    pub echoed_pps: f64,
    /// `100 * (sent - received) / sent`.
    pub loss_percent: f64,
}

impl FloodConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), Error> {
        let max = sys::max_payload(&self.target);
        if self.size < HEADER_LEN || self.size > max {
            return Err(Error::Usage(format!(
                "--size {} is outside {HEADER_LEN}..={max}",
                self.size
            )));
        }
        if self.rate == Some(0) {
            return Err(Error::Usage("--rate must be at least 1 (or max)".into()));
        }
        if self.duration.is_zero() || self.duration.as_secs_f64() > MAX_DURATION_S {
            return Err(Error::Usage(format!(
                "--duration must be above 0 and at most {MAX_DURATION_S} s"
            )));
        }
        Ok(())
    }
}

struct Seen {
    bits: Vec<u64>,
    received: u64,
    duplicates: u64,
}

impl Seen {
    fn mark(&mut self, seq: u64, sent: u64) {
        if seq >= sent {
            return; // never sent: not ours
        }
        let Ok(i) = usize::try_from(seq / 64) else {
            return;
        };
        if i >= self.bits.len() {
            self.bits.resize(i + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        if self.bits[i] & bit != 0 {
            self.duplicates += 1;
        } else {
            self.bits[i] |= bit;
            self.received += 1;
        }
    }
}

/// Floods `cfg.target` and reports; returns early when `stop` is set.
///
/// ```
/// use std::{sync::atomic::AtomicBool, time::Duration};
/// use udp_echo::flood::{flood, FloodConfig};
/// # let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// # let target = server.local_addr()?;
/// # std::thread::spawn(move || loop { let mut b = [0; 128];
/// #     let (n, from) = server.recv_from(&mut b).unwrap(); server.send_to(&b[..n], from).unwrap(); });
/// let cfg = FloodConfig { target, rate: Some(200), size: 64,
///                         duration: Duration::from_millis(100), drain: Duration::from_secs(2) };
/// let r = flood(&cfg, &AtomicBool::new(false))?;
/// assert!(r.sent >= 10 && r.received == r.sent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn flood(cfg: &FloodConfig, stop: &AtomicBool) -> Result<FloodReport, Error> {
    cfg.validate()?;
    let sock = crate::client::connect(cfg.target)?;
    {
        let s = socket2::SockRef::from(&sock);
        let _ = s.set_recv_buffer_size(crate::server::DEFAULT_SOCKET_BUFFER);
        let _ = s.set_send_buffer_size(crate::server::DEFAULT_SOCKET_BUFFER);
    }
    let fd = sock.as_raw_fd();
    let session = probe::random_session();
    let mut out: Vec<Vec<u8>> = (0..SEND_BATCH).map(|_| vec![0u8; cfg.size]).collect();
    let mut batch = Batch::new(RECV_BATCH, cfg.size.max(2048), 0);
    let mut seen = Seen {
        bits: Vec::new(),
        received: 0,
        duplicates: 0,
    };
    let mut sent = 0u64;
    let mut refused = 0u64;
    let start = Instant::now();
    let elapsed_ns = || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let end_ns = u64::try_from(cfg.duration.as_nanos()).unwrap_or(u64::MAX);

    let mut drain = |seen: &mut Seen, sent: u64, refused: &mut u64| -> Result<usize, Error> {
        let mut got = 0;
        loop {
            match batch.recv(fd) {
                Ok(0) => return Ok(got),
                Ok(n) => {
                    got += n;
                    for k in 0..n {
                        if let Ok(p) = Probe::decode(batch.data(k)) {
                            if p.session == session {
                                seen.mark(p.seq, sent);
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    *refused += 1;
                    return Ok(got);
                }
                Err(e) => return Err(Error::io("receive", e)),
            }
        }
    };

    let mut now = elapsed_ns();
    while now < end_ns && !stop.load(Ordering::SeqCst) {
        let due = match cfg.rate {
            // Datagrams due by now on the schedule (datagram k at k / rate,
            // the first at 0); u128 so rate × ns fits.
            Some(r) => u64::try_from(u128::from(r) * u128::from(now) / 1_000_000_000 + 1)
                .unwrap_or(u64::MAX)
                .saturating_sub(sent),
            None => SEND_BATCH as u64,
        };
        let n = usize::try_from(due).unwrap_or(SEND_BATCH).min(SEND_BATCH);
        if n > 0 {
            let sent_ns = elapsed_ns();
            for (k, d) in out.iter_mut().take(n).enumerate() {
                Probe {
                    session,
                    seq: sent + k as u64,
                    sent_ns,
                }
                .encode(d)
                .map_err(|e| Error::Usage(e.to_string()))?;
            }
            match sys::send_datagrams(fd, &mut out[..n]) {
                Ok(k) => sent += k as u64,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused += 1,
                // A full buffer: the echoes will make room.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOBUFS)) => {}
                Err(e) => return Err(Error::io("send", e)),
            }
        }
        let got = drain(&mut seen, sent, &mut refused)?;
        if n == 0 && got == 0 {
            if let Some(r) = cfg.rate {
                // Sleep in poll until the next datagram is due or an echo comes.
                let next_ns = u64::try_from(u128::from(sent) * 1_000_000_000 / u128::from(r))
                    .unwrap_or(u64::MAX)
                    .min(end_ns);
                // To the nanosecond: below a millisecond apart (--rate
                // 1500 and up) a wait in whole milliseconds was 0, and the
                // loop spun a whole CPU between datagrams.
                let wait_ns = next_ns.saturating_sub(elapsed_ns());
                if wait_ns > 0 {
                    let _ = sys::poll_readable_for(&[fd], Duration::from_nanos(wait_ns));
                }
            }
        }
        now = elapsed_ns();
    }
    let duration_s = start.elapsed().as_secs_f64();
    let drain_end = Instant::now() + cfg.drain;
    while seen.received < sent && !stop.load(Ordering::SeqCst) {
        let left = drain_end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait_ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        let _ = sys::poll_readable(&[fd], wait_ms).map_err(|e| Error::io("poll", e))?;
        drain(&mut seen, sent, &mut refused)?;
    }
    let per_s = |n: u64| {
        if duration_s > 0.0 {
            n as f64 / duration_s
        } else {
            0.0
        }
    };
    Ok(FloodReport {
        target: cfg.target,
        size: cfg.size,
        rate: cfg.rate,
        duration_s,
        sent,
        received: seen.received,
        duplicates: seen.duplicates,
        refused,
        sent_pps: per_s(sent),
        echoed_pps: per_s(seen.received),
        loss_percent: if sent == 0 {
            0.0
        } else {
            100.0 * (sent - seen.received) as f64 / sent as f64
        },
    })
}

/// The human report. The loss has two decimals unless that would show a
/// partial loss as 0.00% or 100.00% ([`crate::stats::format_percent`]).
pub fn render_report(r: &FloodReport) -> String {
    format!(
        "--- {} udp-echo flood: {} B datagrams for {:.2} s ---\n\
         offered {} ({:.0} pps), echoed {} ({:.0} pps), {}% loss, {} duplicates, {} refused\n",
        r.target,
        r.size,
        r.duration_s,
        r.sent,
        r.sent_pps,
        r.received,
        r.echoed_pps,
        crate::stats::format_percent(r.loss_percent, 2),
        r.duplicates,
        r.refused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain echo server on a thread, for the test's lifetime.
    fn echo_server() -> std::net::SocketAddr {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 256];
            while let Ok((n, from)) = server.recv_from(&mut b) {
                let _ = server.send_to(&b[..n], from);
            }
        });
        target
    }

    fn cfg() -> FloodConfig {
        FloodConfig {
            target: "127.0.0.1:9".parse().unwrap(),
            rate: Some(100),
            size: 64,
            duration: Duration::from_millis(100),
            drain: Duration::from_millis(100),
        }
    }

    #[test]
    fn validate_rejects_zero_rate_small_size_and_endless_duration() {
        assert!(cfg().validate().is_ok());
        assert!(FloodConfig {
            rate: Some(0),
            ..cfg()
        }
        .validate()
        .is_err());
        assert!(FloodConfig { size: 10, ..cfg() }.validate().is_err());
        assert!(FloodConfig {
            duration: Duration::ZERO,
            ..cfg()
        }
        .validate()
        .is_err());
        assert!(FloodConfig {
            duration: Duration::from_secs(7200),
            ..cfg()
        }
        .validate()
        .is_err());
    }

    /// Regression: one echo missing out of 1,000,000 was printed as "0.00% loss".
    #[test]
    fn report_text_never_shows_a_real_loss_as_zero_percent() {
        let r = FloodReport {
            target: "127.0.0.1:9".parse().unwrap(),
            size: 64,
            rate: None,
            duration_s: 3.0,
            sent: 1_000_000,
            received: 999_999,
            duplicates: 0,
            refused: 0,
            sent_pps: 333_333.0,
            echoed_pps: 333_333.0,
            loss_percent: 100.0 / 1_000_000.0,
        };
        let text = render_report(&r);
        assert!(text.contains(", 0.0001% loss,"), "{text}");
        let none = render_report(&FloodReport {
            received: 1_000_000,
            loss_percent: 0.0,
            ..r
        });
        assert!(none.contains(", 0.00% loss,"), "{none}");
    }

    #[test]
    fn seen_counts_each_sequence_once_and_ignores_unsent() {
        let mut s = Seen {
            bits: Vec::new(),
            received: 0,
            duplicates: 0,
        };
        s.mark(3, 10);
        s.mark(3, 10);
        s.mark(130, 200);
        s.mark(10, 10);
        assert_eq!((s.received, s.duplicates), (2, 1));
    }

    #[test]
    fn paced_flood_offers_close_to_the_rate() {
        let target = echo_server();
        let r = flood(
            &FloodConfig {
                target,
                rate: Some(1000),
                duration: Duration::from_millis(300),
                drain: Duration::from_secs(2),
                ..cfg()
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        // 300 due by the end; the schedule never sends ahead of time.
        assert!(r.sent <= 301 && r.sent >= 200, "{r:?}");
        assert_eq!(r.received, r.sent, "{r:?}");
        assert_eq!(r.loss_percent, 0.0);
    }

    /// CPU time this thread has used.
    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec for the call to fill.
        assert_eq!(
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) },
            0
        );
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Regression: with datagrams due less than a millisecond apart the
    /// wait was rounded down to 0 ms and the paced loop spun a whole CPU
    /// (`--rate 1500`: 1 s of CPU per second) to send 1,500 datagrams.
    #[test]
    fn a_paced_flood_sleeps_between_datagrams_below_a_millisecond_apart() {
        let target = echo_server();
        let (cpu0, wall0) = (thread_cpu(), std::time::Instant::now());
        let r = flood(
            &FloodConfig {
                target,
                rate: Some(2500),
                duration: Duration::from_millis(400),
                ..cfg()
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        assert!(r.sent >= 500, "{r:?}");
        // About 2,500 wake-ups a second cost a few per cent; spinning cost
        // all of it (or whatever share of a CPU a busy machine gave it).
        assert!(
            cpu < wall / 4,
            "the paced flood used {cpu:?} of CPU in {wall:?}"
        );
    }

    /// Regression: the first datagram was due at 1/rate, not at 0, so
    /// `--rate 1000 --duration 1` offered 999 and `--rate 1 --duration 1`
    /// sent nothing.
    #[test]
    fn a_paced_flood_sends_its_first_datagram_at_once() {
        let target = echo_server();
        let r = flood(
            &FloodConfig {
                target,
                rate: Some(5),
                duration: Duration::from_millis(500),
                ..cfg()
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        // Due at 0, 200 and 400 ms.
        assert_eq!(r.sent, 3, "{r:?}");
    }

    #[test]
    fn flood_at_closed_port_counts_refusals_and_no_echoes() {
        let addr = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let r = flood(
            &FloodConfig {
                target: addr,
                ..cfg()
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        assert!(r.refused > 0, "{r:?}");
        assert_eq!(r.received, 0);
    }
}
