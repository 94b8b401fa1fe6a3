//! The command tree: global options, logging set-up, and dispatch.
//!
//! A new subcommand is a module here with `Args` (clap derive) and
//! `exec(&GlobalArgs, Args) -> anyhow::Result<ExitCode>`, plus one variant in
//! [`Command`] and one arm in [`run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod ansi;
pub mod auto_args;
pub mod bootstrap;
pub mod cache;
pub mod eval;
pub mod generation;
pub mod install;
pub mod log;
pub mod nix_instantiate;
pub mod options;
pub mod run_vm;
pub mod snapshot;
pub mod store;
pub mod system;

/// b8g: a declarative OS distribution builder with a Nix-compatible store.
#[derive(Debug, Parser)]
#[command(name = "b8g", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Logical store directory (the prefix of every store path).
    #[arg(long, global = true, env = "B8G_STORE_DIR", value_name = "DIR")]
    pub store_dir: Option<String>,
    /// Logical state directory (database, GC roots, locks).
    #[arg(long, global = true, env = "B8G_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Physical root under which the store and state directories live (a chroot store).
    #[arg(long, global = true, env = "B8G_STORE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log less (repeat for even less).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Log more (repeat for even more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Binary caches: keys, push, pull, serve, verify.
    Cache(cache::Args),
    /// Work with the local store: add, query, dump, garbage-collect, verify.
    Store(store::Args),
    /// Evaluate a Nix expression and print its value (like `nix-instantiate --eval`).
    Eval(eval::EvalArgs),
    /// Evaluate, write the derivations' .drv files and print their paths.
    Instantiate(eval::InstantiateArgs),
    /// Build a system configuration (the same as `b8g-build`).
    Build(system::BuildArgs),
    /// Build a system configuration with a root image and boot it under qemu.
    // run-vm refuses --dry-run (it would boot); b8g-build --dry-run -A vm is the way.
    #[command(mut_arg("dry_run", |a| a.hide(true)))]
    RunVm(run_vm::RunVmArgs),
    /// Install a system onto a disk that boots through UEFI firmware and systemd-boot.
    Install(install::Args),
    /// System generations: switch, roll back, list, delete, diff.
    System(generation::Args),
    /// Whole-system snapshots: export a generation's closure to one signed file, import it.
    Snapshot(snapshot::Args),
    /// Show the build log of a derivation or store path.
    Log(log::Args),
    /// List the options of the system modules with types, defaults and descriptions.
    Options(options::Args),
    /// Bootstrap seeds: regenerate the pinned Debian packages.
    Bootstrap(bootstrap::Args),
}

/// Only the global options, from the environment (for personalities such
/// as `nix-instantiate` whose command line is not b8g's).
#[derive(Debug, Parser)]
struct EnvOnly {
    #[command(flatten)]
    global: GlobalArgs,
}

impl GlobalArgs {
    /// The global options as the environment sets them (`B8G_STORE_DIR`, …).
    pub fn from_env() -> GlobalArgs {
        EnvOnly::parse_from(["b8g"]).global
    }

    /// The store these options describe (defaults: `/b8g/store`, state in `/b8g/var/b8g`).
    pub fn store_config(&self) -> anyhow::Result<b8g_store::local::StoreConfig> {
        use anyhow::Context;
        let store_dir = match &self.store_dir {
            Some(d) => b8g_store::format::store_path::StoreDir::new(d)
                .with_context(|| format!("invalid store directory {d:?}"))?,
            None => b8g_store::format::store_path::StoreDir::default(),
        };
        Ok(b8g_store::local::StoreConfig {
            store_dir,
            state_dir: self
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(b8g_store::local::DEFAULT_STATE_DIR)),
            root: self.root.clone(),
        })
    }

    /// Opens (creating if needed) the store these options describe.
    pub fn open_store(&self) -> anyhow::Result<b8g_store::local::LocalStore> {
        use anyhow::Context;
        b8g_store::local::LocalStore::open(&self.store_config()?).context("cannot open the store")
    }
}

