//! `b8g-build FILE` (also `b8g build`); `b8g run-vm` (run_vm.rs) builds through it.
//!
//! `b8g-build` works like `nix-build`: FILE (with `-A`, `--arg`, `--argstr`)
//! evaluates to derivations, which are instantiated, realised (substituted
//! from caches when configured, otherwise built in the sandbox), linked as
//! `result`, `result-2`, `result-2-doc` for a `drv.doc` (GC roots) and printed. A FILE that
//! is a system configuration module — a function taking `config`, or `pkgs`
//! or `lib` without a default, or a set of module attributes (`imports`,
//! `boot`, `services`, ...) — is built as a system instead: `-A ATTR` then
//! selects `config.system.build.ATTR` (default `toplevel`).
//!
//! Substituters come from `--substituters`/`--trusted-public-keys`, or else
//! from the first of `$B8G_CONF`, `<state dir>/b8g.conf`, `/b8g/etc/b8g.conf`
//! (nix.conf syntax: `substituters = URL…`, `trusted-public-keys = KEY…`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use b8g_builder::glue::{EvalSession, SessionError};
use b8g_builder::realise::{self, RealiseOptions, SubstituterSettings, Substituters};
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::{BuildLines, IndicatifProgress, NoProgress, Progress, ScheduleOptions};
use b8g_kernel_adapters::linux::image::Format;
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::LocalStore;
use b8g_system::build::{self, SystemBuildOptions};
use b8g_system::file::{instantiate_file, FileEval, FileKind, Source};

use super::auto_args::AutoArgs;
use super::GlobalArgs;

mod many;
mod realise_link;

use many::exec_build_many;
use realise_link::{print_plan, realise_and_link, report_failed_builds, BUILD_FAILED};

#[cfg(test)]
mod tests {
    #[test]
    fn the_static_binaries_are_found_where_xtask_puts_them() {
        let t = tempfile::tempdir().expect("tempdir");
        let debug = t.path().join("debug");
        std::fs::create_dir_all(&debug).expect("debug");
        assert_eq!(super::b8g_bin_near(&debug), None);
        std::fs::create_dir_all(t.path().join("b8g-bin/bin")).expect("bin");
        std::fs::write(t.path().join("b8g-bin/bin/b8g-init"), "").expect("init");
        let found = super::b8g_bin_near(&debug).expect("one level up");
        assert!(found.join("bin/b8g-init").is_file());
        std::fs::create_dir_all(debug.join("b8g-bin/bin")).expect("bin");
        std::fs::write(debug.join("b8g-bin/bin/b8g-init"), "").expect("init");
        assert_eq!(super::b8g_bin_near(&debug), Some(debug.join("b8g-bin")));
    }

