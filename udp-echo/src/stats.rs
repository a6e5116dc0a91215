//! Accounting for `ping`: which probes came back, which twice, which out of
//! order, which after their time-out, and the RTT distribution.
//!
//! # Design
//!
//! * Pure state machine, clock passed in (`now_ns`, nanoseconds since the run
//!   started), as in quinn-proto: the network relay test and the unit tests
//!   drive it with the same code the binary uses.
//! * One state byte and one send time per probe sent ([`Tracker::on_sent`]),
//!   for the last [`HISTORY`] probes: memory grows only with what *we* sent,
//!   never with what the network sends us, and stops growing there. A reply
//!   to a probe older than that is late ([`Reply::Forgotten`]).
//! * **The RTT is measured from our own record** of when each sequence
//!   number left, never from the send time echoed in the reply: an echo
//!   server could alter that field and make up any RTT. The echoed time is a
//!   cross-check only. A reply whose header disagrees with what was sent (a
//!   sequence number never sent, or an echoed send time that is not the one
//!   recorded for that sequence number) is [`Reply::Altered`]: its sequence
//!   number cannot be trusted, so it answers no probe.
//! * Time-outs expire in sending order from a queue, since every probe gets
//!   the same time-out.
//! * Definitions, so the figures add up: every probe ends as exactly one of
//!   received, lost (its time-out passed first) or refused (an ICMP port
//!   unreachable was charged to it); `sent = received + lost + refused +
//!   pending`. A *late* reply belongs to a lost probe (or to a forgotten
//!   one, see [`HISTORY`]); a *duplicate* is a second reply for the same
//!   probe; a reply is *reordered* when a probe sent after it was answered
//!   first. `loss_percent = 100 * lost / sent`.
//! * *Corrupted* counts replies (not probes) that are not byte for byte the
//!   probe sent: cut short, longer, wrong padding ([`Integrity::Damaged`]),
//!   or an altered header ([`Reply::Altered`]). As ping(8) does with "wrong
//!   data", a damaged reply whose header matches its probe exactly still
//!   answers that probe: it counts as received (or duplicate, or late) *and*
//!   as corrupted, and its RTT (from our own clock) is recorded. An altered
//!   reply answers no probe, which therefore ends lost (or refused) unless an
//!   intact reply follows. So `sent = received + lost + refused` still holds
//!   once nothing is pending, and `corrupted` is a separate tally beside it.
//! * RTT percentiles come from `hdrhistogram` (3 significant digits, 1 ns to
//!   1 h); min, max, mean and standard deviation are exact (Welford).
//!
//! ```
//! use udp_echo::stats::{Reply, Tracker};
//! use udp_echo::stats::Integrity::Intact;
//! let mut t = Tracker::new(1_000_000_000);
//! t.on_sent(0, 0);
//! t.on_sent(1, 10);
//! assert_eq!(t.on_reply(1, 10, Intact, 60), Reply::Fresh { rtt_ns: 50, reordered: false });
//! assert_eq!(t.on_reply(0, 0, Intact, 70), Reply::Fresh { rtt_ns: 70, reordered: true });
//! assert_eq!(t.on_reply(0, 0, Intact, 80), Reply::Duplicate);
//! // An echoed send time that is not the one recorded: altered, answers nothing.
//! t.on_sent(2, 20);
//! assert_eq!(t.on_reply(2, 0, Intact, 90), Reply::Altered);
//! let s = t.summary();
//! assert_eq!((s.sent, s.received, s.duplicates, s.reordered), (3, 2, 1, 1));
//! assert_eq!(s.corrupted, 1);
//! ```

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Received,
    Lost,
    LateReceived,
    Refused,
}

/// Whether a reply's body (length and padding, see
/// [`crate::probe::check_body`]) is what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Same length, same padding.
    Intact,
    /// Cut short, longer, or different padding: counted as corrupted.
    Damaged,
}

/// What a reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The first reply for a probe still within its time-out.
    Fresh {
        /// Full round-trip time.
        rtt_ns: u64,
        /// A later probe was answered before this one.
        reordered: bool,
    },
    /// A second (or later) reply for the same probe.
    Duplicate,
    /// The first reply for a probe already counted as lost.
    Late {
        /// Full round-trip time, over the time-out.
        rtt_ns: u64,
    },
    /// The header disagrees with what was sent: a sequence number never
    /// sent, or an echoed send time other than the one recorded for that
    /// sequence number. Counted as corrupted; answers no probe.
    Altered,
    /// A reply to a probe settled more than [`HISTORY`] probes ago, whose
    /// record is gone: counted as late, its RTT unknown.
    Forgotten,
}

