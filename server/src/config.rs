//! The server's configuration, and the command line that fills it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// The seed's address: loopback, port 8080.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Every bound the server enforces. [`Config::default`] gives the documented
/// defaults; the command line overrides them.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// The shared secret clients must prove they know; `None` = no auth.
    pub token: Option<Vec<u8>>,
    /// Listen on non-loopback addresses without a token.
    pub allow_unauthenticated: bool,
    /// Connections served at once; more get an `Error` frame and a close.
    pub max_connections: usize,
    /// Commands running at once, server-wide; more wait in order.
    pub max_running: usize,
    /// Default per-command time limit; `None` = no limit.
    pub timeout: Option<Duration>,
    /// Close connections with no command and no complete frame (in legacy
    /// mode: no bytes) from the client for this long.
    pub idle_timeout: Option<Duration>,
    /// Close connections that do not finish the handshake in this time.
    pub handshake_timeout: Duration,
    /// Largest frame payload accepted from a client.
    pub max_frame: usize,
    /// The shell commands run under, as `SHELL -c COMMAND`.
    pub shell: PathBuf,
    /// Speak the seed's wire format instead of the framed protocol.
    pub legacy: bool,
    /// After a timeout's SIGTERM, wait this long before SIGKILL.
    pub kill_grace: Duration,
    /// After the shell exits, wait at most this long for its output pipes to
    /// close (a background process may hold them) before sending `Exit`.
    pub linger: Duration,
    /// On SIGINT/SIGTERM/SIGHUP, let running commands finish for this long.
    pub shutdown_grace: Duration,
    /// Delay before answering a failed authentication.
    pub auth_failure_delay: Duration,
    /// Stop reading a command's output when this many bytes wait to be sent.
    pub out_high_watermark: usize,
    /// Resume reading once the queue drops below this.
    pub out_low_watermark: usize,
    /// Most output bytes read for one connection per event-loop turn, so one
    /// busy command cannot starve the others.
    pub read_budget: usize,
    /// Most commands queued (pipelined) on one connection before the server
    /// stops reading from it.
    pub max_queued: usize,
    /// Most bytes of queued commands (command lines, directories,
    /// environments) held for one connection before the server stops
    /// reading from it: without it, 1024 queued commands of `--max-frame`
    /// bytes each could hold a gibibyte.
    pub max_queued_bytes: usize,
    /// Most stdin bytes buffered for one connection before the server stops
    /// reading from it.
    pub stdin_high_watermark: usize,
    /// Largest reply (stdout + stderr) in legacy mode; output past it is cut
    /// and the cut is logged.
    pub legacy_max_output: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: vec![DEFAULT_LISTEN.parse().expect("valid default address")],
            token: None,
            allow_unauthenticated: false,
            max_connections: 1024,
            max_running: 64,
            timeout: None,
            idle_timeout: Some(Duration::from_secs(600)),
            handshake_timeout: Duration::from_secs(10),
            max_frame: protocol::DEFAULT_MAX_PAYLOAD,
            shell: PathBuf::from("/bin/sh"),
            legacy: false,
            kill_grace: Duration::from_secs(1),
            linger: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            auth_failure_delay: Duration::from_secs(1),
            // 512 KiB / 128 KiB, and a 1 MiB budget: a 2 GiB stream ran in
            // 1.33 s (median of 8) where 256 KiB / 64 KiB / 256 KiB took
            // 1.41 s; larger batches mean fewer pauses and larger writes.
            // A 1 MiB high watermark was faster still (1.28 s) but let a
            // fresh server's RSS grow 2.0-2.5 MiB under a slow reader,
            // against 0.6-0.7 MiB here (docs/BENCHMARKS.md, server).
            out_high_watermark: 512 * 1024,
            out_low_watermark: 128 * 1024,
            read_budget: 1024 * 1024,
            max_queued: 1024,
            max_queued_bytes: 4 << 20,
            stdin_high_watermark: 256 * 1024,
            legacy_max_output: 64 << 20,
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The token file could not be read.
    #[error("cannot read token file {path}: {source}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file holds nothing.
    #[error("token file {0} is empty")]
    EmptyToken(PathBuf),
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {0} without a token: anyone who can reach it could run commands; \
         give --token-file, or --allow-unauthenticated if you really mean it"
    )]
    Unauthenticated(SocketAddr),
    /// A bound that makes no sense.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Checks the combination of settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::Invalid("no address to listen on".into()));
        }
        if self.token.is_none() && !self.allow_unauthenticated && !self.legacy {
            if let Some(addr) = self.listen.iter().find(|a| !is_loopback(a)) {
                return Err(ConfigError::Unauthenticated(*addr));
            }
        }
        if self.legacy && self.token.is_some() {
            return Err(ConfigError::Invalid(
                "--legacy cannot authenticate: the seed's format has no handshake".into(),
            ));
        }
        if self.legacy && !self.allow_unauthenticated {
            if let Some(addr) = self.listen.iter().find(|a| !is_loopback(a)) {
                return Err(ConfigError::Unauthenticated(*addr));
            }
        }
        if self.max_connections == 0 || self.max_running == 0 {
            return Err(ConfigError::Invalid(
                "--max-connections and --max-running must be at least 1".into(),
            ));
        }
        if self.max_frame < 64 {
            return Err(ConfigError::Invalid(
                "--max-frame must be at least 64 bytes".into(),
            ));
        }
        // A frame's length field is a u32: a larger maximum means nothing,
        // and would overflow the input bound computed from it.
        if self.max_frame > u32::MAX as usize {
            return Err(ConfigError::Invalid(format!(
                "--max-frame must be at most {} bytes (a frame's length is 32 bits)",
                u32::MAX
            )));
        }
        // Deadlines are the clock plus these: past the limit the sum
        // overflows, which would bring the whole server down at the first
        // connection or command.
        for (name, value) in [
            ("--timeout", self.timeout),
            ("--idle-timeout", self.idle_timeout),
            ("--handshake-timeout", Some(self.handshake_timeout)),
            ("--shutdown-grace", Some(self.shutdown_grace)),
            ("--linger-ms", Some(self.linger)),
            ("kill grace", Some(self.kill_grace)),
            ("auth failure delay", Some(self.auth_failure_delay)),
        ] {
            if value.is_some_and(|d| d > MAX_DURATION) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at most {} s (100 years)",
                    MAX_DURATION.as_secs()
                )));
            }
        }
        self.shell_path()?;
        Ok(())
    }

    /// The shell as an absolute path ([`resolve_shell`]), or why it cannot
    /// run commands.
    pub fn shell_path(&self) -> Result<PathBuf, ConfigError> {
        resolve_shell(&self.shell)
            .map_err(|why| ConfigError::Invalid(format!("--shell {}: {why}", self.shell.display())))
    }
}