    #[test]
    fn the_image_is_the_link_s_whole_name_and_img() {
        use std::path::Path;
        assert_eq!(
            super::image_beside(Path::new("/x/result")),
            Path::new("/x/result.img")
        );
        assert_eq!(
            super::image_beside(Path::new("vm-1.0")),
            Path::new("vm-1.0.img")
        );
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// The expression to build (derivations, or a system configuration module).
    #[arg(value_name = "FILE", default_value = "default.nix")]
    pub(super) file: PathBuf,
    /// Build the derivations of this expression instead of a file (as
    /// `nix-build -E`); relative paths in it resolve against the current directory.
    #[arg(
        short = 'E',
        long = "expr",
        value_name = "EXPR",
        conflicts_with = "file"
    )]
    pub(super) expr: Option<String>,
    #[command(flatten)]
    more: Box<MoreBuildArgs>,
    /// Select an attribute of the result (`a.b.0`); for a system
    /// configuration, build `config.system.build.ATTR` (default `toplevel`).
    /// May be given more than once: each is built and linked in turn
    /// (`result`, `result-2`, …), as nix-build does.
    #[arg(short = 'A', long = "attr", value_name = "ATTR")]
    attrs: Vec<String>,
    /// Where to put the link to the result (registered as a GC root).
    #[arg(
        short = 'o',
        long = "out-link",
        default_value = "result",
        value_name = "LINK"
    )]
    pub(super) out_link: PathBuf,
    /// Do not create result links (the outputs may then be garbage-collected).
    #[arg(long)]
    no_out_link: bool,
    /// Only print what would be built and fetched.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Show evaluation errors with their whole trace, as Nix's `--show-trace`.
    #[arg(long)]
    pub(super) show_trace: bool,
    /// Rebuild the requested derivations and compare the results bit for bit
    /// with their valid outputs; a differing rebuild is kept as `<path>.check`.
    #[arg(long)]
    check: bool,
    /// Also write a root disk image of the closure to LINK.img (systems only).
    /// run-vm boots from such an image and, unless this is given, keeps it in a
    /// scratch directory under $TMPDIR that it removes afterwards.
    #[arg(long)]
    pub(super) image: bool,
    /// Root image format (default: the configuration's system.image.format
    /// for run-vm, erofs for --image).
    #[arg(long, value_name = "erofs|ext4")]
    pub(super) image_format: Option<Format>,
    /// Builds to run at once.
    #[arg(short = 'j', long = "max-jobs", default_value_t = 2)]
    jobs: usize,
    /// Cores each build may use (NIX_BUILD_CORES).
    #[arg(long, default_value_t = 1)]
    cores: u32,
    /// Go on with other builds after one fails.
    #[arg(long)]
    keep_going: bool,
    /// Print the builders' output on stderr as it comes, each line prefixed
    /// with its derivation's name (`hello> …`), as Nix's `-L` does.
    #[arg(short = 'L', long)]
    print_build_logs: bool,
    /// The recipes directory (lib, modules, pkgs, bootstrap).
    #[arg(long, env = "B8G_RECIPES", value_name = "DIR")]
    pub(super) recipes: Option<PathBuf>,
    /// Directory with bin/b8g-init and bin/b8gctl to put into the system (static
    /// builds, for development), or `source`: b8g built from source in the
    /// sandbox, the default unless such a directory lies beside this executable.
    #[arg(long, env = "B8G_INIT_BIN", value_name = "DIR")]
    pub(super) b8g_bin: Option<PathBuf>,
}

impl BuildArgs {
    /// The one `-A` of a command that builds one thing (the first, if several).
    fn attr(&self) -> Option<&str> {
        self.attrs.first().map(String::as_str)
    }

    /// The first build option that means nothing for `b8g install` (which
    /// builds the toplevel and writes a disk), if one was given.
    pub(crate) fn not_for_install(&self) -> Option<&'static str> {
        [
            (self.dry_run, "--dry-run"),
            (self.expr.is_some(), "-E/--expr"),
            (!self.attrs.is_empty(), "-A/--attr"),
            (self.image, "--image"),
            (self.check, "--check"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// Refuses more than one FILE, for the commands that build one system.
    pub(crate) fn one_file(&self, command: &str) -> Result<()> {
        if let Some(second) = self.more.files.first() {
            bail!(
                "{command} takes one configuration file, not also {}",
                second.display()
            );
        }
        Ok(())
    }
}

/// The list-valued options, boxed so that `BuildArgs` stays small where it is embedded.
#[derive(Debug, Clone, clap::Args)]
pub struct MoreBuildArgs {
    /// More files to build with the first (`b8g build` only): each is
    /// evaluated on its own thread (at most `B8G_EVAL_THREADS`, by default
    /// one per core), then the derivations of all are built in one run and
    /// linked as `result`, `result-2`, … in the order given.
    #[arg(value_name = "FILE", conflicts_with = "expr")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    auto: AutoArgs,
    /// Binary caches to substitute from before building (`file://`, `http(s)://`, `s3://`). Repeat the option, or separate them with spaces.
    #[arg(long, action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "URL")]
    substituters: Option<Vec<String>>,
    /// Keys (`name:base64`, or files holding one) whose signatures are trusted on substituted paths. Repeat the option, or separate them with spaces.
    #[arg(long, action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "KEY")]
    trusted_public_keys: Option<Vec<String>>,
    /// Kill a build that runs longer than this many seconds (Nix's `--timeout`).
    #[arg(long, value_name = "SECS")]
    build_timeout: Option<u64>,
    /// Kill a build that prints nothing for this many seconds.
    #[arg(long, value_name = "SECS")]
    max_silent_time: Option<u64>,
    /// Remote machines to build on, in Nix's machines format (`URI SYSTEMS
    /// KEY MAX-JOBS SPEED FEATURES MANDATORY HOST-KEY`), entries separated
    /// by `;` or newlines, `@FILE` for a machines file. With builders,
    /// `-j` counts local builds and may be 0.
    #[arg(long, value_name = "SPEC")]
    builders: Option<String>,
    /// Let the remote machines fetch inputs from their own binary caches
    /// before any are copied to them (Nix's `builders-use-substitutes`).
    #[arg(long, requires = "builders")]
    builders_use_substitutes: bool,
}

/// `p` made absolute with links resolved; a missing file is reported in
/// nix-build's words ("getting status of '…': No such file or directory").
pub(super) fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    p.canonicalize().map_err(|e| {
        // Nix prints strerror's text, without Rust's "(os error N)".
        let why = e.to_string();
        let why = why.split(" (os error").next().unwrap_or(&why).to_string();
        anyhow::anyhow!("getting status of '{}': {why}", p.display())
    })
}

/// What `-E EXPR` or FILE names, and FILE's absolute path when it is a file
/// (`<name>` and URLs are left to the evaluator).
fn source_of(expr: Option<&String>, file: &Path, cwd: &Path) -> Result<(Source, Option<PathBuf>)> {
    if let Some(e) = expr {
        return Ok((Source::Expr(e.clone()), None));
    }
    Ok(match Source::from_arg(file, cwd) {
        Source::File(_) => {
            let file = absolute(file)?;
            (Source::File(file.clone()), Some(file))
        }
        other => (other, None),
    })
}

/// The recipes of this workspace when not told otherwise.
pub(super) fn default_recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes")
}

