//! One running command: its process group, its pipes, its pidfd, its clock.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mio::unix::pipe::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use protocol::{Exec, Termination};

use crate::sys;

/// Token kinds: the low bits of a token say which source of a connection
/// fired; the high bits name the connection.
pub mod kind {
    /// The client's socket.
    pub const SOCKET: usize = 0;
    /// The command's stdout pipe.
    pub const STDOUT: usize = 1;
    /// The command's stderr pipe.
    pub const STDERR: usize = 2;
    /// The command's stdin pipe.
    pub const STDIN: usize = 3;
    /// The command's pidfd.
    pub const PIDFD: usize = 4;
    /// Bits a kind takes in a token.
    pub const BITS: u32 = 3;
}

/// The token for source `kind` of connection `id`.
pub fn token(id: u64, kind: usize) -> Token {
    // Connection ids are allocated from 1 upwards and never reach 2^61.
    Token(((id as usize) << kind::BITS) | kind)
}

/// Size asked of the kernel for an output pipe once it has filled a whole
/// read: a command that streams gets fewer wake-ups, and one that prints a
/// line keeps the default 64 KiB. Asking only then saves two `fcntl` calls
/// per command, and spares the per-user pipe quota
/// (`fs.pipe-user-pages-soft`, past which an unprivileged user's new pipes
/// shrink to two pages) from commands that never need it.
pub const PIPE_SIZE: i32 = 256 * 1024;

/// Without a pidfd, check for a child's exit this often.
pub const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A child's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What one read from an output pipe gave.
pub enum ReadOutcome {
    /// This many bytes, now at the front of the buffer passed in.
    Data(usize),
    /// Nothing now; wait for readiness.
    WouldBlock,
    /// The pipe is closed: every writer has exited or closed it.
    Eof,
}

/// A running command.
pub struct Job {
    child: Child,
    pgid: u32,
    stdout: Option<Receiver>,
    stderr: Option<Receiver>,
    stdin: Option<Sender>,
    pidfd: Option<OwnedFd>,
    /// Set once the process has been reaped.
    pub status: Option<ExitStatus>,
    /// When it started.
    pub started: Instant,
    /// When it was reaped.
    pub exited_at: Option<Instant>,
    /// When its time limit runs out.
    pub deadline: Option<Instant>,
    /// When SIGKILL follows the SIGTERM of a time-out.
    pub kill_at: Option<Instant>,
    /// Whether the time limit ended it.
    pub timed_out: bool,
    /// Readiness flags: set by events, cleared by `WouldBlock`.
    pub stdout_ready: bool,
    /// See `stdout_ready`.
    pub stderr_ready: bool,
    /// See `stdout_ready`.
    pub stdin_ready: bool,
    /// Whether the stdout and stderr pipes were grown to [`PIPE_SIZE`].
    grown: [bool; 2],
    /// Set by a pidfd event (or always, without a pidfd).
    pub exit_ready: bool,
    /// Without a pidfd: when to check for the exit next.
    pub next_exit_poll: Option<Instant>,
    /// Output bytes produced so far.
    pub bytes_out: u64,
}

