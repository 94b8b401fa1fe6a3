//! `b8g-build FILE` (also `b8g build`) and `b8g run-vm FILE`: build a system
//! configuration into a generation, optionally a root image, and boot it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use b8g_builder::realise::RealiseOptions;
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::{IndicatifProgress, NoProgress, Progress, ScheduleOptions};
use b8g_kernel_adapters::build::{self, SystemBuildOptions};
use b8g_kernel_adapters::linux::image::Format;
use b8g_kernel_adapters::linux::system;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

use super::GlobalArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// The system configuration, a module such as images/minimal.nix.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Build `config.system.build.ATTR` instead of the toplevel.
    #[arg(short = 'A', long, default_value = "toplevel", value_name = "ATTR")]
    attr: String,
    /// Where to put the link to the result (registered as a GC root).
    #[arg(
        short = 'o',
        long = "out-link",
        default_value = "result",
        value_name = "LINK"
    )]
    out_link: PathBuf,
    /// Also write a root disk image of the closure to LINK.img.
    #[arg(long)]
    image: bool,
    /// Root image format.
    #[arg(long, default_value = "erofs", value_name = "erofs|ext4")]
    image_format: String,
    /// Builds to run at once.
    #[arg(short = 'j', long = "max-jobs", default_value_t = 2)]
    jobs: usize,
    /// Cores each build may use (NIX_BUILD_CORES).
    #[arg(long, default_value_t = 1)]
    cores: u32,
    /// Go on with other builds after one fails.
    #[arg(long)]
    keep_going: bool,
    /// The recipes directory (lib, modules, pkgs, bootstrap).
    #[arg(long, env = "B8G_RECIPES", value_name = "DIR")]
    recipes: Option<PathBuf>,
    /// Directory with bin/b8g-init and bin/b8gctl to put into the system (static builds).
    #[arg(long, env = "B8G_INIT_BIN", value_name = "DIR")]
    b8g_bin: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunVmArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Stop the VM when the console prints this (for scripts); otherwise it runs until it powers off.
    #[arg(long, value_name = "TEXT")]
    until: Option<String>,
    /// Kill the VM after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    p.canonicalize()
        .with_context(|| format!("cannot find {}", p.display()))
}

/// The recipes of this workspace when not told otherwise.
fn default_recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes")
}

/// b8g-init and b8gctl next to this executable, when not told otherwise.
fn default_b8g_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let dir = exe.parent().context("executable has no directory")?;
    let candidate = dir.join("b8g-bin");
    if candidate.join("bin/b8g-init").is_file() {
        return Ok(candidate);
    }
    bail!(
        "no b8g-init to put into the system: pass --b8g-bin DIR (a directory with bin/b8g-init and \
         bin/b8gctl built statically), or set B8G_INIT_BIN; `cargo xtask demo` prepares one"
    )
}

fn progress(global: &GlobalArgs) -> Box<dyn Progress> {
    if global.quiet > 0 {
        Box::new(NoProgress)
    } else {
        Box::new(IndicatifProgress::new())
    }
}

/// Builds the configuration; returns the store and the result path.
fn build_system(global: &GlobalArgs, args: &BuildArgs) -> Result<(LocalStore, StorePath)> {
    let recipes = absolute(&args.recipes.clone().unwrap_or_else(default_recipes))?;
    let b8g_bin = match &args.b8g_bin {
        Some(b) => absolute(b)?,
        None => default_b8g_bin()?,
    };
    let opts = SystemBuildOptions {
        config: absolute(&args.file)?,
        recipes,
        b8g_bin,
        attr: args.attr.clone(),
        realise: RealiseOptions {
            schedule: ScheduleOptions {
                jobs: args.jobs.max(1),
                keep_going: args.keep_going,
            },
            sandbox: b8g_builder::sandbox::SandboxConfig {
                cores: args.cores,
                ..Default::default()
            },
        },
    };
    let cancel = CancelToken::new().context("cannot set up cancellation")?;
    let progress = progress(global);
    let (store, out) = build::build(&global.store_config()?, &opts, progress.as_ref(), &cancel)
        .with_context(|| format!("cannot build {}", args.file.display()))?;
    // The result link is an indirect GC root: a root in gcroots points at it.
    let real = store.real_path(&out);
    let link = if args.out_link.is_absolute() {
        args.out_link.clone()
    } else {
        std::env::current_dir()?.join(&args.out_link)
    };
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&real, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    std::fs::rename(&tmp, &link).with_context(|| format!("cannot create {}", link.display()))?;
    build::add_indirect_root(&store, &link)
        .with_context(|| format!("cannot register {} as a GC root", link.display()))?;
    if args.image {
        let format: Format = args.image_format.parse().map_err(anyhow::Error::msg)?;
        let img = link.with_extension("img");
        let work = tempfile::tempdir().context("cannot create a scratch directory")?;
        build::write_image(&store, &out, format, work.path(), &img)
            .with_context(|| format!("cannot write {}", img.display()))?;
        eprintln!("root image: {}", img.display());
    }
    Ok((store, out))
}

