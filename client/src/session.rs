//! Running commands over a connection: one-shot, and one per line of stdin.
//!
//! # Design
//!
//! The thread that reads the socket also writes the output, so output
//! order is wire order and nothing is buffered on our side: each `Stdout`
//! or `Stderr` frame is written and flushed as it arrives. Other threads
//! only ever *write frames* (through the shared [`FrameWriter`]): a stdin
//! forwarder in one-shot mode, a command feeder in stdin mode, and the
//! Ctrl-C thread.
//!
//! In stdin mode the commands are pipelined: the feeder sends each `Exec`
//! as soon as its line is read, without waiting for the previous answer,
//! and the server runs them in order. The socket reader then moves to its
//! own thread and both it and the feeder report to the main thread over one
//! bounded channel (bounded, so a fast server cannot fill our memory while
//! stdout is slow), which is how the main thread learns that the input has
//! ended *and* every command sent has been answered.
//!
//! A closed stdout (`client -- yes | head -1`) is not an error: the session
//! ends at once, quietly, with status 0, as ripgrep does. A closed stderr
//! (`client -- 'yes >&2' 2>&1 >/dev/null | head -1`) ends it the same way:
//! output nobody can see is not worth running a command for.
//!
//! Stdin mode and Ctrl-C: the first press closes the command stream and
//! sends the cancel in one step (see [`crate::conn`]), so no line read
//! after it is sent; the server cancels the running command and every one
//! queued behind it. The session then only waits until each command that
//! went out is answered, says so in one line, and exits 130, as an
//! interrupted shell script would.
//!
//! Stdin mode and a line too long for a frame: the lines before it run and
//! are answered as usual (they were sent already, or go out now), the long
//! line and everything after it are not sent, and once the answers are in
//! the client exits 255 with the same `cannot send: …` line as one-shot
//! mode gives for an oversize command: the same cause, the same status. A
//! line is never buffered past [`protocol::DEFAULT_MAX_PAYLOAD`] bytes
//! while its end is awaited, since it could not be sent anyway.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::io::FrameReader;
use protocol::{
    ErrorCode, ErrorFrame, Exec, Exit, Frame, FrameRef, FrameType, Termination, DEFAULT_MAX_PAYLOAD,
};

use crate::conn::{Connection, FrameWriter, Socket};
use crate::error::{Cause, Error, SessionError};
use crate::interrupt::{Interrupts, SecondPress};
use crate::peer_text::sanitize;
use crate::status;

/// Bytes of stdin read per `Stdin` frame.
pub const STDIN_CHUNK: usize = 64 * 1024;

/// Messages in flight between the stdin-mode threads and the main thread;
/// enough to keep the socket busy, few enough to bound memory.
const CHANNEL_DEPTH: usize = 64;

/// Where a command's output goes.
pub trait Sink {
    /// Remote stdout bytes; an error means stdout is gone and the session
    /// should end.
    fn stdout(&mut self, data: &[u8]) -> io::Result<()>;
    /// Remote stderr bytes; an error means stderr is gone and the session
    /// should end, as for stdout.
    fn stderr(&mut self, data: &[u8]) -> io::Result<()>;
}

/// This process's own stdout and stderr, flushed after every chunk so
/// output appears as the remote command produces it.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdSink;

/// Descriptor 1, written to directly: each chunk is one `write`, as it
/// arrives. (std's stdout is line-buffered: it would scan every byte for a
/// newline first, a sixth of the client's time when streaming.) `None` when
/// stdout cannot be duplicated (it is closed); std's stdout is used then.
fn raw_stdout() -> Option<&'static std::fs::File> {
    use std::os::fd::AsFd;
    static RAW: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    RAW.get_or_init(|| {
        let fd = io::stdout().as_fd().try_clone_to_owned().ok()?;
        Some(std::fs::File::from(fd))
    })
    .as_ref()
}

impl Sink for StdSink {
    fn stdout(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(mut raw) = raw_stdout() {
            return raw.write_all(data);
        }
        let mut out = io::stdout().lock();
        out.write_all(data)?;
        out.flush()
    }

