//! The `tracelite` command-line tool.

use std::process::ExitCode;

const HELP: &str = "\
tracelite — distributed tracing for Rust services

Usage: tracelite <COMMAND>

Commands (more arrive with the store and the dashboard):
  help       Print this help
  version    Print the version

Try the quick start: cargo run --release --example quickstart
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None | Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some("version" | "-V" | "--version") => {
            println!("tracelite {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("tracelite: unknown command {other:?}; run `tracelite help`");
            ExitCode::from(2)
        }
    }
}
