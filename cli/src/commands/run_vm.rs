//! `b8g run-vm FILE`: builds a system configuration (its `system.build.vm`) or a
//! unikernel image and boots it under qemu (TCG), console on the terminal or, with
//! `--until`, read by b8g until a marker shows.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use b8g_builder::sandbox::CancelToken;
use b8g_kernel_adapters::linux::image::Format;
use b8g_kernel_adapters::linux::qemu::VmSettings;
use b8g_kernel_adapters::linux::system;
use b8g_system::build::SystemBuildOptions;

use super::system::{
    absolute, chosen_b8g_bin, default_recipes, image_beside, link_result, progress, realise_attr,
    realise_options, write_root_image, BuildArgs,
};
use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct RunVmArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Stop the VM when the console prints this (for scripts); otherwise it runs until it powers off.
    #[arg(long, value_name = "TEXT")]
    until: Option<String>,
    /// With --until: once the text shows, run `b8gctl poweroff` on the serial console
    /// (a root shell must be there) and succeed only on a clean power-off.
    #[arg(long, requires = "until")]
    poweroff: bool,
    /// Stop the VM after this many seconds. Without --until (a VM at its
    /// console) there is no limit unless one is given, and a VM stopped by it
    /// makes run-vm exit with status 124, as timeout(1) does; with --until, or
    /// for a unikernel, the default is 600 and running out is a failure (1).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

/// `--timeout`'s default where a VM must end by itself (`--until`, unikernels).
const DEFAULT_VM_TIMEOUT: u64 = 600;
/// run-vm's exit status when `--timeout` stopped a VM at its console (timeout(1)'s).
const TIMED_OUT: u8 = 124;

impl RunVmArgs {
    fn timeout_or_default(&self) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(DEFAULT_VM_TIMEOUT))
    }
}

