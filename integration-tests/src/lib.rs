//! The harness the end-to-end tests stand on: run the workspace's real
//! binaries, built by cargo, against each other over loopback.
//!
//! # Design
//!
//! * [`bin_path`] asks cargo (the same `cargo` that runs the tests, from the
//!   `CARGO` variable) to build the binary once per test process, then
//!   returns its path in the same target directory and profile as the
//!   running test. A plain `cargo test --workspace` has built them
//!   already, so that call is a no-op; `cargo test -p integration-tests`
//!   alone still works.
//! * [`Daemon`] starts a server on port 0 and learns its real address from its
//!   `listening on ADDR` line on stderr: a readiness signal, so no test
//!   sleeps while waiting for a server. A thread keeps draining stderr after
//!   that so a chatty daemon never blocks on a full pipe. Dropping a
//!   [`Daemon`] kills and reaps it.
//! * [`require_program`] lets a test that needs an outside program (socat,
//!   python3) say plainly that it skipped when the program is absent; CI
//!   installs them, so CI never skips.
//!
//! Dependencies: `protocol` for the wire format in raw-socket tests, `libc`
//! for `kill(2)` on process groups the tests must check.
#![deny(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a daemon may take to print its `listening on` line before the
/// test fails instead of hanging.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The marker a daemon prints once bound, followed by the address.
pub const LISTENING_PREFIX: &str = "listening on ";

/// The directory holding the binaries of the profile the tests run under:
/// the test executable lives in `<target>/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps directory");
    deps.parent().expect("profile directory").to_path_buf()
}

/// Builds the binary `name` (of the package of the same name) once per
/// test process.
fn build_binary(name: &str) {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|b| b == name) {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir = profile_dir();
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", name, "--bin", name]);
    if dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p {name} failed");
    built.push(name.to_string());
}

/// The path of the workspace binary `name` (`server`, `client`, `udp-echo`,
/// `subnet-calc`), built by cargo on first use.
pub fn bin_path(name: &str) -> PathBuf {
    build_binary(name);
    let path = profile_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A [`Command`] for the workspace binary `name`.
pub fn bin(name: &str) -> Command {
    Command::new(bin_path(name))
}

/// The `client` binary pointed at `addr` (`--connect ADDR`).
pub fn client_to(addr: impl ToString) -> Command {
    let mut cmd = bin("client");
    cmd.arg("--connect").arg(addr.to_string());
    cmd
}

/// Output bytes as text, invalid UTF-8 replaced, for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `program` can be found on `PATH`; prints a clear `SKIPPED` line
/// when it cannot, so the caller can `return` early.
pub fn require_program(program: &str) -> bool {
    let found = program_on_path(program).is_some();
    if !found {
        eprintln!(
            "SKIPPED: `{program}` not found on PATH; install it to run this test (.ci/run does)"
        );
    }
    found
}

/// The full path of `program` on `PATH`, if any.
pub fn program_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A running server process, killed and reaped on drop.
pub struct Daemon {
    child: Child,
    addrs: Vec<SocketAddr>,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts workspace binary `name` with `args` and waits for its first
    /// `listening on ADDR` line.
    pub fn start(name: &str, args: &[&str]) -> Daemon {
        Daemon::start_n(name, args, 1)
    }

    /// Starts workspace binary `name` with `args` and waits for `n`
    /// `listening on ADDR` lines (one per listening socket).
    pub fn start_n(name: &str, args: &[&str], n: usize) -> Daemon {
        let mut cmd = bin(name);
        cmd.args(args);
        Daemon::spawn(cmd, n)
    }

    /// Spawns a prepared command (any program that prints `listening on ADDR`
    /// on stderr) and waits for `n` such lines. Stdin is `/dev/null` and
    /// stdout is discarded unless the command set them already.
    pub fn spawn(mut cmd: Command, n: usize) -> Daemon {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn daemon");
        let pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line);
                log.lock().expect("stderr log").push_str(&text);
                if let Some(rest) = text.trim_end().strip_prefix(LISTENING_PREFIX) {
                    if let Ok(addr) = rest.trim().parse::<SocketAddr>() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let mut addrs = Vec::with_capacity(n);
        let mut daemon = Daemon {
            child,
            addrs: Vec::new(),
            stderr,
        };
        for _ in 0..n {
            match rx.recv_timeout(STARTUP_TIMEOUT) {
                Ok(addr) => addrs.push(addr),
                Err(_) => {
                    let status = daemon.child.try_wait().ok().flatten();
                    panic!(
                        "daemon printed no `listening on` line (exit: {status:?}); stderr:\n{}",
                        daemon.stderr_text()
                    );
                }
            }
        }
        daemon.addrs = addrs;
        daemon
    }

    /// The first listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every listening address, in the order printed.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon has written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr log").clone()
    }

    /// Waits (bounded by `limit`) until the daemon's stderr contains
    /// `needle`: its log is the readiness signal for what it did. Panics with
    /// the log if it never does.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while !self.stderr_text().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} in the log within {limit:?}:\n{}",
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// Waits up to `limit` for the daemon to exit by itself.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        wait_timeout(&mut self.child, limit)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `child` until it exits or `limit` passes; `None` on time-out.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` to completion with `input` on its stdin and its stdout and
/// stderr captured; kills it and panics if it takes longer than `limit`.
/// stdin is written and both outputs read on threads of their own, so a
/// large input cannot deadlock against a full output pipe.
pub fn run_with_input(mut cmd: Command, input: &[u8], limit: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the program under test");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = thread::spawn(move || {
        // The program may exit before reading everything; that is its right.
        let _ = stdin.write_all(&input);
    });
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let Some(status) = wait_timeout(&mut child, limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} did not finish within {limit:?}");
    };
    let _ = feeder.join();
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Reads `pipe` to its end on a thread of its own.
pub fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Whether a process with this id still exists (and is not a zombie we
/// could reap: a zombie still counts as existing).
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}
