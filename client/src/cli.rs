//! Command-line options.
//!
//! # Design
//!
//! The flag names are the contract of issue 4 and are spelled exactly so.
//! The options live in the library (not in `main`) so that [`crate::run`]
//! takes one value that tests can build, and so that `--help` and the docs
//! come from the same doc comments.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};

/// The server address used when `--connect` is not given: the seed's port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The port used for an address given without one (`--connect 10.0.0.5`,
/// a `--hosts` entry `box`), as ssh assumes 22: the server's default port.
pub const DEFAULT_PORT: u16 = 8080;

/// Hosts run at once by default in fan-out mode.
pub const DEFAULT_FANOUT: usize = 32;

const AFTER_HELP: &str = "\
Modes:
  client [OPTIONS] -- COMMAND...   run COMMAND once, like `ssh host COMMAND`
  client [OPTIONS]                 REPL on a terminal; otherwise one command per line from stdin
                                   (REPL history: $XDG_DATA_HOME/rcmd/client_history, by default
                                   ~/.local/share/rcmd/client_history)
  client --hosts A,B -- COMMAND    run COMMAND on every host at once

Exit status:
  the remote command's exit code; 128+N when signal N killed it; 124 when the
  time limit ended it; 255 when the client could not connect, authenticate or
  keep speaking the protocol (one line on stderr says where and why); 2 for
  usage errors (a bad option or address); 130 when Ctrl-C ended the client
  (a second press, a cancel that could not be sent, or stdin mode). Fan-out:
  the largest status over all hosts, 255 if any host was unreachable. Stdin
  mode: the last failing command's status.";

/// Options of the `client` binary.
#[derive(Debug, Clone, Parser)]
#[command(name = "client", version, about = "Run commands on the toolkit's server: one-shot like ssh, a REPL, or fanned out over many servers", after_help = AFTER_HELP)]
// `--group` and `--fanout` mean something only with a host list, from
// either flag.
#[command(group = ArgGroup::new("host_list").args(["hosts", "hosts_file"]).multiple(true))]
pub struct Options {
    /// Server address, HOST:PORT; without a port, the server's default
    /// port 8080 (`10.0.0.5`, `[::1]`, `box`); not with --hosts/--hosts-file
    #[arg(
        long,
        value_name = "ADDR",
        default_value = DEFAULT_ADDR,
        value_parser = parse_addr,
        conflicts_with = "host_list"
    )]
    pub connect: String,

    /// File holding the shared secret the server asks for (trailing
    /// whitespace is ignored; at most 64 KiB); without it, the server must
    /// not require one
    #[arg(long, value_name = "PATH", conflicts_with = "legacy")]
    pub token_file: Option<PathBuf>,

    /// Time limit per command, enforced by the server (which kills the
    /// command and reports status 124); never longer than the server's
    /// own, and 0 means the server's [default: the server's]
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "legacy")]
    pub timeout: Option<Duration>,

    /// Seconds to connect, then for the whole handshake; 0 means no limit
    /// of our own (the operating system's connect timeout still applies)
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    pub connect_timeout: Duration,

    /// Don't forward stdin to the command (its stdin is /dev/null); stdin is
    /// forwarded by default when it is not a terminal (never in fan-out).
    /// Needs a COMMAND: without one, stdin holds the commands
    #[arg(short = 'n', requires = "command")]
    pub no_stdin: bool,

    /// Fan out: run COMMAND on every one of these comma-separated addresses
    /// (without a port: 8080, and shown so); a malformed one is an error
    #[arg(long, value_name = "LIST")]
    pub hosts: Option<String>,

    /// Fan out: run COMMAND on every address in this file (one a line, `#`
    /// starts a comment, at most 16 MiB); a malformed line is an error
    /// naming it
    #[arg(long, value_name = "PATH")]
    pub hosts_file: Option<PathBuf>,

    /// Fan out: at most this many hosts at once (needs --hosts or
    /// --hosts-file)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FANOUT, value_parser = parse_fanout, requires = "host_list")]
    pub fanout: usize,

    /// Fan out: instead of live prefixed lines, print identical outputs once
    /// after all hosts finish, with the hosts that produced them (like
    /// `dshbak -c`; needs --hosts or --hosts-file). Output is kept in memory
    /// up to 64 MiB in all, the rest in temporary files ($TMPDIR)
    #[arg(long, requires = "host_list")]
    pub group: bool,

    /// Speak the seed's wire format (raw command out, 4-byte little-endian
    /// length and output back) to the seed's Python server or `server
    /// --legacy`; no exit status, stdout and stderr merged, no --timeout or
    /// --token-file (the format has no room for them)
    #[arg(long)]
    pub legacy: bool,

    /// The command to run, its words joined by spaces as ssh does; without
    /// it, a REPL (or commands from stdin). Words after the first one are
    /// the command's even when they look like options (`ls -la`); before
    /// it, an unknown option is an error, not a command
    // No `allow_hyphen_values`: with it a mistyped option (`--tiemout 1`)
    // became the remote command. `trailing_var_arg` alone already takes
    // everything after the first command word as command words.
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

