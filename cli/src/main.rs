//! `b8g`: the command-line front end, thin over the b8g libraries.
//!
//! Each subcommand lives in `commands/<name>.rs` with its arguments and an
//! `exec` function; this file only hands over to them.

fn main() -> std::process::ExitCode {
    b8g_cli::commands::main()
}
