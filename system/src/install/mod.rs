//! `b8g install`: a built system onto a disk that UEFI firmware boots through
//! systemd-boot, as `nixos-install` does for NixOS.
//!
//! 1. The system's closure is copied into a store in a staging tree, verified
//!    (exported as a signed snapshot with a one-time key and imported, as
//!    `b8g snapshot import` does), and becomes generation 1, the default.
//! 2. The tree is made an ext4 root file system ([`write_ext4`]).
//! 3. The EFI system partition gets systemd-boot (from the generation,
//!    `<toplevel>/systemd-boot`) and one Boot Loader Specification entry per
//!    generation ([`loader`]).
//! 4. Both go into their partitions behind a GPT ([`disk`]).
//!
//! The system must boot through systemd-boot and mount its root and ESP by
//! the identities this installation gives them: [`DiskIds::module`] says so;
//! `b8g install` adds it to the configuration.

pub mod disk;
#[cfg(test)]
mod tests;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use b8g_kernel_adapters::linux::image::{skeleton, tree_usage, write_ext4, ImageError};
use b8g_kernel_adapters::linux::system::SystemError;
use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{LocalStore, StoreConfig};

use crate::generations::loader::{self, LoaderError};
use crate::generations::profile::ProfileError;
use crate::generations::snapshot::{self, SnapshotError};
use crate::generations::{Generations, GenerationsError};
use disk::Layout;

/// The file systems of an installed disk, by identity: random for each
/// installation, so that no other disk attached to the machine (another b8g
/// install, or one made to look like one) answers to them by accident, as a
/// fixed partition label would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskIds {
    /// The root file system's UUID (ext4), `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    pub root_uuid: String,
    /// The EFI system partition's FAT volume serial, 8 upper-case hex digits.
    pub esp_serial: String,
}

impl DiskIds {
    /// Fresh identities from the kernel's random source.
    pub fn random() -> Result<DiskIds, InstallError> {
        let mut b = [0u8; 20];
        let urandom = Path::new("/dev/urandom");
        fs::File::open(urandom)
            .and_then(|mut f| f.read_exact(&mut b))
            .map_err(io_err("read", urandom))?;
        // RFC 4122 version 4, variant 1.
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
        Ok(DiskIds {
            root_uuid: format!(
                "{}-{}-{}-{}-{}",
                h[0..4].concat(),
                h[4..6].concat(),
                h[6..8].concat(),
                h[8..10].concat(),
                h[10..16].concat()
            ),
            esp_serial: h[16..20].concat().to_uppercase(),
        })
    }

    /// The ESP's UUID as Linux and busybox's `findfs` name a FAT serial: `XXXX-XXXX`.
    pub fn esp_uuid(&self) -> String {
        format!("{}-{}", &self.esp_serial[..4], &self.esp_serial[4..])
    }

    /// The module `b8g install --disk` adds to the configuration: boot through
    /// systemd-boot; the root and the EFI system partition (at /boot, mounted
    /// by stage 1, which `b8g system` keeps the loader's entries on) are these
    /// file systems, whatever the disk is called on the machine that boots it.
    /// They replace the configuration's own `/` and `/boot`: on this disk no
    /// other ones exist.
    pub fn module(&self) -> String {
        format!(
            r#"{{ lib, ... }}: {{
  imports = [ ({IN_PLACE_MODULE}) ];
  fileSystems."/" = lib.mkForce {{ device = "/dev/disk/by-uuid/{root}"; fsType = "ext4"; }};
  fileSystems."/boot" = lib.mkForce {{ device = "/dev/disk/by-uuid/{esp}"; fsType = "vfat"; options = [ "umask=0077" ]; neededForBoot = true; }};
}}"#,
            root = self.root_uuid,
            esp = self.esp_uuid(),
        )
    }
}

/// Where an installed disk keeps [`DiskIds::module`], for the configurations
/// of its later generations to import.
pub const HARDWARE_CONFIGURATION: &str = "/etc/b8g/hardware-configuration.nix";

