//! End-to-end tests of the `udp-echo` binary over loopback: exact echo,
//! `--annotate`, the reflector guards, counters, IPv6, `send` errors,
//! `ping` accounting through an impairing relay, and interoperation with
//! socat in both directions.

use integration_tests::{bin, bin_path, require_program, text, Daemon};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bound on every wait in this file; a healthy run needs milliseconds.
const WAIT: Duration = Duration::from_secs(10);

fn serve(extra: &[&str]) -> Daemon {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Daemon::start("udp-echo", &args)
}

fn client_for(addr: SocketAddr) -> UdpSocket {
    let local = if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let s = UdpSocket::bind(local).expect("bind client");
    s.connect(addr).expect("connect client");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s
}

fn echo(sock: &UdpSocket, msg: &[u8]) -> Vec<u8> {
    sock.send(msg).expect("send");
    let mut buf = vec![0u8; 65_536];
    let n = sock.recv(&mut buf).expect("reply");
    buf.truncate(n);
    buf
}

/// Asks the daemon for its counters (SIGUSR1) until `done` holds for them.
fn counters_when(d: &Daemon, done: impl Fn(&Counters) -> bool) -> Counters {
    let deadline = Instant::now() + WAIT;
    loop {
        let before = d.stderr_text().matches("counters:").count();
        d.signal(libc::SIGUSR1);
        let line = loop {
            let text = d.stderr_text();
            if text.matches("counters:").count() > before {
                break text
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("counters:"))
                    .unwrap()
                    .to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no counters line; stderr:\n{text}"
            );
            thread::sleep(Duration::from_millis(5));
        };
        let c = Counters::parse(&line);
        if done(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "counters never satisfied: {line}"
        );
    }
}

struct Counters(Vec<(String, u64)>);

impl Counters {
    fn parse(line: &str) -> Counters {
        Counters(
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.parse().expect("counter value")))
                .collect(),
        )
    }
    fn get(&self, key: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no counter {key}"))
            .1
    }
}

/// The number after `"key":` in a JSON document (keys here are unique).
fn json_number(doc: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = doc
        .find(&pat)
        .unwrap_or_else(|| panic!("no key {key} in {doc}"))
        + pat.len();
    let rest = doc[at..].trim_start();
    let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {doc}"))
}

fn run(args: &[&str]) -> Output {
    let out = bin("udp-echo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run udp-echo");
    out
}

// ---- echo ---------------------------------------------------------------

#[test]
fn echo_is_byte_exact_for_binary_and_empty_payloads() {
    let d = serve(&[]);
    let c = client_for(d.addr());
    let all_bytes: Vec<u8> = (0..=255u8).rev().chain(0..=255).collect();
    assert_eq!(echo(&c, &all_bytes), all_bytes);
    assert_eq!(echo(&c, b""), b"");
    assert_eq!(echo(&c, b"\0\r\n\xff"), b"\0\r\n\xff");
}

#[test]
fn echo_carries_the_largest_ipv4_datagram_65507_bytes_whole() {
    let d = serve(&[]);
    let c = client_for(d.addr());
    let big: Vec<u8> = (0..65_507u32).map(|i| (i * 7 % 251) as u8).collect();
    let reply = echo(&c, &big);
    assert_eq!(reply.len(), 65_507);
    assert!(reply == big, "payload differs");
}

#[test]
fn ipv6_loopback_is_served_next_to_ipv4() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    }
    let d = Daemon::start_n(
        "udp-echo",
        &["serve", "--listen", "127.0.0.1:0", "--listen", "[::1]:0"],
        2,
    );
    assert!(
        d.addrs()[0].is_ipv4() && d.addrs()[1].is_ipv6(),
        "{:?}",
        d.addrs()
    );
    let c6 = client_for(d.addrs()[1]);
    assert_eq!(echo(&c6, b"over v6"), b"over v6");
    let big = vec![0x5a; 65_527];
    assert_eq!(echo(&c6, &big).len(), 65_527, "largest IPv6 payload");
    assert_eq!(echo(&client_for(d.addrs()[0]), b"over v4"), b"over v4");
    let v6 = d.addrs()[1].to_string();
    let out = run(&["ping", &v6, "-c", "3", "-i", "0", "--json"]);
    assert_eq!(json_number(&text(&out.stdout), "received"), 3.0);
    let out = run(&["send", &v6, "hello six"]);
    assert_eq!(text(&out.stdout), "hello six\n");
}