/// The figures `ping` prints at the end; also its `--json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Probes sent.
    pub sent: u64,
    /// Probes answered within their time-out.
    pub received: u64,
    /// Probes whose time-out passed unanswered.
    pub lost: u64,
    /// Probes answered by ICMP port unreachable.
    pub refused: u64,
    /// `100 * lost / sent`; 0 when nothing was sent.
    pub loss_percent: f64,
    /// Extra replies for an already answered probe.
    pub duplicates: u64,
    /// Replies that arrived after a reply to a later probe.
    pub reordered: u64,
    /// Replies that arrived after their probe's time-out.
    pub late: u64,
    /// Datagrams that were not replies to this run's probes.
    pub foreign: u64,
    /// Replies that were not byte for byte the probe sent (cut short,
    /// longer, altered); see the module docs for how they are counted.
    pub corrupted: u64,
    /// Full round-trip times of the received probes.
    pub rtt_us: RttSummary,
}

/// Round-trip figures in microseconds; `None` (JSON `null`) with no replies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RttSummary {
    /// Smallest RTT.
    pub min: Option<f64>,
    /// Mean RTT.
    pub avg: Option<f64>,
    /// Largest RTT.
    pub max: Option<f64>,
    /// Population standard deviation.
    pub stddev: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
}

/// Longest RTT the histogram records exactly: an hour.
const HIST_MAX_NS: u64 = 3_600_000_000_000;

/// Settled probes (answered, lost, refused) whose state and send time are
/// kept, newest first: about 9 MiB, some 35 s of ping-pong over loopback.
/// Older ones are forgotten, so a `ping` left running keeps a bounded
/// record; a reply naming one of them is [`Reply::Forgotten`]. Pending
/// probes are never forgotten (they are bounded by rate × time-out).
pub const HISTORY: usize = 1 << 20;

/// Per-run probe accounting; see the module docs.
#[derive(Debug)]
pub struct Tracker {
    timeout_ns: u64,
    /// Sequence number of `states[0]`: those before it are forgotten.
    base: u64,
    states: VecDeque<State>,
    sent_ns: VecDeque<u64>,
    deadlines: VecDeque<(u64, u64)>,
    highest_answered: Option<u64>,
    pending: u64,
    counts: Counts,
    hist: Histogram<u64>,
    mean: f64,
    m2: f64,
    min: u64,
    max: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    received: u64,
    lost: u64,
    refused: u64,
    duplicates: u64,
    reordered: u64,
    late: u64,
    foreign: u64,
    corrupted: u64,
}

impl Tracker {
    /// A tracker whose probes time out `timeout_ns` after sending.
    pub fn new(timeout_ns: u64) -> Tracker {
        Tracker {
            timeout_ns,
            base: 0,
            states: VecDeque::new(),
            sent_ns: VecDeque::new(),
            deadlines: VecDeque::new(),
            highest_answered: None,
            pending: 0,
            counts: Counts::default(),
            // Bounds are constants that hdrhistogram accepts (1 ≤ low,
            // high ≥ 2·low, sigfig ≤ 5); failing here is a programming error.
            hist: Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds"),
            mean: 0.0,
            m2: 0.0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records that probe `seq` left at `now_ns`. Sequence numbers must be
    /// 0, 1, 2, ... in order; others are ignored.
    pub fn on_sent(&mut self, seq: u64, now_ns: u64) {
        if seq != self.sent() {
            return;
        }
        self.states.push_back(State::Pending);
        self.sent_ns.push_back(now_ns);
        self.pending += 1;
        self.deadlines
            .push_back((seq, now_ns.saturating_add(self.timeout_ns)));
        while self.states.len() > HISTORY && self.states.front() != Some(&State::Pending) {
            self.states.pop_front();
            self.sent_ns.pop_front();
            self.base += 1;
        }
    }

    /// Number of probes sent so far.
    pub fn sent(&self) -> u64 {
        self.base + self.states.len() as u64
    }

    /// Where probe `seq` sits in `states` and `sent_ns`, if remembered.
    fn index(&self, seq: u64) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        (i < self.states.len()).then_some(i)
    }

    /// Probes neither answered, lost nor refused yet.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    fn state(&self, seq: u64) -> Option<State> {
        self.index(seq).map(|i| self.states[i])
    }

