//! The server, end to end: the real binary on 127.0.0.1, driven by a raw
//! protocol client so every frame can be checked.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{process_exists, require_program, Daemon};
use protocol::handshake::{ClientHandshake, ClientStep, HandshakeError};
use protocol::io::{write_frame, FrameReader};
use protocol::{ErrorCode, Exec, Exit, Frame, Signal, Termination};

/// Bound on any single wait in these tests, so a bug fails instead of hangs.
const LIMIT: Duration = Duration::from_secs(30);

fn start(args: &[&str]) -> Daemon {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    Daemon::start("server", &all)
}

/// A client that speaks frames directly.
struct Raw {
    writer: TcpStream,
    reader: FrameReader<TcpStream>,
}

impl Raw {
    fn connect_plain(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let reader = FrameReader::new(stream.try_clone().unwrap());
        Raw {
            writer: stream,
            reader,
        }
    }

    fn connect(addr: SocketAddr) -> Raw {
        Raw::connect_with(addr, None).expect("handshake")
    }

    fn connect_with(addr: SocketAddr, token: Option<&[u8]>) -> Result<Raw, HandshakeError> {
        let mut raw = Raw::connect_plain(addr);
        let (mut hs, hello) = ClientHandshake::new(token.map(<[u8]>::to_vec));
        raw.send(&hello);
        loop {
            let frame = raw.next().expect("a handshake reply");
            match hs.receive(frame)? {
                ClientStep::Send(frame) => raw.send(&frame),
                ClientStep::Done { .. } => return Ok(raw),
            }
        }
    }

    fn send(&mut self, frame: &Frame) {
        write_frame(&mut self.writer, frame).expect("send frame");
    }

    /// The next frame other than a liveness `Ping`.
    fn next(&mut self) -> Option<Frame> {
        loop {
            match self.reader.read_frame().expect("read frame") {
                Some(Frame::Ping(_)) => continue,
                other => return other,
            }
        }
    }

    fn exec(&mut self, command: &str) {
        self.send(&Frame::Exec(Exec::new(command.to_string())));
    }

    /// Reads one command's answer: its output and its exit.
    fn collect(&mut self) -> Outcome {
        let mut out = Outcome::default();
        loop {
            match self.next() {
                Some(Frame::Stdout(d)) => {
                    out.stdout.extend_from_slice(&d);
                    out.events.push((Instant::now(), d.to_vec()));
                }
                Some(Frame::Stderr(d)) => out.stderr.extend_from_slice(&d),
                Some(Frame::Exit(exit)) => {
                    out.exit = Some(exit);
                    return out;
                }
                Some(Frame::Error(e)) => {
                    out.error = Some((e.code, e.message_lossy().into_owned()));
                    return out;
                }
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    fn run(&mut self, command: &str) -> Outcome {
        self.exec(command);
        self.collect()
    }
}

#[derive(Default)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    events: Vec<(Instant, Vec<u8>)>,
    exit: Option<Exit>,
    error: Option<(ErrorCode, String)>,
}

impl Outcome {
    fn termination(&self) -> Termination {
        self.exit.expect("an Exit frame").termination
    }
}

#[test]
fn prints_listening_line_with_real_port() {
    let server = start(&[]);
    assert_ne!(server.addr().port(), 0);
    assert!(server.stderr_text().contains("listening on 127.0.0.1:"));
}

#[test]
fn output_is_streamed_as_produced() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let out = c.run("echo a; sleep 0.6; echo b");
    assert_eq!(out.stdout, b"a\nb\n");
    assert_eq!(out.events.len(), 2, "two separate writes, two frames");
    let gap = out.events[1].0 - out.events[0].0;
    assert!(
        gap >= Duration::from_millis(400),
        "a came only {gap:?} before b"
    );
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let out = c.run("echo out; echo err >&2; echo out2");
    assert_eq!(out.stdout, b"out\nout2\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.termination(), Termination::Code(0));
}

#[test]
fn exit_codes_are_reported() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    assert_eq!(c.run("true").termination(), Termination::Code(0));
    assert_eq!(c.run("exit 3").termination(), Termination::Code(3));
    assert_eq!(c.run("kill -9 $$").termination(), Termination::Signal(9));
    let missing = c.run("no_such_command_xyz_42");
    assert_eq!(missing.termination(), Termination::Code(127));
    assert!(!missing.stderr.is_empty(), "the shell says what is missing");
}

#[test]
fn a_command_that_prints_little_keeps_the_default_pipe_size() {
    if !require_program("python3") {
        return;
    }
    // The server grows a pipe only once a read fills its buffer; a short
    // answer leaves the per-user pipe quota alone. F_GETPIPE_SZ is 1032.
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let out = c.run("echo hi; python3 -c 'import fcntl; print(fcntl.fcntl(1, 1032))'");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let size: usize = text
        .strip_prefix("hi\n")
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {text:?}"));
    // The system default (64 KiB with 4 KiB pages), not the server's 256 KiB.
    assert!(size < 256 * 1024, "pipe was grown to {size} bytes");
}

#[test]
fn a_command_starting_with_a_dash_is_run_not_read_as_a_shell_option() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    // `sh -c -x` would fail with "-c requires an argument".
    let out = c.run("-x");
    assert_eq!(
        out.termination(),
        Termination::Code(127),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.run("-x 2>/dev/null; echo ran").stdout, b"ran\n");
}

#[test]
fn empty_output_gives_only_an_exit() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let out = c.run("true");
    assert!(out.stdout.is_empty() && out.stderr.is_empty() && out.events.is_empty());
    assert!(out.exit.unwrap().runtime_us > 0);
}

#[test]
fn a_hundred_megabytes_arrive_intact() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 100000000 /dev/urandom > {}",
            file.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let expected = std::fs::read(&file).unwrap();
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let out = c.run(&format!("cat {}", file.display()));
    assert_eq!(out.termination(), Termination::Code(0));
    assert_eq!(out.stdout.len(), expected.len());
    assert!(out.stdout == expected, "100 MB of output differ");
}

