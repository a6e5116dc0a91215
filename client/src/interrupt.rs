//! Ctrl-C: cancel the remote command, not the client.
//!
//! # Design
//!
//! `signal-hook` turns SIGINT into an ordinary event on a thread of our own
//! (its self-pipe iterator), so the handler itself does nothing but wake
//! that thread. While a command runs, the session *arms* the handler with
//! its [`FrameWriter`]; a press then sends `Signal{SIGINT}` to the remote
//! command. What a second press within [`DOUBLE_PRESS`] does is the
//! session's [`SecondPress`] policy: a one-shot client quits (the socket is
//! shut down, the reader wakes, and the server kills the command when it
//! sees the connection go); the REPL escalates to SIGKILL and keeps the
//! session. Unarmed (connecting), a press does what it would have done
//! without us: end the process; except in the REPL, which ignores it
//! ([`Interrupts::ignore_when_unarmed`]): a press that lands between two
//! commands (the command just ended, or a `kill -INT` at the prompt, where
//! the line editor's raw mode turns the key itself into no signal) must
//! not end the session and leave the terminal in raw mode. (While the REPL
//! connects again, a press still ends it, as during the first connect.)
//!
//! A client started with SIGINT ignored (a background job of a script)
//! keeps ignoring it, as ssh does: nothing is installed then.
//!
//! A cancel can only follow what we already wrote. When that is stuck (the
//! server stops reading a connection whose command's stdin is full, and
//! the command may never read it), the `Signal` would wait until the
//! command ends by itself. So a first press whose cancel is not written
//! within [`CANCEL_GRACE`] quits at once in one-shot and stdin mode, as a
//! second press would: the connection closes and the server kills the
//! command.
//!
//! Stdin mode arms with [`Interrupts::arm_stopping_commands`]: the first
//! press also closes the connection's command stream, in the same step as
//! the `Signal` goes out (see [`crate::conn`]), so no later line of the
//! script is sent, and then tells the session, which stops waiting for more
//! input; as a shell script interrupted by Ctrl-C stops.

use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use protocol::{Frame, Signal};
use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

use crate::conn::FrameWriter;

/// Two presses closer than this count as "a second Ctrl-C".
pub const DOUBLE_PRESS: Duration = Duration::from_secs(1);

/// How long a first press waits for its cancel to be on its way. A cancel
/// still stuck after that sits behind a write the server is not reading
/// (a command that reads no stdin while ours keeps coming, or a script's
/// commands past the server's queue): it could wait for the command's end.
/// So a one-shot or stdin-mode client then quits at once, as on a second
/// press, and the server kills the command when the connection goes.
pub const CANCEL_GRACE: Duration = Duration::from_millis(200);

/// The signal number sent to cancel a command.
const CANCEL: u8 = 2;
/// The signal number sent when the REPL escalates.
const KILL: u8 = 9;

/// What a second Ctrl-C within [`DOUBLE_PRESS`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondPress {
    /// Close the connection and end the client (one-shot, stdin mode).
    Quit,
    /// Send SIGKILL to the command and keep the session (REPL).
    Kill,
}

/// Called, on a thread of its own, once a first press has closed the
/// command stream and sent its cancel.
pub type OnCancel = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct Arming {
    writer: FrameWriter,
    policy: SecondPress,
    stop_commands: Option<OnCancel>,
}

impl std::fmt::Debug for Arming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arming")
            .field("policy", &self.policy)
            .field("stop_commands", &self.stop_commands.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    armed: Option<Arming>,
    /// Presses while unarmed are ignored instead of ending the process.
    ignore_unarmed: bool,
    last_press: Option<Instant>,
    cancelled: bool,
    quit: bool,
}

/// The process's Ctrl-C handling; install once.
#[derive(Debug, Clone)]
pub struct Interrupts {
    state: Arc<Mutex<State>>,
}

impl Interrupts {
    /// Installs the SIGINT handler and its thread; unless SIGINT is
    /// ignored already (see [`sigint_ignored`]), which it then stays.
    pub fn install() -> std::io::Result<Interrupts> {
        let state = Arc::new(Mutex::new(State::default()));
        if sigint_ignored() {
            return Ok(Interrupts { state });
        }
        let mut signals = Signals::new([SIGINT])?;
        let shared = Arc::clone(&state);
        thread::Builder::new()
            .name("ctrl-c".into())
            .spawn(move || {
                for _ in signals.forever() {
                    on_press(&shared);
                }
            })?;
        Ok(Interrupts { state })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes presses to the command behind `writer` until the guard drops.
    pub fn arm(&self, writer: FrameWriter, policy: SecondPress) -> Armed<'_> {
        self.arm_with(Arming {
            writer,
            policy,
            stop_commands: None,
        })
    }