    fn set(&mut self, seq: u64, state: State) {
        if let Some(s) = self.index(seq).and_then(|i| self.states.get_mut(i)) {
            if *s == State::Pending && state != State::Pending {
                self.pending -= 1;
            }
            *s = state;
        }
    }

    /// The earliest time-out still pending, if any.
    pub fn next_deadline(&mut self) -> Option<u64> {
        while let Some(&(seq, at)) = self.deadlines.front() {
            if self.state(seq) == Some(State::Pending) {
                return Some(at);
            }
            self.deadlines.pop_front();
        }
        None
    }

    /// Marks as lost every pending probe whose time-out is at or before
    /// `now_ns`; returns their sequence numbers.
    pub fn expire(&mut self, now_ns: u64) -> Vec<u64> {
        let mut lost = Vec::new();
        while let Some(at) = self.next_deadline() {
            if at > now_ns {
                break;
            }
            if let Some((seq, _)) = self.deadlines.pop_front() {
                self.set(seq, State::Lost);
                self.counts.lost += 1;
                lost.push(seq);
            }
        }
        lost
    }

    /// Charges an ICMP port unreachable to the oldest pending probe; returns
    /// its sequence number, or `None` if nothing was pending.
    pub fn on_refused(&mut self) -> Option<u64> {
        self.next_deadline()?;
        let (seq, _) = self.deadlines.pop_front()?;
        self.set(seq, State::Refused);
        self.counts.refused += 1;
        Some(seq)
    }

    /// Classifies a reply of this run (magic and session already checked by
    /// the caller) that names probe `seq` and echoes send time
    /// `echoed_sent_ns`, arriving at `now_ns` with a body found `integrity`.
    ///
    /// The RTT is `now_ns` minus the send time recorded by
    /// [`Tracker::on_sent`]; the echoed one must equal it, or the reply is
    /// [`Reply::Altered`].
    pub fn on_reply(
        &mut self,
        seq: u64,
        echoed_sent_ns: u64,
        integrity: Integrity,
        now_ns: u64,
    ) -> Reply {
        if seq < self.base {
            // Settled long ago, and its record is gone: after more than
            // HISTORY later probes it is late, whether lost or answered.
            self.counts.late += 1;
            return Reply::Forgotten;
        }
        let recorded = self.index(seq).map(|i| (self.states[i], self.sent_ns[i]));
        let Some((state, sent_ns)) = recorded.filter(|&(_, at)| at == echoed_sent_ns) else {
            self.counts.corrupted += 1;
            return Reply::Altered;
        };
        if integrity == Integrity::Damaged {
            self.counts.corrupted += 1;
        }
        // One monotonic clock, so `now_ns >= sent_ns`; saturate regardless.
        let rtt_ns = now_ns.saturating_sub(sent_ns);
        match state {
            State::Pending => {
                self.set(seq, State::Received);
                self.counts.received += 1;
                let reordered = self.highest_answered.is_some_and(|h| h > seq);
                if reordered {
                    self.counts.reordered += 1;
                }
                self.highest_answered = Some(self.highest_answered.map_or(seq, |h| h.max(seq)));
                self.record_rtt(rtt_ns);
                Reply::Fresh { rtt_ns, reordered }
            }
            State::Lost => {
                self.set(seq, State::LateReceived);
                self.counts.late += 1;
                Reply::Late { rtt_ns }
            }
            State::Received | State::LateReceived | State::Refused => {
                self.counts.duplicates += 1;
                Reply::Duplicate
            }
        }
    }

    /// Counts a datagram that is not a probe of this run at all.
    pub fn on_foreign(&mut self) {
        self.counts.foreign += 1;
    }

    fn record_rtt(&mut self, rtt_ns: u64) {
        self.hist.saturating_record(rtt_ns.max(1));
        let n = self.counts.received as f64;
        let x = rtt_ns as f64;
        let delta = x - self.mean;
        self.mean += delta / n;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(rtt_ns);
        self.max = self.max.max(rtt_ns);
    }