#[test]
fn a_single_one_mebibyte_line_arrives_whole() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let out = c.run("head -c 1048576 /dev/zero | tr '\\0' x; echo");
    assert_eq!(out.stdout.len(), 1_048_577);
    assert!(out.stdout[..1_048_576].iter().all(|&b| b == b'x'));
    assert_eq!(out.stdout.last(), Some(&b'\n'));
}

#[test]
fn stdin_is_forwarded_and_its_end_passed_on() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        stdin: true,
        ..Exec::new("wc -c")
    }));
    c.send(&Frame::Stdin("abc".into()));
    c.send(&Frame::Stdin(vec![0u8; 1000].into()));
    c.send(&Frame::StdinEof);
    let out = c.collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1003");
}

#[test]
fn the_next_exec_ends_the_stdin_of_the_one_before_it() {
    // Stdin frames go to the latest Exec, so once another Exec comes, the
    // first can get no more stdin, nor its StdinEof: it used to wait for
    // them forever, and the second behind it.
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        stdin: true,
        ..Exec::new("wc -c")
    }));
    c.send(&Frame::Stdin("abc".into()));
    c.exec("echo second");
    let first = c.collect();
    assert_eq!(String::from_utf8_lossy(&first.stdout).trim(), "3");
    assert_eq!(first.termination(), Termination::Code(0));
    assert_eq!(c.collect().stdout, b"second\n");
}

#[test]
fn stdin_that_arrives_after_its_command_ended_is_let_go() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        stdin: true,
        ..Exec::new("true")
    }));
    assert_eq!(c.collect().termination(), Termination::Code(0));
    // The client could not know `true` would not wait for its stdin.
    c.send(&Frame::Stdin("late".into()));
    c.send(&Frame::StdinEof);
    assert_eq!(c.run("echo next").stdout, b"next\n");
    // Stdin for an Exec that never asked for it is still an error.
    c.send(&Frame::Stdin("stray".into()));
    let out = c.collect();
    assert_eq!(
        out.error.map(|(code, _)| code),
        Some(ErrorCode::UnexpectedFrame)
    );
}

#[test]
fn signal_frame_cancels_the_command() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    // The trap is set before "started" is printed, so the signal cannot
    // race the shell's start-up.
    c.exec("trap 'echo caught; exit 7' INT; echo started; while :; do sleep 0.1; done");
    assert_eq!(c.next(), Some(Frame::Stdout("started\n".into())));
    let sent = Instant::now();
    c.send(&Frame::Signal(Signal { signal: 2 }));
    let out = c.collect();
    assert_eq!(out.stdout, b"caught\n");
    assert_eq!(out.termination(), Termination::Code(7));
    assert!(sent.elapsed() < Duration::from_secs(10));
}

#[test]
fn signal_reaches_the_running_command_and_cancels_those_queued_behind_it() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let mut batch = bytes::BytesMut::new();
    for command in [
        "trap 'echo caught; exit 7' INT; echo started; while :; do sleep 0.1; done",
        "echo second",
        "echo third",
    ] {
        Frame::Exec(Exec::new(command)).encode(&mut batch).unwrap();
    }
    c.writer.write_all(&batch).unwrap();
    assert_eq!(c.next(), Some(Frame::Stdout("started\n".into())));
    c.send(&Frame::Signal(Signal { signal: 2 }));
    let first = c.collect();
    assert_eq!(first.stdout, b"caught\n");
    assert_eq!(first.termination(), Termination::Code(7));
    for _ in 0..2 {
        let queued = c.collect();
        assert_eq!(queued.stdout, b"", "a cancelled command must not run");
        let exit = queued.exit.expect("an Exit for the cancelled command");
        assert_eq!(
            (exit.termination, exit.runtime_us),
            (Termination::Signal(2), 0)
        );
    }
    // The connection goes on, and a later command is not affected.
    assert_eq!(c.run("echo after").stdout, b"after\n");
}

#[test]
fn a_signal_that_ends_no_process_cancels_no_queued_command() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let mut batch = bytes::BytesMut::new();
    for command in ["echo started; sleep 0.5", "echo second"] {
        Frame::Exec(Exec::new(command)).encode(&mut batch).unwrap();
    }
    c.writer.write_all(&batch).unwrap();
    assert_eq!(c.next(), Some(Frame::Stdout("started\n".into())));
    // A window resize, then a continue: the running command shrugs both
    // off, and the queued one still runs.
    c.send(&Frame::Signal(Signal {
        signal: libc::SIGWINCH as u8,
    }));
    c.send(&Frame::Signal(Signal {
        signal: libc::SIGCONT as u8,
    }));
    assert_eq!(c.collect().termination(), Termination::Code(0));
    let second = c.collect();
    assert_eq!(second.stdout, b"second\n");
    assert_eq!(second.termination(), Termination::Code(0));
}

#[test]
fn timeout_kills_and_keeps_partial_output() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        timeout_ms: Some(500),
        ..Exec::new("echo partial; sleep 30")
    }));
    let out = c.collect();
    let exit = out.exit.unwrap();
    assert!(exit.timed_out);
    assert_eq!(out.stdout, b"partial\n");
    assert!(matches!(exit.termination, Termination::Signal(15)));
    assert!(exit.runtime_us < 10_000_000);
}

#[test]
fn a_timed_out_groups_survivor_gets_its_sigkill_after_the_shell_is_reaped() {
    // The shell dies of the SIGTERM; a background process that ignores it
    // holds the output. The SIGKILL a grace later must still reach it (the
    // linger is long here, so only that kill ends the wait early).
    let server = start(&["--linger-ms", "20000"]);
    let mut c = Raw::connect(server.addr());
    let t = Instant::now();
    c.send(&Frame::Exec(Exec {
        timeout_ms: Some(200),
        ..Exec::new("(trap '' TERM; sleep 30) & sleep 30")
    }));
    let exit = c.collect().exit.expect("an Exit");
    assert!(exit.timed_out);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the Exit took {:?}: the survivor was never killed",
        t.elapsed()
    );
}

#[test]
fn server_default_timeout_applies() {
    let server = start(&["--timeout", "1"]);
    let mut c = Raw::connect(server.addr());
    let exit = c.run("sleep 30").exit.unwrap();
    assert!(exit.timed_out);
}