/// Whether only this machine can reach `addr`: 127.0.0.0/8, `::1`, or
/// 127.0.0.0/8 written as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`).
fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The longest time limit, time-out, grace or linger accepted: 100 years,
/// far past any real need and far from overflowing the clock.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The executable `shell` names, as an absolute path: a path is taken
/// from the server's directory, a bare name looked up on the server's
/// `PATH`, once. Left to each spawn, a relative path would be looked for
/// from the command's working directory and a bare name on the `PATH` its
/// `Exec` may set. A server that cannot start any command should not start
/// at all, so an error says why there is none.
pub fn resolve_shell(shell: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if shell.as_os_str().is_empty() {
        return Err("empty path".into());
    }
    let found = if shell.as_os_str().as_encoded_bytes().contains(&b'/') {
        match executable(shell) {
            Ok(true) => shell.to_path_buf(),
            Ok(false) => return Err("not an executable file".into()),
            Err(e) => return Err(e.to_string()),
        }
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(shell))
            .find(|candidate| executable(candidate).unwrap_or(false))
            .ok_or("no such executable on PATH")?
    };
    std::path::absolute(&found).map_err(|e| e.to_string())
}

/// The largest token file read.
pub const MAX_TOKEN: usize = 64 * 1024;

/// Reads a token file: its bytes, with trailing whitespace (a final newline)
/// removed.
pub fn read_token(path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let error = |source| ConfigError::TokenFile {
        path: path.to_owned(),
        source,
    };
    // Bounded: a wrong path (`/dev/zero`, a log file) must not eat memory.
    let mut token = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TOKEN as u64 + 1).read_to_end(&mut token))
        .map_err(error)?;
    if token.len() > MAX_TOKEN {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("over {MAX_TOKEN} bytes, which is no token (the wrong file?)"),
        )));
    }
    while token.last().is_some_and(|b| b.is_ascii_whitespace()) {
        token.pop();
    }
    if token.is_empty() {
        return Err(ConfigError::EmptyToken(path.to_owned()));
    }
    Ok(token)
}