/// b8g-init and b8gctl next to this executable, when not told otherwise:
/// `b8g-bin/` beside it, or one level up (`cargo xtask test` puts it in
/// `target/b8g-bin`, beside `target/debug` and `target/release`); in a b8g
/// system, the package this b8g came in (`…-b8g-<version>/bin/b8g`). With
/// neither, `None`: the recipes build b8g from source in the sandbox.
fn default_b8g_bin() -> Result<Option<PathBuf>> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let dir = exe.parent().context("executable has no directory")?;
    if let Some(found) = b8g_bin_near(dir) {
        return Ok(Some(found));
    }
    // Only a store path: a `bin/` elsewhere (~/.cargo/bin) would put its whole
    // parent into the store.
    if let Some(package) = dir
        .parent()
        .filter(|_| dir.ends_with("bin") && dir.join("b8g-init").is_file())
        .filter(|p| StoreDir::default().parse_path(&p.to_string_lossy()).is_ok())
    {
        return Ok(Some(package.to_path_buf()));
    }
    Ok(None)
}

/// `--b8g-bin`: a directory, `source` (build b8g from source even where host
/// binaries lie near), or, not given, [`default_b8g_bin`].
pub(super) fn chosen_b8g_bin(arg: Option<&Path>) -> Result<Option<PathBuf>> {
    match arg {
        Some(b) if b == Path::new("source") => Ok(None),
        Some(b) => Ok(Some(absolute(b)?)),
        None => default_b8g_bin(),
    }
}

/// `DIR/b8g-bin` or `DIR/../b8g-bin`, whichever holds `bin/b8g-init`.
fn b8g_bin_near(dir: &Path) -> Option<PathBuf> {
    [dir.join("b8g-bin"), dir.join("../b8g-bin")]
        .into_iter()
        .find(|c| c.join("bin/b8g-init").is_file())
}

/// What a build shows on stderr: as nix-build, a `building '…drv'...` line
/// per derivation built, and with `-L` its builder's output as `name> line`
/// (with bars above them on a terminal). `-q` keeps only what `-L` asks for.
pub(super) fn progress(global: &GlobalArgs, args: &BuildArgs) -> Box<dyn Progress> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if global.quiet > 0 && !args.print_build_logs {
        Box::new(NoProgress)
    } else if terminal && global.quiet == 0 {
        Box::new(IndicatifProgress::new().with_build_lines(args.print_build_logs))
    } else {
        let lines = BuildLines::new(args.print_build_logs, Box::new(|line| eprintln!("{line}")));
        if global.quiet > 0 {
            Box::new(lines.without_announcements())
        } else {
            Box::new(lines)
        }
    }
}

/// Builds the configuration; returns the store and the result path.
fn build_system(global: &GlobalArgs, args: &BuildArgs) -> Result<(LocalStore, StorePath)> {
    let (store, out) = realise_attr(global, args, args.attr().unwrap_or("toplevel"))?;
    link_result(args, store, out)
}

/// Evaluates and realises `config.system.build.<attr>`.
pub(super) fn realise_attr(
    global: &GlobalArgs,
    args: &BuildArgs,
    attr: &str,
) -> Result<(LocalStore, StorePath)> {
    realise_with(global, args, attr, Vec::new())
}

