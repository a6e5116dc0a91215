//! `subnet-calc` end to end: the real binary, its stdout, stderr and exit
//! status, batch mode through a pipe.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;

use integration_tests::bin_path;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `subnet-calc args` with `stdin` piped in (written from a thread, so
/// a large input cannot deadlock against a full stdout pipe).
fn run_with(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin_path("subnet-calc"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("NO_COLOR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn subnet-calc");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_owned();
    let writer = thread::spawn(move || {
        // The program may exit before reading everything; that is its right.
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait subnet-calc");
    writer.join().expect("stdin writer");
    Output {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn run(args: &[&str]) -> Output {
    run_with(args, "", &[])
}

#[test]
fn the_seeds_example_reports_network_hosts_type_and_bits() {
    let o = run(&["192.168.9.193/25"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let expected = "\
Address:      192.168.9.193
Netmask:      255.255.255.128 = 25
Wildcard:     0.0.0.127
Network:      192.168.9.128/25
Broadcast:    192.168.9.255
First host:   192.168.9.129
Last host:    192.168.9.254
Addresses:    128
Hosts:        126
Class:        C
Type:         private (RFC 1918)
Reverse DNS:  9.168.192.in-addr.arpa.

Address:      11000000 10101000 00001001 1|1000001
Netmask:      11111111 11111111 11111111 1|0000000
Network:      11000000 10101000 00001001 1|0000000
Broadcast:    11000000 10101000 00001001 1|1111111
";
    assert_eq!(o.stdout, expected);
    assert_eq!(o.stderr, "");
}

#[test]
fn no_colour_when_stdout_is_a_pipe_and_colour_when_forced() {
    assert!(!run(&["10.0.0.0/8"]).stdout.contains('\x1b'));
    assert!(run(&["--color=always", "10.0.0.0/8"])
        .stdout
        .contains("\x1b[36m"));
    assert!(!run(&["--color=never", "10.0.0.0/8"])
        .stdout
        .contains('\x1b'));
    let o = run_with(&["--color=auto", "10.0.0.0/8"], "", &[("NO_COLOR", "1")]);
    assert!(!o.stdout.contains('\x1b'));
}

#[test]
fn json_for_one_input_is_one_object_with_the_contract_keys() {
    let o = run(&["--json", "10.1.2.3/31"]);
    assert_eq!(o.code, 0);
    assert_eq!(
        o.stdout,
        concat!(
            r#"{"input":"10.1.2.3/31","version":4,"address":"10.1.2.3","prefix":31,"#,
            r#""netmask":"255.255.255.254","wildcard":"0.0.0.1","network":"10.1.2.2","#,
            r#""broadcast":"10.1.2.3","first_host":"10.1.2.2","last_host":"10.1.2.3","#,
            r#""addresses":2,"hosts":2,"type":"private"}"#,
            "\n"
        )
    );
}

#[test]
fn json_for_several_inputs_is_an_array_with_exact_huge_counts() {
    let o = run(&["--json", "::/0", "2001:DB8::1/64", "0.0.0.0/0"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.starts_with("[\n{") && o.stdout.ends_with("}\n]\n"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains(r#""addresses":340282366920938463463374607431768211456,"hosts":340282366920938463463374607431768211455,"#));
    assert!(
        o.stdout.contains(r#""address":"2001:db8::1","#),
        "RFC 5952 lower case"
    );
    assert!(o.stdout.contains(r#""broadcast":null"#));
    assert!(o
        .stdout
        .contains(r#""addresses":4294967296,"hosts":4294967294,"#));
}

#[test]
fn batch_mode_reads_stdin_when_there_is_no_input_argument() {
    let o = run_with(
        &[],
        "192.168.9.1/24\n# a comment\n\n10.0.0.1 255.0.0.0\n",
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.matches("Address:").count(), 4, "two reports");
    assert!(o.stdout.contains("Network:      192.168.9.0/24\n"));
    assert!(o.stdout.contains("Network:      10.0.0.0/8\n"));
}

#[test]
fn batch_json_keeps_one_entry_per_line_and_bad_lines_exit_2() {
    let o = run_with(&["--json", "-"], "10.0.0.0/8\n010.0.0.1\n::1\r\n", &[]);
    assert_eq!(o.code, 2);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", o.stdout);
    assert_eq!(lines[0], "[");
    assert!(lines[1].starts_with(r#"{"input":"10.0.0.0/8","#));
    assert!(lines[2].starts_with(r#"{"input":"010.0.0.1","error":"leading zero"#));
    assert!(
        lines[3].starts_with(r#"{"input":"::1","version":6,"#),
        "CRLF is trimmed"
    );
    assert_eq!(lines[4], "]");
    assert!(o.stderr.contains("line 2: leading zero"), "{}", o.stderr);
    assert!(
        o.stderr.contains("\n    010.0.0.1\n    ^^^\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn errors_show_the_input_with_a_caret_under_the_fault() {
    let o = run(&["010.1.1.1"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "subnet-calc: error: leading zero in an octet (octal or decimal? see CVE-2021-29921)\n    010.1.1.1\n    ^^^\n"
    );
    let o = run(&["10.0.0.0/255.0.255.0"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains(
            "netmask is not contiguous\n    10.0.0.0/255.0.255.0\n             ^^^^^^^^^^^\n"
        ),
        "{}",
        o.stderr
    );
    let o = run(&["10.0.0.0/33"]);
    assert!(
        o.stderr.contains(
            "prefix length 33 is out of range 0..=32\n    10.0.0.0/33\n             ^^\n"
        ),
        "{}",
        o.stderr
    );
}

#[test]
fn addr_and_mask_as_two_arguments_are_one_input() {
    let o = run(&["--json", "192.168.9.193", "255.255.255.128"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o
        .stdout
        .starts_with(r#"{"input":"192.168.9.193 255.255.255.128","#));
    assert!(o.stdout.contains(r#""prefix":25,"#));
    // A non-contiguous mask in second place is an error, not a second host.
    let o = run(&["10.0.0.1", "0.255.255.0"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("netmask is not contiguous"),
        "{}",
        o.stderr
    );
}

#[test]
fn wildcard_flag_reads_cisco_masks_and_without_it_the_error_says_so() {
    let o = run(&["--json", "--wildcard", "10.0.0.0", "0.0.0.255"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains(r#""prefix":24,"#));
    let o = run(&["10.0.0.0/0.0.0.255"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("use --wildcard"), "{}", o.stderr);
}

#[test]
fn split_by_prefix_and_by_count() {
    let o = run(&["split", "10.0.0.0/24", "--prefix", "26"]);
    assert_eq!(
        o.stdout,
        "10.0.0.0/26\n10.0.0.64/26\n10.0.0.128/26\n10.0.0.192/26\n"
    );
    let o = run(&["split", "10.0.0.0/24", "--count", "3"]);
    assert_eq!(o.stdout.lines().count(), 4, "rounded up to a power of two");
    let o = run(&["split", "--json", "2001:db8::/32", "--prefix", "33"]);
    assert_eq!(o.stdout, "[\"2001:db8::/33\",\"2001:db8:8000::/33\"]\n");
}

#[test]
fn split_with_host_bits_is_refused_unless_loose() {
    let o = run(&["split", "10.0.0.1/24", "--prefix", "25"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("host bits are set: the network is 10.0.0.0/24"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("    10.0.0.1/24\n    ^^^^^^^^\n"),
        "{}",
        o.stderr
    );
    let o = run(&["split", "--loose", "10.0.0.1/24", "--prefix", "25"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "10.0.0.0/25\n10.0.0.128/25\n")
    );
}

#[test]
fn split_beyond_the_limit_stops_before_printing() {
    let o = run(&["split", "::/0", "--prefix", "128"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    assert!(
        o.stderr.contains(
            "would print 340282366920938463463374607431768211456 lines, more than --limit 65536"
        ),
        "{}",
        o.stderr
    );
    let o = run(&["split", "10.0.0.0/24", "--prefix", "30", "--limit", "63"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""));
    let o = run(&["split", "10.0.0.0/24", "--prefix", "30", "--limit", "64"]);
    assert_eq!((o.code, o.stdout.lines().count()), (0, 64));
}

/// `--limit` counts every line vlsm prints, the unused space included: it
/// used to count only the subnets asked for, so `--limit 5` printed 10
/// lines here and `vlsm ::/0 1 --limit 3` printed 129.
#[test]
fn vlsm_beyond_the_limit_counting_its_unused_lines_stops_before_printing() {
    // 3 subnets and 7 unused blocks: 10 lines.
    let args = ["vlsm", "10.0.0.0/24", "1", "1", "1", "--limit"];
    let o = run(&[&args[..], &["9"]].concat());
    assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{}", o.stderr);
    assert!(
        o.stderr.contains("10 lines, more than --limit 9"),
        "{}",
        o.stderr
    );
    let o = run(&[&args[..], &["10"]].concat());
    assert_eq!((o.code, o.stdout.lines().count()), (0, 10), "{}", o.stderr);
    let o = run(&["vlsm", "::/0", "1", "--limit", "3", "--json"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{}", o.stderr);
}

#[test]
fn vlsm_allocates_largest_first_prints_in_order_asked_then_unused() {
    let o = run(&["vlsm", "192.168.0.0/24", "20", "100", "50"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "\
192.168.0.192/27  asked 20, usable 30
192.168.0.0/25    asked 100, usable 126
192.168.0.128/26  asked 50, usable 62
192.168.0.224/27  unused
"
    );
    let o = run(&["vlsm", "192.168.0.0/24", "200", "100"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("does not fit"), "{}", o.stderr);
}

#[test]
fn aggregate_from_arguments_and_from_stdin() {
    let o = run(&[
        "aggregate",
        "10.0.1.0/24",
        "2001:db8::/33",
        "10.0.0.0/24",
        "2001:db8:8000::/33",
    ]);
    assert_eq!(o.stdout, "10.0.0.0/23\n2001:db8::/32\n");
    let o = run_with(
        &["aggregate"],
        "192.168.0.0/25\n192.168.0.128/25\n10.0.0.0/8\n10.1.0.0/16\n",
        &[],
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "10.0.0.0/8\n192.168.0.0/24\n")
    );
    let o = run_with(&["aggregate"], "10.0.0.0/8\n10.0.0.1/8\n", &[]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "", "no partial answer on bad input");
    assert!(
        o.stderr.contains("line 2: host bits are set"),
        "{}",
        o.stderr
    );
}

#[test]
fn range_gives_minimal_cidrs_and_refuses_reversed_or_mixed() {
    let o = run(&["range", "10.0.0.1", "10.0.0.6"]);
    assert_eq!(
        o.stdout,
        "10.0.0.1/32\n10.0.0.2/31\n10.0.0.4/31\n10.0.0.6/32\n"
    );
    assert_eq!(
        run(&["range", "0.0.0.0", "255.255.255.255"]).stdout,
        "0.0.0.0/0\n"
    );
    assert_eq!(run(&["range", "10.0.0.6", "10.0.0.1"]).code, 2);
    assert_eq!(run(&["range", "10.0.0.1", "::1"]).code, 2);
}

#[test]
fn exclude_lists_what_is_left_sorted() {
    let o = run(&["exclude", "10.0.0.0/24", "10.0.0.128/26", "10.0.0.0/26"]);
    assert_eq!(o.stdout, "10.0.0.64/26\n10.0.0.192/26\n");
    let o = run(&["exclude", "--json", "10.0.0.0/30", "10.0.0.0/30"]);
    assert_eq!(o.stdout, "[]\n");
    assert_eq!(run(&["exclude", "10.0.0.0/24", "::/0"]).code, 2);
}

#[test]
fn contains_exit_codes_are_0_1_2() {
    assert_eq!(run(&["contains", "10.0.0.0/8", "10.200.1.1"]).code, 0);
    assert_eq!(run(&["contains", "10.0.0.0/8", "10.0.0.0/16"]).code, 0);
    assert_eq!(run(&["contains", "10.0.0.0/8", "11.0.0.1"]).code, 1);
    assert_eq!(run(&["contains", "10.0.0.0/8", "0.0.0.0/0"]).code, 1);
    assert_eq!(run(&["contains", "10.0.0.0/8", "::1"]).code, 1);
    assert_eq!(run(&["contains", "10.0.0.0/8", "10.0.0.256"]).code, 2);
    assert_eq!(run(&["contains", "10.0.0.1/8", "10.0.0.2"]).code, 2);
    let o = run(&["contains", "--json", "2001:db8::/32", "2001:db8:1::/48"]);
    assert_eq!(
        o.stdout,
        "{\"network\":\"2001:db8::/32\",\"other\":\"2001:db8:1::/48\",\"contains\":true}\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        run(&["split", "10.0.0.0/8"]).code,
        2,
        "needs --prefix or --count"
    );
    assert_eq!(run(&["--no-such-flag"]).code, 2);
}

#[test]
fn a_closed_stdout_pipe_ends_quietly_with_success() {
    let mut child = Command::new(bin_path("subnet-calc"))
        .args([
            "split",
            "10.0.0.0/8",
            "--prefix",
            "28",
            "--limit",
            "2000000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn batch_mode_answers_each_line_before_stdin_closes() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let mut child = Command::new(bin_path("subnet-calc"))
        .args(["--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    stdin.write_all(b"10.0.0.1/8\n").expect("write");
    stdin.flush().expect("flush");
    // The array stays open (the next element's comma is still to come),
    // but the first object must arrive while stdin is still open.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(r#""type":"private"}"#) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = rx
            .recv_timeout(left)
            .expect("the first answer before stdin is closed");
        seen.extend(chunk);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("[\n{\"input\":\"10.0.0.1/8\","));
    drop(stdin);
    child.wait().expect("wait");
    reader.join().expect("reader");
}
