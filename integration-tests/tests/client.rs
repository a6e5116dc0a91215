//! End-to-end tests of the `client` binary against the real `server`, the
//! seed's Python server (`--legacy`), and tiny in-test peers for the
//! handshake failures a correct server never produces.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use integration_tests::{bin, client_to, drain, run_with_input, text, wait_timeout, Daemon};

/// Longest any single client run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(20);

fn server() -> Daemon {
    Daemon::start("server", &["--listen", "127.0.0.1:0"])
}

/// Runs `cmd` to completion with `input` on stdin, within [`RUN_LIMIT`].
fn run(cmd: Command, input: &[u8]) -> Output {
    run_with_input(cmd, input, RUN_LIMIT)
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "client died by a signal: {:?}; stderr: {}",
            output.status,
            text(&output.stderr)
        )
    })
}

/// An address where nothing listens: bound by us, then released.
fn dead_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr.to_string()
}

fn one_shot(addr: impl ToString, command: &str) -> Output {
    let mut cmd = client_to(addr);
    cmd.args(["--", command]);
    run(cmd, b"")
}

#[test]
fn exit_status_is_the_remote_exit_code() {
    let server = server();
    assert_eq!(code(&one_shot(server.addr(), "true")), 0);
    assert_eq!(code(&one_shot(server.addr(), "exit 3")), 3);
    assert_eq!(code(&one_shot(server.addr(), "no-such-command-here")), 127);
}

#[test]
fn command_killed_by_a_signal_exits_128_plus_the_signal() {
    let server = server();
    assert_eq!(code(&one_shot(server.addr(), "kill -9 $$")), 137);
    assert_eq!(code(&one_shot(server.addr(), "kill -TERM $$")), 143);
}

