//! The `client` binary: parse the options, run, exit with the documented
//! status (see `client --help` and the `client::status` module).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let options = client::Options::parse();
    match client::run(&options) {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            // A closed stderr must not turn the status into a panic's.
            let _ = writeln!(std::io::stderr(), "client: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
