//! `b8g install --disk DISK SYSTEM.nix`: build the system to boot through
//! systemd-boot from the disk's own root partition, and install it there as
//! generation 1 (see `b8g_system::install`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use b8g_system::install::{self, InstallOptions, DEFAULT_ESP_MIB, INSTALL_MODULE};

use super::system::{self, BuildArgs};
use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The disk: an image file (created, or resized to --size) or a block
    /// device. Everything on it is replaced.
    #[arg(long, value_name = "DEV|FILE")]
    disk: PathBuf,
    /// Size of a disk image file (`8G`, `2048M`); by default the file's
    /// present size, or what the system needs with room for more generations.
    #[arg(long, value_name = "SIZE", value_parser = super::store::parse_size)]
    size: Option<u64>,
    /// Size of the EFI system partition.
    #[arg(long, value_name = "SIZE", value_parser = super::store::parse_size,
          default_value_t = DEFAULT_ESP_MIB << 20)]
    esp_size: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    build: BuildArgs,
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    let (store, top) =
        system::build_toplevel_with(global, &args.build, vec![INSTALL_MODULE.to_string()])?;
    let work = tempfile::tempdir().context("cannot create a scratch directory")?;
    let opts = InstallOptions {
        disk: args.disk.clone(),
        size_mib: args.size.map(|b| b >> 20),
        esp_mib: args.esp_size >> 20,
        work: work.path().to_path_buf(),
    };
    let r = install::install_disk(&store, &top, &opts)
        .with_context(|| format!("cannot install onto {}", args.disk.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "disk": args.disk,
                "toplevel": r.toplevel,
                "generation": r.generation,
                "espMiB": r.layout.esp_mib,
                "rootMiB": r.layout.root_mib,
                "espFiles": r.esp_files,
            })
        );
    } else {
        eprintln!(
            "installed {} as generation {} on {}: EFI system partition {} MiB, root {} MiB",
            r.toplevel,
            r.generation,
            args.disk.display(),
            r.layout.esp_mib,
            r.layout.root_mib
        );
    }
    Ok(ExitCode::SUCCESS)
}