#[test]
fn command_over_its_time_limit_exits_124_and_is_killed() {
    let server = server();
    let started = Instant::now();
    let mut cmd = client_to(server.addr());
    cmd.args(["--timeout", "0.5", "--", "echo partial; sleep 30"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 124, "stderr: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "partial\n");
    assert!(text(&output.stderr).contains("timed out"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn nothing_listening_exits_255_with_one_line_naming_address_and_cause() {
    let addr = dead_addr();
    let output = one_shot(&addr, "true");
    assert_eq!(code(&output), 255);
    assert!(output.stdout.is_empty());
    assert_eq!(
        text(&output.stderr),
        format!("client: {addr}: connection refused\n")
    );
}

#[test]
fn remote_stdout_and_stderr_stay_separate_and_byte_exact() {
    let server = server();
    let output = one_shot(
        server.addr(),
        r"printf 'out\000\377\n'; printf 'err\001' >&2; printf 'more'",
    );
    assert_eq!(code(&output), 0);
    assert_eq!(output.stdout, b"out\0\xff\nmore");
    assert_eq!(output.stderr, b"err\x01");
}

#[test]
fn command_words_are_joined_with_spaces_like_ssh() {
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["echo", "-n", "a", "b"]);
    let output = run(cmd, b"");
    assert_eq!(output.stdout, b"a b");
}

#[test]
fn stdin_is_forwarded_with_its_end() {
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["--", "wc", "-c"]);
    let output = run(cmd, b"abc");
    assert_eq!(code(&output), 0);
    assert_eq!(text(&output.stdout).trim(), "3");

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut cmd = client_to(server.addr());
    cmd.args(["--", "cksum"]);
    let remote = run(cmd, &big);
    let mut local = Command::new("cksum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cksum");
    local
        .stdin
        .take()
        .expect("stdin")
        .write_all(&big)
        .expect("feed cksum");
    let local = local.wait_with_output().expect("cksum output");
    assert_eq!(remote.stdout, local.stdout, "3 MB of stdin arrived intact");
}

#[test]
fn stdin_from_dev_null_reaches_the_command_as_empty() {
    let server = server();
    let output = client_to(server.addr())
        .args(["--", "wc", "-c"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    assert_eq!(text(&output.stdout).trim(), "0");
}

#[test]
fn dash_n_keeps_stdin_local() {
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["-n", "--", "wc", "-c"]);
    let output = run(cmd, b"abc");
    assert_eq!(text(&output.stdout).trim(), "0");
}

#[test]
fn ctrl_c_cancels_the_remote_command_and_the_client_reports_it() {
    let server = server();
    // dash defers a SIGINT that lands between two commands until the next
    // one ends; a trap set before "started" and a loop of short sleeps make
    // the cancel take effect whenever it lands, and re-raising the signal
    // ends the shell by SIGINT, as an untrapped shell would.
    let command = "trap 'trap - INT; kill -INT $$' INT; echo started; \
                   while :; do sleep 0.1; done; echo not-cancelled";
    let mut child = client_to(server.addr())
        .args(["-n", "--", command])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "started\n");
    let started = Instant::now();
    send_signal(&child, libc::SIGINT);
    let Some(status) = wait_timeout(&mut child, RUN_LIMIT) else {
        let _ = child.kill();
        panic!(
            "client still running {RUN_LIMIT:?} after Ctrl-C; server log:\n{}",
            server.stderr_text()
        );
    };
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("rest of stdout");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert_eq!(rest, "", "the command did not go on after the cancel");
    assert!(stderr.contains("cancelled by Ctrl-C"), "stderr: {stderr}");
}

/// Regression: a client started with SIGINT ignored (a script's
/// background job, `client -- cmd &`, which the shell starts so that the
/// Ctrl-C meant for the foreground spares it) still cancelled its remote
/// command on SIGINT. It keeps ignoring it now, as ssh does.
#[test]
fn client_started_with_sigint_ignored_keeps_ignoring_it() {
    use std::os::unix::process::CommandExt;
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["-n", "--", "echo started; sleep 1; echo finished"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: signal(2) is async-signal-safe, fine between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn client");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "started\n");
    send_signal(&child, libc::SIGINT);
    let status = wait_timeout(&mut child, RUN_LIMIT).expect("client ends");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("rest of stdout");
    let stderr = drain(child.stderr.take().expect("stderr"))
        .join()
        .expect("stderr");
    assert_eq!(status.code(), Some(0), "stderr: {}", text(&stderr));
    assert_eq!(rest, "finished\n");
    assert_eq!(text(&stderr), "");
}

fn send_signal(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Presses Ctrl-C (SIGINT) 50 ms apart until `child` ends, at most 100
/// times: two presses always fall within a second, and none can merge into
/// one pending signal. `None` if it never ended.
fn press_ctrl_c_until_exit(child: &mut Child) -> Option<std::process::ExitStatus> {
    for _ in 0..100 {
        send_signal(child, libc::SIGINT);
        if let Some(status) = wait_timeout(child, Duration::from_millis(50)) {
            return Some(status);
        }
    }
    None
}

/// Runs `command` remotely, reads one line from the output it writes to
/// (`stderr` or stdout), closes that pipe and expects the client to end
/// quietly with status 0, as a local command would by SIGPIPE.
fn closing_an_output_ends_the_client_quietly(command: &str, stderr: bool) {
    let server = server();
    let mut child = client_to(server.addr())
        .args(["-n", "--", command])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let (closed, other): (Box<dyn Read + Send>, Box<dyn Read + Send>) = if stderr {
        let out = child.stdout.take().expect("stdout");
        (
            Box::new(child.stderr.take().expect("stderr")),
            Box::new(out),
        )
    } else {
        let err = child.stderr.take().expect("stderr");
        (
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(err),
        )
    };
    let mut closed = BufReader::new(closed);
    let mut line = String::new();
    closed.read_line(&mut line).expect("one line");
    assert_eq!(line, "y\n");
    drop(closed);
    let other = drain(other);
    let status = wait_timeout(&mut child, RUN_LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the client kept running with an output closed");
    });
    let other = text(&other.join().expect("the other output"));
    assert_eq!(status.code(), Some(0), "other output: {other}");
    assert_eq!(other, "", "no panic, no message");
}

#[test]
fn output_lost_to_a_full_disk_is_an_error_not_success() {
    let server = server();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = client_to(server.addr())
        .args(["-n", "--", "echo x"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run client");
    assert_eq!(output.status.code(), Some(255));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot write the command's output here"),
        "{stderr}"
    );
}

/// Regression: fan-out (live and `--group`) and `--legacy` ended with 0
/// when their output went to a full disk, as one-shot mode once did.
#[test]
fn output_lost_to_a_full_disk_is_an_error_in_fan_out_and_legacy_too() {
    let servers = [server(), server()];
    let hosts = format!("{},{}", servers[0].addr(), servers[1].addr());
    let legacy = Daemon::start("server", &["--legacy", "--listen", "127.0.0.1:0"]);
    let legacy_addr = legacy.addr().to_string();
    let runs: [&[&str]; 3] = [
        &["--hosts", &hosts, "--", "echo x"],
        &["--group", "--hosts", &hosts, "--", "echo x"],
        &["--legacy", "--connect", &legacy_addr, "--", "echo x"],
    ];
    for args in runs {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut cmd = bin("client");
        cmd.args(args).stdout(full).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn client");
        let stderr = drain(child.stderr.take().expect("stderr"));
        let status = wait_timeout(&mut child, RUN_LIMIT).expect("client ends");
        let stderr = text(&stderr.join().expect("stderr"));
        assert_eq!(status.code(), Some(255), "{args:?}: {stderr}");
        assert!(
            stderr.contains("output here: No space left"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn closed_stdout_ends_the_client_quietly() {
    closing_an_output_ends_the_client_quietly("yes", false);
}

#[test]
fn stdin_mode_runs_one_command_a_line_in_order_with_the_last_failure_as_status() {
    let server = server();
    let script = b"echo one\n\nexit 3\necho two >&2\n  echo three  \nfalse\necho four\n";
    let output = run(client_to(server.addr()), script);
    assert_eq!(text(&output.stdout), "one\nthree\nfour\n");
    assert_eq!(text(&output.stderr), "two\n");
    assert_eq!(code(&output), 1, "the last failing command was `false`");
}

#[test]
fn stdin_mode_pipelines_many_commands_on_one_connection() {
    let server = server();
    let script: String = (0..500).map(|i| format!("echo {i}\n")).collect();
    let output = run(client_to(server.addr()), script.as_bytes());
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let expected: String = (0..500).map(|i| format!("{i}\n")).collect();
    assert_eq!(text(&output.stdout), expected);
}

#[test]
fn stdin_mode_stops_at_bye() {
    let server = server();
    let output = run(client_to(server.addr()), b"echo a\nbye\necho b\n");
    assert_eq!(text(&output.stdout), "a\n");
    assert_eq!(code(&output), 0);
}

#[test]
fn token_auth_succeeds_with_the_token_and_fails_clearly_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").expect("write token");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "guess\n").expect("write wrong token");
    let server = Daemon::start(
        "server",
        &[
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            token.to_str().expect("utf-8 path"),
        ],
    );
    let addr = server.addr().to_string();

    let mut cmd = client_to(&addr);
    cmd.arg("--token-file").arg(&token).args(["--", "echo ok"]);
    let output = run(cmd, b"");
    assert_eq!((code(&output), text(&output.stdout)), (0, "ok\n".into()));

    let mut cmd = client_to(&addr);
    cmd.arg("--token-file").arg(&wrong).args(["--", "echo ok"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 255);
    assert!(output.stdout.is_empty());
    assert_eq!(
        text(&output.stderr),
        format!("client: {addr}: authentication failed\n")
    );

    let output = one_shot(&addr, "echo ok");
    assert_eq!(code(&output), 255);
    assert!(
        text(&output.stderr).starts_with(&format!("client: {addr}: ")),
        "{}",
        text(&output.stderr)
    );
    assert!(text(&output.stderr).contains("token"));
}

/// A peer that answers the hello with a `Welcome` of another version.
#[test]
fn version_mismatch_exits_255_naming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut reader = protocol::io::FrameReader::new(conn.try_clone().expect("clone"));
        let hello = reader.read_frame().expect("read hello");
        assert!(matches!(hello, Some(protocol::Frame::Hello(_))));
        let welcome = protocol::Frame::Welcome(protocol::Welcome { version: 99 });
        protocol::io::write_frame(&mut conn, &welcome).expect("write welcome");
    });
    let output = one_shot(&addr, "true");
    peer.join().expect("peer");
    assert_eq!(code(&output), 255);
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with(&format!("client: {addr}: ")), "{stderr}");
    assert!(stderr.contains("version mismatch"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

/// A peer that accepts and says nothing: the connect timeout bounds the
/// handshake too.
#[test]
fn silent_peer_times_out_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let started = Instant::now();
    let mut cmd = client_to(&addr);
    cmd.args(["--connect-timeout", "0.3", "--", "true"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 255);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        text(&output.stderr),
        format!("client: {addr}: handshake timed out after 0.3s (is it a --legacy server?)\n")
    );
    drop(listener);
}

/// Regression: each read of the handshake had the whole connect time-out,
/// so a peer sending a byte every 0.2 s held a `--connect-timeout 0.5`
/// client for as long as it liked. The time-out now bounds the whole
/// handshake.
#[test]
fn dripping_peer_cannot_stretch_the_handshake_past_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        // A frame header announcing 1000 bytes, then its payload a byte at a
        // time: never a whole frame within the time-out.
        let mut bytes = vec![0, 0, 3, 0xe8, 0x02];
        bytes.extend([0u8; 1000]);
        for byte in bytes.iter().take(100) {
            if conn.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    let started = Instant::now();
    let mut cmd = client_to(&addr);
    cmd.args(["--connect-timeout", "0.5", "--", "true"]);
    let output = run(cmd, b"");
    let took = started.elapsed();
    assert_eq!(code(&output), 255);
    assert!(
        text(&output.stderr).contains("handshake timed out after 0.5s"),
        "{}",
        text(&output.stderr)
    );
    assert!(took < Duration::from_secs(3), "not bounded: {took:?}");
    peer.join().expect("peer");
}

/// A listener whose accept queue is full drops every new SYN, as a host
/// behind a dropping firewall would: the connect itself must time out, on
/// time, with its own message.
#[test]
fn unanswered_syn_times_out_the_connect() {
    use std::os::fd::AsRawFd;

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    // Listening again only changes the backlog: with 0, one connection
    // fills the queue and the kernel drops the SYNs after it.
    // SAFETY: listen(2) on a descriptor this function owns.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().expect("addr").to_string();
    let _queued = TcpStream::connect(&addr).expect("first connect fills the queue");
    let started = Instant::now();
    let mut cmd = client_to(&addr);
    cmd.args(["--connect-timeout", "0.4", "--", "true"]);
    let output = run(cmd, b"");
    let took = started.elapsed();
    assert_eq!(code(&output), 255);
    assert_eq!(
        text(&output.stderr),
        format!("client: {addr}: connect timed out after 0.4s\n")
    );
    assert!(
        took >= Duration::from_millis(400),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "not bounded: {took:?}");
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = bin("client");
    cmd.args(["--fanout", "0", "true"]);
    assert_eq!(code(&run(cmd, b"")), 2);
    let mut cmd = bin("client");
    cmd.args(["--hosts", "127.0.0.1:1"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 2);
    assert_eq!(text(&output.stderr), "client: fan-out needs a COMMAND\n");
}

#[test]
fn help_shows_every_flag_and_its_defaults() {
    let mut cmd = bin("client");
    cmd.arg("--help");
    let help = text(&run(cmd, b"").stdout);
    for flag in [
        "--connect",
        "--token-file",
        "--timeout",
        "--connect-timeout",
        "-n",
        "--hosts",
        "--hosts-file",
        "--fanout",
        "--group",
        "--legacy",
        "[default: 127.0.0.1:8080]",
        "[default: 32]",
        "[default: 10]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

// ---------------------------------------------------------------- fan-out

#[test]
fn fan_out_prefixes_whole_lines_and_survives_a_dead_host() {
    let servers: Vec<Daemon> = (0..4).map(|_| server()).collect();
    let dead = dead_addr();
    let mut hosts: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    hosts.push(dead.clone());
    let mut cmd = bin("client");
    cmd.args(["--hosts", &hosts.join(","), "--", "echo hi; echo oops >&2"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 255, "one host was unreachable");
    let mut lines: Vec<String> = text(&output.stdout).lines().map(String::from).collect();
    lines.sort();
    let mut expected: Vec<String> = hosts[..4].iter().map(|h| format!("{h}: hi")).collect();
    expected.sort();
    assert_eq!(lines, expected);
    let stderr = text(&output.stderr);
    for host in &hosts[..4] {
        assert!(stderr.contains(&format!("{host}: oops\n")), "{stderr}");
    }
    assert!(
        stderr.contains(&format!("unreachable (connection refused): {dead}")),
        "{stderr}"
    );
    assert!(stderr.contains("5 hosts: 4 ok, 1 failed"), "{stderr}");
}

/// A server on port 8080 of a loopback address of its own (127.x.y.z,
/// chosen from our process id so parallel runs differ), for entries
/// given without a port; and another such address where nothing listens.
fn server_on_default_port() -> (Daemon, String, String) {
    let pid = std::process::id();
    for attempt in 0..20u32 {
        let n = pid.wrapping_add(attempt * 7919);
        let host = format!(
            "127.{}.{}.{}",
            20 + n % 200,
            (n / 200) % 250,
            2 + (n / 50_000) % 250
        );
        let dead = format!("127.{}.{}.1", 20 + n % 200, (n / 200) % 250);
        if TcpListener::bind((host.as_str(), 8080)).is_err() {
            continue;
        }
        let listen = format!("{host}:8080");
        return (Daemon::start("server", &["--listen", &listen]), host, dead);
    }
    panic!("no free 127.x.y.z:8080");
}

/// Regression: an entry without a port ran on port 8080 but its lines,
/// `--group` header and summary showed it without `:8080`; and the same
/// host given with and without the port ran twice.
#[test]
fn fan_out_shows_entries_without_a_port_with_the_port_used() {
    let (_server, host, dead) = server_on_default_port();
    let mut cmd = bin("client");
    let hosts = format!("{host},{host}:8080,{dead}");
    cmd.args(["--hosts", &hosts, "--", "echo hi"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 255, "one host was unreachable");
    assert_eq!(text(&output.stdout), format!("{host}:8080: hi\n"));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("2 hosts: 1 ok, 1 failed"), "{stderr}");
    assert!(
        stderr.contains(&format!("unreachable (connection refused): {dead}:8080\n")),
        "{stderr}"
    );
    let mut cmd = bin("client");
    cmd.args(["--group", "--hosts", &host, "--", "echo hi"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!("\n{host}:8080 (exit 0)\n")),
        "{}",
        text(&output.stdout)
    );
}

/// Regression: the hosts file was read whole, whatever its size, so
/// `--hosts-file /dev/zero` ate memory until the allocation failed.
#[test]
fn endless_hosts_file_is_refused_without_being_read_whole() {
    let mut cmd = bin("client");
    cmd.args(["--hosts-file", "/dev/zero", "--", "true"]);
    let output = run_with_input(cmd, b"", Duration::from_secs(20));
    // As for any file that cannot be read (the token file too): 255.
    assert_eq!(code(&output), 255, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "client: cannot read hosts file /dev/zero: over 16777216 bytes, \
         which is no hosts file (the wrong file?)\n"
    );
}

/// Regression: a malformed hosts-file line became an "unreachable" host
/// after everything else had run; it is now refused up front, naming the
/// file and the line.
#[test]
fn hosts_file_with_a_malformed_line_is_refused_naming_the_line() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hosts");
    let marker = dir.path().join("ran");
    let listing = format!("# lab\n{}\n\n127.0.0.1:99999 # typo\n", server.addr());
    std::fs::write(&path, listing).expect("write hosts file");
    let mut cmd = bin("client");
    cmd.arg("--hosts-file").arg(&path);
    cmd.args(["--", &format!("touch {}", marker.display())]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        format!(
            "client: hosts file {}: line 4: `127.0.0.1:99999`: `99999` is not a port (1-65535)\n",
            path.display()
        )
    );
    assert!(
        !marker.exists(),
        "nothing runs before the list is known good"
    );
}

#[test]
fn fan_out_never_mixes_two_hosts_within_a_line() {
    let servers: Vec<Daemon> = (0..3).map(|_| server()).collect();
    let hosts: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let payload = "x".repeat(300);
    let mut cmd = bin("client");
    cmd.args([
        "--hosts",
        &hosts.join(","),
        "--",
        &format!("yes {payload} | head -n 3000"),
    ]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 0);
    let stdout = text(&output.stdout);
    let mut per_host = vec![0; hosts.len()];
    for line in stdout.lines() {
        let (host, rest) = line.split_once(": ").expect("prefixed line");
        assert_eq!(rest, payload, "a line was cut or mixed");
        let index = hosts.iter().position(|h| h == host).expect("known host");
        per_host[index] += 1;
    }
    assert_eq!(per_host, vec![3000; hosts.len()]);
}

#[test]
fn fan_out_status_is_the_largest_and_respects_the_limit_of_hosts_at_once() {
    let servers: Vec<Daemon> = (0..3).map(|_| server()).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hosts");
    let mut listing = String::from("# test hosts\n");
    for server in &servers {
        listing.push_str(&format!("{}   # a server\n\n", server.addr()));
    }
    std::fs::write(&file, listing).expect("hosts file");
    let started = Instant::now();
    let mut cmd = bin("client");
    cmd.arg("--hosts-file").arg(&file).args([
        "--fanout",
        "1",
        "--timeout",
        "0.4",
        "--",
        "sleep 0.2; exit 3",
    ]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 3, "stderr: {}", text(&output.stderr));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "--fanout 1 runs hosts one after another"
    );
    assert!(text(&output.stderr).contains("3 hosts: 0 ok, 3 failed"));

    let mut cmd = bin("client");
    cmd.arg("--hosts-file")
        .arg(&file)
        .args(["--timeout", "0.3", "--", "sleep 10"]);
    assert_eq!(code(&run(cmd, b"")), 124);
}

#[test]
fn group_prints_identical_outputs_once_with_their_hosts() {
    let servers: Vec<Daemon> = (0..3).map(|_| server()).collect();
    let hosts: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let mut cmd = bin("client");
    cmd.args([
        "--group",
        "--hosts",
        &hosts.join(","),
        "--",
        "echo same; echo line2",
    ]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 0);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0], "----------------");
    assert_eq!(lines[2], "----------------");
    assert_eq!(&lines[3..], ["same", "line2"]);
    assert!(lines[1].starts_with("127.0.0.1:["), "{}", lines[1]);
    assert!(lines[1].ends_with("] (exit 0)"), "{}", lines[1]);
    for host in &hosts {
        let port = host.rsplit(':').next().expect("port");
        assert!(lines[1].contains(port), "{} lacks {port}", lines[1]);
    }
    assert_eq!(text(&output.stderr), "");
}

/// Peak resident memory of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Regression: `--group` kept every host's output in memory, so
/// `--group -- yes` grew until the machine ran out. Past 64 MiB in all the
/// output now goes to temporary files, and all of it is still printed.
#[test]
fn group_keeps_large_outputs_in_bounded_memory_and_prints_them_whole() {
    const EACH: usize = 48 << 20;
    let servers: Vec<Daemon> = (0..3).map(|_| server()).collect();
    let hosts: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let mut child = bin("client")
        .args(["--group", "--hosts", &hosts.join(","), "--"])
        .arg(format!("head -c {EACH} /dev/zero"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let stderr = drain(child.stderr.take().expect("stderr"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // Groups are printed once every host has finished: by the first line
    // all 144 MiB have been kept.
    let mut rule = String::new();
    stdout.read_line(&mut rule).expect("first line");
    assert_eq!(rule, "----------------\n");
    let peak = peak_rss_kib(child.id());
    assert!(
        peak < 112 * 1024,
        "client peak RSS {peak} KiB for 3 x {EACH} bytes kept"
    );
    let mut header = String::new();
    stdout.read_line(&mut header).expect("hosts line");
    assert!(header.ends_with("] (exit 0)\n"), "{header}");
    stdout.read_line(&mut rule).expect("second rule");
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("output");
    assert_eq!(rest.len(), EACH, "one group, printed whole");
    assert!(rest.iter().all(|&b| b == 0));
    let status = wait_timeout(&mut child, Duration::from_secs(30)).expect("client ends");
    assert_eq!(status.code(), Some(0), "{}", text(&stderr.join().unwrap()));
}

// ---------------------------------------------------------------- REPL

struct Pty {
    rx: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Pty {
    fn spawn(args: &[String], data_home: &std::path::Path) -> Pty {
        use portable_pty::{native_pty_system, CommandBuilder, PtySize};
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 200,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(integration_tests::bin_path("client"));
        cmd.args(args);
        cmd.env("XDG_DATA_HOME", data_home);
        cmd.env("TERM", "xterm");
        let child = pair.slave.spawn_command(cmd).expect("spawn in pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _master = pair.master;
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Pty {
            rx,
            seen: Vec::new(),
            writer,
            child,
        }
    }

    /// Waits until the output since the last match holds `needle`;
    /// returns that output, up to and including `needle`.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            if let Some(at) = find(&self.seen, needle.as_bytes()) {
                let shown: Vec<u8> = self.seen.drain(..at + needle.len()).collect();
                return text(&shown);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(_) => panic!(
                    "pty never showed {needle:?}; it showed {:?}",
                    text(&self.seen)
                ),
            }
        }
    }

    /// Waits for the REPL's prompt after a command that ended with `status`.
    fn prompt(&mut self, addr: &str, status: u8) -> String {
        self.expect(&format!("{addr} [{status}]> "))
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("type");
        self.writer.flush().expect("flush");
    }

    fn wait(&mut self) -> u32 {
        let deadline = Instant::now() + RUN_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.exit_code();
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("client in the pty did not exit");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A server and a REPL client in a pseudo-terminal, at its first prompt;
/// the data directory (for the history file) lives as long as the guard.
fn repl_session() -> (Daemon, String, tempfile::TempDir, Pty) {
    let server = server();
    let addr = server.addr().to_string();
    let data = tempfile::tempdir().expect("tempdir");
    let mut pty = Pty::spawn(&["--connect".into(), addr.clone()], data.path());
    pty.prompt(&addr, 0);
    (server, addr, data, pty)
}

#[test]
fn repl_in_a_terminal_has_a_prompt_history_status_and_bye() {
    let (_server, addr, data, mut pty) = repl_session();
    pty.send("echo hel''lo\r");
    pty.expect("hello");
    pty.prompt(&addr, 0);
    pty.send("\r"); // an empty line does nothing
    pty.prompt(&addr, 0);
    pty.send("sh -c 'exit 3'\r");
    pty.prompt(&addr, 3);
    // Up twice: the history brings back the echo.
    pty.send("\x1b[A\x1b[A\r");
    pty.expect("hello");
    pty.prompt(&addr, 0);
    pty.send("exit 4\r");
    pty.prompt(&addr, 4);
    pty.send("bye\r");
    assert_eq!(pty.wait(), 4, "the last command's status");
    let history = std::fs::read_to_string(data.path().join("rcmd/client_history"))
        .expect("history file in the data directory");
    assert!(history.contains("echo hel''lo"), "{history}");
    assert!(!history.contains("bye"), "{history}");
}

#[test]
fn repl_ctrl_c_cancels_the_command_not_the_session_and_ctrl_d_leaves() {
    let (_server, addr, _data, mut pty) = repl_session();
    // Trapped and looping, so the cancel works whenever it lands (see
    // ctrl_c_cancels_the_remote_command_and_the_client_reports_it).
    pty.send("trap 'trap - INT; kill -INT $$' INT; echo run''ning; while :; do sleep 0.1; done\r");
    pty.expect("running");
    pty.send("\x03");
    pty.expect("cancelled by Ctrl-C");
    pty.prompt(&addr, 130);
    pty.send("echo still''here\r");
    pty.expect("stillhere");
    pty.prompt(&addr, 0);
    pty.send("\x04");
    assert_eq!(pty.wait(), 0);
}

#[test]
fn repl_second_ctrl_c_kills_a_command_that_ignores_the_first_and_keeps_the_session() {
    let (_server, addr, _data, mut pty) = repl_session();
    // The command survives SIGINT (it only reports it), so only the second
    // press, SIGKILL to its group, can end it.
    pty.send("trap 'echo got''-int' INT; echo run''ning; while :; do sleep 0.1; done\r");
    pty.expect("running");
    pty.send("\x03");
    // The first press reached the command; the second follows well inside
    // the double-press window.
    pty.expect("got-int");
    pty.send("\x03");
    pty.expect("cancelled by Ctrl-C; remote command killed by signal 9 (SIGKILL)");
    pty.prompt(&addr, 137);
    pty.send("echo still''here\r");
    pty.expect("stillhere");
    pty.prompt(&addr, 0);
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

// ---------------------------------------------------------------- legacy

/// The seed's Python command server on a free port; it prints nothing when
/// ready, so readiness is a bounded loop of connect attempts.
fn seed_server() -> Option<(SeedServer, String)> {
    if !integration_tests::require_program("python3") {
        return None;
    }
    // The seed's program, copied unchanged into this repository.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seed/cmd_server.py");
    assert!(script.exists(), "seed server at {}", script.display());
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let child = Command::new("python3")
        .arg(&script)
        .env("SEED_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the seed server");
    let server = SeedServer(child);
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..500 {
        if TcpStream::connect(&addr).is_ok() {
            return Some((server, addr));
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("the seed server never listened on {addr}");
}

struct SeedServer(Child);

impl Drop for SeedServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn legacy_one_shot_and_stdin_mode_work_against_the_seeds_python_server() {
    let Some((_seed, addr)) = seed_server() else {
        return;
    };
    let mut cmd = client_to(&addr);
    cmd.args(["--legacy", "--", "echo", "hi"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "hi\n");

    // More than one recv(1024) of output: the length header keeps it whole
    // (the seed's "sticky packet" problem), stderr merged after stdout.
    let mut cmd = client_to(&addr);
    cmd.arg("--legacy");
    let output = run(cmd, b"seq 1 3000\n\necho err >&2\nbye\necho never\n");
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    let expected: String = (1..=3000).map(|i| format!("{i}\n")).collect::<String>() + "err\n";
    assert_eq!(text(&output.stdout), expected);
}

#[test]
fn legacy_mode_works_against_the_servers_own_legacy_mode() {
    let server = Daemon::start("server", &["--legacy", "--listen", "127.0.0.1:0"]);
    let mut cmd = client_to(server.addr());
    cmd.args(["--legacy", "--", "echo out; echo err >&2"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "out\nerr\n",
        "stdout then stderr, merged"
    );
}

#[test]
fn second_ctrl_c_within_a_second_quits_and_the_server_kills_the_command() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    // The command ignores SIGINT, so only the client quitting can end it.
    let command = format!(
        "trap '' INT; echo $$ > {}; echo started; sleep 30",
        pid_file.display()
    );
    let mut child = client_to(server.addr())
        .args(["-n", "--", &command])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "started\n");
    let remote_pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let status = press_ctrl_c_until_exit(&mut child).expect("client quits on a second Ctrl-C");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "stderr: {stderr}");
    let deadline = Instant::now() + RUN_LIMIT;
    while integration_tests::process_exists(remote_pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !integration_tests::process_exists(remote_pid),
        "the server killed the remote command when the client quit"
    );
}

#[test]
fn legacy_repl_shows_the_seeds_prompt_in_a_terminal() {
    let Some((_seed, addr)) = seed_server() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let args = ["--legacy".to_string(), "--connect".into(), addr];
    let mut pty = Pty::spawn(&args, data.path());
    pty.expect("CMD:");
    pty.send("echo seed''ok\r");
    pty.expect("seedok");
    pty.expect("CMD:");
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// Regression: a legacy reply without a final newline (`printf abc`) was
/// drawn over by the next `CMD:` prompt, as in the framed REPL.
#[test]
fn legacy_repl_output_without_a_final_newline_is_not_drawn_over() {
    let server = Daemon::start("server", &["--legacy", "--listen", "127.0.0.1:0"]);
    let data = tempfile::tempdir().expect("tempdir");
    let args = [
        "--legacy".to_string(),
        "--connect".into(),
        server.addr().to_string(),
    ];
    let mut pty = Pty::spawn(&args, data.path());
    pty.expect("CMD:");
    pty.send("printf a''bc\r");
    pty.expect("abc");
    let after = pty.expect("CMD:");
    assert!(after.starts_with("\r\n"), "{after:?}");
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// Regression: the cancel used to be sent from the Ctrl-C thread itself,
/// which then waited forever behind a stdin forwarder stuck in `write`
/// (the command reads no stdin, the server stops reading), so no second
/// press was ever seen and the client could not be stopped.
#[test]
fn ctrl_c_quits_even_while_stdin_forwarding_is_stuck() {
    let server = server();
    let mut child = client_to(server.addr())
        .args(["--", "echo started; sleep 30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = thread::spawn(move || {
        let chunk = vec![b'y'; 64 * 1024];
        // Until the client goes away; bounded in case it never does.
        for _ in 0..10_000 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "started\n");
    let first_press = Instant::now();
    let status = press_ctrl_c_until_exit(&mut child).expect("Ctrl-C ends the client");
    assert_eq!(status.code(), Some(130));
    // Two presses take 50 ms; the old code needed the server to drain
    // megabytes of stdin first (seconds), or hung.
    assert!(
        first_press.elapsed() < Duration::from_secs(2),
        "quitting took {:?}",
        first_press.elapsed()
    );
    feeder.join().expect("feeder");
}

/// Regression: the first Ctrl-C's cancel queued behind a stdin write the
/// server was not reading (the command reads no stdin), so it took effect
/// only when the command ended by itself: 30 s here. The cancel cannot
/// overtake that stdin on the wire, so the first press now quits at once,
/// and the server kills the command.
#[test]
fn first_ctrl_c_takes_effect_at_once_while_stdin_forwarding_is_stuck() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    // The command ignores SIGINT: were the cancel delivered, it would not
    // end it; only the client quitting can, within the test's time.
    let command = format!(
        "trap '' INT; echo $$ > {}; echo started; sleep 30",
        pid_file.display()
    );
    let mut child = client_to(server.addr())
        .args(["--", &command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    let fed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&fed);
    let feeder = thread::spawn(move || {
        let chunk = vec![b'y'; 64 * 1024];
        // Until the client goes away; bounded in case it never does.
        for _ in 0..10_000 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "started\n");
    let remote_pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    // Nothing says "stuck in write"; no progress for 300 ms does: the
    // command reads nothing, so every buffer on the way is full by then.
    let deadline = Instant::now() + RUN_LIMIT;
    let mut last = (usize::MAX, Instant::now());
    while last.1.elapsed() < Duration::from_millis(300) {
        assert!(Instant::now() < deadline, "stdin never stopped flowing");
        let now = fed.load(std::sync::atomic::Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
        thread::sleep(Duration::from_millis(20));
    }
    let pressed = Instant::now();
    send_signal(&child, libc::SIGINT);
    let status = wait_timeout(&mut child, RUN_LIMIT).expect("one Ctrl-C ends the client");
    let took = pressed.elapsed();
    let stderr = drain(child.stderr.take().expect("stderr"))
        .join()
        .expect("stderr");
    assert_eq!(status.code(), Some(130), "stderr: {}", text(&stderr));
    assert!(took < Duration::from_secs(3), "one Ctrl-C took {took:?}");
    assert!(text(&stderr).contains("interrupted"), "{}", text(&stderr));
    let deadline = Instant::now() + RUN_LIMIT;
    while integration_tests::process_exists(remote_pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !integration_tests::process_exists(remote_pid),
        "the server killed the remote command when the client quit"
    );
    feeder.join().expect("feeder");
}

// ------------------------------------------------ usage, peer errors, closed outputs, reconnects

/// Regression: with `allow_hyphen_values` on COMMAND a mistyped option
/// became the remote command (`--tiemout 1 -- true` ran `--tiemout 1 --
/// true` remotely; `--conect X -- cmd` ran cmd on the default server).
#[test]
fn mistyped_option_is_a_usage_error_not_the_remote_command() {
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["--tiemout", "1", "--", "echo ran"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 2, "stderr: {}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("unexpected argument '--tiemout'"),
        "{}",
        text(&output.stderr)
    );
    let mut cmd = bin("client");
    cmd.args(["--conect", &server.addr().to_string(), "--", "echo ran"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 2, "stderr: {}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    // Once the command has begun, hyphen words are its own.
    for args in [&["--", "echo", "-n", "x"][..], &["echo", "-n", "x"]] {
        let mut cmd = client_to(server.addr());
        cmd.args(args);
        let output = run(cmd, b"");
        assert_eq!((code(&output), text(&output.stdout)), (0, "x".into()));
    }
}

/// A peer that completes the handshake without a token, then hands the
/// connection to `script`.
fn fake_server(
    script: impl FnOnce(TcpStream, protocol::io::FrameReader<TcpStream>) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut reader = protocol::io::FrameReader::new(conn.try_clone().expect("clone"));
        let hello = reader.read_frame().expect("read hello");
        assert!(matches!(hello, Some(protocol::Frame::Hello(_))));
        let welcome = protocol::Frame::Welcome(protocol::Welcome {
            version: protocol::VERSION,
        });
        protocol::io::write_frame(&mut conn, &welcome).expect("write welcome");
        script(conn, reader);
    });
    (addr, peer)
}

/// Reads frames until the client closes, so that closing our side never
/// resets frames the client has not read yet.
fn read_until_closed(reader: &mut protocol::io::FrameReader<TcpStream>) {
    while let Ok(Some(_)) = reader.read_frame() {}
}

/// A one-shot client against a peer that answers its `Exec` with `answer`.
fn one_shot_answered_with(answer: protocol::Frame) -> Output {
    let (addr, peer) = fake_server(move |mut conn, mut reader| {
        let exec = reader.read_frame().expect("read exec");
        assert!(matches!(exec, Some(protocol::Frame::Exec(_))), "{exec:?}");
        protocol::io::write_frame(&mut conn, &answer).expect("write answer");
        read_until_closed(&mut reader);
    });
    let mut cmd = client_to(&addr);
    cmd.args(["-n", "--", "true"]);
    let output = run(cmd, b"");
    peer.join().expect("peer");
    output
}

/// Regression: a frame the client cannot decode *after* a good handshake
/// (the server is ours, it just misbehaved) still asked "is it a --legacy
/// server?"; only a failed handshake does now.
#[test]
fn garbage_after_a_good_handshake_has_no_legacy_server_hint() {
    let (addr, peer) = fake_server(move |mut conn, mut reader| {
        let exec = reader.read_frame().expect("read exec");
        assert!(matches!(exec, Some(protocol::Frame::Exec(_))), "{exec:?}");
        let out = protocol::Frame::Stdout("partial\n".into());
        protocol::io::write_frame(&mut conn, &out).expect("write stdout");
        // A frame of an unknown type (0x7f), one payload byte.
        conn.write_all(&[0, 0, 0, 1, 0x7f, 0])
            .expect("write garbage");
        read_until_closed(&mut reader);
    });
    let mut cmd = client_to(&addr);
    cmd.args(["-n", "--", "true"]);
    let output = run(cmd, b"");
    peer.join().expect("peer");
    assert_eq!(code(&output), 255);
    assert_eq!(text(&output.stdout), "partial\n");
    assert_eq!(
        text(&output.stderr),
        format!("client: {addr}: protocol error: unknown frame type 0x7f\n")
    );
}

/// The seed's server runs our framed hello as a shell command, fails on
/// its NUL bytes and closes without a word: that failed handshake is the
/// case for the hint.
#[test]
fn bare_close_during_the_handshake_hints_at_a_legacy_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut hello = [0u8; 1024];
        let _ = conn.read(&mut hello).expect("read hello");
    });
    let mut cmd = client_to(&addr);
    cmd.args(["-n", "--", "true"]);
    let output = run(cmd, b"");
    peer.join().expect("peer");
    assert_eq!(code(&output), 255);
    assert_eq!(
        text(&output.stderr),
        format!(
            "client: {addr}: server closed the connection during the handshake \
             (is it a --legacy server?)\n"
        )
    );
}

/// A peer that answers one `Exec` with `output` on stdout (if any) and exit
/// 0, then at once with a `ShuttingDown` error and a close: a server
/// stopping right after its last answer.
fn server_leaving_after_one_answer(output: &'static str) -> (String, thread::JoinHandle<()>) {
    fake_server(move |mut conn, mut reader| {
        let exec = reader.read_frame().expect("read exec");
        assert!(matches!(exec, Some(protocol::Frame::Exec(_))), "{exec:?}");
        let stdout = (!output.is_empty()).then(|| protocol::Frame::Stdout(output.into()));
        let exit = protocol::Frame::Exit(protocol::Exit {
            termination: protocol::Termination::Code(0),
            timed_out: false,
            runtime_us: 1,
        });
        let bye = protocol::Frame::Error(protocol::ErrorFrame::new(
            protocol::ErrorCode::ShuttingDown,
            "server shutting down",
        ));
        for frame in stdout.iter().chain([&exit, &bye]) {
            protocol::io::write_frame(&mut conn, frame).expect("write");
        }
        conn.shutdown(std::net::Shutdown::Write).expect("close");
        read_until_closed(&mut reader);
    })
}

/// Regression: in stdin mode, a server that shut down right after answering
/// the last command could turn the script's success into 255, when its
/// `ShuttingDown` came in before the client had seen its own input end.
/// Every command given was answered: that is a success.
#[test]
fn stdin_mode_succeeds_when_the_server_leaves_after_answering_everything() {
    let (addr, peer) = server_leaving_after_one_answer("done\n");
    let mut child = client_to(&addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"echo done\n").expect("write command");
    let stderr = drain(child.stderr.take().expect("stderr"));
    // The input ends only once the client has printed the output, by when
    // the Exit and the ShuttingDown that came in the same segment are
    // being handled.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("output");
    assert_eq!(line, "done\n");
    drop(stdin);
    let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("client ends");
    peer.join().expect("peer");
    assert_eq!(status.code(), Some(0), "{}", text(&stderr.join().unwrap()));
}

/// The same server leaving while input is still coming: the commands after
/// it can never run, which is not a success.
#[test]
fn stdin_mode_fails_when_the_server_leaves_with_input_still_coming() {
    let (addr, peer) = server_leaving_after_one_answer("");
    let mut child = client_to(&addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"true\n").expect("write command");
    let stderr = drain(child.stderr.take().expect("stderr"));
    // Stdin stays open: the client must not wait for it to decide.
    let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("client ends");
    drop(stdin);
    peer.join().expect("peer");
    let stderr = text(&stderr.join().unwrap());
    assert_eq!(status.code(), Some(255), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

/// Regression: `Error` messages went to the terminal raw (newlines, escape
/// sequences, invalid UTF-8, a megabyte).
#[test]
fn server_error_message_is_printed_as_one_escaped_bounded_line() {
    let mut message = b"first\nsecond\x1b[2J\xff".to_vec();
    message.resize(1_000_000, b'z');
    let output = one_shot_answered_with(protocol::Frame::Error(protocol::ErrorFrame {
        code: protocol::ErrorCode::Internal,
        message: message.into(),
    }));
    assert_eq!(code(&output), 255);
    let stderr = text(&output.stderr);
    let head: String = stderr.chars().take(300).collect();
    assert_eq!(stderr.lines().count(), 1, "{head}");
    assert!(
        stderr.contains(r"server error: first\nsecond\u{1b}[2J"),
        "{stderr}"
    );
    assert!(stderr.contains("more characters cut]"), "{head}");
    assert!(!stderr.trim_end().contains('\x1b'));
    assert!(stderr.len() < 2048, "{} bytes", stderr.len());
}

/// Regression: an exit no process can have gave a silent 255.
#[test]
fn impossible_exit_status_exits_255_with_one_line_saying_why() {
    use protocol::Termination;
    for (termination, shown) in [
        (Termination::Code(300), "exit code 300"),
        (Termination::Code(-1), "exit code -1"),
        (Termination::Signal(200), "signal 200"),
    ] {
        let output = one_shot_answered_with(protocol::Frame::Exit(protocol::Exit {
            termination,
            timed_out: false,
            runtime_us: 0,
        }));
        assert_eq!(code(&output), 255);
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.ends_with(&format!(
                ": protocol error: the server reported an impossible {shown}\n"
            )),
            "{stderr}"
        );
    }
}

/// Regression: errors writing stderr were ignored, so `client -- 'yes >&2'
/// 2>&1 >/dev/null | head -1` never ended.
#[test]
fn closed_stderr_ends_the_client_quietly_like_closed_stdout() {
    closing_an_output_ends_the_client_quietly("yes >&2", true);
}

/// Regression: the feeder ended on the encode error without telling the
/// session, which waited for the server's idle time-out (600 s).
#[test]
fn stdin_mode_line_over_the_frame_limit_fails_promptly_with_one_line() {
    let server = server();
    let mut script = b"echo before\necho ".to_vec();
    script.extend(std::iter::repeat_n(b'a', 2_000_000));
    script.extend_from_slice(b"\necho after\n");
    let started = Instant::now();
    let output = run(client_to(server.addr()), &script);
    assert_eq!(code(&output), 255, "stderr: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "before\n", "the line before it ran");
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("client: {}: cannot send: ", server.addr())),
        "{stderr}"
    );
    assert!(stderr.contains("over the"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Stdin mode against a peer that behaves as the server is specified to
/// on a `Signal`: the running command and every one queued behind it are
/// answered (by SIGINT). Lines written to the client's stdin after the
/// cancel reached the peer must never be sent.
#[test]
fn stdin_mode_ctrl_c_stops_sending_lines_and_waits_for_the_sent_ones() {
    use protocol::Frame;
    let (signalled_tx, signalled_rx) = mpsc::channel();
    let (answer_tx, answer_rx) = mpsc::channel::<()>();
    let (addr, peer) = fake_server(move |mut conn, mut reader| {
        let mut execs = 0;
        loop {
            match reader.read_frame().expect("read") {
                Some(Frame::Exec(_)) => {
                    execs += 1;
                    if execs == 1 {
                        let started = Frame::Stdout("started\n".into());
                        protocol::io::write_frame(&mut conn, &started).expect("write");
                    }
                }
                Some(Frame::Signal(signal)) => {
                    assert_eq!(signal.signal, 2);
                    break;
                }
                Some(_) => {}
                None => panic!("the client closed without a cancel"),
            }
        }
        signalled_tx.send(execs).expect("tell the test");
        answer_rx.recv_timeout(RUN_LIMIT).expect("go-ahead");
        let cancelled = Frame::Exit(protocol::Exit {
            termination: protocol::Termination::Signal(2),
            timed_out: false,
            runtime_us: 0,
        });
        for _ in 0..execs {
            protocol::io::write_frame(&mut conn, &cancelled).expect("write exit");
        }
        // A late command is answered, so a client that sends one shows it.
        while let Ok(Some(frame)) = reader.read_frame() {
            if matches!(frame, Frame::Exec(_)) {
                let late = Frame::Stdout("late\n".into());
                protocol::io::write_frame(&mut conn, &late).expect("write");
                let done = Frame::Exit(protocol::Exit {
                    termination: protocol::Termination::Code(0),
                    timed_out: false,
                    runtime_us: 1,
                });
                protocol::io::write_frame(&mut conn, &done).expect("write");
            }
        }
    });
    let mut child = client_to(&addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"sleep 30\necho queued\n")
        .expect("first lines");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "started\n");
    send_signal(&child, libc::SIGINT);
    let execs = signalled_rx
        .recv_timeout(RUN_LIMIT)
        .expect("the cancel reached the peer");
    assert!(execs >= 1);
    // Written after the cancel went out: must not be sent.
    let _ = stdin.write_all(b"echo late\n");
    drop(stdin);
    answer_tx.send(()).expect("go-ahead");
    let err = drain(child.stderr.take().expect("stderr"));
    let status = wait_timeout(&mut child, RUN_LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the client did not end after its commands were answered");
    });
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("rest of stdout");
    let stderr = text(&err.join().expect("stderr"));
    peer.join().expect("peer");
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert_eq!(rest, "", "no line after the Ctrl-C was run");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "interrupted by Ctrl-C after {execs} commands were sent"
        )),
        "{stderr}"
    );
}

/// Lines of `pipe` as they come, on a thread of their own, so a test can
/// wait for one with a bound.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Stdin mode, Ctrl-C, against the real server. Needs the server's
/// behaviour of a `Signal` in a pipeline: it goes to the running command
/// and cancels every command queued behind it (each answered with an
/// `Exit` reporting SIGINT, runtime 0).
#[test]
fn stdin_mode_ctrl_c_cancels_the_queued_commands_and_sends_no_more() {
    let server = server();
    let mut child = client_to(server.addr())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    // The running command says when the cancel reached it (see
    // ctrl_c_cancels_the_remote_command_and_the_client_reports_it for the
    // trap and the loop), then ends with 0.
    stdin
        .write_all(
            b"trap 'echo got''-int; exit 0' INT; echo started; while :; do sleep 0.1; done\n\
              echo queued\n",
        )
        .expect("first lines");
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let next = |what: &str| {
        stdout
            .recv_timeout(RUN_LIMIT)
            .unwrap_or_else(|_| panic!("no {what} line; server log:\n{}", server.stderr_text()))
    };
    assert_eq!(next("first"), "started");
    send_signal(&child, libc::SIGINT);
    assert_eq!(next("cancel"), "got-int");
    // Written after the cancel went out: must not be sent.
    let _ = stdin.write_all(b"echo late\n");
    drop(stdin);
    let status = wait_timeout(&mut child, RUN_LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the client did not end after the cancel");
    });
    let rest: Vec<String> = stdout.try_iter().collect();
    let stderr = text(&err.join().expect("stderr"));
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert!(rest.is_empty(), "ran after the Ctrl-C: {rest:?}");
    assert!(stderr.contains("interrupted by Ctrl-C"), "{stderr}");
    assert!(!stderr.contains("ended with exit 0"), "{stderr}");
}

/// Regression: `--connect-timeout 0` failed at once (`connect timed out
/// after 0s`); 0 means no limit, as the server's `--timeout 0` does.
#[test]
fn connect_timeout_0_means_no_limit() {
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["--connect-timeout", "0", "--", "echo ok"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok\n");
    let mut cmd = bin("client");
    cmd.arg("--help");
    let help = text(&run(cmd, b"").stdout);
    assert!(help.contains("0 means no limit"), "{help}");
}

/// Regression: these options were accepted and silently ignored.
#[test]
fn options_that_cannot_apply_are_usage_errors() {
    for args in [
        &["--legacy", "--timeout", "1", "--", "true"][..],
        &["--legacy", "--token-file", "/nonexistent", "--", "true"],
        &["--group", "--", "true"],
        &["--fanout", "4", "--", "true"],
        &["-n"],
    ] {
        let mut cmd = bin("client");
        cmd.args(args);
        let output = run(cmd, b"");
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output.stderr));
        assert!(output.stdout.is_empty());
    }
}

/// Regression: `--connect HOST` without a port said `invalid socket
/// address`; it now means the server's default port, as ssh assumes 22.
#[test]
fn connect_without_a_port_means_port_8080() {
    for given in ["127.0.0.1", "[::1]", "localhost"] {
        let mut cmd = client_to(given);
        // Whatever listens on 8080 here, the message names the port used.
        cmd.args(["--connect-timeout", "5", "--", "true"]);
        let output = run(cmd, b"");
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("invalid socket address"), "{stderr}");
        if code(&output) == 255 {
            assert!(
                stderr.starts_with(&format!("client: {given}:8080: ")),
                "{stderr}"
            );
        }
    }
}

/// Regression: `--legacy` against a framed server only said `legacy reply
/// of 1107296256 bytes is over the maximum`.
#[test]
fn legacy_client_against_a_framed_server_hints_at_the_mode() {
    let server = server();
    let mut cmd = client_to(server.addr());
    cmd.args(["--legacy", "--", "echo hi"]);
    let output = run(cmd, b"");
    assert_eq!(code(&output), 255);
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("(is the server in --legacy mode?)"),
        "{stderr}"
    );
}

/// The idle close can land between the REPL's check and its command: the
/// server then answers the command with its idle `Timeout` error (sent
/// only when no command runs) and closes. The command never ran, so the
/// REPL sends it once more on a new connection instead of ending.
#[test]
fn repl_resends_a_command_the_idle_close_overtook() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = thread::spawn(move || {
        for answer_idle in [true, false] {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut reader = protocol::io::FrameReader::new(conn.try_clone().expect("clone"));
            assert!(matches!(
                reader.read_frame(),
                Ok(Some(protocol::Frame::Hello(_)))
            ));
            let welcome = protocol::Frame::Welcome(protocol::Welcome {
                version: protocol::VERSION,
            });
            protocol::io::write_frame(&mut conn, &welcome).expect("welcome");
            let exec = reader.read_frame().expect("read exec");
            assert!(matches!(exec, Some(protocol::Frame::Exec(_))), "{exec:?}");
            let answers = if answer_idle {
                vec![protocol::Frame::Error(protocol::ErrorFrame::new(
                    protocol::ErrorCode::Timeout,
                    "idle for 1 s; closing",
                ))]
            } else {
                vec![
                    protocol::Frame::Stdout("ran once\n".into()),
                    protocol::Frame::Exit(protocol::Exit {
                        termination: protocol::Termination::Code(0),
                        timed_out: false,
                        runtime_us: 1,
                    }),
                ]
            };
            for frame in &answers {
                protocol::io::write_frame(&mut conn, frame).expect("answer");
            }
            if !answer_idle {
                read_until_closed(&mut reader);
            }
        }
    });
    repl_command_after_a_reconnect(&addr, || {}, "echo ran' 'once", "ran once");
    peer.join().expect("peer");
}

/// Regression: a server that went away while a command ran ended the REPL
/// with 255, and so did a failed reconnect. Now each is one line and a
/// `[255]` prompt, the lost command is not sent again, and the next
/// command reaches the restarted server.
#[test]
fn repl_survives_a_server_restart_mid_command_and_a_failed_reconnect() {
    let server = server();
    let addr = server.addr().to_string();
    let data = tempfile::tempdir().expect("tempdir");
    let mut pty = Pty::spawn(&["--connect".into(), addr.clone()], data.path());
    pty.prompt(&addr, 0);
    // The quotes keep the typed line's echo from matching the output.
    pty.send("echo st''arted; sleep 5\r");
    pty.expect("started");
    drop(server);
    pty.expect(&format!(
        "client: {addr}: connection closed by the server before the command finished"
    ));
    pty.prompt(&addr, 255);
    pty.send("echo nobody\r");
    pty.expect(&format!("client: {addr}: connection refused"));
    pty.prompt(&addr, 255);
    let _restarted = Daemon::start("server", &["--listen", &addr]);
    pty.send("echo back''again\r");
    pty.expect(&format!(
        "client: {addr}: (reconnected: the connection was lost)"
    ));
    pty.expect("backagain");
    pty.prompt(&addr, 0);
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// Regression: a SIGINT while no command ran (one landing just as a
/// command ended, or `kill -INT` at the prompt) killed the REPL by the
/// default action, leaving the terminal in the line editor's raw mode.
#[test]
fn repl_ignores_a_sigint_between_commands() {
    let (_server, addr, _data, mut pty) = repl_session();
    let pid = pty.child.process_id().expect("client pid");
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    pty.send("echo al''ive\r");
    pty.expect("alive");
    pty.prompt(&addr, 0);
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// Regression: output without a final newline (`printf abc`) was drawn
/// over by the next prompt (the line editor clears the line first), so it
/// never showed on the screen.
#[test]
fn repl_output_without_a_final_newline_is_not_drawn_over_by_the_prompt() {
    let (_server, addr, _data, mut pty) = repl_session();
    for command in ["printf a''bc", "printf a''bc >&2"] {
        pty.send(&format!("{command}\r"));
        pty.expect("abc");
        let after = pty.prompt(&addr, 0);
        assert!(after.starts_with("\r\n"), "{command}: {after:?}");
    }
    // Output that ends its line gets no extra one.
    pty.send("echo x''y\r");
    pty.expect("xy\r\n");
    let after = pty.prompt(&addr, 0);
    assert!(!after.contains('\n'), "{after:?}");
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// A line too long for a frame is refused with one line and a `[255]`
/// prompt; the connection stays as it was, with no reconnect.
#[test]
fn repl_line_over_the_frame_limit_is_refused_and_the_session_goes_on() {
    let (_server, addr, _data, mut pty) = repl_session();
    // Pasted (bracketed), as such a line would be.
    let long = format!("\x1b[200~echo {}\x1b[201~\r", "a".repeat(1_100_000));
    pty.send(&long);
    pty.expect(&format!(
        "client: {addr}: cannot send: frame payload of 1100008 bytes is over the maximum"
    ));
    pty.prompt(&addr, 255);
    pty.send("echo st''ill here\r");
    let shown = pty.expect("still here");
    assert!(!shown.contains("reconnected"), "{shown}");
    pty.prompt(&addr, 0);
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// Drives a REPL at `addr`: once its prompt shows and `before` has run,
/// types `command`, and expects the reconnect note, `output`, the prompt
/// again and a clean `bye`.
fn repl_command_after_a_reconnect(addr: &str, before: impl FnOnce(), command: &str, output: &str) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut pty = Pty::spawn(&["--connect".into(), addr.to_string()], data.path());
    pty.prompt(addr, 0);
    before();
    pty.send(&format!("{command}\r"));
    pty.expect(&format!(
        "client: {addr}: (reconnected: the server closed the idle connection)"
    ));
    pty.expect(output);
    pty.prompt(addr, 0);
    pty.send("bye\r");
    assert_eq!(pty.wait(), 0);
}

/// Regression: after sitting at the prompt past the server's idle time-out
/// the next command failed with 255 and ended the REPL.
#[test]
fn repl_reconnects_after_the_server_closed_the_idle_connection() {
    let server = Daemon::start(
        "server",
        &["--listen", "127.0.0.1:0", "--idle-timeout", "1"],
    );
    let addr = server.addr().to_string();
    // The server's log says when it closed us; bounded, as it must happen
    // about a second after the handshake.
    let closed = || server.wait_for_log("idle for 1 s; closing", RUN_LIMIT);
    repl_command_after_a_reconnect(&addr, closed, "echo back''again", "backagain");
}