/// The system's toplevel with `extra_modules` added to the configuration
/// (`b8g install`'s), linked as `-o LINK` unless `--no-out-link`.
pub(crate) fn build_toplevel_with(
    global: &GlobalArgs,
    args: &BuildArgs,
    extra_modules: Vec<String>,
) -> Result<(LocalStore, StorePath)> {
    let (store, out) = realise_with(global, args, "toplevel", extra_modules)?;
    if !args.no_out_link {
        store.make_result_link(&args.out_link, &out)?;
    }
    Ok((store, out))
}

fn realise_with(
    global: &GlobalArgs,
    args: &BuildArgs,
    attr: &str,
    extra_modules: Vec<String>,
) -> Result<(LocalStore, StorePath)> {
    let opts = system_options(global, args, attr, extra_modules)?;
    let cancel = CancelToken::new().context("cannot set up cancellation")?;
    let progress = progress(global, args);
    build::build(&global.store_config()?, &opts, progress.as_ref(), &cancel)
        .with_context(|| format!("cannot build {}", args.file.display()))
}

/// What to build for `config.system.build.<attr>` of FILE.
fn system_options(
    global: &GlobalArgs,
    args: &BuildArgs,
    attr: &str,
    extra_modules: Vec<String>,
) -> Result<SystemBuildOptions> {
    system_options_for(global, args, absolute(&args.file)?, attr, extra_modules)
}

/// [`system_options`] for the configuration `config` (an absolute path).
fn system_options_for(
    global: &GlobalArgs,
    args: &BuildArgs,
    config: PathBuf,
    attr: &str,
    extra_modules: Vec<String>,
) -> Result<SystemBuildOptions> {
    let recipes = absolute(&args.recipes.clone().unwrap_or_else(default_recipes))?;
    let b8g_bin = chosen_b8g_bin(args.b8g_bin.as_deref())?;
    Ok(SystemBuildOptions {
        config,
        recipes,
        b8g_bin,
        attr: attr.to_string(),
        extra_modules,
        realise: realise_options(global, args)?,
        show_trace: args.show_trace,
    })
}

/// Prints a dry run's plan as nix-build does (nothing when all is valid).
/// Points the result link at `out` (a GC root) and writes the root image when asked.
pub(super) fn link_result(
    args: &BuildArgs,
    store: LocalStore,
    out: StorePath,
) -> Result<(LocalStore, StorePath)> {
    // --no-out-link: no link and no root (the image, if asked for, goes beside where the link would be).
    let link = if args.no_out_link {
        std::env::current_dir()?.join(&args.out_link)
    } else {
        store.make_result_link(&args.out_link, &out)?
    };
    if args.image {
        let img = image_beside(&link);
        write_root_image(args, &store, &out, &img, None)?;
        eprintln!("root image: {}", img.display());
    }
    Ok((store, out))
}

/// `--image`'s file: `LINK.img`, the link's whole name and `.img` (`vm-1.0` gives
/// `vm-1.0.img`, not `vm-1.img`).
pub(super) fn image_beside(link: &Path) -> PathBuf {
    let mut name = link.as_os_str().to_owned();
    name.push(".img");
    PathBuf::from(name)
}

/// Writes the root disk image of `out`'s closure to `img` (`--image-format`).
pub(super) fn write_root_image(
    args: &BuildArgs,
    store: &LocalStore,
    out: &StorePath,
    img: &Path,
    configured: Option<Format>,
) -> Result<()> {
    let format = args.image_format.or(configured).unwrap_or(Format::Erofs);
    let work = tempfile::Builder::new()
        .prefix(&super::run_vm::scratch_prefix("b8g-image"))
        .tempdir()
        .context("cannot create a scratch directory")?;
    build::write_image(store, out, format, work.path(), img)
        .with_context(|| format!("cannot write {}", img.display()))
}