impl Job {
    /// Starts `SHELL -c COMMAND` in a new process group with piped output,
    /// and registers its pipes and pidfd with the event loop.
    pub fn spawn(
        shell: &std::path::Path,
        exec: &Exec,
        registry: &Registry,
        conn_id: u64,
    ) -> io::Result<Job> {
        if exec.command.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the command holds a NUL byte, which no program argument can",
            ));
        }
        let mut command = Command::new(shell);
        command.arg("-c");
        if exec.command.starts_with(b"-") {
            // `sh -c -x` would read the command as an option: end the
            // options first. Other commands keep the plain `SHELL -c COMMAND`.
            command.arg("--");
        }
        command
            .arg(OsStr::from_bytes(&exec.command))
            .process_group(0)
            .stdin(if exec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cwd) = &exec.cwd {
            command.current_dir(OsStr::from_bytes(cwd));
        }
        for (key, value) in &exec.env {
            // `K=V` is how the environment is stored: a name holding `=`
            // (or none at all) would silently become another variable.
            if key.is_empty() || key.contains(&b'=') || key.contains(&0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "invalid environment variable name {:?}",
                        String::from_utf8_lossy(key)
                    ),
                ));
            }
            if value.contains(&0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "environment variable {} holds a NUL byte, which no value can",
                        String::from_utf8_lossy(key)
                    ),
                ));
            }
            command.env(OsStr::from_bytes(key), OsStr::from_bytes(value));
        }
        let mut child = command.spawn().map_err(|e| spawn_error(e, shell, exec))?;
        let pid = child.id();
        // Only our ends of the pipes become non-blocking: the child keeps
        // its own blocking descriptors, as programs expect.
        let stdout = child.stdout.take().map(Receiver::from);
        let stderr = child.stderr.take().map(Receiver::from);
        let stdin = child.stdin.take().map(Sender::from);
        let mut job = Job {
            child,
            pgid: pid,
            stdout,
            stderr,
            stdin,
            pidfd: sys::pidfd_open(pid),
            status: None,
            started: Instant::now(),
            exited_at: None,
            deadline: None,
            kill_at: None,
            timed_out: false,
            // Registering a descriptor reports its current readiness, so
            // nothing needs trying before the first event arrives.
            stdout_ready: false,
            stderr_ready: false,
            grown: [false; 2],
            stdin_ready: false,
            exit_ready: false,
            next_exit_poll: None,
            bytes_out: 0,
        };
        if job.pidfd.is_none() {
            job.poll_for_exit();
        }
        if let Err(e) = job.register(registry, conn_id) {
            job.kill(libc::SIGKILL);
            let _ = job.child.wait();
            return Err(e);
        }
        Ok(job)
    }

    fn register(&mut self, registry: &Registry, id: u64) -> io::Result<()> {
        for (pipe, k) in [
            (&mut self.stdout, kind::STDOUT),
            (&mut self.stderr, kind::STDERR),
        ] {
            if let Some(pipe) = pipe {
                pipe.set_nonblocking(true)?;
                registry.register(pipe, token(id, k), Interest::READABLE)?;
            }
        }
        if let Some(pipe) = &mut self.stdin {
            pipe.set_nonblocking(true)?;
            registry.register(pipe, token(id, kind::STDIN), Interest::WRITABLE)?;
        }
        if let Some(fd) = &self.pidfd {
            registry.register(
                &mut SourceFd(&fd.as_raw_fd()),
                token(id, kind::PIDFD),
                Interest::READABLE,
            )?;
        }
        Ok(())
    }

    /// The process id, which is also the process group id.
    pub fn pid(&self) -> u32 {
        self.pgid
    }

    /// Without a pidfd the exit is polled for, from the start and then
    /// every [`EXIT_POLL_INTERVAL`].
    fn poll_for_exit(&mut self) {
        self.exit_ready = true;
        self.next_exit_poll = Some(Instant::now() + EXIT_POLL_INTERVAL);
    }

    /// Forgets the pidfd, as on a kernel without `pidfd_open`.
    #[cfg(test)]
    pub fn forget_pidfd(&mut self) {
        self.pidfd = None;
        self.poll_for_exit();
    }

    /// The exit poll is due (no pidfd): try once more now, and again one
    /// interval later.
    pub fn exit_poll_due(&mut self, now: Instant) {
        if self.next_exit_poll.is_some_and(|t| now >= t) {
            self.exit_ready = true;
            self.next_exit_poll = Some(now + EXIT_POLL_INTERVAL);
        }
    }

    /// Whether exit is noticed by a pidfd (otherwise by polling).
    pub fn has_pidfd(&self) -> bool {
        self.pidfd.is_some()
    }

    /// Sends `signal` to the command's whole process group. Errors (the group
    /// is already gone) are harmless and ignored.
    pub fn kill(&self, signal: i32) {
        let _ = sys::kill_group(self.pgid, signal);
    }

    /// The time limit has passed: unless the command has already exited,
    /// SIGTERM its group and arm the SIGKILL that follows `grace` later.
    /// True if it timed out. An exit already due (its event waiting in the
    /// same loop turn as the deadline) is reaped here instead, so it is not
    /// reported as a time-out.
    pub fn time_out(&mut self, now: Instant, grace: Duration) -> bool {
        self.deadline = None;
        if self.poll_exit(now) {
            return false;
        }
        self.timed_out = true;
        self.kill(libc::SIGTERM);
        self.kill_at = Some(now + grace);
        true
    }

    /// Reaps the process if it has exited, without blocking. True once
    /// reaped.
    pub fn poll_exit(&mut self, now: Instant) -> bool {
        if self.status.is_some() {
            return true;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                // The loop's turn time may predate the spawn: read the clock.
                self.exited_at = Some(now.max(Instant::now()));
                // Nobody will read stdin any more.
                self.stdin = None;
                self.pidfd = None;
                true
            }
            Ok(None) => {
                if self.has_pidfd() {
                    self.exit_ready = false;
                }
                false
            }
            Err(e) => {
                log::error!("waiting for pid {}: {e}", self.pgid);
                false
            }
        }
    }

    /// Whether both output pipes have reached end of file.
    pub fn output_closed(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none()
    }

    /// Whether the given output pipe may have data.
    pub fn is_ready(&self, stream: Stream) -> bool {
        match stream {
            Stream::Stdout => self.stdout_ready && self.stdout.is_some(),
            Stream::Stderr => self.stderr_ready && self.stderr.is_some(),
        }
    }

    /// Whether the given output pipe is still open (not at end of file).
    pub fn is_open(&self, stream: Stream) -> bool {
        match stream {
            Stream::Stdout => self.stdout.is_some(),
            Stream::Stderr => self.stderr.is_some(),
        }
    }

    /// Reads once from an output pipe into `buf`.
    pub fn read_output(&mut self, stream: Stream, buf: &mut [u8]) -> ReadOutcome {
        let (pipe, ready) = match stream {
            Stream::Stdout => (&mut self.stdout, &mut self.stdout_ready),
            Stream::Stderr => (&mut self.stderr, &mut self.stderr_ready),
        };
        let Some(reader) = pipe else {
            return ReadOutcome::Eof;
        };
        loop {
            match reader.read(buf) {
                // Every writer closed the pipe: the output is complete.
                Ok(0) => {
                    *pipe = None;
                    return ReadOutcome::Eof;
                }
                Ok(n) => {
                    let grown = &mut self.grown[stream as usize];
                    if n == buf.len() && !*grown {
                        sys::grow_pipe(reader.as_raw_fd(), PIPE_SIZE);
                        *grown = true;
                    }
                    return ReadOutcome::Data(n);
                }
                // Drained: the next readiness event says when to read again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *ready = false;
                    return ReadOutcome::WouldBlock;
                }
                // A signal arrived mid-read: nothing was read, try again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Anything else leaves the pipe unusable: treat as closed.
                Err(e) => {
                    log::warn!("reading {stream:?} of pid {}: {e}", self.pgid);
                    *pipe = None;
                    return ReadOutcome::Eof;
                }
            }
        }
    }

    /// Closes both output pipes (after the linger: a background process
    /// still holds them).
    pub fn close_output(&mut self) {
        self.stdout = None;
        self.stderr = None;
    }

    /// Whether the command's stdin pipe is still open.
    pub fn stdin_open(&self) -> bool {
        self.stdin.is_some()
    }

    /// Writes as much of `data` to stdin as the pipe takes; returns how much.
    /// A closed pipe (the command stopped reading) drops stdin: `Err`.
    pub fn write_stdin(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(pipe) = &mut self.stdin else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let mut written = 0;
        while written < data.len() {
            match pipe.write(&data[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stdin_ready = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.stdin = None;
                    return Err(e);
                }
            }
        }
        Ok(written)
    }

    /// Closes stdin: the command reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// How the command ended, for the `Exit` frame.
    pub fn termination(&self) -> Termination {
        match self.status {
            Some(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Termination::Code(code),
                (None, Some(signal)) => Termination::Signal(signal),
                (None, None) => Termination::Code(-1),
            },
            None => Termination::Code(-1),
        }
    }

    /// Microseconds from start to exit (or to now, if still running).
    pub fn runtime_us(&self, now: Instant) -> u64 {
        let end = self.exited_at.unwrap_or(now);
        u64::try_from(end.duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }
}

