//! Fan-out: one command on many servers at once.
//!
//! # Design
//!
//! A fixed pool of `--fanout` plain threads pulls host indices from one
//! atomic counter, each running the one-shot session against its host with
//! stdin `/dev/null` (one stdin cannot feed many commands). Nothing a host
//! does can stop another: a failed connect or a broken session becomes
//! that host's [`Outcome`], reported in the closing summary.
//!
//! Live output goes through a [`LinePrefixer`] per host and stream: only
//! whole lines leave it, each prefixed `ADDR: `, and a host's lines are
//! written to our stdout with one `write_all` under stdout's lock, so two
//! hosts never share a line. A line longer than [`MAX_LINE`] is cut there
//! (memory per host stays bounded); a last line without a newline gets one.
//!
//! Once a write of ours fails, no host is worth running any more: a closed
//! pipe (`| head`) ends the run quietly with status 0, any other failure
//! (a full disk) lost output and ends it with one line and 255, as in
//! one-shot mode.
//!
//! `--group` keeps each host's output instead and, after all finish, prints
//! each distinct (status, stdout, stderr) once under the compact list of
//! the hosts that produced it, like `dshbak -c`. What it keeps stays in
//! bounded memory ([`crate::kept`]): past [`GROUP_MEMORY_MAX`] in all, the
//! rest goes to temporary files.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use protocol::Frame;

use crate::conn::Connection;
use crate::error::{Cause, SessionError};
use crate::hosts;
use crate::kept::{Budget, Fingerprint, Kept, GROUP_MEMORY_MAX};
use crate::peer_text::sanitize;
use crate::session::{exec_for, wait_for, Completion, Sink, Stop};
use crate::status;

/// Whether our stdout and stderr still take output, shared by every host.
#[derive(Debug, Default)]
pub struct OutputState {
    /// A write failed: no host is worth running any more.
    closed: AtomicBool,
    /// The first failure that was not a closed pipe (a full disk): output
    /// was lost, which must not pass for success.
    error: Mutex<Option<io::Error>>,
}

impl OutputState {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Records a failed write of ours.
    fn failed(&self, error: io::Error) -> io::Error {
        self.closed.store(true, Ordering::Relaxed);
        if error.kind() != io::ErrorKind::BrokenPipe {
            let mut first = self.error.lock().unwrap_or_else(PoisonError::into_inner);
            if first.is_none() {
                *first = Some(io::Error::new(error.kind(), error.to_string()));
            }
        }
        error
    }

    /// The status a closed output ends the run with: 0 for a closed pipe
    /// (the reader is done, as with `| head`), else 255 with one line.
    fn end_status(&self) -> u8 {
        match self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(error) => {
                note!("client: cannot write the commands' output here: {error}");
                status::FAILURE
            }
            None => status::SUCCESS,
        }
    }
}

/// The longest line kept whole; longer ones are cut here.
pub const MAX_LINE: usize = 64 * 1024;

/// The rule `--group` prints above and below each group's hosts.
const RULE: &str = "----------------";

/// Turns a byte stream into whole lines prefixed `ADDR: `.
///
/// ```
/// use client::fanout::LinePrefixer;
/// let mut lines = LinePrefixer::new("h:1");
/// let mut out = Vec::new();
/// lines.feed(b"one\ntw", &mut out);
/// assert_eq!(out, b"h:1: one\n");
/// lines.feed(b"o\nthree", &mut out);
/// lines.finish(&mut out);
/// assert_eq!(out, b"h:1: one\nh:1: two\nh:1: three\n");
/// ```
#[derive(Debug, Clone)]
pub struct LinePrefixer {
    prefix: Vec<u8>,
    partial: Vec<u8>,
}

impl LinePrefixer {
    /// A prefixer for host `addr`.
    pub fn new(addr: &str) -> LinePrefixer {
        LinePrefixer {
            prefix: format!("{addr}: ").into_bytes(),
            partial: Vec::new(),
        }
    }

