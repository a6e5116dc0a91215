//! The interactive REPL: a prompt naming the server, line editing, history.
//!
//! # Design
//!
//! `rustyline` does the line editing and the history (it is well kept and
//! small; line editing is not this project's craft). Each line is one
//! command on the session's single connection, its output streamed as it
//! arrives, its status shown in the next prompt: `127.0.0.1:8080 [0]> `.
//! While rustyline reads a line the terminal is in raw mode, so Ctrl-C
//! there is a key rustyline reports (we just prompt again); while a
//! command runs the terminal is cooked, Ctrl-C raises SIGINT, and the armed
//! [`Interrupts`] cancel the command (a second press within a second sends
//! SIGKILL) without ending the session. `bye` (the seed's word), `exit` and
//! Ctrl-D leave.
//!
//! A server closes a connection that sits idle past its `--idle-timeout`
//! (600 s by default), which a REPL left at its prompt easily does. So
//! before each command the REPL checks, without waiting, whether the server
//! has ended the session ([`Connection::check_open`]); if it has, it
//! connects again (handshake and token as at the start), says so in one
//! short line, and runs the command there. A connection lost while a
//! command runs (the server restarted) does not end the REPL either: one
//! line says so, the prompt shows 255, the command is not sent again (it
//! may have run), and the next command connects afresh. A reconnect that
//! fails is one line and 255 too, the command not run; only the first
//! connection, before any prompt, must succeed. A close that lands between
//! the check and the command answers it
//! with the server's idle `Timeout` error, which the server sends only when
//! no command runs: that command never ran, so it is sent once more on a
//! new connection (once: a command never runs twice).
//!
//! Output that does not end its last line (`printf abc`) gets a newline
//! after the command, on the stream that left the line open: the line
//! editor draws the next prompt from column 0, clearing the line first,
//! which would erase `abc` from the screen.
//!
//! The history lives in `$XDG_DATA_HOME/rcmd/client_history` (by default
//! `~/.local/share/rcmd/client_history`), saved after every command so a
//! killed client loses nothing. It is computed here rather than with a
//! directories crate: on Linux that is the XDG rule, two lines.

use std::env;
use std::path::PathBuf;

use protocol::{ErrorCode, Frame};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::conn::Connection;
use crate::error::{Cause, Error, SessionError};
use crate::interrupt::{Interrupts, SecondPress};
use crate::session::{
    classify_line, exec_for, report, wait_for, Completion, Line, Sink, StdSink, Stop,
};
use crate::status;

/// Where the REPL keeps its history, if a data directory can be found.
///
/// ```
/// std::env::set_var("XDG_DATA_HOME", "/tmp/data");
/// assert_eq!(
///     client::repl::history_path(),
///     Some(std::path::PathBuf::from("/tmp/data/rcmd/client_history"))
/// );
/// ```
pub fn history_path() -> Option<PathBuf> {
    let data = env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data.join("rcmd").join("client_history"))
}

/// The prompt: the server and the last command's status.
///
/// ```
/// assert_eq!(client::repl::prompt("127.0.0.1:8080", 0), "127.0.0.1:8080 [0]> ");
/// ```
pub fn prompt(addr: &str, last_status: u8) -> String {
    format!("{addr} [{last_status}]> ")
}

fn save(editor: &mut DefaultEditor, path: Option<&PathBuf>) {
    let Some(path) = path else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // History is a convenience: failing to save it is not worth a word.
    let _ = editor.save_history(path);
}

/// What to tell the user when the server ended the session at the prompt.
///
/// ```
/// use client::{repl::reconnect_note, Cause};
/// assert_eq!(reconnect_note(&Cause::Closed), "the server closed the connection");
/// ```
pub fn reconnect_note(why: &Cause) -> String {
    match why {
        Cause::Server {
            code: ErrorCode::Timeout,
            ..
        } => "the server closed the idle connection".to_string(),
        Cause::Server { message, .. } => format!("the server closed the connection: {message}"),
        Cause::Closed => "the server closed the connection".to_string(),
        other => format!("the connection was lost: {other}"),
    }
}

