//! `subnet-calc`: see the library's crate docs, or `subnet-calc --help`.
//!
//! Exit status: 0 success, 1 `contains` said no, 2 bad input or usage,
//! 3 I/O error.

use std::io::{self, BufReader, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

/// Bytes read from stdin at a time.
const STDIN_BUFFER: usize = 128 * 1024;

fn main() -> ExitCode {
    let cli = subnet_calc::Cli::parse();
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let env = subnet_calc::Env {
        stdin_is_terminal: stdin.is_terminal(),
        stdout_is_terminal: stdout.is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    };
    // A larger buffer than stdin's own 8 KiB: fewer reads in batch mode.
    let mut input = BufReader::with_capacity(STDIN_BUFFER, stdin.lock());
    let exit = subnet_calc::run(
        &cli,
        &env,
        &mut input,
        &mut stdout.lock(),
        &mut stderr.lock(),
    );
    ExitCode::from(exit.code())
}