    /// Appends to `out` every line `data` completes.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while let Some(newline) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(newline + 1);
            out.extend_from_slice(&self.prefix);
            out.append(&mut self.partial);
            out.extend_from_slice(line);
            data = rest;
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() >= MAX_LINE {
            out.extend_from_slice(&self.prefix);
            out.extend(self.partial.drain(..MAX_LINE));
            out.push(b'\n');
        }
    }

    /// Appends the unfinished last line, if any, with a newline.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            out.extend_from_slice(&self.prefix);
            out.append(&mut self.partial);
            out.push(b'\n');
        }
    }
}

/// How one host's run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The command ran (or the server refused to run it).
    Done(Completion),
    /// No session: connect or handshake failed.
    Unreachable(SessionError),
    /// The session broke while the command ran.
    Lost(Cause),
    /// Not run to the end because our stdout or stderr was closed.
    Abandoned,
}

impl Outcome {
    /// This host's exit status.
    pub fn status(&self) -> u8 {
        match self {
            Outcome::Done(done) => done.status(),
            Outcome::Unreachable(_) | Outcome::Lost(_) => status::FAILURE,
            Outcome::Abandoned => status::SUCCESS,
        }
    }

    /// How it failed, for the summary; `None` when it succeeded.
    pub fn failure(&self) -> Option<String> {
        match self {
            Outcome::Done(Completion::Exited(exit)) if status::exit_status(exit) != 0 => {
                Some(status::describe(exit))
            }
            Outcome::Done(Completion::Exited(_)) | Outcome::Abandoned => None,
            Outcome::Done(Completion::NotRun(error)) => {
                Some(format!("not run ({})", sanitize(&error.message)))
            }
            Outcome::Unreachable(error) => Some(format!("unreachable ({})", error.cause)),
            Outcome::Lost(cause) => Some(format!("connection lost ({cause})")),
        }
    }
}

/// One host's result.
#[derive(Debug)]
pub struct HostReport {
    /// The address as given.
    pub addr: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Its stdout (kept with `--group` only).
    pub stdout: Kept,
    /// Its stderr (kept with `--group` only).
    pub stderr: Kept,
}

/// What to run where.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The hosts, in order.
    pub hosts: Vec<String>,
    /// The command line.
    pub command: &'a [u8],
    /// The token, when the servers ask for one.
    pub token: Option<&'a [u8]>,
    /// The per-command limit for the servers.
    pub timeout_ms: Option<u32>,
    /// Connect and handshake limit per host.
    pub connect_timeout: Duration,
    /// Hosts at once.
    pub fanout: usize,
    /// Group outputs instead of streaming them.
    pub group: bool,
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per host, on its thread's stack: boxing would buy nothing"
)]
enum HostSink<'a> {
    Live {
        out: LinePrefixer,
        err: LinePrefixer,
        output: &'a OutputState,
    },
    Keep {
        out: Kept,
        err: Kept,
        budget: &'a Budget,
        output: &'a OutputState,
    },
}

impl HostSink<'_> {
    fn finish(&mut self) -> (Kept, Kept) {
        match self {
            HostSink::Live { out, err, output } => {
                let mut buf = Vec::new();
                out.finish(&mut buf);
                if !output.is_closed() {
                    let _ = write_stdout(&buf).map_err(|e| output.failed(e));
                }
                let mut buf = Vec::new();
                err.finish(&mut buf);
                if !output.is_closed() {
                    let _ = write_stderr(&buf).map_err(|e| output.failed(e));
                }
                (Kept::default(), Kept::default())
            }
            HostSink::Keep { out, err, .. } => (std::mem::take(out), std::mem::take(err)),
        }
    }
}