    /// Like [`Interrupts::arm`], and the first press also closes the
    /// command stream of `writer` before its cancel goes out, then calls
    /// `on_cancel` (stdin mode).
    pub fn arm_stopping_commands(
        &self,
        writer: FrameWriter,
        policy: SecondPress,
        on_cancel: OnCancel,
    ) -> Armed<'_> {
        self.arm_with(Arming {
            writer,
            policy,
            stop_commands: Some(on_cancel),
        })
    }

    fn arm_with(&self, arming: Arming) -> Armed<'_> {
        let mut state = self.lock();
        state.armed = Some(arming);
        state.cancelled = false;
        state.quit = false;
        Armed { interrupts: self }
    }

    /// Whether a press while nothing is armed is ignored (`true`) or ends
    /// the process (`false`, the default). The REPL ignores them between
    /// two commands, where a press must not end the session nor leave the
    /// terminal in the line editor's raw mode; but not while it connects
    /// again, which a press may cut short.
    pub fn ignore_when_unarmed(&self, ignore: bool) {
        self.lock().ignore_unarmed = ignore;
    }

    /// Whether a cancel was sent since the last call (and forgets it).
    pub fn take_cancelled(&self) -> bool {
        std::mem::take(&mut self.lock().cancelled)
    }

    /// Whether a second press asked the client to quit.
    pub fn quit_requested(&self) -> bool {
        self.lock().quit
    }
}

/// Whether this process started with SIGINT ignored: a shell without job
/// control starts a background job (`client -- cmd &`) so, so that the
/// Ctrl-C meant for the foreground leaves it alone; `nohup`-like wrappers
/// do the same. As ssh does, the client then keeps ignoring it, rather
/// than cancelling its remote command on a press meant for someone else.
pub fn sigint_ignored() -> bool {
    // SAFETY: with a null new action, sigaction(2) only reads the current
    // one into `current`, a plain C struct for which all zeroes is valid.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// Keeps the handler armed; disarms on drop.
#[derive(Debug)]
pub struct Armed<'a> {
    interrupts: &'a Interrupts,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.interrupts.lock().armed = None;
    }
}

fn on_press(shared: &Mutex<State>) {
    let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let again = state
        .last_press
        .is_some_and(|last| now.duration_since(last) < DOUBLE_PRESS);
    state.last_press = Some(now);
    let Some(Arming {
        writer,
        policy,
        stop_commands,
    }) = state.armed.clone()
    else {
        if state.ignore_unarmed {
            return;
        }
        drop(state);
        // Nothing to cancel: behave as if we had no handler.
        let _ = signal_hook::low_level::emulate_default_handler(SIGINT);
        return;
    };
    match (again, policy) {
        (true, SecondPress::Quit) => {
            state.quit = true;
            drop(state);
            writer.abort();
        }
        (true, SecondPress::Kill) => {
            drop(state);
            send_signal_frame(writer, KILL, None);
        }
        (false, policy) => {
            state.cancelled = true;
            drop(state);
            let sent = send_signal_frame(writer.clone(), CANCEL, stop_commands);
            // The REPL sends no stdin, so nothing of ours blocks its cancel.
            if policy == SecondPress::Quit && sent.recv_timeout(CANCEL_GRACE).is_err() {
                shared.lock().unwrap_or_else(PoisonError::into_inner).quit = true;
                writer.abort();
            }
        }
    }
}

/// Sends the `Signal` frame from a thread of its own: the send may wait
/// behind a stdin forwarder stuck in `write` (the server stops reading
/// while the command's stdin is full), and the Ctrl-C thread must stay
/// free to see the second press, whose quit needs no lock. The receiver
/// hears once the frame is written (or failed); it is disconnected
/// without a word if no thread could be had.
fn send_signal_frame(
    writer: FrameWriter,
    signal: u8,
    stop_commands: Option<OnCancel>,
) -> mpsc::Receiver<()> {
    let (done, sent) = mpsc::sync_channel(1);
    let spawned = thread::Builder::new()
        .name("send-signal".into())
        .spawn(move || {
            let frame = Frame::Signal(Signal { signal });
            match stop_commands {
                None => drop(writer.send(&frame)),
                Some(on_cancel) => {
                    // Closed even if the send fails: the session must stop
                    // waiting for input either way.
                    let _ = writer.close_commands_with(&frame);
                    on_cancel();
                }
            }
            let _ = done.send(());
        });
    drop(spawned);
    sent
}