#[test]
fn annotate_replies_message_dash_sender_address() {
    let d = serve(&["--annotate"]);
    let c = client_for(d.addr());
    let me = c.local_addr().unwrap();
    assert_eq!(text(&echo(&c, b"hello")), format!("hello-{me}"));
}

#[test]
fn listening_line_is_printed_even_with_logging_off() {
    let mut cmd = Command::new(bin_path("udp-echo"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "off");
    let d = Daemon::spawn(cmd, 1);
    assert_ne!(d.addr().port(), 0, "the OS-chosen port is printed, not 0");
}

// ---- guards and counters --------------------------------------------------

#[test]
fn truncated_datagram_is_counted_and_never_answered_short() {
    let d = serve(&["--max-size", "1000"]);
    let c = client_for(d.addr());
    // Both receive paths: the first wait is batched, later ones (one
    // datagram at a time) use recvfrom.
    for round in 0..3u64 {
        c.send(&[1u8; 2000]).unwrap();
        // Served in order: if the long one were answered, it would come first.
        assert_eq!(echo(&c, b"short"), b"short");
        let k = counters_when(&d, |k| k.get("received") == 2 * (round + 1));
        assert_eq!(
            (k.get("truncated"), k.get("echoed")),
            (round + 1, round + 1)
        );
    }
}

/// A socket on a free port below 1024 (the tests run as root in CI);
/// `None` when this user may not bind one.
fn low_port_socket() -> Option<UdpSocket> {
    (600..1024)
        .rev()
        .find_map(|p| UdpSocket::bind(("127.0.0.1", p)).ok())
}

#[test]
fn low_source_port_is_dropped_and_counted() {
    let Some(low) = low_port_socket() else {
        eprintln!("SKIPPED: cannot bind a port below 1024 (not root)");
        return;
    };
    let d = serve(&[]);
    low.send_to(b"loop?", d.addr()).unwrap();
    // The server reads in order: once this one is echoed, the low-port one
    // was judged, and any reply to it would already be queued.
    assert_eq!(echo(&client_for(d.addr()), b"after"), b"after");
    let k = counters_when(&d, |k| k.get("received") == 2);
    assert_eq!(k.get("dropped_low_port"), 1);
    low.set_nonblocking(true).unwrap();
    let mut b = [0u8; 16];
    assert!(low.recv_from(&mut b).is_err(), "low port got a reply");
}

/// Sends one UDP datagram from `127.0.0.1:source_port` to `to` through a
/// raw socket, so its source can be any port, the server's own included.
/// `false` when this user may not open a raw socket (not root).
fn send_spoofed_udp(source_port: u16, to: SocketAddr, payload: &[u8]) -> bool {
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // buffers outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP);
        if fd < 0 {
            return false;
        }
        let mut datagram = Vec::with_capacity(8 + payload.len());
        datagram.extend_from_slice(&source_port.to_be_bytes());
        datagram.extend_from_slice(&to.port().to_be_bytes());
        let len = u16::try_from(8 + payload.len()).expect("small payload");
        datagram.extend_from_slice(&len.to_be_bytes());
        datagram.extend_from_slice(&[0, 0]); // no checksum (IPv4 allows it)
        datagram.extend_from_slice(payload);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from(*to.ip()).to_be();
        let sent = libc::sendto(
            fd,
            datagram.as_ptr().cast(),
            datagram.len(),
            0,
            std::ptr::addr_of!(sin).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        libc::close(fd);
        assert_eq!(sent, datagram.len() as isize, "raw send");
    }
    true
}

#[test]
fn datagram_from_the_servers_own_address_is_dropped_not_echoed_to_itself() {
    // --rate-limit 0: nothing else would ever stop such a loop.
    let d = serve(&["--rate-limit", "0"]);
    let own = d.addr();
    if !send_spoofed_udp(own.port(), own, b"echo yourself") {
        eprintln!("SKIPPED: cannot open a raw socket to spoof a source (not root)");
        return;
    }
    // Read in order: once this one is echoed, the spoofed one was judged.
    assert_eq!(echo(&client_for(own), b"after"), b"after");
    let k = counters_when(&d, |k| k.get("received") >= 2);
    assert_eq!(
        (k.get("received"), k.get("echoed")),
        (2, 1),
        "the server answered itself"
    );
    assert_eq!(k.get("dropped_loop"), 1);
}

#[test]
fn allow_low_ports_answers_a_low_source_port() {
    let Some(low) = low_port_socket() else {
        eprintln!("SKIPPED: cannot bind a port below 1024 (not root)");
        return;
    };
    let d = serve(&["--allow-low-ports"]);
    low.connect(d.addr()).unwrap();
    low.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(echo(&low, b"ok"), b"ok");
}

#[test]
fn rate_limit_caps_one_source_at_its_burst() {
    let d = serve(&["--rate-limit", "10", "--burst", "5"]);
    let c = client_for(d.addr());
    let t0 = Instant::now();
    for i in 0..50u8 {
        c.send(&[i]).unwrap();
    }
    let k = counters_when(&d, |k| k.get("received") == 50);
    let elapsed = t0.elapsed().as_secs_f64();
    let echoed = k.get("echoed");
    assert_eq!(echoed + k.get("dropped_rate_limited"), 50);
    // 5 at once, then 10/s for however long the machine took.
    let allowed = 5 + (10.0 * elapsed).ceil() as u64;
    assert!(
        (5..=allowed).contains(&echoed),
        "echoed {echoed}, allowed {allowed}"
    );
    c.set_nonblocking(true).unwrap();
    let mut b = [0u8; 8];
    let replies = std::iter::from_fn(|| c.recv(&mut b).ok()).count() as u64;
    assert_eq!(replies, echoed, "each echo counted was sent");
}

#[test]
fn first_rate_limit_drop_is_logged_once_naming_the_flag() {
    let mut cmd = bin("udp-echo");
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rate-limit",
        "1",
        "--burst",
        "1",
    ])
    .env_remove("RUST_LOG");
    let d = Daemon::spawn(cmd, 1);
    let c = client_for(d.addr());
    for i in 0..3u8 {
        c.send(&[i]).unwrap();
    }
    // The counters line comes after anything logged while judging the
    // three datagrams, so once it shows them all, the log is complete.
    let k = counters_when(&d, |k| k.get("received") == 3);
    assert_eq!(k.get("dropped_rate_limited"), 2);
    let err = d.stderr_text();
    assert_eq!(
        err.matches("--rate-limit 0").count(),
        1,
        "one warning for two drops:\n{err}"
    );
    assert!(err.contains("--rate-limit PPS"), "{err}");
}