    /// The figures so far.
    pub fn summary(&self) -> Summary {
        let c = self.counts;
        let sent = self.sent();
        let us = |ns: f64| Some(ns / 1000.0);
        let rtt_us = if c.received == 0 {
            RttSummary {
                min: None,
                avg: None,
                max: None,
                stddev: None,
                p50: None,
                p90: None,
                p99: None,
                p999: None,
            }
        } else {
            // hdrhistogram answers with its bucket's upper edge, which can
            // exceed the exact maximum by the 3-digit precision: clamp, so
            // that min <= p50 <= ... <= max always holds.
            let q = |p: f64| us(self.hist.value_at_quantile(p).clamp(self.min, self.max) as f64);
            RttSummary {
                min: us(self.min as f64),
                avg: us(self.mean),
                max: us(self.max as f64),
                stddev: us((self.m2 / c.received as f64).sqrt()),
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                p999: q(0.999),
            }
        };
        Summary {
            sent,
            received: c.received,
            lost: c.lost,
            refused: c.refused,
            loss_percent: if sent == 0 {
                0.0
            } else {
                100.0 * c.lost as f64 / sent as f64
            },
            duplicates: c.duplicates,
            reordered: c.reordered,
            late: c.late,
            foreign: c.foreign,
            corrupted: c.corrupted,
            rtt_us,
        }
    }
}

