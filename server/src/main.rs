//! `server`: see `server --help` and the `server` crate's documentation.
//!
//! Exit status: 0 after a clean shutdown, 1 if the server could not run
//! (an address in use, say), 2 for a bad command line or configuration.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

fn main() -> ExitCode {
    // Nothing this process inherited beyond stdin, stdout and stderr is
    // passed on to the commands it runs.
    let _ = server::close_inherited_on_exec();
    let cli = server::Cli::parse();
    // The log never blocks the event loop, even on a stderr nobody reads.
    let logs = server::logging::init("info");
    let status = serve(cli);
    // The last lines (the shutdown's), unless stderr is stuck.
    logs.wait(Duration::from_secs(1));
    status
}

fn serve(cli: server::Cli) -> ExitCode {
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::from(2);
        }
    };
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