#[test]
fn flood_and_serve_help_say_capacity_needs_rate_limit_0() {
    for sub in ["flood", "serve"] {
        let out = run(&[sub, "--help"]);
        assert!(out.status.success());
        // clap wraps the text to the terminal: compare it unwrapped.
        let help = text(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(help.contains("serve --rate-limit 0"), "{sub}:\n{help}");
    }
}

#[test]
fn serve_listen_accepts_a_host_name() {
    let d = serve_at("localhost:0");
    assert!(d.addr().ip().is_loopback(), "{}", d.addr());
    assert_eq!(echo(&client_for(d.addr()), b"by name"), b"by name");
}

fn serve_at(listen: &str) -> Daemon {
    Daemon::start("udp-echo", &["serve", "--listen", listen])
}

#[test]
fn sigint_prints_counters_and_exits_zero() {
    let mut d = serve(&[]);
    assert_eq!(echo(&client_for(d.addr()), b"x"), b"x");
    d.signal(libc::SIGINT);
    let status = d.wait_timeout(WAIT).expect("exits on SIGINT");
    assert!(status.success(), "{status:?}");
    let err = d.stderr_text();
    assert!(err.contains("counters: received=1 echoed=1"), "{err}");
}

#[test]
fn listening_on_a_busy_port_fails_with_exit_1_and_the_address() {
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = run(&["serve", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&addr), "{}", text(&out.stderr));
}

// ---- send -----------------------------------------------------------------

#[test]
fn send_prints_the_reply() {
    let d = serve(&[]);
    let out = run(&["send", &d.addr().to_string(), "hello"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "hello\n");
}

#[test]
fn send_to_silent_server_times_out_with_exit_1() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let out = run(&[
        "send",
        &silent.local_addr().unwrap().to_string(),
        "hi",
        "--timeout",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no reply") && err.contains("100 ms"), "{err}");
    assert!(t0.elapsed() >= Duration::from_millis(100));
    assert!(out.stdout.is_empty());
}

#[test]
fn send_to_closed_port_says_refused_with_exit_1() {
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(&["send", &closed.to_string(), "hi", "--timeout", "5000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused"),
        "{}",
        text(&out.stderr)
    );
}

/// An IPv4-mapped IPv6 target travels over IPv4: held to 65,507 bytes
/// before anything is sent (it used to be allowed 65,527, and the kernel's
/// EMSGSIZE came back as an I/O failure, exit 1).
#[test]
fn ipv4_mapped_target_is_held_to_the_ipv4_datagram_limit_as_a_usage_error() {
    let target = "[::ffff:127.0.0.1]:9";
    let big = "x".repeat(65_508);
    let out = run(&["send", target, &big]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("exceeds the 65507-byte"),
        "{}",
        text(&out.stderr)
    );
    for sub in ["ping", "flood"] {
        let out = run(&[sub, target, "--size", "65508"]);
        assert_eq!(out.status.code(), Some(2), "{sub}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("65507"),
            "{sub}: {}",
            text(&out.stderr)
        );
    }
}

/// A rate limit with no room (`--burst 0`, `--max-sources 0`) would drop
/// every datagram: it used to start and serve nothing, silently.
#[test]
fn serve_refuses_a_rate_limit_that_could_never_echo() {
    for flag in ["--burst", "--max-sources"] {
        let mut child = bin("udp-echo")
            .args(["serve", "--listen", "127.0.0.1:0", flag, "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn udp-echo serve");
        let status = integration_tests::wait_timeout(&mut child, WAIT);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(2),
            "{flag} 0: the server started anyway; stderr: {err}"
        );
        assert!(err.contains("must be at least 1"), "{flag}: {err}");
    }
}

#[test]
fn bad_arguments_exit_2_with_a_reason() {
    let out = run(&["ping", "127.0.0.1:9", "--size", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--size 10"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["flood", "127.0.0.1:9", "--rate", "fast"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["serve", "--listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn zero_ping_count_and_zero_send_timeout_exit_2_like_ping_w_0() {
    for args in [
        &["ping", "127.0.0.1:9", "-W", "0"][..],
        &["ping", "127.0.0.1:9", "-c", "0"],
        &["send", "127.0.0.1:9", "hi", "--timeout", "0"],
    ] {
        let out = run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let flag = if args.contains(&"-c") {
            "--count"
        } else {
            "--timeout"
        };
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn unresolvable_host_name_exits_1_as_a_network_failure() {
    // A 64-byte label is longer than DNS allows, so the resolver says no
    // without sending a query: the test stays on this machine.
    let host = format!("{}.invalid:7", "a".repeat(64));
    for args in [
        &["send", &host, "hi"][..],
        &["ping", &host, "-c", "1"],
        &["serve", "--listen", &host],
    ] {
        let out = run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot resolve"), "{args:?}: {err}");
    }
}

// ---- ping -------------------------------------------------------------------

#[test]
fn ping_json_is_the_only_stdout_and_has_every_figure() {
    let d = serve(&[]);
    let out = run(&[
        "ping",
        &d.addr().to_string(),
        "--count",
        "20",
        "--interval",
        "0",
        "--size",
        "200",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = text(&out.stdout);
    let trimmed = doc.trim();
    assert!(trimmed.starts_with('{') && trimmed.ends_with('}'), "{doc}");
    assert_eq!(trimmed.matches("\"sent\"").count(), 1);
    assert_eq!(json_number(&doc, "sent"), 20.0);
    assert_eq!(json_number(&doc, "received"), 20.0);
    assert_eq!(json_number(&doc, "loss_percent"), 0.0);
    assert_eq!(json_number(&doc, "duplicates"), 0.0);
    assert_eq!(json_number(&doc, "reordered"), 0.0);
    assert_eq!(json_number(&doc, "corrupted"), 0.0, "always present");
    let min = json_number(&doc, "min");
    let max = json_number(&doc, "max");
    for k in ["avg", "p50", "p90", "p99", "p999"] {
        let v = json_number(&doc, k);
        assert!(min <= v && v <= max, "{k}={v} outside [{min}, {max}]");
    }
    assert!(json_number(&doc, "stddev") >= 0.0);
    assert!(min > 0.0);
}

#[test]
fn ping_text_shows_live_lines_and_full_rtt_summary() {
    let d = serve(&[]);
    let out = run(&["ping", &d.addr().to_string(), "-c", "3", "-i", "1"]);
    assert!(out.status.success());
    let t = text(&out.stdout);
    assert_eq!(
        t.lines()
            .filter(|l| l.contains("bytes from") && l.contains("rtt="))
            .count(),
        3,
        "{t}"
    );
    assert!(t.contains("3 sent, 3 received, 0 lost (0.0% loss)"), "{t}");
    assert!(t.contains("full round-trip time"), "{t}");
}

#[test]
fn ping_prints_its_summary_on_ctrl_c() {
    let d = serve(&[]);
    let mut child = bin("udp-echo")
        .args(["ping", &d.addr().to_string(), "--interval", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ping");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first reply line says the ping is under way.
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("bytes from"));
    assert!(first.is_some(), "no reply line");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = integration_tests::wait_timeout(&mut child, WAIT).expect("ping exits on SIGINT");
    assert!(status.success(), "{status:?}");
    let summary = rest.join("\n");
    assert!(summary.contains("udp-echo ping statistics"), "{summary}");
    assert!(summary.contains("full round-trip time"), "{summary}");
}

#[test]
fn ping_to_closed_port_reports_refused_not_loss() {
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(&["ping", &closed.to_string(), "-c", "3", "-i", "0", "--json"]);
    assert_eq!(out.status.code(), Some(1), "no reply at all is a failure");
    let doc = text(&out.stdout);
    assert_eq!(json_number(&doc, "refused"), 3.0, "{doc}");
    assert_eq!(json_number(&doc, "loss_percent"), 0.0, "{doc}");
}

/// An in-process UDP relay between one client and a server that, on the
/// client-to-server path, drops, duplicates and swaps datagrams by their
/// arrival index `i`: `i % 10 == 3` dropped, `== 6` sent twice, `== 8` held
/// until `9` has gone, then sent.
struct ImpairingRelay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ImpairingRelay {
    fn start(server: SocketAddr) -> ImpairingRelay {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(server).unwrap();
        for s in [&front, &back] {
            // Only so the threads notice `stop`; not a synchronisation.
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let addr = front.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (f2, b2, stop2, client2) = (
            front.try_clone().unwrap(),
            back.try_clone().unwrap(),
            stop.clone(),
            client.clone(),
        );
        let up = thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let mut held: Option<Vec<u8>> = None;
            let mut i = 0u64;
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = f2.recv_from(&mut buf) else {
                    continue;
                };
                *client2.lock().unwrap() = Some(from);
                let d = &buf[..n];
                match i % 10 {
                    3 => {}
                    6 => {
                        let _ = b2.send(d);
                        let _ = b2.send(d);
                    }
                    8 => held = Some(d.to_vec()),
                    _ => {
                        let _ = b2.send(d);
                        if let Some(h) = held.take() {
                            let _ = b2.send(&h);
                        }
                    }
                }
                i += 1;
            }
        });
        let stop3 = stop.clone();
        let down = thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop3.load(Ordering::SeqCst) {
                let Ok(n) = back.recv(&mut buf) else { continue };
                if let Some(c) = *client.lock().unwrap() {
                    let _ = front.send_to(&buf[..n], c);
                }
            }
        });
        ImpairingRelay {
            addr,
            stop,
            threads: vec![up, down],
        }
    }
}

impl Drop for ImpairingRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn ping_counts_loss_duplicates_and_reordering_through_an_impairing_relay() {
    let d = serve(&[]);
    let relay = ImpairingRelay::start(d.addr());
    // Fixed schedule (not ping-pong) so a held probe is overtaken.
    let out = run(&[
        "ping",
        &relay.addr.to_string(),
        "--count",
        "30",
        "--interval",
        "2",
        "--timeout",
        "1000",
        "--json",
    ]);
    let doc = text(&out.stdout);
    assert!(out.status.success(), "{doc}{}", text(&out.stderr));
    assert_eq!(json_number(&doc, "sent"), 30.0, "{doc}");
    assert_eq!(json_number(&doc, "received"), 27.0, "{doc}");
    assert_eq!(json_number(&doc, "lost"), 3.0, "{doc}");
    assert_eq!(json_number(&doc, "loss_percent"), 10.0, "{doc}");
    assert_eq!(json_number(&doc, "duplicates"), 3.0, "{doc}");
    assert_eq!(json_number(&doc, "reordered"), 3.0, "{doc}");
    assert_eq!(json_number(&doc, "late"), 0.0, "{doc}");
}

// ---- flood ------------------------------------------------------------------

#[test]
fn flood_json_reports_offered_and_echoed_rates() {
    let d = serve(&[]);
    let out = run(&[
        "flood",
        &d.addr().to_string(),
        "--rate",
        "2000",
        "--duration",
        "0.3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = text(&out.stdout);
    let sent = json_number(&doc, "sent");
    assert!((300.0..=601.0).contains(&sent), "{doc}");
    assert_eq!(json_number(&doc, "received"), sent, "{doc}");
    assert_eq!(json_number(&doc, "loss_percent"), 0.0);
    let sent_pps = json_number(&doc, "sent_pps");
    // Never above the rate asked for; below it only as far as a loaded
    // machine stretches the 0.3 s.
    assert!((300.0..=2100.0).contains(&sent_pps), "{doc}");
    assert_eq!(json_number(&doc, "echoed_pps"), sent_pps);
}

#[test]
fn flood_is_bounded_by_its_duration() {
    let d = serve(&["--rate-limit", "0"]);
    let t0 = Instant::now();
    let out = run(&[
        "flood",
        &d.addr().to_string(),
        "--duration",
        "0.5",
        "--timeout",
        "200",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(json_number(&text(&out.stdout), "received") > 0.0);
}

// ---- socat ------------------------------------------------------------------

#[test]
fn socat_as_client_gets_an_exact_echo() {
    if !require_program("socat") {
        return;
    }
    let d = serve(&[]);
    let mut child = Command::new("socat")
        .args(["-t", "1", "-", &format!("UDP:{}", d.addr())])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn socat");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from socat\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "hello from socat\n");
}

/// socat as an echo server (`UDP-LISTEN:0 PIPE`), killed on drop.
struct SocatEcho {
    child: Child,
    addr: SocketAddr,
}

impl SocatEcho {
    fn start() -> SocatEcho {
        let mut child = Command::new("socat")
            .args(["-d", "-d", "UDP-LISTEN:0,bind=127.0.0.1", "PIPE"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn socat");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // socat -d -d says `... N listening on UDP AF=2 127.0.0.1:PORT`.
        let addr = lines
            .find_map(|l| {
                let l = l.ok()?;
                l.contains("listening on")
                    .then(|| l.rsplit(' ').next()?.parse().ok())?
            })
            .expect("socat printed its address");
        thread::spawn(move || lines.for_each(drop));
        SocatEcho { child, addr }
    }
}

impl Drop for SocatEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ping_measures_a_socat_pipe_echo_server() {
    if !require_program("socat") {
        return;
    }
    let socat = SocatEcho::start();
    let out = run(&[
        "ping",
        &socat.addr.to_string(),
        "-c",
        "10",
        "-i",
        "0",
        "--json",
    ]);
    let doc = text(&out.stdout);
    assert!(out.status.success(), "{doc}{}", text(&out.stderr));
    assert_eq!(json_number(&doc, "sent"), 10.0, "{doc}");
    assert_eq!(json_number(&doc, "received"), 10.0, "{doc}");
    assert!(json_number(&doc, "p50") > 0.0);
}

/// Regression: socat's PIPE echo cuts datagrams at 8192 bytes, and `ping -s
/// 10000` reported 0% loss with no sign of it but "8192 bytes from".
#[test]
fn ping_flags_replies_socat_cuts_at_8192_bytes_as_corrupted() {
    if !require_program("socat") {
        return;
    }
    let socat = SocatEcho::start();
    let addr = socat.addr.to_string();
    let out = run(&["ping", &addr, "-c", "3", "-s", "10000", "-i", "0"]);
    let t = text(&out.stdout);
    assert!(out.status.success(), "{t}{}", text(&out.stderr));
    assert_eq!(
        t.lines()
            .filter(|l| l.starts_with("8192 bytes from")
                && l.ends_with("(truncated: 8192 of 10000 bytes)"))
            .count(),
        3,
        "{t}"
    );
    assert!(
        t.contains("3 sent, 3 received, 0 lost (0.0% loss)") && t.contains(", 3 corrupted"),
        "{t}"
    );
    // socat's UDP-LISTEN serves its first peer only: a fresh one for the
    // second run (a new source port).
    let socat = SocatEcho::start();
    let addr = socat.addr.to_string();
    let out = run(&["ping", &addr, "-c", "3", "-s", "10000", "-i", "0", "--json"]);
    let doc = text(&out.stdout);
    assert_eq!(json_number(&doc, "corrupted"), 3.0, "{doc}");
    assert_eq!(json_number(&doc, "received"), 3.0, "{doc}");
}