/// The module `b8g --root MNT install` adds: boot through systemd-boot; the
/// file systems are the configuration's own (the user partitioned the disk).
pub const IN_PLACE_MODULE: &str = r#"{ ... }: {
  boot.loader.systemd-boot.enable = true;
  boot.kernelModules = [ "vfat" "nls_cp437" "nls_ascii" ];
}"#;

/// The smallest EFI system partition `mkfs.fat -F 32` makes.
pub const MIN_ESP_MIB: u64 = 64;

/// Default size of the EFI system partition, in MiB (room for a few dozen
/// generations' kernels and initrds).
pub const DEFAULT_ESP_MIB: u64 = 256;

/// Where and how to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// A disk image file (created or resized) or a block device.
    pub disk: PathBuf,
    /// The size of a disk image file in MiB; by default the existing file's
    /// size, or what the system needs with room to grow.
    pub size_mib: Option<u64>,
    pub esp_mib: u64,
    /// Scratch space for the staging tree and the file system images.
    pub work: PathBuf,
    /// The file systems' identities, as the system was built with ([`DiskIds::module`]).
    pub ids: DiskIds,
}

/// What was installed.
#[derive(Debug, Clone)]
pub struct InstallReport {
    pub toplevel: String,
    pub generation: u32,
    /// The partitions written (`None` when installing into a mounted tree).
    pub layout: Option<Layout>,
    /// The ESP's files, by path.
    pub esp_files: Vec<String>,
}