fn write_stdout(buf: &[u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    out.write_all(buf)?;
    out.flush()
}

fn write_stderr(buf: &[u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut err = io::stderr().lock();
    err.write_all(buf)?;
    err.flush()
}

impl Sink for HostSink<'_> {
    fn stdout(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            HostSink::Live { out, output, .. } => {
                if output.is_closed() {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                let mut buf = Vec::new();
                out.feed(data, &mut buf);
                write_stdout(&buf).map_err(|e| output.failed(e))
            }
            HostSink::Keep {
                out,
                budget,
                output,
                ..
            } => out.push(data, budget).map_err(|e| output.failed(e)),
        }
    }

    fn stderr(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            HostSink::Live { err, output, .. } => {
                if output.is_closed() {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                let mut buf = Vec::new();
                err.feed(data, &mut buf);
                write_stderr(&buf).map_err(|e| output.failed(e))
            }
            HostSink::Keep {
                err,
                budget,
                output,
                ..
            } => err.push(data, budget).map_err(|e| output.failed(e)),
        }
    }
}

fn run_host(addr: &str, plan: &Plan<'_>, output: &OutputState, budget: &Budget) -> HostReport {
    let mut sink = if plan.group {
        HostSink::Keep {
            out: Kept::default(),
            err: Kept::default(),
            budget,
            output,
        }
    } else {
        HostSink::Live {
            out: LinePrefixer::new(addr),
            err: LinePrefixer::new(addr),
            output,
        }
    };
    let outcome = match Connection::open(addr, plan.token, plan.connect_timeout) {
        Err(error) => Outcome::Unreachable(error),
        Ok(mut conn) => {
            let exec = exec_for(plan.command, plan.timeout_ms, false);
            match conn.send(&Frame::Exec(exec)) {
                Err(cause) => Outcome::Lost(cause),
                Ok(()) => match wait_for(&mut conn, &mut sink) {
                    Ok(done) => Outcome::Done(done),
                    Err(Stop::OutputClosed) => Outcome::Abandoned,
                    Err(Stop::Lost(cause)) => Outcome::Lost(cause),
                },
            }
        }
    };
    let (stdout, stderr) = sink.finish();
    HostReport {
        addr: addr.to_string(),
        outcome,
        stdout,
        stderr,
    }
}

/// Runs the plan; returns every host's report, in the plan's host order.
pub fn run_all(plan: &Plan<'_>) -> Vec<HostReport> {
    run_all_with(plan, &OutputState::default())
}

/// [`run_all`], its live output's fate recorded in `output`.
fn run_all_with(plan: &Plan<'_>, output: &OutputState) -> Vec<HostReport> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<HostReport>>> =
        Mutex::new(plan.hosts.iter().map(|_| None).collect());
    let workers = plan.fanout.clamp(1, plan.hosts.len().max(1));
    let budget = Budget::new(GROUP_MEMORY_MAX);
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(addr) = plan.hosts.get(index) else {
                    return;
                };
                let report = if output.is_closed() {
                    HostReport {
                        addr: addr.clone(),
                        outcome: Outcome::Abandoned,
                        stdout: Kept::default(),
                        stderr: Kept::default(),
                    }
                } else {
                    run_host(addr, plan, output, &budget)
                };
                slots.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(report);
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

/// The overall status: the largest host status (255 when any host was
/// unreachable, since that is the largest).
///
/// ```
/// use client::fanout::overall_status;
/// assert_eq!(overall_status([0, 3, 124]), 124);
/// assert_eq!(overall_status([]), 0);
/// ```
pub fn overall_status(statuses: impl IntoIterator<Item = u8>) -> u8 {
    statuses.into_iter().max().unwrap_or(status::SUCCESS)
}

/// Output groups for `--group`: each distinct (outcome, stdout, stderr)
/// with the hosts that produced it, in order of first appearance.
/// Unreachable hosts have no output and are left to the summary.
pub fn group<'r>(reports: &'r [HostReport]) -> Vec<Group<'r>> {
    let mut groups: Vec<Group<'r>> = Vec::new();
    let mut index: BTreeMap<(String, Fingerprint, Fingerprint), usize> = BTreeMap::new();
    for report in reports {
        let label = match &report.outcome {
            Outcome::Done(Completion::Exited(exit)) => status::describe(exit),
            Outcome::Done(Completion::NotRun(_)) | Outcome::Lost(_) => {
                report.outcome.failure().unwrap_or_default()
            }
            Outcome::Unreachable(_) | Outcome::Abandoned => continue,
        };
        let key = (
            label.clone(),
            report.stdout.fingerprint(),
            report.stderr.fingerprint(),
        );
        match index.get(&key) {
            Some(&at) => groups[at].hosts.push(&report.addr),
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    label,
                    hosts: vec![&report.addr],
                    stdout: &report.stdout,
                    stderr: &report.stderr,
                });
            }
        }
    }
    groups
}

