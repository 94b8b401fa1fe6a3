//! `b8g`: the command-line front end, thin over the b8g libraries.
//!
//! Each subcommand lives in `commands/<name>.rs` with its arguments and an
//! `exec` function; this file only hands over to them.

/// The allocator the evaluator is tuned for (see `b8g_eval::MiMalloc`);
/// evaluation is 15-20 % slower on glibc's malloc.
#[global_allocator]
static ALLOC: b8g_eval::MiMalloc = b8g_eval::MiMalloc;

fn main() -> std::process::ExitCode {
    b8g_cli::commands::main()
}
