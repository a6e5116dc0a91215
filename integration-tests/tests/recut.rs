//! The client and server through a proxy that re-cuts every TCP segment.
//!
//! TCP keeps no message boundaries (the seed's "sticky packet" lesson), so
//! neither side may assume a frame arrives in one read, or alone. The proxy
//! here forwards each direction in pieces of 1 to [`MAX_PIECE`] bytes, each
//! written on its own with Nagle's algorithm off, so frame headers and
//! payloads are split at every possible offset, and several small frames
//! may still share a read at the far end.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use integration_tests::{client_to, run_with_input, text, Daemon};

/// Largest piece the proxy writes at once.
const MAX_PIECE: usize = 7;

/// Longest any single client run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Starts a proxy on an ephemeral loopback port that forwards every
/// connection to `upstream`, re-cut; returns its address. Its threads end
/// when their connections do; the listener lives as long as the test.
fn recutting_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(down) = conn else { return };
            let Ok(up) = TcpStream::connect(upstream) else {
                let _ = down.shutdown(Shutdown::Both);
                continue;
            };
            let seed = n as u64 * 2 + 1;
            let (down2, up2) = (clone(&down), clone(&up));
            thread::spawn(move || pump(down, up, seed));
            thread::spawn(move || pump(up2, down2, seed + 1));
        }
    });
    addr
}

fn clone(s: &TcpStream) -> TcpStream {
    s.set_nodelay(true).expect("TCP_NODELAY");
    s.try_clone().expect("clone stream")
}

/// Copies `from` to `to` in pieces of 1..=MAX_PIECE bytes (lengths from a
/// xorshift generator seeded with `seed`), passing on an orderly close as a
/// half-close and anything else as a full one.
fn pump(mut from: TcpStream, mut to: TcpStream, seed: u64) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let piece = (rng % MAX_PIECE as u64) as usize + 1;
            let (now, later) = rest.split_at(piece.min(rest.len()));
            if to.write_all(now).is_err() {
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            rest = later;
        }
    }
}

/// A server on an ephemeral port with `args`, and a re-cutting proxy in
/// front of it.
fn server_behind_proxy(args: &[&str]) -> (Daemon, SocketAddr) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = Daemon::start("server", &all);
    let proxy = recutting_proxy(server.addr());
    (server, proxy)
}

/// Runs `cmd` to completion with `input` on stdin, within [`RUN_LIMIT`].
fn run(cmd: Command, input: &[u8]) -> Output {
    run_with_input(cmd, input, RUN_LIMIT)
}

#[test]
fn stdout_stderr_and_exit_code_survive_any_cut() {
    let (_server, proxy) = server_behind_proxy(&[]);
    let mut cmd = client_to(proxy);
    cmd.args([
        "--",
        "printf 'out\\n'; printf 'err\\n' >&2; printf 'more\\n'; exit 3",
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\nmore\n");
    assert_eq!(text(&out.stderr), "err\n");
}

#[test]
fn large_output_arrives_byte_exact_through_the_cuts() {
    let (_server, proxy) = server_behind_proxy(&[]);
    // Every byte value, repeated: a cut inside a frame header or payload
    // that shifted a single byte would show.
    let script = "i=0; while [ $i -lt 1200 ]; do printf '%s' \"$(seq -s, 0 40)\"; i=$((i+1)); done";
    let mut cmd = client_to(proxy);
    cmd.args(["--", script]);
    let out = run(cmd, b"");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let unit: String = (0..=40)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(text(&out.stdout), unit.repeat(1200));
}

#[test]
fn stdin_is_forwarded_whole_through_the_cuts() {
    let (_server, proxy) = server_behind_proxy(&[]);
    let input: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut cmd = client_to(proxy);
    cmd.args(["--", "cksum"]);
    let out = run(cmd, &input);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let local = Command::new("cksum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(&input)?;
            c.wait_with_output()
        })
        .expect("local cksum");
    assert_eq!(text(&out.stdout), text(&local.stdout));
}

#[test]
fn pipelined_commands_keep_their_order_through_the_cuts() {
    let (_server, proxy) = server_behind_proxy(&[]);
    let script: String = (1..=50).map(|i| format!("echo {i}\n")).collect();
    let out = run(client_to(proxy), script.as_bytes());
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let want: String = (1..=50).map(|i| format!("{i}\n")).collect();
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn token_handshake_works_through_the_cuts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").expect("write token");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "guess\n").expect("write wrong token");
    let token_arg = token.to_str().expect("utf-8 path");
    let (_server, proxy) = server_behind_proxy(&["--token-file", token_arg]);

    let mut good = client_to(proxy);
    good.arg("--token-file").arg(&token).args(["--", "echo ok"]);
    let out = run(good, b"");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");

    let mut bad = client_to(proxy);
    bad.arg("--token-file").arg(&wrong).args(["--", "echo ok"]);
    let out = run(bad, b"");
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "");
}