/// Hosts that produced the same status and output.
#[derive(Debug)]
pub struct Group<'r> {
    /// How they ended (`exit 0`, `timed out`, ...).
    pub label: String,
    /// Who.
    pub hosts: Vec<&'r str>,
    /// Their stdout.
    pub stdout: &'r Kept,
    /// Their stderr.
    pub stderr: &'r Kept,
}

impl Group<'_> {
    /// The header block printed above the group's output.
    ///
    /// ```
    /// use client::fanout::Group;
    /// use client::kept::Kept;
    /// let none = Kept::default();
    /// let group = Group { label: "exit 0".into(), hosts: vec!["h:1", "h:2"], stdout: &none, stderr: &none };
    /// assert_eq!(group.header(), "----------------\nh:[1-2] (exit 0)\n----------------\n");
    /// ```
    pub fn header(&self) -> String {
        format!(
            "{RULE}\n{} ({})\n{RULE}\n",
            hosts::compact(&self.hosts),
            self.label
        )
    }
}

/// The closing summary of failures (empty when every host succeeded):
/// one line per kind of failure with the compact host list.
pub fn summary(reports: &[HostReport]) -> Vec<String> {
    let mut kinds: Vec<(String, Vec<&str>)> = Vec::new();
    for report in reports {
        let Some(failure) = report.outcome.failure() else {
            continue;
        };
        match kinds.iter_mut().find(|(kind, _)| *kind == failure) {
            Some((_, hosts)) => hosts.push(&report.addr),
            None => kinds.push((failure, vec![&report.addr])),
        }
    }
    if kinds.is_empty() {
        return Vec::new();
    }
    let failed: usize = kinds.iter().map(|(_, hosts)| hosts.len()).sum();
    let mut lines = vec![format!(
        "{} hosts: {} ok, {} failed",
        reports.len(),
        reports.len() - failed,
        failed
    )];
    for (kind, hosts) in kinds {
        lines.push(format!("  {kind}: {}", hosts::compact(&hosts)));
    }
    lines
}

fn write_kept(out: &mut dyn Write, kept: &Kept) -> io::Result<()> {
    kept.write_to(out)?;
    out.flush()
}