    fn stderr(&mut self, data: &[u8]) -> io::Result<()> {
        let mut err = io::stderr().lock();
        err.write_all(data)?;
        err.flush()
    }
}

/// How one command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// It ran and ended so.
    Exited(Exit),
    /// The server could not run it (an `Error` frame for this command).
    NotRun(ErrorFrame),
}

impl Completion {
    /// Its exit status (see [`crate::status`]); a command the server could
    /// not run is [`status::FAILURE`].
    pub fn status(&self) -> u8 {
        match self {
            Completion::Exited(exit) => status::exit_status(exit),
            Completion::NotRun(_) => status::FAILURE,
        }
    }
}

/// Why a session stopped before its commands were answered.
#[derive(Debug)]
pub enum Stop {
    /// Our stdout or stderr was closed: end quietly.
    OutputClosed,
    /// The connection failed.
    Lost(Cause),
}

/// A failed write of the command's output: a closed pipe (the reader is
/// done, as with `| head`) ends the session quietly; anything else (a full
/// disk) lost output and is an error.
fn output_failed(e: std::io::Error) -> Stop {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Stop::OutputClosed
    } else {
        Stop::Lost(Cause::Output(e))
    }
}

/// `Error` codes that concern one command; the session goes on after them.
fn is_per_command(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::SpawnFailed | ErrorCode::Busy)
}

/// Handles one frame from the server while a command runs; `Some` when it
/// ended the command.
pub fn handle_frame(
    frame: FrameRef<'_>,
    writer: &FrameWriter,
    sink: &mut dyn Sink,
) -> Result<Option<Completion>, Stop> {
    let frame = match frame {
        FrameRef::Stdout(data) => {
            sink.stdout(data).map_err(output_failed)?;
            return Ok(None);
        }
        FrameRef::Stderr(data) => {
            sink.stderr(data).map_err(output_failed)?;
            return Ok(None);
        }
        FrameRef::Stdin(_) => return Err(Stop::Lost(Cause::Unexpected(FrameType::Stdin))),
        FrameRef::Other(frame) => frame,
    };
    match frame {
        // No status can stand for it, so it is not passed off as 255 in
        // silence: the session ends with a protocol error naming it.
        Frame::Exit(exit) if !status::is_possible(&exit) => {
            return Err(Stop::Lost(Cause::ExitOutOfRange(exit.termination)))
        }
        Frame::Exit(exit) => return Ok(Some(Completion::Exited(exit))),
        Frame::Error(error) if is_per_command(error.code) => {
            return Ok(Some(Completion::NotRun(error)))
        }
        Frame::Error(error) => return Err(Stop::Lost(Cause::server(&error))),
        Frame::Ping(token) => writer.send(&Frame::Pong(token)).map_err(Stop::Lost)?,
        Frame::Pong(_) => {}
        other => return Err(Stop::Lost(Cause::Unexpected(other.frame_type()))),
    }
    Ok(None)
}

/// Reads frames until the command that is running ends.
pub fn wait_for(conn: &mut Connection, sink: &mut dyn Sink) -> Result<Completion, Stop> {
    let writer = conn.writer();
    loop {
        let frame = conn.read_ref().map_err(Stop::Lost)?;
        if let Some(done) = handle_frame(frame, &writer, sink)? {
            return Ok(done);
        }
    }
}

/// The `Exec` for `command` under these options.
pub fn exec_for(command: &[u8], timeout_ms: Option<u32>, stdin: bool) -> Exec {
    Exec {
        command: Bytes::copy_from_slice(command),
        timeout_ms,
        stdin,
        ..Exec::default()
    }
}

