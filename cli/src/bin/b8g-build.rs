//! `b8g-build FILE`: build a system configuration (see `b8g build --help`).

/// The allocator the evaluator is tuned for (see `b8g_eval::MiMalloc`);
/// evaluation is 15-20 % slower on glibc's malloc.
#[global_allocator]
static ALLOC: b8g_eval::MiMalloc = b8g_eval::MiMalloc;

fn main() -> std::process::ExitCode {
    b8g_cli::commands::main_build()
}
