//! The toolkit's client: run commands on the `server` one-shot like
//! `ssh host cmd`, interactively in a REPL, from a script on stdin, or
//! fanned out over many servers at once; and speak the seed's legacy
//! format with `--legacy`.
//!
//! ```text
//! client -- uname -a                        one-shot; exit status = the remote one
//! printf abc | client -- wc -c              stdin forwarded: prints 3
//! client                                    REPL on a terminal
//! printf 'date\nid\n' | client              one command a line, pipelined
//! client --hosts h:1,h:2 --group -- uptime  fan-out, outputs grouped
//! client --legacy --connect 127.0.0.1:8080  the seed's `CMD:` loop
//! ```
//!
//! # Design
//!
//! * **A library behind a thin `main`**: `main` parses [`Options`] with
//!   clap, calls [`run`], and turns the result into the exit status
//!   documented in [`status`] (`--help` repeats it).
//! * **Blocking `std::net` and plain threads**, no async runtime: one
//!   connection needs one reader (the main thread, which also writes the
//!   output, so output order is wire order), plus small writer threads (a
//!   stdin forwarder, a command feeder, the Ctrl-C thread) that share the
//!   socket's writing half behind a mutex ([`conn::FrameWriter`]). Fan-out
//!   is a pool of `--fanout` such sessions on plain threads.
//! * **The wire format is the `protocol` crate's** (frames, handshake,
//!   legacy replies); nothing here re-implements it.
//! * **Output is byte-exact** and written as it arrives; remote stderr goes
//!   to our stderr. The client's own diagnostics are single lines on stderr
//!   starting `client: ADDR: `; text the server supplies is escaped and
//!   cut to one line first ([`peer_text`]). A closed stdout or stderr ends
//!   the client quietly, and closing the connection makes the server kill
//!   the command.
//! * **Typed errors** ([`Error`], [`SessionError`], [`Cause`]); nothing from
//!   the network can make the client panic.
//!
//! Dependencies, and why each: `protocol` (the wire format), `clap`
//! (argument parsing and `--help`), `thiserror` (the error types),
//! `signal-hook` (SIGINT as an event on a thread, so a Ctrl-C can send a
//! frame, which a raw signal handler must not do), `rustyline` (line
//! editing and history for the REPL), `bytes` (the protocol's buffers),
//! `socket2` (`SO_LINGER`, for the abortive close of a second Ctrl-C),
//! `libc` (`sigaction(2)`, to see whether SIGINT was ignored at start),
//! `tempfile` (unnamed temporary files, removed by the system even if we
//! are killed, for `--group` output past its memory bound) and `sha2`
//! (comparing kept outputs by digest without reading them back).
//! The build script (`build-support/static_libgcc.rs`) links libgcc's
//! unwinder statically, which took a one-shot `client -- true` from 2.1 to
//! 1.8 ms on the development VM.
//!
//! # Example
//!
//! ```
//! let options = client::Options::from_args(["--connect", "127.0.0.1:1", "--", "true"])?;
//! let error = client::run(&options).unwrap_err(); // nothing listens on port 1
//! assert_eq!(error.to_string(), "127.0.0.1:1: connection refused");
//! assert_eq!(error.exit_code(), 255);
//! # Ok::<(), clap::Error>(())
//! ```
#![deny(missing_docs)]

/// Prints one diagnostic line on stderr. Unlike `eprintln!`, a closed
/// stderr is ignored rather than a panic: the session notices a broken
/// stderr where it writes the remote command's stderr, and ends quietly.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
pub mod conn;
mod error;
pub mod fanout;
pub mod hosts;
pub mod interrupt;
pub mod kept;
pub mod legacy;
pub mod peer_text;
pub mod repl;
pub mod session;
pub mod status;

use std::io::{self, BufReader, IsTerminal};
use std::path::Path;

pub use cli::{Options, DEFAULT_ADDR, DEFAULT_FANOUT, DEFAULT_PORT};
pub use error::{Cause, Error, SessionError};

use conn::Connection;
use interrupt::Interrupts;

/// The largest token file read, as on the server: 64 KiB.
pub const MAX_TOKEN: usize = 64 * 1024;