/// Tells the user, on stderr, what the exit status alone would not say,
/// and returns the status.
pub fn report(addr: &str, completion: &Completion, cancelled: bool) -> u8 {
    match completion {
        Completion::Exited(exit) if exit.timed_out => {
            note!("client: {addr}: command timed out; the server killed it");
        }
        Completion::Exited(exit) if cancelled => match exit.termination {
            Termination::Signal(_) => note!(
                "client: {addr}: cancelled by Ctrl-C; remote command {}",
                status::describe(exit)
            ),
            Termination::Code(_) => note!(
                "client: {addr}: Ctrl-C sent; remote command ended with {}",
                status::describe(exit)
            ),
        },
        Completion::Exited(_) => {}
        Completion::NotRun(error) => note!(
            "client: {addr}: server could not run the command: {} ({:?})",
            sanitize(&error.message),
            error.code
        ),
    }
    completion.status()
}

/// Turns how a session stopped into a status or an error.
fn stopped(addr: &str, stop: Stop, interrupts: &Interrupts) -> Result<u8, Error> {
    match stop {
        Stop::OutputClosed => Ok(status::SUCCESS),
        Stop::Lost(_) if interrupts.quit_requested() => {
            note!("client: {addr}: interrupted; connection closed, the server kills the command");
            Ok(status::SIGNAL_BASE + 2)
        }
        Stop::Lost(cause) => Err(SessionError::new(addr, cause).into()),
    }
}

/// Copies local stdin into `Stdin` frames on a thread of its own, then a
/// `StdinEof`. Send failures end it quietly: the command has ended or the
/// connection is gone, and the main thread reports that.
pub fn spawn_stdin_forwarder(writer: FrameWriter) -> io::Result<()> {
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = vec![0; STDIN_CHUNK];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // Unreadable stdin ends like an empty one.
                    Err(_) => 0,
                };
                let frame = if n == 0 {
                    Frame::StdinEof
                } else {
                    Frame::Stdin(Bytes::copy_from_slice(&buf[..n]))
                };
                if writer.send(&frame).is_err() || n == 0 {
                    return;
                }
            }
        })
        .map(drop)
}

/// One-shot mode: run `command` once, output to our stdout and stderr,
/// local stdin forwarded when `forward_stdin`.
pub fn one_shot(
    conn: &mut Connection,
    exec: &Frame,
    already_sent: bool,
    forward_stdin: bool,
    interrupts: &Interrupts,
) -> Result<u8, Error> {
    let addr = conn.addr().to_string();
    if !already_sent {
        conn.send(exec)
            .map_err(|cause| SessionError::new(&addr, cause))?;
    }
    let _armed = interrupts.arm(conn.writer(), SecondPress::Quit);
    if forward_stdin {
        spawn_stdin_forwarder(conn.writer()).map_err(|e| SessionError::new(&addr, Cause::Io(e)))?;
    }
    match wait_for(conn, &mut StdSink) {
        Ok(done) => Ok(report(&addr, &done, interrupts.take_cancelled())),
        Err(stop) => stopped(&addr, stop, interrupts),
    }
}

/// Whether one-shot mode should forward stdin: not with `-n`, not from a
/// terminal (a terminal's stdin is the user's: unlike ssh, which forwards
/// it, the command gets `/dev/null`, as issue 4 asks), and not
/// from `/dev/null`, which has nothing to give (the remote command gets its
/// own `/dev/null`, without a forwarding thread or a stdin pipe).
pub fn should_forward_stdin(no_stdin: bool) -> bool {
    !no_stdin && !io::stdin().is_terminal() && !stdin_is_dev_null()
}

fn stdin_is_dev_null() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    let (Ok(ours), Ok(null)) = (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    ours.rdev() == null.rdev() && ours.ino() == null.ino() && ours.dev() == null.dev()
}

/// What a line of stdin asks for in stdin mode.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Run this command.
    Command(&'a [u8]),
    /// Nothing: a blank line.
    Blank,
    /// `bye` or `exit`: stop reading.
    Quit,
}

/// Classifies one input line (without its newline).
///
/// ```
/// use client::session::{classify_line, Line};
/// assert_eq!(classify_line(b"  echo hi \r"), Line::Command(b"echo hi"));
/// assert_eq!(classify_line(b"   "), Line::Blank);
/// assert_eq!(classify_line(b"bye"), Line::Quit);
/// assert_eq!(classify_line(b"exit"), Line::Quit);
/// ```
pub fn classify_line(line: &[u8]) -> Line<'_> {
    let line = line.trim_ascii();
    match line {
        b"" => Line::Blank,
        b"bye" | b"exit" => Line::Quit,
        command => Line::Command(command),
    }
}