/// Runs the plan and prints everything (live lines or groups, then the
/// summary on stderr); returns the overall status.
pub fn run(plan: &Plan<'_>) -> u8 {
    let output = OutputState::default();
    let reports = run_all_with(plan, &output);
    if output.is_closed() {
        // Our stdout or stderr is gone: a closed pipe ends quietly, as in
        // one-shot mode; lost output is an error.
        return output.end_status();
    }
    if plan.group {
        for group in group(&reports) {
            let header = group.header();
            let written = write_stdout(header.as_bytes())
                .and_then(|()| write_kept(&mut io::stdout().lock(), group.stdout))
                .and_then(|()| {
                    if group.stderr.is_empty() {
                        return Ok(());
                    }
                    write_stderr(header.as_bytes())
                        .and_then(|()| write_kept(&mut io::stderr().lock(), group.stderr))
                });
            if let Err(error) = written {
                output.failed(error);
                return output.end_status();
            }
        }
    }
    for line in summary(&reports) {
        note!("client: {line}");
    }
    overall_status(reports.iter().map(|r| r.outcome.status()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ErrorCode, ErrorFrame, Exit, Termination};

    fn exited(code: i32) -> Outcome {
        Outcome::Done(Completion::Exited(Exit {
            termination: Termination::Code(code),
            timed_out: false,
            runtime_us: 0,
        }))
    }

    fn report(addr: &str, outcome: Outcome, stdout: &[u8]) -> HostReport {
        HostReport {
            addr: addr.into(),
            outcome,
            stdout: Kept::from(stdout),
            stderr: Kept::default(),
        }
    }

    #[test]
    fn prefixer_never_emits_a_partial_line_before_its_end() {
        let mut lines = LinePrefixer::new("a:1");
        let mut out = Vec::new();
        for byte in b"hello wor" {
            lines.feed(&[*byte], &mut out);
        }
        assert!(out.is_empty());
        lines.feed(b"ld\n", &mut out);
        assert_eq!(out, b"a:1: hello world\n");
    }

    #[test]
    fn prefixer_keeps_empty_lines_and_binary_bytes() {
        let mut lines = LinePrefixer::new("a:1");
        let mut out = Vec::new();
        lines.feed(b"\n\xff\x00\n", &mut out);
        assert_eq!(out, b"a:1: \na:1: \xff\x00\n");
    }

    #[test]
    fn prefixer_cuts_overlong_lines_to_bound_memory() {
        let mut lines = LinePrefixer::new("a:1");
        let mut out = Vec::new();
        lines.feed(&vec![b'x'; MAX_LINE + 10], &mut out);
        assert_eq!(out.len(), "a:1: ".len() + MAX_LINE + 1);
        let mut tail = Vec::new();
        lines.finish(&mut tail);
        assert_eq!(tail, [&b"a:1: "[..], &[b'x'; 10], b"\n"].concat());
    }

    #[test]
    fn finish_without_pending_bytes_adds_nothing() {
        let mut lines = LinePrefixer::new("a:1");
        let mut out = Vec::new();
        lines.feed(b"done\n", &mut out);
        out.clear();
        lines.finish(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn group_merges_hosts_with_the_same_status_and_output() {
        let reports = vec![
            report("h:1", exited(0), b"Linux\n"),
            report("h:2", exited(0), b"Linux\n"),
            report("h:3", exited(0), b"BSD\n"),
            report("h:4", exited(1), b"Linux\n"),
            report("h:5", exited(0), b"Linux\n"),
        ];
        let groups = group(&reports);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].hosts, ["h:1", "h:2", "h:5"]);
        assert_eq!(
            groups[0].header(),
            format!("{RULE}\nh:[1-2,5] (exit 0)\n{RULE}\n")
        );
        assert_eq!(groups[1].hosts, ["h:3"]);
        assert_eq!(groups[2].label, "exit 1");
    }

    #[test]
    fn unreachable_hosts_are_not_a_group_but_are_in_the_summary() {
        let reports = vec![
            report("h:1", exited(0), b""),
            report(
                "h:2",
                Outcome::Unreachable(SessionError::new("h:2", Cause::Refused)),
                b"",
            ),
            report("h:3", exited(3), b""),
            report(
                "h:4",
                Outcome::Done(Completion::NotRun(ErrorFrame::new(
                    ErrorCode::SpawnFailed,
                    "fork",
                ))),
                b"",
            ),
        ];
        assert_eq!(group(&reports).len(), 3);
        assert_eq!(
            summary(&reports),
            [
                "4 hosts: 1 ok, 3 failed",
                "  unreachable (connection refused): h:2",
                "  exit 3: h:3",
                "  not run (fork): h:4",
            ]
        );
        let status = overall_status(reports.iter().map(|r| r.outcome.status()));
        assert_eq!(status, 255);
    }

    #[test]
    fn all_ok_means_no_summary() {
        let reports = vec![report("h:1", exited(0), b"x")];
        assert!(summary(&reports).is_empty());
    }
}