pub fn exec_build(global: &GlobalArgs, args: BuildArgs) -> Result<ExitCode> {
    let (store, out) = build_system(global, &args)?;
    println!("{}", store.print_path(&out));
    Ok(ExitCode::SUCCESS)
}

/// Builds and boots FILE when it is a unikernel image (it evaluates to one
/// derivation with `kernel`, `initrd` and `manifest`); `None` for a system.
/// The exit status is the app's, as the shim reported it through qemu.
fn run_unikernel(global: &GlobalArgs, args: &RunVmArgs) -> Result<Option<ExitCode>> {
    use b8g_kernel_adapters::unikernel;
    let opts = SystemBuildOptions {
        config: absolute(&args.build.file)?,
        recipes: absolute(&args.build.recipes.clone().unwrap_or_else(default_recipes))?,
        b8g_bin: match &args.build.b8g_bin {
            Some(b) => absolute(b)?,
            None => default_b8g_bin()?,
        },
        attr: String::new(),
        realise: RealiseOptions {
            schedule: ScheduleOptions {
                jobs: args.build.jobs.max(1),
                keep_going: args.build.keep_going,
            },
            ..Default::default()
        },
    };
    let cancel = CancelToken::new().context("cannot set up cancellation")?;
    let progress = progress(global);
    let built = unikernel::build::build_derivation_file(
        &global.store_config()?,
        &opts,
        progress.as_ref(),
        &cancel,
    )
    .with_context(|| format!("cannot build {}", args.build.file.display()))?;
    drop(progress);
    let Some((store, out)) = built else {
        return Ok(None);
    };
    let dir = store.real_path(&out);
    if !unikernel::run::is_image(&dir) {
        bail!(
            "{} is neither a system configuration nor a unikernel image",
            args.build.file.display()
        );
    }
    let link = std::env::current_dir()?.join(&args.build.out_link);
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&dir, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    std::fs::rename(&tmp, &link).with_context(|| format!("cannot create {}", link.display()))?;
    build::add_indirect_root(&store, &link)
        .with_context(|| format!("cannot register {} as a GC root", link.display()))?;
    let vm = unikernel::run::vm(&dir)?;
    let r = unikernel::run::run_vm(
        &vm,
        Duration::from_secs(args.timeout),
        unikernel::run::MARKER,
        args.until.as_deref(),
        &mut |line| println!("{line}"),
    )?;
    let code = if r.timed_out {
        eprintln!("the VM did not end within {} s", args.timeout);
        ExitCode::FAILURE
    } else if args.until.is_some() {
        if r.stopped {
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "the VM ended without printing {:?}",
                args.until.as_deref().unwrap_or("")
            );
            ExitCode::FAILURE
        }
    } else if let Some(status) = r.app_status {
        if global.quiet == 0 {
            eprintln!("the app exited with status {status}");
        }
        ExitCode::from(status as u8)
    } else {
        eprintln!(
            "the VM ended without the app's exit status (qemu: {})",
            r.status
        );
        ExitCode::FAILURE
    };
    Ok(Some(code))
}

pub fn exec_run_vm(global: &GlobalArgs, mut args: RunVmArgs) -> Result<ExitCode> {
    if let Some(code) = run_unikernel(global, &args)? {
        return Ok(code);
    }
    args.build.image = true;
    let (store, out) = build_system(global, &args.build)?;
    let link = if args.build.out_link.is_absolute() {
        args.build.out_link.clone()
    } else {
        std::env::current_dir()?.join(&args.build.out_link)
    };
    let resolve = |logical: &str| -> Result<PathBuf, system::SystemError> {
        Ok(match store.store_dir().parse_path_prefix(logical) {
            Ok((p, rest)) => store.real_path(&p).join(rest.trim_start_matches('/')),
            Err(_) => PathBuf::from(logical),
        })
    };
    let vm = system::vm(
        &resolve,
        &store.print_path(&out),
        &link.with_extension("img"),
    )?;
    match &args.until {
        None => {
            let status = std::process::Command::new(&vm.qemu)
                .args(vm.args())
                .status()
                .with_context(|| format!("cannot start {}", vm.qemu))?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(marker) => {
            let r = vm.run_until(Duration::from_secs(args.timeout), marker, &mut |line| {
                println!("{line}")
            })?;
            if r.marker_at.is_some() {
                eprintln!(
                    "seen {marker:?} after {:.1} s",
                    r.marker_at.unwrap_or_default().as_secs_f64()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("the VM ended without printing {marker:?}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