fn seconds(value: u64) -> Option<Duration> {
    (value > 0).then(|| Duration::from_secs(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            ..Config::default()
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        config().validate().unwrap();
    }

    #[test]
    fn durations_that_would_overflow_the_clock_are_refused() {
        let huge = Duration::from_secs(u64::MAX);
        for set in [
            |c: &mut Config, d| c.timeout = Some(d),
            |c: &mut Config, d| c.idle_timeout = Some(d),
            |c: &mut Config, d| c.handshake_timeout = d,
            |c: &mut Config, d| c.shutdown_grace = d,
            |c: &mut Config, d| c.linger = d,
        ] as [fn(&mut Config, Duration); 5]
        {
            let mut c = config();
            set(&mut c, huge);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("at most"), "{err}");
            set(&mut c, MAX_DURATION);
            c.validate().unwrap();
        }
    }

    #[test]
    fn loopback_written_as_ipv4_mapped_ipv6_needs_no_token() {
        let mut c = config();
        c.listen = vec!["[::ffff:127.0.0.1]:0".parse().unwrap()];
        c.validate().unwrap();
        c.listen = vec!["[::ffff:10.0.0.1]:0".parse().unwrap()];
        assert!(matches!(c.validate(), Err(ConfigError::Unauthenticated(_))));
    }

    #[test]
    fn a_token_file_is_read_with_a_bound() {
        let err = read_token(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("no token"), "{err}");
        let path = std::env::temp_dir().join(format!("token-{}", std::process::id()));
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), b"s3cret");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_max_frame_past_the_length_field_is_refused() {
        let mut c = config();
        c.max_frame = u32::MAX as usize;
        c.validate().unwrap();
        c.max_frame = usize::MAX;
        assert!(c.validate().is_err());
    }

    #[test]
    fn a_shell_that_cannot_be_run_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let plain = std::env::temp_dir().join(format!("not-a-shell-{}", std::process::id()));
        std::fs::write(&plain, "echo hi\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let plain = plain.to_str().unwrap().to_string();
        for bad in [
            "/no/such/shell",
            "/tmp",
            &plain,
            "no-such-shell-on-path",
            "",
        ] {
            let mut c = config();
            c.shell = PathBuf::from(bad);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.starts_with("--shell"), "{bad}: {err}");
        }
        let _ = std::fs::remove_file(&plain);
        for good in ["/bin/sh", "sh"] {
            let mut c = config();
            c.shell = PathBuf::from(good);
            c.validate().unwrap();
            assert!(resolve_shell(&c.shell).unwrap().is_absolute());
        }
    }
}