enum Msg {
    Frame(Result<Frame, Cause>),
    /// The input ended (or a `bye`), every command in it sent.
    InputDone,
    /// A line could not be sent; the ones before it were.
    InputFailed(Cause),
    /// A Ctrl-C closed the command stream.
    Interrupted,
}

fn spawn_reader(mut reader: FrameReader<Socket>, tx: mpsc::SyncSender<Msg>) -> io::Result<()> {
    thread::Builder::new()
        .name("socket-reader".into())
        .spawn(move || loop {
            let next = match reader.read_frame() {
                Ok(Some(frame)) => Ok(frame),
                Ok(None) => Err(Cause::Closed),
                Err(e) => Err(Cause::from(e)),
            };
            let last = next.is_err();
            if tx.send(Msg::Frame(next)).is_err() || last {
                return;
            }
        })
        .map(drop)
}

fn spawn_feeder<R: BufRead + Send + 'static>(
    input: R,
    writer: FrameWriter,
    timeout_ms: Option<u32>,
    tx: mpsc::SyncSender<Msg>,
) -> io::Result<()> {
    thread::Builder::new()
        .name("commands".into())
        .spawn(move || {
            let msg = match feed(input, &writer, timeout_ms) {
                Ok(()) => Msg::InputDone,
                // The reader sees a broken connection too, and says so.
                Err(Cause::Io(_)) => return,
                Err(cause) => Msg::InputFailed(cause),
            };
            let _ = tx.send(msg);
        })
        .map(drop)
}

/// Sends a command for every line of `input` until its end, a `bye`, or a
/// closed command stream (Ctrl-C).
fn feed<R: BufRead>(
    mut input: R,
    writer: &FrameWriter,
    timeout_ms: Option<u32>,
) -> Result<(), Cause> {
    // Every complete line that one read brings goes out in one write: a
    // thousand commands piped in cost a handful of syscalls and segments,
    // not a thousand.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = match input.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let taken = chunk.len();
        pending.extend_from_slice(chunk);
        input.consume(taken);
        let (frames, used, quit) = commands_in(&pending, timeout_ms);
        pending.drain(..used);
        if !writer.send_commands(&frames)? || quit {
            return Ok(());
        }
        if pending.len() > DEFAULT_MAX_PAYLOAD {
            return Err(Cause::LineTooLong {
                max: DEFAULT_MAX_PAYLOAD,
            });
        }
    }
    if !pending.is_empty() {
        // The last line, without its newline.
        pending.push(b'\n');
        let (frames, _, _) = commands_in(&pending, timeout_ms);
        writer.send_commands(&frames)?;
    }
    Ok(())
}

/// The `Exec` frames for the complete lines at the front of `input`, how
/// many bytes they took, and whether a `bye`/`exit` line ended the input.
fn commands_in(input: &[u8], timeout_ms: Option<u32>) -> (Vec<Frame>, usize, bool) {
    let mut frames = Vec::new();
    let mut used = 0;
    while let Some(end) = input[used..].iter().position(|&b| b == b'\n') {
        let line = &input[used..used + end + 1];
        used += end + 1;
        match classify_line(line) {
            Line::Blank => {}
            Line::Quit => return (frames, used, true),
            Line::Command(command) => {
                frames.push(Frame::Exec(exec_for(command, timeout_ms, false)));
            }
        }
    }
    (frames, used, false)
}

/// How long stdin mode waits, once the server has ended the session with
/// every command sent answered, to learn whether its input was over too.
const INPUT_SETTLE: Duration = Duration::from_millis(200);

