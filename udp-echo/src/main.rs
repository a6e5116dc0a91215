//! The `udp-echo` binary: parse, run, exit. Exit codes: 0 success; 1 the
//! network said no (time-out, refused, no replies, host name not resolved,
//! I/O error); 2 bad usage.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = udp_echo::cli::Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match udp_echo::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("udp-echo: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
