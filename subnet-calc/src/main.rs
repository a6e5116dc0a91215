//! `subnet-calc`: see the library's crate docs, or `subnet-calc --help`.
//!
//! Exit status: 0 success, 1 `contains` said no, 2 bad input or usage,
//! 3 I/O error.
//!
//! The program defines the C `main` itself (`#![no_main]`) instead of
//! letting std wrap it. std's wrapper prepares a process for threads and
//! deep recursion: it reads `/proc/self/maps` to find the main thread's
//! stack guard, installs a SIGSEGV/SIGBUS handler on an alternate signal
//! stack, polls fds 0–2, and ignores SIGPIPE. A one-shot lookup needs none
//! of it, and that preparation was a measurable part of a run that takes
//! under a millisecond (issue 6 asks to match sipcalc's latency; see
//! docs/BENCHMARKS.md). What the user sees does not change: SIGPIPE is
//! ignored here as std would, so a closed output pipe (`subnet-calc ... |
//! head -1`) ends the program with status 0, and a panic still exits with
//! status 101.

#![no_main]

use std::ffi::{c_char, c_int};
use std::io::{self, BufReader, IsTerminal, Write};
use std::panic;

use clap::Parser;

/// Bytes read from stdin at a time: larger than std's 8 KiB for fewer reads
/// in batch mode, and below glibc's 128 KiB mmap threshold so that a
/// one-shot run does not pay an mmap/munmap pair for a buffer it never
/// fills.
const STDIN_BUFFER: usize = 64 * 1024;

/// The exit status of a panic, as std's own `main` wrapper uses.
const PANIC_EXIT: c_int = 101;

/// The C entry point. Arguments are read through `std::env::args_os`, which
/// on glibc gets them independently of this function's parameters.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // A write to a closed pipe then fails with EPIPE, which `run` treats as
    // the reader being done, instead of killing the process.
    // SAFETY: `signal` with SIG_IGN installs no handler code, and nothing
    // else in this single-threaded program is changing signal dispositions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // A panic must not unwind into C; report it as std would.
    panic::catch_unwind(run).unwrap_or(PANIC_EXIT)
}

fn run() -> c_int {
    let cli = subnet_calc::Cli::parse();
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let env = subnet_calc::Env {
        stdin_is_terminal: stdin.is_terminal(),
        stdout_is_terminal: stdout.is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    };
    let mut input = BufReader::with_capacity(STDIN_BUFFER, stdin.lock());
    let mut out = stdout.lock();
    let exit = subnet_calc::run(&cli, &env, &mut input, &mut out, &mut stderr.lock());
    // std flushes stdout when its own `main` returns; without that wrapper,
    // flush here. A failure has already been reported by `run`, or is a
    // closed pipe, which is not an error for a filter.
    let _ = out.flush();
    c_int::from(exit.code())
}