/// Stdin mode, the server gone (a shutdown, a close) with every command sent
/// answered: whether the input turns out to have been over as well, its
/// end only not yet reported by the feeder (reading a file's end takes it
/// microseconds). Then nothing was lost and the script succeeded. More
/// input, an error, or no word within [`INPUT_SETTLE`] means commands the
/// server will never run: not a success.
fn input_was_over(rx: &mpsc::Receiver<Msg>, writer: &FrameWriter, answered: usize) -> bool {
    let deadline = Instant::now() + INPUT_SETTLE;
    while answered >= writer.commands_sent() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Msg::InputDone) => return answered >= writer.commands_sent(),
            // The reader's last word (it stops after an error): skip it.
            Ok(Msg::Frame(_)) => {}
            Ok(Msg::InputFailed(_) | Msg::Interrupted) | Err(_) => return false,
        }
    }
    false
}

/// Stdin mode: each line of `input` is a command, all sent pipelined on
/// this connection, outputs in order. The status is the last failing
/// command's, 0 if none failed; 130 after a Ctrl-C (see the module docs).
pub fn script<R: BufRead + Send + 'static>(
    conn: Connection,
    input: R,
    timeout_ms: Option<u32>,
    interrupts: &Interrupts,
) -> Result<u8, Error> {
    let addr = conn.addr().to_string();
    let (reader, writer) = conn.into_parts();
    let io_error = |e| Error::from(SessionError::new(&addr, Cause::Io(e)));
    let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
    spawn_reader(reader, tx.clone()).map_err(io_error)?;
    let interrupted = tx.clone();
    let on_cancel = std::sync::Arc::new(move || {
        let _ = interrupted.send(Msg::Interrupted);
    });
    let _armed = interrupts.arm_stopping_commands(writer.clone(), SecondPress::Quit, on_cancel);
    spawn_feeder(input, writer.clone(), timeout_ms, tx).map_err(io_error)?;
    let mut answered = 0usize;
    let mut input_end: Option<Result<(), Cause>> = None;
    let mut last_failure = status::SUCCESS;
    let mut sink = StdSink;
    loop {
        // Once the stream is closed, or the input is over, the count of
        // commands sent is final.
        let no_more = writer.commands_closed() || input_end.is_some();
        if no_more && answered >= writer.commands_sent() {
            break;
        }
        let Ok(msg) = rx.recv() else {
            // Every sender is gone without saying so: treat as closed.
            return stopped(&addr, Stop::Lost(Cause::Closed), interrupts);
        };
        let frame = match msg {
            Msg::InputDone => {
                input_end = Some(Ok(()));
                continue;
            }
            Msg::InputFailed(cause) => {
                input_end = Some(Err(cause));
                continue;
            }
            Msg::Interrupted => continue,
            Msg::Frame(Ok(frame)) => frame,
            Msg::Frame(Err(cause)) => {
                if input_end.is_none() && input_was_over(&rx, &writer, answered) {
                    break;
                }
                return stopped(&addr, Stop::Lost(cause), interrupts);
            }
        };
        match handle_frame(FrameRef::from(&frame), &writer, &mut sink) {
            Ok(Some(done)) => {
                answered += 1;
                // Not a line per cancelled command: one line says it all
                // at the end.
                let code = report(&addr, &done, false);
                if code != status::SUCCESS {
                    last_failure = code;
                }
            }
            Ok(None) => {}
            Err(stop) => {
                let all_answered = matches!(stop, Stop::Lost(_))
                    && input_end.is_none()
                    && input_was_over(&rx, &writer, answered);
                if all_answered {
                    break;
                }
                return stopped(&addr, stop, interrupts);
            }
        }
    }
    if writer.commands_closed() {
        note!(
            "client: {addr}: interrupted by Ctrl-C after {} commands were sent; \
             no more were read, and those still running or queued were cancelled",
            writer.commands_sent()
        );
        return Ok(status::SIGNAL_BASE + 2);
    }
    match input_end {
        Some(Err(cause)) => Err(SessionError::new(&addr, cause).into()),
        _ => Ok(last_failure),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn complete_lines_become_commands_and_a_partial_line_waits() {
        let (frames, used, quit) = commands_in(b"echo a\n\n  \nfalse\necho par", None);
        assert_eq!(frames.len(), 2);
        assert_eq!(used, b"echo a\n\n  \nfalse\n".len());
        assert!(!quit);
        assert!(matches!(&frames[1], Frame::Exec(e) if &e.command[..] == b"false"));
    }

    #[test]
    fn bye_ends_the_commands_and_what_follows_is_not_sent() {
        let (frames, used, quit) = commands_in(b"echo a\nbye\necho never\n", None);
        assert_eq!(frames.len(), 1);
        assert_eq!(used, b"echo a\nbye\n".len());
        assert!(quit);
    }

    use super::*;

    #[derive(Default)]
    struct Collect {
        out: Vec<u8>,
        err: Vec<u8>,
        closed: bool,
    }

    impl Sink for Collect {
        fn stdout(&mut self, data: &[u8]) -> io::Result<()> {
            if self.closed {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.out.extend_from_slice(data);
            Ok(())
        }
        fn stderr(&mut self, data: &[u8]) -> io::Result<()> {
            if self.closed {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.err.extend_from_slice(data);
            Ok(())
        }
    }

    fn writer() -> (FrameWriter, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stream = crate::conn::connect_tcp(&addr, std::time::Duration::from_secs(5)).unwrap();
        (FrameWriter::new(&stream).unwrap(), listener)
    }

    #[test]
    fn output_frames_go_to_their_own_stream_byte_for_byte() {
        let (writer, _listener) = writer();
        let mut sink = Collect::default();
        let out = handle_frame(FrameRef::Stdout(b"a\xff\0"), &writer, &mut sink);
        assert!(matches!(out, Ok(None)));
        let err = handle_frame(FrameRef::Stderr(b"oops"), &writer, &mut sink);
        assert!(matches!(err, Ok(None)));
        assert_eq!(sink.out, b"a\xff\0");
        assert_eq!(sink.err, b"oops");
    }

    #[test]
    fn spawn_failure_ends_the_command_but_not_the_session() {
        let (writer, _listener) = writer();
        let mut sink = Collect::default();
        let frame = Frame::Error(ErrorFrame::new(ErrorCode::SpawnFailed, "no fork"));
        let done = handle_frame((&frame).into(), &writer, &mut sink)
            .unwrap()
            .unwrap();
        assert_eq!(done.status(), status::FAILURE);
    }

    #[test]
    fn other_server_errors_end_the_session() {
        let (writer, _listener) = writer();
        let mut sink = Collect::default();
        let frame = Frame::Error(ErrorFrame::new(ErrorCode::ShuttingDown, "bye"));
        assert!(matches!(
            handle_frame((&frame).into(), &writer, &mut sink),
            Err(Stop::Lost(Cause::Server {
                code: ErrorCode::ShuttingDown,
                ..
            }))
        ));
    }

    #[test]
    fn a_client_frame_from_the_server_is_a_protocol_error() {
        let (writer, _listener) = writer();
        let mut sink = Collect::default();
        let frame = Frame::Exec(Exec::new("rm -rf /"));
        assert!(matches!(
            handle_frame((&frame).into(), &writer, &mut sink),
            Err(Stop::Lost(Cause::Unexpected(protocol::FrameType::Exec)))
        ));
    }

    #[test]
    fn stdin_from_the_server_is_a_protocol_error() {
        let (writer, _listener) = writer();
        let mut sink = Collect::default();
        assert!(matches!(
            handle_frame(FrameRef::Stdin(b"x"), &writer, &mut sink),
            Err(Stop::Lost(Cause::Unexpected(FrameType::Stdin)))
        ));
        assert!(sink.out.is_empty());
    }

    /// Regression: errors writing stderr were ignored, so `client --
    /// 'yes >&2' 2>&1 >/dev/null | head -1` ran forever.
    #[test]
    fn closed_stderr_stops_the_session_quietly_like_closed_stdout() {
        let (writer, _listener) = writer();
        let mut sink = Collect {
            closed: true,
            ..Collect::default()
        };
        let frame = Frame::Stderr(Bytes::from_static(b"y\n"));
        assert!(matches!(
            handle_frame((&frame).into(), &writer, &mut sink),
            Err(Stop::OutputClosed)
        ));
    }

    /// Regression: an impossible exit became a silent 255.
    #[test]
    fn impossible_exit_values_are_a_protocol_error_naming_them() {
        let (writer, _listener) = writer();
        for (termination, shown) in [
            (Termination::Code(300), "exit code 300"),
            (Termination::Code(-1), "exit code -1"),
            (Termination::Signal(200), "signal 200"),
            (Termination::Signal(0), "signal 0"),
        ] {
            let frame = Frame::Exit(Exit {
                termination,
                timed_out: false,
                runtime_us: 0,
            });
            let Err(Stop::Lost(cause)) =
                handle_frame((&frame).into(), &writer, &mut Collect::default())
            else {
                panic!("{termination:?} was accepted");
            };
            assert_eq!(
                cause.to_string(),
                format!("protocol error: the server reported an impossible {shown}")
            );
        }
    }

    #[test]
    fn server_error_messages_are_made_one_printable_line() {
        let (writer, _listener) = writer();
        let mut message = b"bad\nthing\x1b[2J\xff".to_vec();
        message.extend(std::iter::repeat_n(b'z', 100_000));
        let frame = Frame::Error(ErrorFrame {
            code: ErrorCode::Internal,
            message: message.into(),
        });
        let Err(Stop::Lost(cause)) =
            handle_frame((&frame).into(), &writer, &mut Collect::default())
        else {
            panic!("the error did not end the session");
        };
        let line = cause.to_string();
        assert!(
            line.starts_with("server error: bad\\nthing\\u{1b}[2J\u{fffd}zzz"),
            "{line}"
        );
        assert!(line.contains("more characters cut]"), "{line}");
        assert!(!line.chars().any(char::is_control));
        assert!(line.len() < 1024);
    }

    /// Regression: the feeder ended on the encode error without telling
    /// the session, which then waited for the server's idle time-out.
    #[test]
    fn a_line_over_the_frame_limit_is_an_error_after_the_lines_before_it_are_sent() {
        let (writer, _listener) = writer();
        let mut input = b"echo before\necho ".to_vec();
        input.extend(std::iter::repeat_n(
            b'a',
            DEFAULT_MAX_PAYLOAD + DEFAULT_MAX_PAYLOAD / 2,
        ));
        input.extend_from_slice(b"a\necho after\n");
        // The long line arrives whole in one read, with the line before it.
        let input = io::BufReader::with_capacity(input.len(), &input[..]);
        let error = feed(input, &writer, None).expect_err("too long");
        assert!(matches!(error, Cause::Encode(_)), "{error}");
        assert!(error
            .to_string()
            .starts_with("cannot send: frame payload of"));
        assert_eq!(
            writer.commands_sent(),
            1,
            "`echo before` went out, nothing after"
        );
    }

    #[test]
    fn a_line_without_end_is_not_buffered_past_the_frame_limit() {
        let (writer, _listener) = writer();
        let input = vec![b'a'; 3 * DEFAULT_MAX_PAYLOAD];
        let error = feed(&input[..], &writer, None).expect_err("too long");
        assert!(matches!(error, Cause::LineTooLong { .. }), "{error}");
        assert_eq!(writer.commands_sent(), 0);
    }

    #[test]
    fn no_command_is_sent_once_a_ctrl_c_closed_the_stream() {
        let (writer, _listener) = writer();
        writer
            .close_commands_with(&Frame::Signal(protocol::Signal { signal: 2 }))
            .expect("cancel sent");
        feed(&b"echo late\n"[..], &writer, None).expect("stops quietly");
        assert!(writer.commands_closed());
        assert_eq!(writer.commands_sent(), 0);
    }

    #[test]
    fn closed_stdout_stops_the_session_quietly() {
        let (writer, _listener) = writer();
        let mut sink = Collect {
            closed: true,
            ..Collect::default()
        };
        let frame = Frame::Stdout(Bytes::from_static(b"y\n"));
        assert!(matches!(
            handle_frame((&frame).into(), &writer, &mut sink),
            Err(Stop::OutputClosed)
        ));
    }
}
