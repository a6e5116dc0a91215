//! The JSON output contract of issue 6, checked in memory through
//! `subnet_calc::run` and parsed back with `serde_json`.

use clap::Parser;
use serde_json::Value;
use subnet_calc::{run, Cli, Env, Exit};

const KEYS: [&str; 13] = [
    "input",
    "version",
    "address",
    "prefix",
    "netmask",
    "wildcard",
    "network",
    "broadcast",
    "first_host",
    "last_host",
    "addresses",
    "hosts",
    "type",
];

/// Runs the CLI with `args` and `stdin` (a pipe, not a terminal).
fn run_cli(args: &[&str], stdin: &str) -> (Exit, String, String) {
    let cli = Cli::try_parse_from(std::iter::once("subnet-calc").chain(args.iter().copied()))
        .expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = run(
        &cli,
        &Env::default(),
        &mut stdin.as_bytes(),
        &mut out,
        &mut err,
    );
    (
        exit,
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
    )
}

#[test]
fn every_object_has_exactly_the_contract_keys_in_order() {
    let (exit, out, _) = run_cli(&["--json", "10.0.0.1/8", "2001:db8::/64"], "");
    assert_eq!(exit, Exit::Success);
    let v: Value = serde_json::from_str(&out).expect("valid JSON");
    for obj in v.as_array().expect("an array for several inputs") {
        let mut keys: Vec<&str> = obj
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut contract = KEYS.to_vec();
        contract.sort_unstable();
        assert_eq!(keys, contract);
    }
    // The order, in the text itself.
    let first_line = out.lines().nth(1).expect("first object");
    let mut at = 0;
    for k in KEYS {
        let found = first_line[at..]
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("key {k} missing or out of order in {first_line}"));
        at += found;
    }
}

#[test]
fn values_have_the_documented_types() {
    let (_, out, _) = run_cli(&["--json", "192.168.9.193/25"], "");
    let v: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["version"], 4);
    assert_eq!(v["prefix"], 25);
    assert_eq!(v["addresses"], 128);
    assert_eq!(v["hosts"], 126);
    assert_eq!(v["broadcast"], "192.168.9.255");
    assert_eq!(v["type"], "private");
    let (_, out, _) = run_cli(&["--json", "fe80::1/64"], "");
    let v: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["version"], 6);
    assert!(v["broadcast"].is_null());
    assert_eq!(v["type"], "link-local");
}

#[test]
fn counts_past_2_pow_53_stay_exact_integers_in_the_text() {
    let (_, out, _) = run_cli(&["--json", "2001:db8::/8"], "");
    // 2^120: serde_json without arbitrary_precision reads it as f64, so
    // check the text itself.
    assert!(
        out.contains(r#""addresses":1329227995784915872903807060280344576,"#),
        "{out}"
    );
    assert!(out.contains(r#""hosts":1329227995784915872903807060280344575,"#));
    let v: Value = serde_json::from_str(&out).expect("still valid JSON");
    assert!(v["addresses"].is_number());
}

#[test]
fn batch_json_is_one_valid_array_even_with_bad_lines() {
    let input = "10.0.0.0/8\n\n# skip\nnonsense\n\"quoted\\\" 1.2.3.4\n::1\n";
    let (exit, out, err) = run_cli(&["--json"], input);
    assert_eq!(exit, Exit::BadInput);
    let v: Value = serde_json::from_str(&out).expect("valid JSON");
    let a = v.as_array().expect("array");
    assert_eq!(a.len(), 4, "{out}");
    assert_eq!(a[0]["network"], "10.0.0.0");
    assert_eq!(a[1]["input"], "nonsense");
    assert_eq!(a[1]["error"], "not an IPv4 or IPv6 address");
    assert_eq!(a[2]["input"], "\"quoted\\\" 1.2.3.4");
    assert_eq!(a[3]["address"], "::1");
    assert!(err.contains("line 4:"), "{err}");
    assert!(err.contains("line 5:"), "{err}");
}

#[test]
fn subcommand_json_outputs_parse() {
    for args in [
        &["--json", "split", "10.0.0.0/30", "--prefix", "31"][..],
        &["--json", "aggregate", "10.0.0.0/25", "10.0.0.128/25"],
        &["--json", "range", "10.0.0.1", "10.0.0.6"],
        &["--json", "exclude", "10.0.0.0/24", "10.0.0.0/25"],
        &["--json", "vlsm", "10.0.0.0/24", "100", "20"],
        &["--json", "contains", "10.0.0.0/24", "10.0.0.9"],
    ] {
        let (exit, out, err) = run_cli(args, "");
        assert_eq!(exit, Exit::Success, "{args:?}: {err}");
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
    }
    let (_, out, _) = run_cli(&["--json", "vlsm", "10.0.0.0/24", "100", "20"], "");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["subnets"][0]["network"], "10.0.0.0/25");
    assert_eq!(v["subnets"][1]["network"], "10.0.0.128/27");
    assert_eq!(v["unused"][0], "10.0.0.160/27");
}
