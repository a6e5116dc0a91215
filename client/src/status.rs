//! Exit statuses: how a remote command's end becomes this process's status.
//!
//! # Design
//!
//! The mapping is the shell's and ssh's, so scripts can treat `client -- CMD`
//! like `CMD`: the remote exit code as is; killed by signal `n` → `128 + n`;
//! ended by the time limit → `124` (what `timeout(1)` returns); anything
//! that kept the command from running or finishing (connect, handshake,
//! authentication, protocol) → `255` (what ssh returns for its own errors).

use protocol::{Exit, Termination};

/// Status when every command succeeded.
pub const SUCCESS: u8 = 0;
/// Status for usage errors (bad flags, a fan-out without a command), as clap
/// gives for its own.
pub const USAGE: u8 = 2;
/// Status when the server's time limit ended the command, like `timeout(1)`.
pub const TIMED_OUT: u8 = 124;
/// Added to a signal number when a signal killed the command, like a shell.
pub const SIGNAL_BASE: u8 = 128;
/// Status when the client could not connect, authenticate or keep speaking
/// the protocol, like ssh.
pub const FAILURE: u8 = 255;

/// The status for a command's `Exit` frame.
///
/// ```
/// use client::status::exit_status;
/// use protocol::{Exit, Termination};
///
/// let exit = |termination, timed_out| Exit { termination, timed_out, runtime_us: 0 };
/// assert_eq!(exit_status(&exit(Termination::Code(3), false)), 3);
/// assert_eq!(exit_status(&exit(Termination::Signal(9), false)), 137);
/// assert_eq!(exit_status(&exit(Termination::Signal(15), true)), 124);
/// ```
pub fn exit_status(exit: &Exit) -> u8 {
    if exit.timed_out {
        return TIMED_OUT;
    }
    match exit.termination {
        // Exit codes are 0..=255 on Unix; anything else is a confused peer.
        Termination::Code(code) => u8::try_from(code).unwrap_or(FAILURE),
        Termination::Signal(signal) => u8::try_from(signal)
            .ok()
            .and_then(|n| SIGNAL_BASE.checked_add(n))
            .unwrap_or(FAILURE),
    }
}

/// Whether `exit` is one a process can have: an exit code in 0..=255 or a
/// signal in 1..=127 (so that 128+n is still a status). Anything else is a
/// protocol error, not a status.
///
/// ```
/// use client::status::is_possible;
/// use protocol::{Exit, Termination};
/// let exit = |termination| Exit { termination, timed_out: false, runtime_us: 0 };
/// assert!(is_possible(&exit(Termination::Code(255))));
/// assert!(!is_possible(&exit(Termination::Code(300))));
/// assert!(!is_possible(&exit(Termination::Signal(200))));
/// ```
pub fn is_possible(exit: &Exit) -> bool {
    match exit.termination {
        Termination::Code(code) => (0..=255).contains(&code),
        Termination::Signal(signal) => (1..=127).contains(&signal),
    }
}

/// A short human description of how a command ended, for summaries.
///
/// ```
/// use client::status::describe;
/// use protocol::{Exit, Termination};
/// let exit = Exit { termination: Termination::Signal(2), timed_out: false, runtime_us: 0 };
/// assert_eq!(describe(&exit), "killed by signal 2 (SIGINT)");
/// ```
pub fn describe(exit: &Exit) -> String {
    if exit.timed_out {
        return "timed out".to_string();
    }
    match exit.termination {
        Termination::Code(code) => format!("exit {code}"),
        Termination::Signal(signal) => match signal_name(signal) {
            Some(name) => format!("killed by signal {signal} ({name})"),
            None => format!("killed by signal {signal}"),
        },
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(termination: Termination, timed_out: bool) -> Exit {
        Exit {
            termination,
            timed_out,
            runtime_us: 0,
        }
    }

    #[test]
    fn exit_code_passes_through() {
        for code in [0, 1, 3, 127, 255] {
            assert_eq!(
                exit_status(&exit(Termination::Code(code), false)),
                code as u8
            );
        }
    }

    #[test]
    fn signal_maps_to_128_plus_n() {
        assert_eq!(exit_status(&exit(Termination::Signal(2), false)), 130);
        assert_eq!(exit_status(&exit(Termination::Signal(15), false)), 143);
    }

    #[test]
    fn timed_out_wins_over_the_signal_that_ended_it() {
        assert_eq!(exit_status(&exit(Termination::Signal(9), true)), 124);
        assert_eq!(exit_status(&exit(Termination::Code(0), true)), 124);
    }

    #[test]
    fn out_of_range_values_from_a_peer_map_to_failure_not_a_panic() {
        assert_eq!(exit_status(&exit(Termination::Code(-1), false)), FAILURE);
        assert_eq!(exit_status(&exit(Termination::Code(256), false)), FAILURE);
        assert_eq!(exit_status(&exit(Termination::Signal(200), false)), FAILURE);
        assert_eq!(exit_status(&exit(Termination::Signal(-5), false)), FAILURE);
    }
}