/// Sandbox, scheduling, check and substituter settings from the arguments
/// (substituters from the configuration file when not given).
pub(super) fn realise_options(global: &GlobalArgs, args: &BuildArgs) -> Result<RealiseOptions> {
    let conf = substituter_settings(global)?;
    let urls = args.more.substituters.clone().unwrap_or(conf.substituters);
    let keys = args
        .more
        .trusted_public_keys
        .clone()
        .unwrap_or(conf.trusted_public_keys);
    let substituters = Substituters::open(&urls, &keys).context("cannot set up substituters")?;
    let builders = match &args.more.builders {
        Some(spec) => b8g_builder::remote::parse_machines(spec, b8g_builder::realise::HOST_SYSTEM)
            .context("invalid --builders")?,
        None => Vec::new(),
    };
    Ok(RealiseOptions {
        schedule: ScheduleOptions {
            // -j0 builds nothing here (as in Nix): only remote machines may.
            jobs: args.jobs,
            keep_going: args.keep_going,
        },
        sandbox: b8g_builder::sandbox::SandboxConfig {
            cores: args.cores,
            timeout: args
                .more
                .build_timeout
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            max_silent: args
                .more
                .max_silent_time
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            ..Default::default()
        },
        check: args.check,
        substituters,
        builders,
        builders_use_substitutes: args.more.builders_use_substitutes,
    })
}

/// The caches and keys of the configuration file (none when there is none).
pub(crate) fn configured_substituters(global: &GlobalArgs) -> Result<Substituters> {
    let conf = substituter_settings(global)?;
    Substituters::open(&conf.substituters, &conf.trusted_public_keys)
        .context("cannot set up the configured substituters")
}

/// `substituters` and `trusted-public-keys` from the first configuration
/// file found: `$B8G_CONF`, `<state dir>/b8g.conf`, `/b8g/etc/b8g.conf`.
fn substituter_settings(global: &GlobalArgs) -> Result<SubstituterSettings> {
    let config = global.store_config()?;
    let state = match &config.root {
        Some(root) => root.join(
            config
                .state_dir
                .strip_prefix("/")
                .unwrap_or(&config.state_dir),
        ),
        None => config.state_dir.clone(),
    };
    let candidates: Vec<PathBuf> = match std::env::var_os("B8G_CONF") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![state.join("b8g.conf"), PathBuf::from("/b8g/etc/b8g.conf")],
    };
    for c in candidates {
        match std::fs::read_to_string(&c) {
            Ok(text) => return Ok(SubstituterSettings::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", c.display())),
        }
    }
    Ok(SubstituterSettings::default())
}

/// Evaluates FILE: a system configuration, or derivations whose `.drv`
/// files are written to the store (evaluation errors are printed as Nix does).
fn instantiate(global: &GlobalArgs, args: &BuildArgs) -> Result<Option<FileKind>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let (source, _) = source_of(args.expr.as_ref(), &args.file, &cwd)?;
    let what = FileEval {
        source,
        attrs: args.attrs.clone(),
        args: args.more.auto.args(),
        search_path: args.more.auto.search_path(),
        cwd,
    };
    let session = EvalSession::writing(global.open_store()?)
        .hide_trace()
        .show_trace(args.show_trace);
    match instantiate_file(session, what) {
        Ok(e) => Ok(Some(e)),
        Err(SessionError::Eval { message, .. }) => {
            eprintln!("{}", super::ansi::for_stderr(&message));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn exec_build(global: &GlobalArgs, args: BuildArgs) -> Result<ExitCode> {
    if !args.more.files.is_empty() || args.attrs.len() > 1 {
        return exec_build_many(global, args);
    }
    let drvs = match instantiate(global, &args)? {
        None => return Ok(ExitCode::FAILURE),
        Some(FileKind::System) => {
            if args.dry_run {
                let attr = args.attr().unwrap_or("toplevel");
                let opts = system_options(global, &args, attr, Vec::new())?;
                let (store, plan) = build::plan(&global.store_config()?, &opts)
                    .with_context(|| format!("cannot evaluate {}", args.file.display()))?;
                print_plan(&store, &plan);
                return Ok(ExitCode::SUCCESS);
            }
            let (store, out) = match build_system(global, &args) {
                Ok(built) => built,
                // A failed build of a system is reported as one of derivations: each
                // failure with its log's tail, and nix-build's status.
                Err(e) => match e.downcast_ref::<build::SystemBuildError>() {
                    Some(build::SystemBuildError::Realise(realise::RealiseError::Failed {
                        failures,
                        summary,
                    })) => {
                        eprintln!("error: cannot build {}", args.file.display());
                        report_failed_builds(&global.open_store()?, failures, summary);
                        return Ok(ExitCode::from(BUILD_FAILED));
                    }
                    _ => return Err(e),
                },
            };
            println!("{}", store.print_path(&out));
            return Ok(ExitCode::SUCCESS);
        }
        Some(FileKind::Derivations(d)) => d,
    };
    realise_and_link(global, &args, drvs)
}