/// A percentage for the text summaries: `decimals` places, as usual, but a
/// partial loss never reads as `0.0` or `100.0`. Within 1 of either end it
/// gets as many places as show 3 significant digits of its distance to that
/// end (trailing zeros beyond `decimals` trimmed). JSON keeps the raw value.
///
/// ```
/// use udp_echo::stats::format_percent;
/// assert_eq!(format_percent(0.0, 1), "0.0");
/// assert_eq!(format_percent(100.0 / 30_000.0, 1), "0.00333");
/// assert_eq!(format_percent(10.0, 1), "10.0");
/// assert_eq!(format_percent(100.0 - 100.0 / 30_000.0, 1), "99.99667");
/// assert_eq!(format_percent(0.5, 2), "0.50");
/// ```
pub fn format_percent(percent: f64, decimals: usize) -> String {
    let dist = percent.min(100.0 - percent);
    if !(dist > 0.0 && dist < 1.0) {
        return format!("{percent:.decimals$}");
    }
    // `dist` is in (0, 1), so its exponent is -1 or lower and `2 - exp` is a
    // small positive number (at most ~326 for the smallest f64): the cast
    // cannot wrap.
    let exp = dist.log10().floor();
    let places = ((2.0 - exp) as usize).max(decimals);
    let mut text = format!("{percent:.places$}");
    let keep = text.len() - (places - decimals);
    while text.len() > keep && text.ends_with('0') {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use Integrity::{Damaged, Intact};

    const S: u64 = 1_000_000_000;

    fn sent(n: u64) -> Tracker {
        let mut t = Tracker::new(S);
        for i in 0..n {
            t.on_sent(i, i * 1000);
        }
        t
    }

    #[test]
    fn a_long_run_remembers_only_the_last_history_probes() {
        let mut t = Tracker::new(1_000);
        let n = HISTORY as u64 + 10;
        for seq in 0..n {
            t.on_sent(seq, seq);
            assert!(matches!(
                t.on_reply(seq, seq, Integrity::Intact, seq + 1),
                Reply::Fresh { .. }
            ));
        }
        assert_eq!(t.sent(), n);
        assert_eq!(t.states.len(), HISTORY);
        assert_eq!(t.sent_ns.len(), HISTORY);
        // A reply naming a forgotten probe: late, with no RTT to make up.
        assert_eq!(t.on_reply(3, 3, Integrity::Intact, n), Reply::Forgotten);
        // One still remembered is a duplicate, as before.
        assert_eq!(
            t.on_reply(n - 1, n - 1, Integrity::Intact, n),
            Reply::Duplicate
        );
        let s = t.summary();
        assert_eq!((s.sent, s.received, s.late, s.duplicates), (n, n, 1, 1));
    }

    #[test]
    fn in_order_replies_are_fresh_and_not_reordered() {
        let mut t = sent(3);
        for i in 0..3 {
            assert_eq!(
                t.on_reply(i, i * 1000, Intact, i * 1000 + 500),
                Reply::Fresh {
                    rtt_ns: 500,
                    reordered: false
                }
            );
        }
        let s = t.summary();
        assert_eq!(
            (s.received, s.lost, s.reordered, s.loss_percent),
            (3, 0, 0, 0.0)
        );
        assert_eq!(s.rtt_us.min, Some(0.5));
        assert_eq!(s.rtt_us.stddev, Some(0.0));
    }

    #[test]
    fn swapped_pair_counts_one_reorder() {
        let mut t = sent(3);
        t.on_reply(1, 1000, Intact, 2000);
        t.on_reply(0, 0, Intact, 2100);
        t.on_reply(2, 2000, Intact, 3000);
        assert_eq!(t.summary().reordered, 1);
    }

    #[test]
    fn second_reply_is_a_duplicate_not_a_receipt() {
        let mut t = sent(1);
        t.on_reply(0, 0, Intact, 10);
        assert_eq!(t.on_reply(0, 0, Intact, 20), Reply::Duplicate);
        assert_eq!(t.on_reply(0, 0, Intact, 30), Reply::Duplicate);
        let s = t.summary();
        assert_eq!((s.received, s.duplicates), (1, 2));
    }

    #[test]
    fn unanswered_probe_is_lost_at_its_deadline_not_before() {
        let mut t = sent(2);
        assert!(t.expire(S - 1).is_empty());
        assert_eq!(t.expire(S), vec![0]);
        assert_eq!(t.expire(S + 1000), vec![1]);
        let s = t.summary();
        assert_eq!((s.lost, s.loss_percent), (2, 100.0));
    }

    #[test]
    fn reply_after_deadline_is_late_and_stays_lost() {
        let mut t = sent(1);
        t.expire(2 * S);
        assert_eq!(
            t.on_reply(0, 0, Intact, 2 * S),
            Reply::Late { rtt_ns: 2 * S }
        );
        let s = t.summary();
        assert_eq!((s.received, s.lost, s.late), (0, 1, 1));
        assert_eq!(s.rtt_us.p50, None);
    }

    #[test]
    fn answered_probe_never_expires() {
        let mut t = sent(1);
        t.on_reply(0, 0, Intact, 5);
        assert!(t.expire(10 * S).is_empty());
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn refused_is_charged_to_oldest_pending_and_is_not_loss() {
        let mut t = sent(2);
        t.on_reply(0, 0, Intact, 5);
        assert_eq!(t.on_refused(), Some(1));
        assert_eq!(t.on_refused(), None);
        let s = t.summary();
        assert_eq!((s.refused, s.lost, s.loss_percent), (1, 0, 0.0));
    }

    #[test]
    fn unknown_sequence_or_future_timestamp_is_altered_not_received() {
        let mut t = sent(1);
        assert_eq!(t.on_reply(7, 0, Intact, 10), Reply::Altered);
        assert_eq!(t.on_reply(u64::MAX, 0, Intact, 10), Reply::Altered);
        assert_eq!(t.on_reply(0, 11, Intact, 10), Reply::Altered);
        let s = t.summary();
        assert_eq!((s.corrupted, s.received, s.foreign), (3, 0, 0));
    }

    /// Regression: the RTT was the receive time minus the send time echoed
    /// in the reply, so a server that zeroed that field (bytes 16..24) made
    /// up an RTT as long as the whole run so far.
    #[test]
    fn rtt_is_from_own_send_record_and_altered_timestamp_answers_nothing() {
        let mut t = Tracker::new(S);
        t.on_sent(0, 1_000_000);
        t.on_sent(1, 2_000_000);
        t.on_sent(2, 3_000_000);
        t.on_reply(0, 1_000_000, Intact, 1_020_000);
        t.on_reply(1, 2_000_000, Intact, 2_020_000);
        // Probe 2's echoed send time zeroed: it must not become an RTT of
        // 3.02 ms, nor count probe 2 as received.
        assert_eq!(t.on_reply(2, 0, Intact, 3_020_000), Reply::Altered);
        t.expire(u64::MAX);
        let s = t.summary();
        assert_eq!((s.sent, s.received, s.lost, s.corrupted), (3, 2, 1, 1));
        assert_eq!(s.rtt_us.max, Some(20.0), "{s:?}");
        assert_eq!(s.rtt_us.stddev, Some(0.0), "{s:?}");
    }

    #[test]
    fn damaged_reply_with_intact_header_is_received_and_corrupted() {
        let mut t = sent(3);
        assert_eq!(
            t.on_reply(0, 0, Damaged, 500),
            Reply::Fresh {
                rtt_ns: 500,
                reordered: false
            }
        );
        assert_eq!(t.on_reply(0, 0, Damaged, 600), Reply::Duplicate);
        t.on_reply(1, 1000, Intact, 1500);
        t.expire(u64::MAX);
        assert_eq!(
            t.on_reply(2, 2000, Damaged, 2 * S),
            Reply::Late {
                rtt_ns: 2 * S - 2000
            }
        );
        let s = t.summary();
        assert_eq!(
            (s.received, s.lost, s.duplicates, s.late, s.corrupted),
            (2, 1, 1, 1, 3)
        );
        assert_eq!(s.received + s.lost + s.refused, s.sent);
        assert_eq!(s.rtt_us.max, Some(0.5), "the damaged reply's RTT counts");
    }

    #[test]
    fn percent_text_never_rounds_a_partial_loss_to_0_or_100() {
        assert_eq!(format_percent(0.0, 1), "0.0");
        assert_eq!(format_percent(100.0, 1), "100.0");
        assert_eq!(format_percent(10.0, 1), "10.0");
        assert_eq!(format_percent(100.0 / 3.0, 1), "33.3");
        assert_eq!(format_percent(0.5, 1), "0.5");
        assert_eq!(format_percent(100.0 / 1500.0, 1), "0.0667");
        assert_eq!(format_percent(100.0 / 30_000.0, 1), "0.00333");
        assert_eq!(format_percent(0.05, 1), "0.05");
        assert_eq!(format_percent(100.0 / 30_000.0, 2), "0.00333");
        assert_eq!(format_percent(0.25, 2), "0.25");
        assert_eq!(format_percent(0.5, 2), "0.50");
        assert_eq!(format_percent(99.9, 1), "99.9");
        assert_eq!(format_percent(100.0 - 100.0 / 30_000.0, 1), "99.99667");
        // The smallest possible loss: 1 of u64::MAX probes.
        let tiny = 100.0 / u64::MAX as f64;
        let text = format_percent(tiny, 1);
        assert!(text.parse::<f64>().unwrap() > 0.0, "{text}");
        for lost in 1..2000u64 {
            let p = 100.0 * lost as f64 / 2000.0;
            let text = format_percent(p, 1);
            let shown: f64 = text.parse().unwrap();
            assert!(shown > 0.0 && shown < 100.0, "{lost}/2000 shown as {text}");
        }
    }

    #[test]
    fn figures_add_up_to_sent() {
        let mut t = sent(10);
        t.on_reply(3, 3000, Intact, 4000);
        t.on_reply(1, 1000, Intact, 4000);
        t.on_refused();
        t.expire(100 * S);
        let s = t.summary();
        assert_eq!(s.received + s.lost + s.refused, s.sent);
        assert_eq!(t.pending(), 0);
        let mut t = sent(3);
        assert_eq!(t.pending(), 3);
        t.on_reply(0, 0, Intact, 1);
        t.on_reply(0, 0, Intact, 1);
        t.on_refused();
        assert_eq!(t.pending(), 1, "duplicate does not count twice");
    }

    #[test]
    fn percentiles_and_stddev_of_known_sample() {
        let mut t = Tracker::new(S);
        for i in 0..100 {
            t.on_sent(i, 0);
        }
        for i in 0..100 {
            // RTTs 1..=100 µs.
            t.on_reply(i, 0, Intact, (i + 1) * 1000);
        }
        let r = t.summary().rtt_us;
        assert_eq!(r.min, Some(1.0));
        assert_eq!(r.max, Some(100.0));
        assert_eq!(r.avg, Some(50.5));
        let sd = r.stddev.unwrap();
        assert!((sd - 28.866).abs() < 0.01, "stddev {sd}");
        let p50 = r.p50.unwrap();
        assert!((p50 - 50.0).abs() < 0.1, "p50 {p50}");
        let p99 = r.p99.unwrap();
        assert!((p99 - 99.0).abs() < 0.1, "p99 {p99}");
    }

    #[test]
    fn percentiles_never_exceed_exact_max() {
        // Regression: 165_966 ns was reported as p99 = 166_015 ns, above max.
        let mut t = Tracker::new(S);
        t.on_sent(0, 0);
        t.on_reply(0, 0, Intact, 165_966);
        let r = t.summary().rtt_us;
        assert_eq!(r.p99, r.max);
        assert_eq!(r.p50, r.min);
    }

    #[test]
    fn out_of_order_on_sent_is_ignored() {
        let mut t = Tracker::new(S);
        t.on_sent(5, 0);
        assert_eq!(t.sent(), 0);
    }
}