impl Options {
    /// Options as if given `args` (without the program name); for tests and
    /// embedding.
    ///
    /// ```
    /// let options = client::Options::from_args(["--timeout", "1.5", "--", "echo", "-n", "hi"])?;
    /// assert_eq!(options.timeout, Some(std::time::Duration::from_millis(1500)));
    /// assert_eq!(options.command_line().as_deref(), Some(&b"echo -n hi"[..]));
    /// # Ok::<(), clap::Error>(())
    /// ```
    pub fn from_args<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let program = std::iter::once(OsString::from("client"));
        Options::try_parse_from(program.chain(args.into_iter().map(Into::into)))
    }

    /// The command words joined by single spaces, as bytes (not necessarily
    /// UTF-8); `None` when no command was given.
    pub fn command_line(&self) -> Option<Vec<u8>> {
        if self.command.is_empty() {
            return None;
        }
        let words: Vec<&[u8]> = self.command.iter().map(|w| w.as_bytes()).collect();
        Some(words.join(&b' '))
    }

    /// The per-command limit in milliseconds for an `Exec` frame.
    pub fn timeout_ms(&self) -> Option<u32> {
        self.timeout.map(duration_to_ms)
    }

    /// Whether this is a fan-out run.
    pub fn is_fanout(&self) -> bool {
        self.hosts.is_some() || self.hosts_file.is_some()
    }
}

/// Milliseconds for a duration, rounded up so that a tiny positive limit is
/// not mistaken for "none", saturating at `u32::MAX` (49 days).
fn duration_to_ms(duration: Duration) -> u32 {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// Parses seconds, fractions allowed: `10`, `0.5`.
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a usable duration"))
}

/// `--connect`: the address as given, with [`DEFAULT_PORT`] added when it
/// has none, so prompts and messages name the port actually used; one that
/// cannot be an address (`127.0.0.1:99999`) is a usage error, as a bad
/// `--hosts` entry is.
fn parse_addr(text: &str) -> Result<String, String> {
    crate::hosts::normalize(text)
}