/// Why an installation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Store(#[from] b8g_store::local::Error),
    /// Boxed: a snapshot error is large and install errors are returned often.
    #[error(transparent)]
    Snapshot(Box<SnapshotError>),
    #[error(transparent)]
    Generations(#[from] GenerationsError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot make the copy's signing key: {0}")]
    Key(#[from] b8g_store::format::signing::KeyError),
    #[error(transparent)]
    Loader(#[from] LoaderError),
    #[error("{disk} holds {have_mib} MiB; the system needs {need_mib} MiB")]
    TooSmall {
        disk: PathBuf,
        have_mib: u64,
        need_mib: u64,
    },
    #[error("{0} is neither a regular file nor a block device")]
    NotADisk(PathBuf),
    #[error("cannot write the partition table of {disk}: {reason}")]
    PartitionTable { disk: PathBuf, reason: String },
}

impl From<SnapshotError> for InstallError {
    fn from(e: SnapshotError) -> Self {
        InstallError::Snapshot(Box::new(e))
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> InstallError + 'a {
    move |source| InstallError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Installs `toplevel` (valid in `store`) onto `opts.disk` as its first generation.
pub fn install_disk(
    store: &LocalStore,
    toplevel: &StorePath,
    opts: &InstallOptions,
) -> Result<InstallReport, InstallError> {
    let tree = opts.work.join("root");
    fs::create_dir_all(&tree).map_err(io_err("create", &tree))?;
    let target = LocalStore::open(&StoreConfig {
        root: Some(tree.clone()),
        ..StoreConfig::default()
    })?;
    let top = copy_closure(store, toplevel, &target, &opts.work)?;
    let gens = Generations::new(Some(&tree), None);
    let generation = gens.install(&target, &top, true)?;
    // The first generation has nothing to fall back to: it is good as installed.
    gens.boot
        .mark_good(generation)
        .map_err(GenerationsError::from)?;
    drop(target);
    skeleton(&tree)?;
    // What later generations of this machine must import (as NixOS's
    // hardware-configuration.nix): its file systems are this disk's.
    let hw = tree.join(HARDWARE_CONFIGURATION.trim_start_matches('/'));
    if let Some(dir) = hw.parent() {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    }
    fs::write(&hw, opts.ids.module() + "\n").map_err(io_err("write", &hw))?;

    let plan = loader::plan(&gens, &[])?;
    let esp_img = opts.work.join("esp.img");
    loader::write(&esp_img, opts.esp_mib, &plan, &opts.ids.esp_serial)?;

    let (bytes, entries) = tree_usage(&tree)?;
    let need_mib = bytes.div_ceil(disk::MIB);
    // ext4's own metadata, and room for a few more generations.
    let want_root_mib = need_mib + need_mib / 4 + 256;
    let layout = match (opts.size_mib, disk::existing_size(&opts.disk)?) {
        (Some(mib), _) => Layout::fill(mib * disk::MIB, opts.esp_mib),
        (None, Some(bytes)) => Layout::fill(bytes, opts.esp_mib),
        (None, None) => Some(Layout {
            esp_mib: opts.esp_mib,
            root_mib: want_root_mib,
        }),
    }
    .filter(|l| l.root_mib >= need_mib + need_mib / 8 + 16)
    .ok_or_else(|| InstallError::TooSmall {
        disk: opts.disk.clone(),
        have_mib: opts
            .size_mib
            .or(disk::existing_size(&opts.disk)
                .ok()
                .flatten()
                .map(|b| b / disk::MIB))
            .unwrap_or(0),
        need_mib: opts.esp_mib + want_root_mib + 2,
    })?;
    let root_img = opts.work.join("root.img");
    write_ext4(
        &tree,
        &root_img,
        layout.root_mib,
        entries,
        &opts.ids.root_uuid,
    )?;
    disk::write(&opts.disk, layout, &esp_img, &root_img)?;
    Ok(InstallReport {
        toplevel: store.print_path(toplevel),
        generation,
        layout: Some(layout),
        esp_files: plan.paths(),
    })
}

/// Installs `toplevel` into the mounted tree the chroot store `store` lives
/// under (`root`, with the EFI system partition mounted at `root/boot`), as
/// `nixos-install --root` does: the system was built into that store, so
/// nothing is copied. It becomes the default generation, good as installed,
/// and the ESP gets systemd-boot and the entries of every generation.
pub fn install_in_place(
    store: &LocalStore,
    toplevel: &StorePath,
    root: &Path,
) -> Result<InstallReport, InstallError> {
    skeleton(root)?;
    // An ESP is recognised by its loader.conf; the first sync writes the real one.
    let esp = root.join(b8g_layout::loader::ESP_MOUNT.trim_start_matches('/'));
    let conf = esp.join(b8g_layout::loader::LOADER_CONF);
    for p in [esp.clone(), esp.join("loader"), conf.clone()] {
        if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(LoaderError::Link(p).into());
        }
    }
    if !conf.is_file() {
        let dir = conf.parent().unwrap_or(&esp).to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        fs::write(&conf, "").map_err(io_err("write", &conf))?;
    }
    let gens = Generations::new(Some(root), None);
    let generation = gens.install(store, toplevel, true)?;
    gens.boot
        .mark_good(generation)
        .map_err(GenerationsError::from)?;
    gens.sync_boot()?;
    let plan = loader::plan(&gens, &loader::existing(&esp)?)?;
    Ok(InstallReport {
        toplevel: store.print_path(toplevel),
        generation,
        layout: None,
        esp_files: plan.paths(),
    })
}

/// Copies the closure of `toplevel` from `from` into `to`, verified: exported
/// as a snapshot signed with a key made for this copy alone, and imported
/// trusting only that key. Returns the toplevel in `to`.
fn copy_closure(
    from: &LocalStore,
    toplevel: &StorePath,
    to: &LocalStore,
    work: &Path,
) -> Result<StorePath, InstallError> {
    let mut seed = [0u8; 32];
    let urandom = Path::new("/dev/urandom");
    fs::File::open(urandom)
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(io_err("read", urandom))?;
    let key = SecretKey::from_seed("b8g-install-1", &seed)?;
    let file = work.join("closure.snapshot");
    snapshot::export(from, toplevel, &key, &file)?;
    let top = snapshot::import(to, &file, &[key.public()]);
    let _ = fs::remove_file(&file);
    Ok(top?)
}