/// Says what could not be used: the working directory, or the shell (std's
/// error alone reads the same for both).
fn spawn_error(e: io::Error, shell: &std::path::Path, exec: &Exec) -> io::Error {
    if e.raw_os_error() == Some(libc::E2BIG) {
        // The frame may hold far more than one argument may.
        let env: usize = exec.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        return io::Error::new(
            e.kind(),
            format!(
                "the command ({} bytes) or its environment ({env} bytes) is over the kernel's \
                 limit for a new program's arguments (128 KiB for any one of them; send a long \
                 script as stdin instead): {e}",
                exec.command.len()
            ),
        );
    }
    let what = match &exec.cwd {
        Some(cwd) if !std::path::Path::new(OsStr::from_bytes(cwd)).is_dir() => {
            format!("working directory {}", String::from_utf8_lossy(cwd))
        }
        _ if matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
        ) =>
        {
            format!("shell {}", shell.display())
        }
        // Out of descriptors or processes: nothing to name.
        _ => return e,
    };
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Drop for Job {
    fn drop(&mut self) {
        // A job is dropped only once reaped, except when the server itself
        // stops: then make sure nothing of it outlives us.
        if self.status.is_none() {
            self.kill(libc::SIGKILL);
            let _ = self.child.try_wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::path::Path;

    /// Waits, on the loop's own readiness events, until the pidfd says the
    /// command has exited (bounded).
    fn wait_for_exit_event(poll: &mut Poll) {
        let mut events = Events::with_capacity(8);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            if events.iter().any(|e| e.token() == token(1, kind::PIDFD)) {
                return;
            }
        }
        panic!("no exit event");
    }

    #[test]
    fn a_command_over_the_kernels_argument_limit_is_explained() {
        let poll = Poll::new().unwrap();
        let long = format!("true {}", "x".repeat(200 * 1024));
        let Err(e) = Job::spawn(Path::new("/bin/sh"), &Exec::new(long), poll.registry(), 1) else {
            panic!("a 200 KiB argument was accepted");
        };
        let message = e.to_string();
        assert!(message.contains("204805 bytes"), "{message}");
        assert!(message.contains("128 KiB"), "{message}");
    }

    #[test]
    fn a_nul_byte_in_the_command_or_a_value_is_named() {
        let poll = Poll::new().unwrap();
        let sh = Path::new("/bin/sh");
        let Err(e) = Job::spawn(sh, &Exec::new("echo a\0b"), poll.registry(), 1) else {
            panic!("a NUL in the command was accepted");
        };
        assert!(e.to_string().contains("command holds a NUL"), "{e}");
        let exec = Exec {
            env: vec![("NAME".into(), "a\0b".into())],
            ..Exec::new("true")
        };
        let Err(e) = Job::spawn(sh, &exec, poll.registry(), 1) else {
            panic!("a NUL in a value was accepted");
        };
        assert!(e.to_string().contains("NAME holds a NUL"), "{e}");
    }

    #[test]
    fn an_exit_due_in_the_same_turn_as_the_deadline_is_not_a_time_out() {
        let mut poll = Poll::new().unwrap();
        let mut job = Job::spawn(
            Path::new("/bin/sh"),
            &Exec::new("exit 3"),
            poll.registry(),
            1,
        )
        .unwrap();
        assert!(job.has_pidfd(), "this test needs pidfd (Linux 5.3+)");
        wait_for_exit_event(&mut poll);
        // The deadline fires before the exit event is handled.
        assert!(!job.time_out(Instant::now(), Duration::from_secs(1)));
        assert!(!job.timed_out);
        assert_eq!(job.termination(), Termination::Code(3));
        assert_eq!(job.kill_at, None);
    }

    #[test]
    fn a_command_still_running_at_the_deadline_is_terminated() {
        let mut poll = Poll::new().unwrap();
        let mut job = Job::spawn(
            Path::new("/bin/sh"),
            &Exec::new("sleep 30"),
            poll.registry(),
            1,
        )
        .unwrap();
        let now = Instant::now();
        assert!(job.time_out(now, Duration::from_secs(1)));
        assert!(job.timed_out);
        assert_eq!(job.kill_at, Some(now + Duration::from_secs(1)));
        wait_for_exit_event(&mut poll);
        assert!(job.poll_exit(Instant::now()));
        assert_eq!(job.termination(), Termination::Signal(libc::SIGTERM));
    }
}