/// The command line of the `server` binary.
#[derive(Debug, Parser)]
#[command(
    name = "server",
    version,
    about = "Run shell commands for many clients at once; stream back stdout, stderr and the exit status.",
    long_about = "Run shell commands for many clients at once; stream back stdout, stderr and \
the exit status.\n\nOne event loop serves every connection. Each command runs as `SHELL -c \
COMMAND` in its own process group. Once bound, the server prints `listening on ADDR` on stderr \
(one line per address). Talk to it with `client`. SIGINT, SIGTERM or SIGHUP (unless ignored, as under nohup) stops it gracefully.\n\n\
Security: commands run with the server's own privileges. Without --token-file anyone who can \
connect can run commands, so the server refuses non-loopback addresses unless a token is set \
or --allow-unauthenticated is given. Traffic is not encrypted.",
    after_help = "Log level: RUST_LOG (default: info, which includes one audit line per command). \
Log lines wait in memory (1 MiB at most) for a thread that writes them to stderr; on a stderr \
nobody reads, further lines are dropped and counted rather than stalling the server.\n\n\
Exit status: 0 after a graceful shutdown; 1 when it cannot run (an address in use); 2 for a bad \
command line or setting."
)]
pub struct Cli {
    /// Address to listen on (repeatable; IPv4 or IPv6, port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: Vec<SocketAddr>,

    /// File holding the shared token clients must prove they know (HMAC-SHA256 challenge;
    /// the token never crosses the wire; at most 64 KiB). Trailing whitespace is ignored. Default: none, so no
    /// authentication, and only loopback addresses unless --allow-unauthenticated.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Connections served at once; a client past this gets an error and is closed (clients
    /// being turned away do not count).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,

    /// Commands running at once, server-wide; further commands wait, in order.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_running: usize,

    /// Default per-command time limit in seconds (0 = none). A client may ask for a
    /// shorter limit, never a longer one. On expiry: SIGTERM, a 1 s grace, SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub timeout: u64,

    /// Close a connection with no command running and no complete frame from the client
    /// for this long (0 = never). Bytes that never make a frame do not count.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub idle_timeout: u64,

    /// Close a connection that has not finished the handshake in this long (0 counts as 1).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub handshake_timeout: u64,

    /// Largest frame payload accepted from a client, in bytes (at least 64).
    #[arg(long, value_name = "BYTES", default_value_t = protocol::DEFAULT_MAX_PAYLOAD)]
    pub max_frame: usize,

    /// Shell that runs each command as `SHELL -c COMMAND` (`SHELL -c -- COMMAND` for a command
    /// starting with `-`). A bare name (`bash`) is looked up on the server's PATH, and a
    /// relative path taken from the server's directory, once, at start.
    #[arg(long, value_name = "PATH", default_value = "/bin/sh")]
    pub shell: PathBuf,

    /// Allow listening on non-loopback addresses without a token (anyone who can
    /// connect can run commands).
    #[arg(long)]
    pub allow_unauthenticated: bool,

    /// Speak the seed's wire format: each request (up to 1024 bytes; complete after 30 ms
    /// without more bytes) is a command; the reply is a 4-byte little-endian length, then
    /// stdout followed by stderr.
    #[arg(long)]
    pub legacy: bool,

    /// On SIGINT/SIGTERM/SIGHUP, let running commands finish for this many seconds before
    /// killing them.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub shutdown_grace: u64,

    /// After a command's shell exits, wait at most this many milliseconds for
    /// background processes holding its output before sending the exit status.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub linger_ms: u64,
}

impl Cli {
    /// The configuration this command line asks for.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let token = self.token_file.as_deref().map(read_token).transpose()?;
        let config = Config {
            listen: self.listen,
            token,
            allow_unauthenticated: self.allow_unauthenticated,
            max_connections: self.max_connections,
            max_running: self.max_running,
            timeout: seconds(self.timeout),
            idle_timeout: seconds(self.idle_timeout),
            handshake_timeout: Duration::from_secs(self.handshake_timeout.max(1)),
            max_frame: self.max_frame,
            shell: self.shell,
            legacy: self.legacy,
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            linger: Duration::from_millis(self.linger_ms),
            ..Config::default()
        };
        config.validate()?;
        Ok(config)
    }
}
