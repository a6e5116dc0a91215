//! `subnet-calc`: see the library's crate docs, or `subnet-calc --help`.
//!
//! Exit status: 0 success, 1 `contains` said no, 2 bad input or usage,
//! 3 I/O error.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = subnet_calc::Cli::parse();
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let env = subnet_calc::Env {
        stdin_is_terminal: stdin.is_terminal(),
        stdout_is_terminal: stdout.is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    };
    let exit = subnet_calc::run(
        &cli,
        &env,
        &mut stdin.lock(),
        &mut stdout.lock(),
        &mut stderr.lock(),
    );
    ExitCode::from(exit.code())
}