#[test]
fn client_gone_mid_command_kills_the_whole_group() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.exec("sleep 60 & echo $$ $!; wait");
    let Some(Frame::Stdout(line)) = c.next() else {
        panic!("expected the pids")
    };
    let pids: Vec<i32> = String::from_utf8_lossy(&line)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| process_exists(p)));
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| process_exists(p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} outlived their client"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server itself is fine.
    let mut c = Raw::connect(server.addr());
    assert_eq!(c.run("echo ok").stdout, b"ok\n");
}

/// Closes `stream` with a reset (SO_LINGER 0), as a client killed hard or a
/// middlebox would.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a `linger` of the size given.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(stream);
}

#[test]
fn a_background_process_is_killed_when_its_client_resets_during_the_linger() {
    // The shell exits at once; its background child holds the output, so
    // the (long) linger runs. The client resets meanwhile: the child must
    // go with it, not outlive everyone as an orphan.
    let server = start(&["--linger-ms", "20000"]);
    let mut c = Raw::connect(server.addr());
    c.exec("sleep 60 & echo $$ $!");
    let Some(Frame::Stdout(line)) = c.next() else {
        panic!("expected the pids")
    };
    let pids: Vec<i32> = String::from_utf8_lossy(&line)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (shell, child) = (pids[0], pids[1]);
    let waiting = Instant::now();
    while process_exists(shell) {
        assert!(waiting.elapsed() < LIMIT, "the shell did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(process_exists(child));
    let Raw { writer, reader } = c;
    drop(reader);
    reset(writer);
    server.wait_for_log("reset by", LIMIT);
    let reset_at = Instant::now();
    while process_exists(child) {
        assert!(
            reset_at.elapsed() < Duration::from_secs(5),
            "pid {child} outlived its client that reset"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.wait_for_log("cmd=\"sleep 60 & echo $$ $!\"", LIMIT);
}

#[test]
fn client_closing_without_reset_mid_command_gets_its_command_killed_promptly() {
    // A plain close (FIN) looks like a half-close at first; the server's
    // probe must tell the difference at once, not one probe interval later.
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.exec("echo $$; sleep 60");
    let Some(Frame::Stdout(line)) = c.next() else {
        panic!("expected the pid")
    };
    let pid: i32 = String::from_utf8_lossy(&line).trim().parse().unwrap();
    c.writer.shutdown(Shutdown::Both).unwrap();
    drop(c);
    let closed = Instant::now();
    while process_exists(pid) {
        assert!(
            closed.elapsed() < Duration::from_millis(1900),
            "pid {pid} still alive {:?} after its client left",
            closed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn background_process_holding_output_gets_a_bounded_linger() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let t = Instant::now();
    let out = c.run("sleep 100 & echo started");
    assert_eq!(out.stdout, b"started\n");
    assert_eq!(out.termination(), Termination::Code(0));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn output_left_in_the_pipe_by_a_slow_reader_is_not_cut_when_the_linger_runs_out() {
    // The client stops reading, so the server stops reading the pipes.
    // The command then ends (its bulk writer killed, a last word written
    // to stderr, which fits in the pipe): the linger runs out while that
    // word waits in the pipe, and it was lost to the hang-up.
    let server = start(&["--linger-ms", "100"]);
    let mut c = Raw::connect(server.addr());
    c.exec("echo $$ >&2; head -c 100000000 /dev/zero & sleep 0.5; kill $!; printf tail >&2");
    let pid: i32 = loop {
        match c.next() {
            Some(Frame::Stdout(_)) => {}
            Some(Frame::Stderr(line)) => {
                break String::from_utf8_lossy(&line).trim().parse().unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    let waiting = Instant::now();
    while process_exists(pid) {
        assert!(waiting.elapsed() < LIMIT, "the shell did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The client stays away well past the 100 ms linger.
    std::thread::sleep(Duration::from_millis(500));
    let out = c.collect();
    assert_eq!(out.stderr, b"tail", "the last word was cut");
    assert_eq!(out.termination(), Termination::Code(0));
}

#[test]
fn half_closed_client_still_gets_everything() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.exec("sleep 0.3; echo done");
    c.writer.shutdown(Shutdown::Write).unwrap();
    let out = c.collect();
    assert_eq!(out.stdout, b"done\n");
    assert_eq!(out.termination(), Termination::Code(0));
    assert_eq!(c.next(), None, "then a clean close");
}

#[test]
fn stdin_sent_together_with_the_half_close_still_reaches_the_command() {
    // The last Stdin, the StdinEof and the FIN often arrive in one read:
    // the frames before the end of the stream are still expected. Several
    // rounds, since the server may also read them apart.
    let server = start(&[]);
    for round in 0..10 {
        let mut c = Raw::connect(server.addr());
        c.send(&Frame::Exec(Exec {
            stdin: true,
            ..Exec::new("cat")
        }));
        c.send(&Frame::Stdin("a".into()));
        assert_eq!(c.next(), Some(Frame::Stdout("a".into())));
        let mut tail = bytes::BytesMut::new();
        Frame::Stdin("b".into()).encode(&mut tail).unwrap();
        Frame::StdinEof.encode(&mut tail).unwrap();
        c.writer.write_all(&tail).unwrap();
        c.writer.shutdown(Shutdown::Write).unwrap();
        let out = c.collect();
        assert_eq!(out.error, None, "round {round}");
        assert_eq!(out.stdout, b"b", "round {round}");
        assert_eq!(out.termination(), Termination::Code(0), "round {round}");
    }
}

#[test]
fn a_client_error_ends_its_stream_and_a_client_that_then_leaves_gets_its_command_killed() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        stdin: true,
        ..Exec::new("echo $$; cat >/dev/null; echo stdin-ended; sleep 60")
    }));
    let Some(Frame::Stdout(line)) = c.next() else {
        panic!("expected the pid")
    };
    let pid: i32 = String::from_utf8_lossy(&line).trim().parse().unwrap();
    // An Error from the client: it closes next, so its stdin is over.
    c.send(&Frame::Error(protocol::ErrorFrame::new(
        ErrorCode::Internal,
        "client bug",
    )));
    assert_eq!(c.next(), Some(Frame::Stdout("stdin-ended\n".into())));
    drop(c);
    let closed = Instant::now();
    while process_exists(pid) {
        assert!(
            closed.elapsed() < Duration::from_secs(10),
            "pid {pid} outlived the client that sent an Error and left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_command_started_after_a_half_close_is_killed_when_the_client_leaves() {
    // The usual half-close comes right after the Exec, before the command
    // starts; and a pipelined command starts after it whatever the timing.
    // Either way only a probe can tell a half-closed client from a gone one.
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.exec("true");
    c.exec("echo $$; sleep 60");
    c.writer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.collect().termination(), Termination::Code(0));
    let Some(Frame::Stdout(line)) = c.next() else {
        panic!("expected the pid")
    };
    let pid: i32 = String::from_utf8_lossy(&line).trim().parse().unwrap();
    assert!(process_exists(pid));
    drop(c);
    let closed = Instant::now();
    while process_exists(pid) {
        assert!(
            closed.elapsed() < Duration::from_secs(10),
            "pid {pid} outlived its half-closed client"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn queued_commands_are_bounded_in_bytes_not_only_in_number() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.exec("echo running; sleep 30");
    assert_eq!(c.next(), Some(Frame::Stdout("running\n".into())));
    let before = rss_kib(server.pid());
    // 48 commands of 512 KiB each, 24 MiB, queued behind the sleep: the
    // server must stop reading long before it holds them all.
    let mut batch = bytes::BytesMut::new();
    for _ in 0..48 {
        Frame::Exec(Exec::new(vec![b'#'; 512 << 10]))
            .encode(&mut batch)
            .unwrap();
    }
    c.writer
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let stalled = c.writer.write_all(&batch).is_err();
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(stalled, "the server read all 24 MiB of queued commands");
    assert!(grown < 12 << 10, "server RSS grew by {grown} KiB");
}

#[test]
fn a_thousand_pipelined_commands_run_in_order() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let mut batch = bytes::BytesMut::new();
    for i in 0..1000 {
        Frame::Exec(Exec::new(format!("echo {i}")))
            .encode(&mut batch)
            .unwrap();
    }
    let mut writer = c.writer.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&batch).unwrap());
    for i in 0..1000 {
        let out = c.collect();
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
        assert_eq!(out.termination(), Termination::Code(0));
    }
    sender.join().unwrap();
}

#[test]
fn two_hundred_concurrent_clients_are_served() {
    let server = start(&[]);
    let addr = server.addr();
    let threads: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(addr);
                let out = c.run(&format!("echo {i}"));
                assert_eq!(out.stdout, format!("{i}\n").as_bytes());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Sends raw bytes after a good handshake and expects an `Error` and a
/// close, while another client is served meanwhile.
fn expect_error_for(bytes: &[u8], code: ErrorCode) {
    let server = start(&[]);
    let mut bystander = Raw::connect(server.addr());
    bystander.exec("sleep 0.5; echo still here");
    let mut c = Raw::connect(server.addr());
    c.writer.write_all(bytes).unwrap();
    match c.next() {
        Some(Frame::Error(e)) => assert_eq!(e.code, code, "{}", e.message_lossy()),
        other => panic!("expected an Error frame, got {other:?}"),
    }
    assert_eq!(c.next(), None, "then a close");
    assert_eq!(bystander.collect().stdout, b"still here\n");
}

#[test]
fn garbage_gets_an_error_and_a_close() {
    expect_error_for(b"\x00\x00\x00\x02\xEE\xEEgarbage", ErrorCode::Malformed);
}

#[test]
fn length_ffffffff_gets_frame_too_large() {
    expect_error_for(
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x10, 1, 2, 3],
        ErrorCode::FrameTooLarge,
    );
}

#[test]
fn malformed_exec_gets_an_error() {
    // An Exec whose env count claims more entries than the payload holds.
    expect_error_for(&[0, 0, 0, 3, 0x10, 0, 0xFF, 0xFF], ErrorCode::Malformed);
}

/// A stream that ends inside a frame: what came whole before it is still
/// answered, then an `Error` says why, then the close.
#[test]
fn truncated_frame_then_eof_gets_an_error_after_what_came_before() {
    let server = start(&[]);
    let mut bystander = Raw::connect(server.addr());
    bystander.exec("sleep 0.5; echo still here");
    let mut c = Raw::connect(server.addr());
    c.exec("echo before");
    c.writer.write_all(&[0, 0, 0, 10, 0x10, 0, 0]).unwrap();
    c.writer.shutdown(Shutdown::Write).unwrap();
    let before = c.collect();
    assert_eq!(before.stdout, b"before\n");
    assert_eq!(before.termination(), Termination::Code(0));
    match c.next() {
        Some(Frame::Error(e)) => {
            assert_eq!(e.code, ErrorCode::Malformed);
            assert!(
                e.message_lossy().contains("middle of a frame"),
                "{}",
                e.message_lossy()
            );
        }
        other => panic!("expected an Error frame, got {other:?}"),
    }
    assert_eq!(c.next(), None, "then a close");
    assert_eq!(bystander.collect().stdout, b"still here\n");
}

#[test]
fn truncated_first_frame_gets_an_error_and_a_close() {
    let server = start(&[]);
    let mut c = Raw::connect_plain(server.addr());
    c.writer.write_all(&[0, 0, 0, 10, 0x01, 1, 2]).unwrap();
    c.writer.shutdown(Shutdown::Write).unwrap();
    match c.next() {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::Malformed),
        other => panic!("expected an Error frame, got {other:?}"),
    }
    assert_eq!(c.next(), None, "then a close");
    let mut other = Raw::connect(server.addr());
    assert_eq!(other.run("echo fine").stdout, b"fine\n");
}

/// A client that gives up before sending anything is simply gone: no
/// `Error` for it, and the server goes on.
#[test]
fn a_client_that_closes_before_its_hello_is_let_go_quietly() {
    let server = start(&[]);
    let mut c = Raw::connect_plain(server.addr());
    c.writer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.next(), None);
    let mut other = Raw::connect(server.addr());
    assert_eq!(other.run("echo fine").stdout, b"fine\n");
}

#[test]
fn header_trickled_a_byte_at_a_time_hits_the_handshake_timeout() {
    let server = start(&["--handshake-timeout", "1"]);
    let mut c = Raw::connect_plain(server.addr());
    let started = Instant::now();
    for byte in [0u8, 0, 0] {
        c.writer.write_all(&[byte]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    match c.next() {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::Timeout),
        other => panic!("expected a timeout error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn token_auth_accepts_the_right_token_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let server = start(&["--token-file", token.to_str().unwrap()]);
    let mut good = Raw::connect_with(server.addr(), Some(b"s3cret")).expect("right token");
    assert_eq!(good.run("echo in").stdout, b"in\n");
    let t = Instant::now();
    let bad = Raw::connect_with(server.addr(), Some(b"wrong"));
    assert_eq!(bad.err(), Some(HandshakeError::AuthFailed));
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "failures are delayed"
    );
    let none = Raw::connect_with(server.addr(), None);
    assert_eq!(none.err(), Some(HandshakeError::TokenRequired));
    assert!(server.stderr_text().contains("authentication failed"));
}

#[test]
fn version_mismatch_is_explained() {
    let server = start(&[]);
    let mut c = Raw::connect_plain(server.addr());
    c.send(&Frame::Hello(protocol::Hello {
        magic: protocol::MAGIC,
        version: 99,
    }));
    match c.next() {
        Some(Frame::Error(e)) => {
            assert_eq!(e.code, ErrorCode::VersionMismatch);
            assert!(e.message_lossy().contains("99"));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
}

#[test]
fn commands_before_the_handshake_are_refused() {
    let server = start(&[]);
    let mut c = Raw::connect_plain(server.addr());
    c.exec("echo sneaky");
    match c.next() {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::UnexpectedFrame),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn non_loopback_without_token_refuses_to_start() {
    let out = integration_tests::bin("server")
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-unauthenticated"), "{err}");
}

#[test]
fn settings_it_could_not_live_with_are_refused_at_start_not_by_a_crash_later() {
    // Each of these once started, then panicked at the first connection,
    // command or signal (a deadline past the clock's end), or could run
    // no command at all (the shell).
    for (option, value) in [
        ("--timeout", "18446744073709551615"),
        ("--idle-timeout", "18446744073709551615"),
        ("--handshake-timeout", "18446744073709551615"),
        ("--shutdown-grace", "18446744073709551615"),
        ("--linger-ms", "18446744073709551615"),
        ("--max-frame", "18446744073709551615"),
        ("--shell", "/no/such/shell"),
    ] {
        let out = integration_tests::run_with_input(
            {
                let mut cmd = integration_tests::bin("server");
                cmd.args(["--listen", "127.0.0.1:0", option, value]);
                cmd
            },
            b"",
            LIMIT,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {err}");
        assert!(err.contains(option), "{option} {value}: {err}");
    }
}

#[test]
fn connection_limit_answers_with_an_error() {
    let server = start(&["--max-connections", "1"]);
    let mut first = Raw::connect(server.addr());
    let mut second = Raw::connect_plain(server.addr());
    match second.next() {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::TooManyConnections),
        other => panic!("expected a busy error, got {other:?}"),
    }
    assert_eq!(first.run("echo first").stdout, b"first\n");
}

#[test]
fn clients_being_turned_away_do_not_count_toward_the_limit() {
    let server = start(&["--max-connections", "1"]);
    let mut first = Raw::connect(server.addr());
    // Refused, and slow to hang up: its socket stays open for a while.
    let mut refused = Raw::connect_plain(server.addr());
    assert!(
        matches!(refused.next(), Some(Frame::Error(e)) if e.code == ErrorCode::TooManyConnections)
    );
    // The only client served leaves; its end of file tells us the server
    // has let it go.
    first.writer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(first.next(), None);
    let mut next = Raw::connect(server.addr());
    assert_eq!(next.run("echo served").stdout, b"served\n");
    drop(refused);
}

#[test]
fn commands_past_max_running_wait_their_turn() {
    let server = start(&["--max-running", "1"]);
    let addr = server.addr();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(addr);
                c.run(&format!("sleep 0.2; echo {i}")).stdout
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), format!("{i}\n").as_bytes());
    }
}

/// Sends `frame` and waits for the answer to a `Ping` sent after it: frames
/// are handled in order, so the server has then taken `frame` in.
fn send_and_sync(c: &mut Raw, frame: &Frame) {
    c.send(frame);
    c.send(&Frame::Ping(7));
    match c.reader.read_frame().expect("read frame") {
        Some(Frame::Pong(7)) => {}
        other => panic!("expected the Pong, got {other:?}"),
    }
}

/// A command that holds the only slot until its stdin ends.
fn hold_the_slot(addr: SocketAddr) -> Raw {
    let mut holder = Raw::connect(addr);
    holder.send(&Frame::Exec(Exec {
        stdin: true,
        ..Exec::new("echo holding; cat >/dev/null")
    }));
    assert_eq!(holder.next(), Some(Frame::Stdout("holding\n".into())));
    holder
}

#[test]
fn slots_go_first_come_first_served_across_connections() {
    let server = start(&["--max-running", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("order");
    let append = |name: &str| Frame::Exec(Exec::new(format!("echo {name} >> '{}'", log.display())));
    let mut holder = hold_the_slot(server.addr());
    let mut a = Raw::connect(server.addr());
    let mut b = Raw::connect(server.addr());
    send_and_sync(&mut a, &append("a1"));
    send_and_sync(&mut b, &append("b1"));
    // A queues two more after B's: B must not wait for all of A's.
    a.send(&append("a2"));
    send_and_sync(&mut a, &append("a3"));
    holder.send(&Frame::StdinEof);
    assert_eq!(holder.collect().termination(), Termination::Code(0));
    for _ in 0..3 {
        assert_eq!(a.collect().termination(), Termination::Code(0));
    }
    assert_eq!(b.collect().termination(), Termination::Code(0));
    let order = std::fs::read_to_string(&log).unwrap();
    assert_eq!(order, "a1\nb1\na2\na3\n");
}

#[test]
fn a_waiting_command_of_a_client_that_closed_never_runs() {
    let server = start(&["--max-running", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("ran");
    let mut holder = hold_the_slot(server.addr());
    let mut gone = Raw::connect(server.addr());
    send_and_sync(
        &mut gone,
        &Frame::Exec(Exec::new(format!(": > '{}'", witness.display()))),
    );
    // A plain close (FIN), not a reset: at first it looks like a half-close.
    drop(gone);
    server.wait_for_log("not-run (connection closed)", LIMIT);
    holder.send(&Frame::StdinEof);
    assert_eq!(holder.collect().termination(), Termination::Code(0));
    // Had it stayed queued, it would have run before this one.
    assert_eq!(holder.run("echo after").stdout, b"after\n");
    assert!(!witness.exists(), "the command of a closed client ran");
}

#[test]
fn a_half_closed_client_that_left_gets_no_further_command_started() {
    let server = start(&["--max-running", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("ran");
    let mut holder = hold_the_slot(server.addr());
    // C pipelines two commands and half-closes, as a script runner would.
    let mut c = Raw::connect(server.addr());
    c.exec("echo one");
    send_and_sync(
        &mut c,
        &Frame::Exec(Exec::new(format!(": > '{}'", witness.display()))),
    );
    // D waits behind C's first command, so C's second waits behind D.
    let mut d = Raw::connect(server.addr());
    send_and_sync(
        &mut d,
        &Frame::Exec(Exec {
            stdin: true,
            ..Exec::new("echo d; cat >/dev/null")
        }),
    );
    c.writer.shutdown(Shutdown::Write).unwrap();
    holder.send(&Frame::StdinEof);
    assert_eq!(holder.collect().termination(), Termination::Code(0));
    assert_eq!(c.collect().stdout, b"one\n");
    assert_eq!(d.next(), Some(Frame::Stdout("d\n".into())));
    // C leaves for good; no event reaches the server for that (its FIN
    // came before). Its second command's turn comes when D ends.
    drop(c);
    d.send(&Frame::StdinEof);
    assert_eq!(d.collect().termination(), Termination::Code(0));
    server.wait_for_log("not-run (connection closed)", LIMIT);
    assert!(
        !witness.exists(),
        "a command ran for a client that had left"
    );
}

#[test]
fn every_command_gets_an_audit_line_even_if_it_never_ran() {
    let server = start(&["--max-running", "1"]);
    let mut holder = hold_the_slot(server.addr());
    let mut c = Raw::connect(server.addr());
    send_and_sync(&mut c, &Frame::Exec(Exec::new("echo cancelled-one")));
    c.send(&Frame::Signal(Signal { signal: 2 }));
    let out = c.collect();
    assert_eq!(out.exit.map(|e| e.runtime_us), Some(0));
    server.wait_for_log("cancelled-before-start", LIMIT);
    let log = server.stderr_text();
    let line = log
        .lines()
        .find(|l| l.contains("cancelled-one"))
        .expect("an audit line for the cancelled command");
    assert!(line.contains("signal=2 cancelled-before-start"), "{line}");
    holder.send(&Frame::StdinEof);
    assert_eq!(holder.collect().termination(), Termination::Code(0));
}

#[test]
fn bad_environment_names_and_missing_directories_are_named_in_spawn_failed() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    for (exec, expect) in [
        (
            Exec {
                env: vec![("X=Y".into(), "z".into())],
                ..Exec::new("true")
            },
            "invalid environment variable name \"X=Y\"",
        ),
        (
            Exec {
                cwd: Some("/nonexistent/dir".into()),
                ..Exec::new("true")
            },
            "working directory /nonexistent/dir",
        ),
    ] {
        c.send(&Frame::Exec(exec));
        let (code, message) = c.collect().error.expect("a SpawnFailed error");
        assert_eq!(code, ErrorCode::SpawnFailed);
        assert!(message.contains(expect), "{message}");
    }
    // The session goes on.
    assert_eq!(c.run("echo ok").stdout, b"ok\n");
}

#[test]
fn ping_is_answered() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Ping(42));
    assert_eq!(c.reader.read_frame().unwrap(), Some(Frame::Pong(42)));
}

#[test]
fn sigterm_lets_the_running_command_finish_then_exits_zero() {
    let mut server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.exec("echo go; sleep 0.5; echo finished");
    assert_eq!(c.next(), Some(Frame::Stdout("go\n".into())));
    server.signal(libc::SIGTERM);
    let out = c.collect();
    assert_eq!(out.stdout, b"finished\n");
    assert_eq!(out.termination(), Termination::Code(0));
    let status = server.wait_timeout(LIMIT).expect("server exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_shuts_down_gracefully_and_takes_the_commands_along() {
    // SIGHUP's default action killed the server alone and left its
    // commands running, orphaned.
    let mut server = start(&["--shutdown-grace", "0"]);
    let mut c = Raw::connect(server.addr());
    c.exec("echo $$; sleep 60");
    let Some(Frame::Stdout(line)) = c.next() else {
        panic!("expected the pid")
    };
    let pid: i32 = String::from_utf8_lossy(&line).trim().parse().unwrap();
    server.signal(libc::SIGHUP);
    let out = c.collect();
    assert_eq!(out.termination(), Termination::Signal(libc::SIGKILL));
    let status = server.wait_timeout(LIMIT).expect("server exits");
    assert_eq!(status.code(), Some(0));
    assert!(!process_exists(pid), "pid {pid} outlived the server");
}

#[test]
fn under_nohup_sighup_leaves_the_server_running() {
    if !require_program("nohup") {
        return;
    }
    let mut cmd = Command::new("nohup");
    cmd.arg(integration_tests::bin_path("server"))
        .args(["--listen", "127.0.0.1:0"]);
    let server = Daemon::spawn(cmd, 1);
    let mut c = Raw::connect(server.addr());
    server.signal(libc::SIGHUP);
    // Answered after the signal was handled, if it was to be.
    c.send(&Frame::Ping(7));
    assert_eq!(c.reader.read_frame().unwrap(), Some(Frame::Pong(7)));
    assert_eq!(c.run("echo alive").stdout, b"alive\n");
}

#[test]
fn sigterm_answers_the_running_command_before_refusing_the_queued_one() {
    let mut server = start(&[]);
    let mut c = Raw::connect(server.addr());
    let mut batch = bytes::BytesMut::new();
    for command in ["echo go; sleep 0.5; echo finished", "echo never"] {
        Frame::Exec(Exec::new(command)).encode(&mut batch).unwrap();
    }
    c.writer.write_all(&batch).unwrap();
    assert_eq!(c.next(), Some(Frame::Stdout("go\n".into())));
    server.signal(libc::SIGTERM);
    // The running command's output and exit come first, whole...
    let out = c.collect();
    assert_eq!(out.stdout, b"finished\n");
    assert_eq!(out.termination(), Termination::Code(0));
    // ...then one error answers the command that will not run, and the end.
    assert!(matches!(c.next(), Some(Frame::Error(e)) if e.code == ErrorCode::ShuttingDown));
    assert_eq!(c.next(), None);
    assert_eq!(server.wait_timeout(LIMIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn at_shutdown_a_running_command_still_gets_its_stdin_and_finishes_within_the_grace() {
    // `wc -c` of an upload can only finish if the rest of the upload still
    // reaches it; it used to be starved of it, and killed at the grace.
    let mut server = start(&["--shutdown-grace", "5"]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        stdin: true,
        ..Exec::new("echo running; wc -c")
    }));
    c.send(&Frame::Stdin("first ".into()));
    assert_eq!(c.next(), Some(Frame::Stdout("running\n".into())));
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    server.wait_for_log("shutting down", LIMIT);
    c.send(&Frame::Stdin("and last".into()));
    c.send(&Frame::StdinEof);
    let out = c.collect();
    assert_eq!(out.stdout, b"14\n");
    assert_eq!(out.termination(), Termination::Code(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "finished only after {:?}, the grace",
        signalled.elapsed()
    );
    assert!(matches!(c.next(), Some(Frame::Error(e)) if e.code == ErrorCode::ShuttingDown));
    assert_eq!(c.next(), None);
    assert_eq!(server.wait_timeout(LIMIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn sigterm_tells_an_idle_client_at_once_not_after_the_grace() {
    let mut server = start(&["--shutdown-grace", "20"]);
    let mut c = Raw::connect(server.addr());
    // Idle after a command, as a session between two commands is.
    assert_eq!(c.run("true").termination(), Termination::Code(0));
    let sent = Instant::now();
    server.signal(libc::SIGTERM);
    assert!(matches!(c.next(), Some(Frame::Error(e)) if e.code == ErrorCode::ShuttingDown));
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "told only after {:?}",
        sent.elapsed()
    );
    assert_eq!(server.wait_timeout(LIMIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn sigterm_tells_a_client_still_in_its_handshake() {
    // It used to get a bare close, which a client reads as "not this
    // protocol" rather than "the server is stopping".
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret").unwrap();
    let mut server = start(&["--token-file", token.to_str().unwrap()]);
    let mut c = Raw::connect_plain(server.addr());
    c.send(&Frame::Hello(protocol::Hello::default()));
    assert!(matches!(c.next(), Some(Frame::Challenge(_))));
    server.signal(libc::SIGTERM);
    let told = c.next();
    assert!(
        matches!(&told, Some(Frame::Error(e)) if e.code == ErrorCode::ShuttingDown),
        "{told:?}"
    );
    assert_eq!(server.wait_timeout(LIMIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn sigterm_past_the_grace_kills_and_tells_the_client() {
    let mut server = start(&["--shutdown-grace", "0"]);
    let mut c = Raw::connect(server.addr());
    c.exec("echo go; sleep 60");
    assert_eq!(c.next(), Some(Frame::Stdout("go\n".into())));
    server.signal(libc::SIGTERM);
    let out = c.collect();
    assert_eq!(out.termination(), Termination::Signal(9));
    assert!(matches!(c.next(), Some(Frame::Error(e)) if e.code == ErrorCode::ShuttingDown));
    assert_eq!(server.wait_timeout(LIMIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn legacy_mode_speaks_the_seeds_format() {
    let server = start(&["--legacy"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"echo hi; echo err >&2").unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    let len = i32::from_le_bytes(head) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    assert_eq!(body, b"hi\nerr\n", "stdout, then stderr");
    s.write_all(b"bye").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn legacy_request_cut_into_pieces_runs_as_one_command() {
    // A proxy or a slow link may deliver the seed's unframed request in
    // several segments; they must not run as several commands.
    let server = start(&["--legacy"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    for piece in [&b"ec"[..], b"ho cut", b"-in-pieces"] {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    let mut body = vec![0u8; i32::from_le_bytes(head) as usize];
    s.read_exact(&mut body).unwrap();
    assert_eq!(body, b"cut-in-pieces\n");
}

#[test]
fn legacy_mode_serves_the_seeds_own_python_client() {
    if !require_program("python3") {
        return;
    }
    let server = start(&["--legacy"]);
    let client = concat!(env!("CARGO_MANIFEST_DIR"), "/seed/cmd_client.py");
    if !std::path::Path::new(client).exists() {
        eprintln!("SKIPPED: the seed's client is not at {client}");
        return;
    }
    let mut child = Command::new("python3")
        .arg(client)
        .env("SEED_PORT", server.addr().port().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo hello-from-seed\nbye\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello-from-seed"));
}

/// CPU time (user + system) a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_spins_the_server() {
    use std::os::unix::process::CommandExt;
    let mut cmd = integration_tests::bin("server");
    cmd.args(["--listen", "127.0.0.1:0"]);
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before
    // exec and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 24,
                rlim_max: 24,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Daemon::spawn(cmd, 1);
    // Far more connections than descriptors: accept fails with EMFILE.
    let flood: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(server.addr()).ok())
        .collect();
    let before = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_millis(1000));
    let spent = cpu_ticks(server.pid()) - before;
    assert!(
        spent < 30,
        "server burned {spent} ticks in 1 s while out of descriptors"
    );
    assert!(server.stderr_text().contains("accept failed"));
    drop(flood);
    // Descriptors come back; the server serves again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut c) = Raw::connect_with(server.addr(), None) {
            assert_eq!(c.run("echo back").stdout, b"back\n");
            break;
        }
        assert!(Instant::now() < deadline, "the server never recovered");
    }
}

/// Bytes that never make a frame are not activity: a header and payload
/// trickled a byte at a time still end in the idle time-out.
#[test]
fn a_frame_trickled_after_the_handshake_still_times_out_as_idle() {
    let server = start(&["--idle-timeout", "1"]);
    let mut c = Raw::connect(server.addr());
    c.writer.set_nodelay(true).unwrap();
    c.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // An Exec announcing 100 bytes, sent a byte per 200 ms read wait.
    let mut wire = vec![0, 0, 0, 100, 0x10];
    wire.extend_from_slice(&[0; 100]);
    let started = Instant::now();
    for byte in wire {
        // Once the server has closed, writes may fail: the answer is what counts.
        let _ = c.writer.write_all(&[byte]);
        match c.reader.read_frame() {
            Ok(Some(Frame::Error(e))) => {
                assert_eq!(e.code, ErrorCode::Timeout, "{}", e.message_lossy());
                let took = started.elapsed();
                assert!(took >= Duration::from_millis(900), "too early: {took:?}");
                assert!(took < Duration::from_secs(5), "too late: {took:?}");
                return;
            }
            Ok(other) => panic!("expected an idle time-out, got {other:?}"),
            Err(protocol::io::ReadError::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading: {e}"),
        }
    }
    panic!("a trickle of bytes kept an idle connection open");
}

#[test]
fn a_server_whose_stderr_nobody_reads_keeps_serving() {
    // One audit line per command: once the unread stderr pipe was full,
    // the log's write blocked the event loop, and every client with it.
    /// Killed and reaped however the test ends: its stderr is stuck.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(
        integration_tests::bin("server")
            .args(["--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    // stderr is never read again from here on.
    let mut c = Raw::connect(addr);
    let mut batch = bytes::BytesMut::new();
    for _ in 0..2000 {
        Frame::Exec(Exec::new("true")).encode(&mut batch).unwrap();
    }
    c.writer.write_all(&batch).unwrap();
    for i in 0..2000 {
        let out = c.collect();
        assert_eq!(
            out.exit.map(|e| e.termination),
            Some(Termination::Code(0)),
            "command {i}"
        );
    }
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let server = start(&["--idle-timeout", "1"]);
    let mut c = Raw::connect(server.addr());
    assert_eq!(c.run("echo busy").stdout, b"busy\n");
    let idle_from = Instant::now();
    match c.next() {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::Timeout),
        other => panic!("expected an idle time-out, got {other:?}"),
    }
    assert!(idle_from.elapsed() >= Duration::from_millis(900));
    assert_eq!(c.next(), None);
}

#[test]
fn listens_on_ipv6_loopback_and_ipv4_at_once() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    }
    let server = Daemon::start_n(
        "server",
        &["--listen", "127.0.0.1:0", "--listen", "[::1]:0"],
        2,
    );
    assert!(server.addrs().iter().any(|a| a.is_ipv6()));
    for &addr in server.addrs() {
        let mut c = Raw::connect(addr);
        assert_eq!(c.run("echo v").stdout, b"v\n");
    }
}

#[test]
fn exec_options_set_cwd_and_environment() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        cwd: Some("/tmp".into()),
        env: vec![("GREETING".into(), "hello there".into())],
        ..Exec::new("pwd; echo \"$GREETING\"")
    }));
    assert_eq!(c.collect().stdout, b"/tmp\nhello there\n");
}

#[test]
fn a_relative_shell_path_is_found_whatever_the_commands_directory() {
    // `--shell ./sh` was looked for again from each Exec's cwd.
    let dir = std::env::temp_dir().join(format!("relative-shell-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("/bin/sh", dir.join("sh")).unwrap();
    let mut cmd = integration_tests::bin("server");
    cmd.args(["--listen", "127.0.0.1:0", "--shell", "./sh"])
        .current_dir(&dir);
    let server = Daemon::spawn(cmd, 1);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        cwd: Some("/".into()),
        ..Exec::new("pwd")
    }));
    let out = c.collect();
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, b"/\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn commands_do_not_inherit_descriptors_the_server_was_started_with() {
    // The shell opens descriptor 7 without close-on-exec, then becomes the
    // server: a command must see its own 0, 1 and 2 only.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#"exec 7</dev/null; exec "$0" --listen 127.0.0.1:0"#)
        .arg(integration_tests::bin_path("server"));
    let server = Daemon::spawn(cmd, 1);
    let mut c = Raw::connect(server.addr());
    let out = c.run("ls /proc/$$/fd");
    let fds = String::from_utf8_lossy(&out.stdout).into_owned();
    let fds: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2"]);
}

#[test]
fn a_shell_named_without_a_path_is_found_on_the_servers_path_not_the_commands() {
    // `--shell sh` was looked for on the PATH the Exec sets.
    let server = start(&["--shell", "sh"]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        env: vec![("PATH".into(), "/nonexistent".into())],
        ..Exec::new("echo $PATH")
    }));
    let out = c.collect();
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, b"/nonexistent\n");
}

#[test]
fn a_command_that_cannot_start_gets_spawn_failed_and_the_session_goes_on() {
    let server = start(&[]);
    let mut c = Raw::connect(server.addr());
    c.send(&Frame::Exec(Exec {
        cwd: Some("/no/such/directory".into()),
        ..Exec::new("true")
    }));
    let out = c.collect();
    let (code, message) = out.error.expect("an Error frame instead of an Exit");
    assert_eq!(code, ErrorCode::SpawnFailed);
    assert!(message.contains("cannot start"), "{message}");
    assert_eq!(c.run("echo next").stdout, b"next\n");
}
