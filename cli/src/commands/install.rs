//! `b8g install --disk DISK SYSTEM.nix`: build the system to boot through
//! systemd-boot from the disk's own root partition, and install it there as
//! generation 1. `b8g --root MNT install SYSTEM.nix` builds into the store of
//! the tree mounted at MNT (its EFI system partition at MNT/boot) and installs
//! there, as `nixos-install --root` (see `b8g_system::install`).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_system::install::{
    self, DiskIds, InstallOptions, DEFAULT_ESP_MIB, HARDWARE_CONFIGURATION, IN_PLACE_MODULE,
    MIN_ESP_MIB,
};

use super::system::{self, BuildArgs};
use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The disk: an image file (created, or resized to --size) or a block
    /// device. Everything on it is replaced. Without it, the system is
    /// installed into the tree given by the global --root.
    #[arg(long, value_name = "DEV|FILE")]
    disk: Option<PathBuf>,
    /// Size of a disk image file (`8G`, `2048M`); by default the file's
    /// present size, or what the system needs with room for more generations.
    #[arg(long, value_name = "SIZE", value_parser = super::store::parse_size)]
    size: Option<u64>,
    /// Size of the EFI system partition.
    #[arg(long, value_name = "SIZE", value_parser = super::store::parse_size,
          default_value_t = DEFAULT_ESP_MIB << 20)]
    esp_size: u64,
    /// Replace what is on the disk: a disk that holds data is refused without it.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    build: BuildArgs,
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    let target = match (&args.disk, &global.root) {
        (Some(d), _) => d.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => bail!(
            "say where to install: --disk DEV|FILE, or the global --root MNT \
             (a mounted tree with its EFI system partition at MNT/boot)"
        ),
    };
    args.build.one_file("install")?;
    if let Some(flag) = args.build.not_for_install() {
        bail!("{flag} is not an option of install (it builds the system's toplevel and writes it out)");
    }
    if args.esp_size < MIN_ESP_MIB << 20 {
        bail!(
            "--esp-size {} MiB is too small: an EFI system partition needs at least {MIN_ESP_MIB} MiB (FAT32)",
            args.esp_size >> 20
        );
    }
    if let (Some(disk), false) = (&args.disk, args.force) {
        if install::disk::holds_data(disk)? {
            bail!(
                "{} holds data (a partition table or file system): pass --force to replace it",
                disk.display()
            );
        }
    }
    let ids = DiskIds::random()?;
    let module = match &args.disk {
        Some(_) => ids.module(),
        None => IN_PLACE_MODULE.to_string(),
    };
    let (store, top) = system::build_toplevel_with(global, &args.build, vec![module.clone()])?;
    let r = match &args.disk {
        Some(disk) => {
            let work = tempfile::tempdir().context("cannot create a scratch directory")?;
            let opts = InstallOptions {
                disk: disk.clone(),
                size_mib: args.size.map(|b| b >> 20),
                esp_mib: args.esp_size >> 20,
                work: work.path().to_path_buf(),
                ids: ids.clone(),
            };
            install::install_disk(&store, &top, &opts)
        }
        None => {
            // A forgotten ESP mount leaves the loader on the root file system:
            // the disk would not boot.
            let esp = target.join("boot");
            let dev = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| m.dev());
            if dev(&esp).is_none_or(|d| Some(d) == dev(&target)) {
                eprintln!(
                    "warning: {} is not a mount point: the EFI system partition's files go onto \
                     the root file system; mount the ESP there for the disk to boot",
                    esp.display()
                );
            }
            install::install_in_place(&store, &top, &target)
        }
    }
    .with_context(|| format!("cannot install onto {}", target.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "target": target,
                "toplevel": r.toplevel,
                "generation": r.generation,
                "espMiB": r.layout.map(|l| l.esp_mib),
                "rootMiB": r.layout.map(|l| l.root_mib),
                "hardwareConfiguration": args.disk.as_ref().map(|_| &module),
                "espFiles": r.esp_files,
            })
        );
    } else {
        let parts = r
            .layout
            .map(|l| {
                format!(
                    ": EFI system partition {} MiB, root {} MiB",
                    l.esp_mib, l.root_mib
                )
            })
            .unwrap_or_default();
        eprintln!(
            "installed {} as generation {} on {}{parts}",
            r.toplevel,
            r.generation,
            target.display(),
        );
        if args.disk.is_some() {
            eprintln!(
                "the disk's file systems are in {HARDWARE_CONFIGURATION} on it: import that file \
                 in the configurations of this machine's later generations"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