/// Runs the REPL until `bye`, `exit` or Ctrl-D; returns the last
/// command's status. `connect` opens a fresh connection when the server
/// has closed this one or it was lost (see the module docs).
pub fn run(
    conn: Connection,
    connect: &dyn Fn() -> Result<Connection, SessionError>,
    timeout_ms: Option<u32>,
    interrupts: &Interrupts,
) -> Result<u8, Error> {
    let mut editor = DefaultEditor::new().map_err(|e| Error::Editor(e.to_string()))?;
    interrupts.ignore_when_unarmed(true);
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    // The prompt keeps naming the server while no connection is open.
    let addr = conn.addr().to_string();
    let mut conn = Some(conn);
    let mut last = status::SUCCESS;
    loop {
        let line = match editor.readline(&prompt(&addr, last)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Editor(e.to_string())),
        };
        let command = match classify_line(line.as_bytes()) {
            Line::Blank => continue,
            Line::Quit => break,
            Line::Command(command) => command,
        };
        let _ = editor.add_history_entry(line.trim());
        save(&mut editor, history.as_ref());
        let ended = match conn.as_mut().map(Connection::check_open) {
            Some(Ok(())) => None,
            Some(Err(why)) => Some(reconnect_note(&why)),
            None => Some("the connection was lost".to_string()),
        };
        if let Some(why) = ended {
            conn = None;
            interrupts.ignore_when_unarmed(false);
            let fresh = connect();
            interrupts.ignore_when_unarmed(true);
            match fresh {
                Ok(fresh) => {
                    note!("client: {}: (reconnected: {why})", fresh.addr());
                    conn = Some(fresh);
                }
                // Not run; the next command tries again.
                Err(error) => {
                    note!("client: {error}");
                    last = status::FAILURE;
                    continue;
                }
            }
        }
        let Some(mut live) = conn.take() else {
            continue;
        };
        match run_command(&mut live, connect, command, timeout_ms, interrupts) {
            Ok(Some(done)) => {
                last = report(live.addr(), &done, interrupts.take_cancelled());
                conn = Some(live);
            }
            Ok(None) => break,
            // A command too large for a frame was never sent: the
            // connection is as good as before.
            Err(error) if matches!(error.cause, Cause::Encode(_)) => {
                note!("client: {error}");
                last = status::FAILURE;
                conn = Some(live);
            }
            // The session survives a lost connection: the command's fate
            // is unknown (it is never sent again), the next one reconnects.
            Err(error) => {
                note!("client: {error}");
                last = status::FAILURE;
            }
        }
    }
    Ok(last)
}

/// Runs one command on `conn` (replaced by a fresh connection when the
/// idle close overtook the command); `None` when our output was closed.
fn run_command(
    conn: &mut Connection,
    connect: &dyn Fn() -> Result<Connection, SessionError>,
    command: &[u8],
    timeout_ms: Option<u32>,
    interrupts: &Interrupts,
) -> Result<Option<Completion>, SessionError> {
    let mut resent = false;
    loop {
        let addr = conn.addr().to_string();
        let lost = |cause| SessionError::new(&addr, cause);
        conn.send(&Frame::Exec(exec_for(command, timeout_ms, false)))
            .map_err(lost)?;
        let _armed = interrupts.arm(conn.writer(), SecondPress::Kill);
        let mut sink = LineEndSink::default();
        let outcome = wait_for(conn, &mut sink);
        sink.end_line();
        match outcome {
            Ok(done) => return Ok(Some(done)),
            Err(Stop::OutputClosed) => return Ok(None),
            // The server closed the idle connection in the instant
            // between our check and the command: its `Timeout` comes
            // only when no command runs, so this one never ran, and
            // sending it once more cannot run it twice.
            Err(Stop::Lost(Cause::Server {
                code: ErrorCode::Timeout,
                ..
            })) if !resent => {
                resent = true;
                *conn = connect()?;
                note!(
                    "client: {}: (reconnected: the server closed the idle connection)",
                    conn.addr()
                );
            }
            Err(Stop::Lost(cause)) => return Err(lost(cause)),
        }
    }
}

/// The REPL's output: ours, and it remembers whether the command left a
/// line unfinished (`printf abc`), which the next prompt would otherwise
/// draw over (the line editor starts at column 0 and clears the line).
#[derive(Debug, Default)]
struct LineEndSink {
    /// The stream written last and whether its last byte was a newline.
    open_line: Option<Stream>,
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl LineEndSink {
    fn track(&mut self, stream: Stream, data: &[u8]) {
        if let Some(&last) = data.last() {
            self.open_line = (last != b'\n').then_some(stream);
        }
    }

    /// Ends an unfinished last line with a newline on its own stream.
    fn end_line(&mut self) {
        let ended = match self.open_line.take() {
            None => Ok(()),
            Some(Stream::Stdout) => StdSink.stdout(b"\n"),
            Some(Stream::Stderr) => StdSink.stderr(b"\n"),
        };
        // A closed output shows at the next command.
        drop(ended);
    }
}

impl Sink for LineEndSink {
    fn stdout(&mut self, data: &[u8]) -> std::io::Result<()> {
        StdSink.stdout(data)?;
        self.track(Stream::Stdout, data);
        Ok(())
    }

    fn stderr(&mut self, data: &[u8]) -> std::io::Result<()> {
        StdSink.stderr(data)?;
        self.track(Stream::Stderr, data);
        Ok(())
    }
}