fn parse_fanout(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        Options::from_args(args.iter().copied()).expect("valid arguments")
    }

    #[test]
    fn defaults_match_the_issue() {
        let options = parse(&[]);
        assert_eq!(options.connect, "127.0.0.1:8080");
        assert_eq!(options.fanout, 32);
        assert_eq!(options.connect_timeout, Duration::from_secs(10));
        assert_eq!(options.timeout, None);
        assert!(!options.no_stdin && !options.group && !options.legacy);
        assert_eq!(options.command_line(), None);
    }

    #[test]
    fn trailing_words_are_the_command_even_when_they_look_like_flags() {
        let options = parse(&["--connect", "127.0.0.1:9", "ls", "-l", "--all", "-n"]);
        assert_eq!(options.command_line().unwrap(), b"ls -l --all -n");
        assert!(!options.no_stdin, "-n after the command belongs to it");
    }

    #[test]
    fn double_dash_separates_the_command() {
        let options = parse(&["-n", "--", "wc", "-c"]);
        assert!(options.no_stdin);
        assert_eq!(options.command_line().unwrap(), b"wc -c");
    }

    #[test]
    fn every_flag_is_spelled_as_the_issue_says() {
        // --connect does not go with a host list: it is checked alone.
        assert_eq!(parse(&["--connect", "[::1]:1", "true"]).connect, "[::1]:1");
        let options = parse(&[
            "--token-file",
            "/t",
            "--timeout",
            "2",
            "--connect-timeout",
            "0.25",
            "-n",
            "--hosts",
            "a:1,b:2",
            "--hosts-file",
            "/h",
            "--fanout",
            "4",
            "--group",
            "true",
        ]);
        assert_eq!(options.token_file, Some(PathBuf::from("/t")));
        assert_eq!(options.timeout_ms(), Some(2000));
        assert_eq!(options.connect_timeout, Duration::from_millis(250));
        assert_eq!(options.hosts.as_deref(), Some("a:1,b:2"));
        assert_eq!(options.hosts_file, Some(PathBuf::from("/h")));
        assert_eq!(options.fanout, 4);
        assert!(options.no_stdin && options.group && options.is_fanout());
        assert!(parse(&["--legacy", "true"]).legacy);
    }

    #[test]
    fn bad_numbers_are_usage_errors() {
        assert!(Options::from_args(["--timeout", "soon"]).is_err());
        assert!(Options::from_args(["--timeout", "-1"]).is_err());
        assert!(Options::from_args(["--fanout", "0"]).is_err());
        assert!(Options::from_args(["--connect-timeout", "inf"]).is_err());
    }

    /// Regression: with `allow_hyphen_values` a mistyped option became the
    /// remote command (`--tiemout 1 -- true` ran remotely).
    #[test]
    fn unknown_option_before_the_command_is_an_error_not_the_command() {
        for args in [
            &["--connect", "127.0.0.1:9", "--tiemout", "1", "--", "true"][..],
            &["--conect", "x", "--", "true"],
            &["--tiemout", "1", "true"],
            &["-x", "ls"],
        ] {
            let error = Options::from_args(args.iter().copied()).expect_err("unknown option");
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{args:?}"
            );
            assert_eq!(error.exit_code(), 2);
        }
    }

    #[test]
    fn hyphen_words_after_the_first_command_word_belong_to_the_command() {
        let options = parse(&["--connect", "127.0.0.1:9", "--", "ls", "-la"]);
        assert_eq!(options.command_line().unwrap(), b"ls -la");
        let options = parse(&["--connect", "127.0.0.1:9", "ls", "-la", "--tiemout"]);
        assert_eq!(options.command_line().unwrap(), b"ls -la --tiemout");
        let options = parse(&["--", "-leading", "x"]);
        assert_eq!(options.command_line().unwrap(), b"-leading x");
    }

    #[test]
    fn legacy_conflicts_with_options_its_format_cannot_carry() {
        for args in [
            &["--legacy", "--timeout", "1", "true"][..],
            &["--legacy", "--token-file", "/t", "true"],
        ] {
            let error = Options::from_args(args.iter().copied()).expect_err("conflict");
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
            assert_eq!(error.exit_code(), 2);
        }
    }

    #[test]
    fn connect_and_a_host_list_are_not_given_together() {
        for args in [
            &["--connect", "a:1", "--hosts", "b:2", "true"][..],
            &["--connect", "a:1", "--hosts-file", "/h", "true"],
        ] {
            let error = Options::from_args(args.iter().copied()).expect_err("conflict");
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
        // The default address does not count as given.
        parse(&["--hosts", "b:2", "true"]);
    }

    #[test]
    fn group_and_fanout_need_a_host_list() {
        for args in [&["--group", "true"][..], &["--fanout", "4", "true"]] {
            let error = Options::from_args(args.iter().copied()).expect_err("needs hosts");
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::MissingRequiredArgument,
                "{args:?}"
            );
        }
        parse(&["--group", "--hosts-file", "/h", "true"]);
        parse(&["--fanout", "2", "--hosts", "a:1", "true"]);
    }

    #[test]
    fn connect_without_a_port_uses_the_servers_default_port() {
        for (given, used) in [
            ("127.0.0.1", "127.0.0.1:8080"),
            ("[::1]", "[::1]:8080"),
            ("::1", "[::1]:8080"),
            ("localhost", "localhost:8080"),
            ("localhost:9", "localhost:9"),
            ("[::1]:9", "[::1]:9"),
        ] {
            assert_eq!(parse(&["--connect", given]).connect, used, "{given}");
        }
    }

    /// Regression: `client -n` without a COMMAND read and ran commands
    /// from the stdin it was told to leave alone.
    #[test]
    fn dash_n_without_a_command_is_a_usage_error() {
        let error = Options::from_args(["-n"]).expect_err("-n needs a command");
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert_eq!(error.exit_code(), 2);
        assert!(parse(&["-n", "--", "true"]).no_stdin);
    }

    #[test]
    fn connect_to_something_that_is_no_address_is_a_usage_error() {
        for bad in ["127.0.0.1:99999", "127.0.0.1:0", "a b", "[::1", ""] {
            let error = Options::from_args(["--connect", bad]).expect_err(bad);
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad}"
            );
            assert_eq!(error.exit_code(), 2);
        }
    }

    #[test]
    fn tiny_timeouts_round_up_instead_of_meaning_none() {
        assert_eq!(duration_to_ms(Duration::from_micros(1)), 1);
        assert_eq!(duration_to_ms(Duration::from_secs(u64::MAX / 4)), u32::MAX);
    }
}
