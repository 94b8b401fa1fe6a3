//! `b8g-build FILE`: build a system configuration (see `b8g build --help`).

fn main() -> std::process::ExitCode {
    b8g_cli::commands::main_build()
}