/// Builds and boots FILE when it is a unikernel image (it evaluates to one
/// derivation with `kernel`, `initrd` and `manifest`); `None` for a system.
/// The exit status is the app's, as the shim reported it through qemu.
fn run_unikernel(global: &GlobalArgs, args: &RunVmArgs) -> Result<Option<ExitCode>> {
    use b8g_kernel_adapters::unikernel;
    let opts = SystemBuildOptions {
        config: absolute(&args.build.file)?,
        recipes: absolute(&args.build.recipes.clone().unwrap_or_else(default_recipes))?,
        b8g_bin: chosen_b8g_bin(args.build.b8g_bin.as_deref())?,
        attr: String::new(),
        extra_modules: Vec::new(),
        realise: realise_options(global, &args.build)?,
        show_trace: args.build.show_trace,
    };
    let cancel = CancelToken::new().context("cannot set up cancellation")?;
    let progress = progress(global, &args.build);
    let built = b8g_system::derivation_file::build_derivation_file(
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
    store.make_result_link(&args.build.out_link, &out)?;
    let vm = unikernel::run::vm(&dir)?;
    let r = unikernel::run::run_vm(
        &vm,
        args.timeout_or_default(),
        unikernel::run::MARKER,
        args.until.as_deref(),
        &mut |line| println!("{line}"),
    )?;
    let code = if r.timed_out {
        eprintln!(
            "the VM did not end within {} s",
            args.timeout_or_default().as_secs()
        );
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
    args.build.one_file("run-vm")?;
    if args.build.expr.is_some() {
        bail!("run-vm boots a file (a system configuration or a unikernel image), not -E/--expr");
    }
    if args.build.dry_run {
        bail!(
            "run-vm has no --dry-run: `b8g-build --dry-run -A vm FILE` lists what it would build"
        );
    }
    if let Some(code) = run_unikernel(global, &args)? {
        return Ok(code);
    }
    // The root image goes beside the result link only with --image; otherwise
    // into a scratch directory removed when the VM is done.
    let keep_image = std::mem::replace(&mut args.build.image, false);
    // The VM (`system.build.vm`) carries the generation and the VM settings
    // (memory, cores, port forwards); the result link and image are the generation's.
    let (store, vm_out) = realise_attr(global, &args.build, "vm")?;
    let vm_dir = store.real_path(&vm_out);
    let top = std::fs::read_link(vm_dir.join("system"))
        .with_context(|| format!("{} has no system link", vm_dir.display()))?;
    let top = store
        .parse_path(&top.to_string_lossy())
        .with_context(|| format!("{} does not point into the store", vm_dir.display()))?;
    let settings = std::fs::read_to_string(vm_dir.join("vm-settings"))
        .with_context(|| format!("cannot read {}/vm-settings", vm_dir.display()))?;
    let settings = VmSettings::parse(&settings)?;
    let (store, out) = link_result(&args.build, store, top)?;
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
    let format = args
        .build
        .image_format
        .or(settings.image_format)
        .unwrap_or(Format::Erofs);
    let writable = format == Format::Ext4;
    // `_held` keeps a scratch image open (and so alive) until qemu is done.
    let (img, _held) = if keep_image {
        let img = image_beside(&link);
        write_root_image(&args.build, &store, &out, &img, Some(format))?;
        (img, None)
    } else {
        sweep_scratch(&std::env::temp_dir());
        let scratch = tempfile::Builder::new()
            .prefix(&scratch_prefix("b8g-run-vm"))
            .tempdir()
            .context("cannot create a scratch directory for the VM's disk")?;
        let img = scratch.path().join("root.img");
        write_root_image(&args.build, &store, &out, &img, Some(format))?;
        let (path, file) = unlinked(scratch, &img, writable)?;
        (path, Some(file))
    };
    // An erofs root is read-only anyway; an ext4 one is written (its scratch
    // copy, or the --image file asked for).
    let mut vm = system::vm(&resolve, &store.print_path(&out), &img, writable)?;
    settings.apply(&mut vm);
    match &args.until {
        None => {
            eprintln!(
                "the serial console follows ({})",
                b8g_kernel_adapters::linux::qemu::QUIT_HINT
            );
            let r = vm
                .run_interactive(args.timeout.map(Duration::from_secs))
                .with_context(|| format!("cannot run {}", vm.qemu))?;
            if r.timed_out {
                eprintln!(
                    "stopped the VM after {} s (--timeout)",
                    args.timeout.unwrap_or_default()
                );
                return Ok(ExitCode::from(TIMED_OUT));
            }
            Ok(if r.status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(marker) if args.poweroff => {
            // b8gctl by its place beside the generation's init: systems built before
            // issue 21 have no /etc/profile putting it on the shell's PATH.
            let r = vm.run_until_then_type(
                args.timeout_or_default(),
                marker,
                "$(dirname $(readlink /run/current-system/init))/b8gctl poweroff",
                &mut |line| println!("{line}"),
            )?;
            let Some(seen) = r.marker_at else {
                eprintln!("the VM ended without printing {marker:?}");
                return Ok(ExitCode::FAILURE);
            };
            eprintln!("seen {marker:?} after {:.1} s", seen.as_secs_f64());
            if r.timed_out || !r.status.success() || !r.output.contains("reboot: Power down") {
                eprintln!(
                    "the VM did not power off cleanly (qemu: {}{})",
                    r.status,
                    if r.timed_out { ", timed out" } else { "" }
                );
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("powered off cleanly after {:.1} s", r.elapsed.as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
        Some(marker) => {
            let r = vm.run_until(args.timeout_or_default(), marker, &mut |line| {
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

/// Opens the scratch image `img` and removes it and its directory at once, so that a
/// b8g or qemu killed mid-run (a test's SIGKILL, a closed terminal) leaves no
/// gigabyte behind in the temporary directory. qemu, which inherits the descriptor,
/// opens the image as `/proc/self/fd/N`; the kernel frees it when both have closed it.
fn unlinked(scratch: tempfile::TempDir, img: &Path, writable: bool) -> Result<(PathBuf, File)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(writable)
        .open(img)
        .with_context(|| format!("cannot open {}", img.display()))?;
    rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty())
        .context("cannot let qemu inherit the VM's disk image")?;
    let fd = file.as_raw_fd();
    scratch
        .close()
        .context("cannot remove the VM's scratch directory")?;
    Ok((PathBuf::from(format!("/proc/self/fd/{fd}")), file))
}

/// The scratch directories of image writing and run-vm: `KIND-PID-…`, so that
/// [`sweep_scratch`] can tell those of a b8g that was killed before it could
/// remove them (while writing a gigabyte image, the long part).
pub(super) fn scratch_prefix(kind: &str) -> String {
    format!("{kind}-{}-", std::process::id())
}

/// Removes from `tmp` the scratch directories (see [`scratch_prefix`]) of b8g
/// processes that no longer run, when they are this user's directories (never
/// what a link points at) and untouched for an hour (a process id seen from
/// another pid namespace may look gone). Best effort: what cannot be removed stays.
fn sweep_scratch(tmp: &Path) {
    sweep_scratch_older(tmp, std::time::Duration::from_secs(3600));
}

fn sweep_scratch_older(tmp: &Path, age: std::time::Duration) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Some(rest) = ["b8g-run-vm-", "b8g-image-"]
            .iter()
            .find_map(|k| name.strip_prefix(k))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // lstat: a planted link is neither a directory nor removed through.
        match std::fs::symlink_metadata(e.path()) {
            Ok(m)
                if m.is_dir()
                    && m.uid() == me
                    && m.modified()
                        .is_ok_and(|t| t.elapsed().is_ok_and(|e| e >= age)) =>
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn only_the_scratch_of_gone_processes_is_swept() {
        let t = tempfile::tempdir().expect("tempdir");
        // A process id that runs nowhere: above any pid_max Linux allows.
        let gone = 4_194_305;
        let mine = std::process::id();
        let target = t.path().join("target");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("keep"), "").expect("write");
        for dir in [
            format!("b8g-run-vm-{gone}-a"),
            format!("b8g-image-{gone}-b"),
            format!("b8g-run-vm-{mine}-c"),
            "b8g-run-vm-x-d".to_string(),
            "other".to_string(),
        ] {
            std::fs::create_dir(t.path().join(dir)).expect("mkdir");
        }
        std::os::unix::fs::symlink(&target, t.path().join(format!("b8g-image-{gone}-e")))
            .expect("symlink");
        // Too recent to be taken for stale, then old enough.
        super::sweep_scratch(t.path());
        assert!(t.path().join(format!("b8g-run-vm-{gone}-a")).exists());
        super::sweep_scratch_older(t.path(), std::time::Duration::ZERO);
        let left = |n: &str| t.path().join(n).symlink_metadata().is_ok();
        assert!(!left(&format!("b8g-run-vm-{gone}-a")));
        assert!(!left(&format!("b8g-image-{gone}-b")));
        assert!(left(&format!("b8g-run-vm-{mine}-c")));
        assert!(left("b8g-run-vm-x-d") && left("other"));
        assert!(left(&format!("b8g-image-{gone}-e")));
        assert!(Path::new(&target.join("keep")).exists());
    }
}