/// `b8g-build`: the build command on its own.
#[derive(Debug, Parser)]
#[command(name = "b8g-build", version)]
struct BuildCli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    args: system::BuildArgs,
}

/// Entry point of the `b8g-build` binary.
pub fn main_build() -> ExitCode {
    b8g_eval::no_huge_pages();
    let cli = BuildCli::parse();
    init_logging(&cli.global);
    match system::exec_build(&cli.global, cli.args) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's error. An evaluation error is printed as Nix prints it (it has its own
/// `error:`, position and hint), without the context around it.
fn report(e: &anyhow::Error) {
    // `b8g store roots | head`: the reader went away; Nix (and coreutils) end quietly.
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return;
    }
    let eval = e.chain().find_map(|c| match c.downcast_ref() {
        Some(b8g_system::build::SystemBuildError::Eval(m)) => Some(m),
        _ => None,
    });
    match eval {
        Some(m) => eprintln!("{}", ansi::for_stderr(m)),
        None => eprintln!("error: {e:#}"),
    }
}

fn init_logging(global: &GlobalArgs) {
    let level = match 2 + i32::from(global.verbose) - i32::from(global.quiet) {
        i32::MIN..=0 => "error",
        1 => "warn",
        2 => "info",
        3 => "debug",
        _ => "trace",
    };
    // B8G_LOG, if set, wins (e.g. `B8G_LOG=b8g_store=trace`).
    let filter = tracing_subscriber::EnvFilter::try_from_env("B8G_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a terminal, as Nix does: logs and CI capture plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Cache(args) => cache::exec(&cli.global, args),
        Command::Store(args) => store::exec(&cli.global, args),
        Command::Eval(args) => eval::exec_eval(&cli.global, args),
        Command::Instantiate(args) => eval::exec_instantiate(&cli.global, args),
        Command::Build(args) => system::exec_build(&cli.global, args),
        Command::RunVm(args) => run_vm::exec_run_vm(&cli.global, args),
        Command::Install(args) => install::exec(&cli.global, args),
        Command::System(args) => generation::exec(&cli.global, args),
        Command::Snapshot(args) => snapshot::exec(&cli.global, args),
        Command::Log(args) => log::exec(&cli.global, args),
        Command::Options(args) => options::exec(&cli.global, args),
        Command::Bootstrap(args) => bootstrap::exec(&cli.global, args),
    }
}

/// Parses the command line, runs the command, and turns errors into a
/// message on stderr and exit status 1.
pub fn main() -> ExitCode {
    b8g_eval::no_huge_pages();
    // Called through a link named `nix-instantiate`: Nix's command line.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if called_as == "nix-instantiate" {
        return nix_instantiate::main(argv);
    }
    let cli = Cli::parse();
    init_logging(&cli.global);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Keys and URLs are one value per option (repeat it, or separate them with
    /// spaces): a FILE after `--trusted-public-keys K` is the FILE, as the usage line
    /// shows it (it was swallowed as a second key).
    #[test]
    fn a_positional_after_a_key_option_is_not_taken_as_a_key() {
        use clap::Parser;
        for args in [
            &[
                "b8g",
                "snapshot",
                "import",
                "--trusted-public-keys",
                "k:AA",
                "snap.b8g",
            ][..],
            &[
                "b8g",
                "snapshot",
                "import",
                "snap.b8g",
                "--trusted-public-keys",
                "k:AA",
            ],
        ] {
            let cli = super::Cli::try_parse_from(args).expect("parses");
            let dbg = format!("{cli:?}");
            assert!(
                dbg.contains(r#"file: "snap.b8g""#)
                    && dbg.contains(r#"trusted_public_keys: ["k:AA"]"#),
                "{dbg}"
            );
        }
        let cli = super::Cli::try_parse_from([
            "b8g",
            "snapshot",
            "import",
            "s",
            "--trusted-public-keys",
            "a:AA b:BB",
            "--trusted-public-keys",
            "c:CC",
        ])
        .expect("parses");
        assert!(
            format!("{cli:?}").contains(r#"["a:AA", "b:BB", "c:CC"]"#),
            "{cli:?}"
        );
    }
}