/// Reads a token file: its bytes, without trailing whitespace (so a final
/// newline does not count), as the server reads it; a file of more than
/// [`MAX_TOKEN`] bytes (`/dev/zero`, a log file by mistake) is refused
/// without being read whole.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("token");
/// std::fs::write(&path, "s3cret\n")?;
/// assert_eq!(client::read_token(&path)?, b"s3cret");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_token(path: &Path) -> Result<Vec<u8>, Error> {
    let mut token =
        read_bounded(path, MAX_TOKEN, "no token").map_err(|source| Error::TokenFile {
            path: path.to_path_buf(),
            source,
        })?;
    // Same rule as the server's: trailing whitespace (a final newline) is
    // not part of the secret.
    while token.last().is_some_and(u8::is_ascii_whitespace) {
        token.pop();
    }
    if token.is_empty() {
        return Err(Error::TokenFile {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, "the file is empty"),
        });
    }
    Ok(token)
}

/// The largest hosts file read (`--hosts-file`): half a million hosts and
/// more.
pub const MAX_HOSTS_FILE: usize = 16 * 1024 * 1024;

/// Reads at most `max` bytes of `path`; a longer file (`/dev/zero`, a log
/// by mistake) is an error saying it is `what`, without being read whole.
fn read_bounded(path: &Path, max: usize, what: &str) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("over {max} bytes, which is {what} (the wrong file?)"),
        ));
    }
    Ok(bytes)
}

fn fanout_hosts(options: &Options) -> Result<Vec<String>, Error> {
    let mut lists = Vec::new();
    if let Some(list) = &options.hosts {
        lists.push(hosts::parse_list(list).map_err(|why| Error::Usage(format!("--hosts: {why}")))?);
    }
    if let Some(path) = &options.hosts_file {
        let error = |source| Error::HostsFile {
            path: path.clone(),
            source,
        };
        let bytes = read_bounded(path, MAX_HOSTS_FILE, "no hosts file").map_err(error)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| error(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        lists.push(
            hosts::parse_file(&text)
                .map_err(|why| Error::Usage(format!("hosts file {}: {why}", path.display())))?,
        );
    }
    let all = hosts::merge(lists);
    if all.is_empty() {
        return Err(Error::Usage("no hosts given to fan out over".into()));
    }
    Ok(all)
}

/// Runs the client as `options` say; `Ok` carries the exit status (see
/// [`status`]), `Err` a failure whose [`Error::exit_code`] is the status
/// and whose `Display` is the line to print.
pub fn run(options: &Options) -> Result<u8, Error> {
    let token = options.token_file.as_deref().map(read_token).transpose()?;
    let token = token.as_deref();
    let command = options.command_line();
    if options.legacy {
        if options.is_fanout() {
            return Err(Error::Usage("--legacy does not fan out".into()));
        }
        return legacy::run(options);
    }
    if options.is_fanout() {
        let hosts = fanout_hosts(options)?;
        let Some(command) = command else {
            return Err(Error::Usage("fan-out needs a COMMAND".into()));
        };
        return Ok(fanout::run(&fanout::Plan {
            hosts,
            command: &command,
            token,
            timeout_ms: options.timeout_ms(),
            connect_timeout: options.connect_timeout,
            fanout: options.fanout,
            group: options.group,
        }));
    }
    let interrupts = Interrupts::install().map_err(Error::Signals)?;
    let Some(command) = command else {
        let connect = || Connection::open(&options.connect, token, options.connect_timeout);
        let conn = connect()?;
        return if io::stdin().is_terminal() {
            repl::run(conn, &connect, options.timeout_ms(), &interrupts)
        } else {
            session::script(
                conn,
                BufReader::new(io::stdin()),
                options.timeout_ms(),
                &interrupts,
            )
        };
    };
    let forward_stdin = session::should_forward_stdin(options.no_stdin);
    let exec = protocol::Frame::Exec(session::exec_for(
        &command,
        options.timeout_ms(),
        forward_stdin,
    ));
    // Sent with the hello when no token is needed: one round trip fewer.
    let (mut conn, sent) = Connection::open_with(
        &options.connect,
        token,
        options.connect_timeout,
        Some(&exec),
    )?;
    session::one_shot(&mut conn, &exec, sent, forward_stdin, &interrupts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_read_with_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, vec![b'x'; MAX_TOKEN + 1]).unwrap();
        let err = read_token(&path).unwrap_err().to_string();
        assert!(err.contains("no token"), "{err}");
        std::fs::write(&path, vec![b'x'; MAX_TOKEN]).unwrap();
        assert_eq!(read_token(&path).unwrap().len(), MAX_TOKEN);
        let err = read_token(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("no token"), "{err}");
    }
}
