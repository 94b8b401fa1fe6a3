//! The EFI system partition: systemd-boot, and one Boot Loader Specification
//! entry per generation with its kernel and initrd.
//!
//! ```text
//! EFI/BOOT/BOOTX64.EFI               systemd-boot (the removable-media path firmware tries)
//! EFI/systemd/systemd-bootx64.efi    systemd-boot
//! EFI/b8g/<sha256>-kernel            kernels and initrds, named by content, so
//! EFI/b8g/<sha256>-initrd              generations that share one share the file
//! loader/loader.conf                 default entry, timeout, no command-line editor
//! loader/entries/b8g-<N>.conf        one per generation
//! ```
//!
//! The FAT file system is written by the `fatfs` crate into an image file
//! (this host has no vfat to mount); file times are FAT's epoch, so the same
//! generations give the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use b8g_kernel_adapters::linux::system::{follow, kernel_params, SystemError};
use b8g_layout::generation::toplevel;
use b8g_store::format::hash::HashAlgo;

use super::InstallError;
use crate::generations::Generations;

/// Where firmware looks for a boot program on a disk it has no entry for.
pub const FALLBACK_EFI: &str = "EFI/BOOT/BOOTX64.EFI";
/// systemd-boot's own path, as `bootctl install` puts it.
pub const SYSTEMD_BOOT_EFI: &str = "EFI/systemd/systemd-bootx64.efi";
/// The directory of kernels and initrds.
pub const KERNELS_DIR: &str = "EFI/b8g";
/// systemd-boot's configuration.
pub const LOADER_CONF: &str = "loader/loader.conf";
/// The Boot Loader Specification entries.
pub const ENTRIES_DIR: &str = "loader/entries";
/// The kernel parameters every entry gets besides the generation's own: the
/// console on the first screen and on the first serial port (last, so it is
/// `/dev/console`, where b8g-init reports).
pub const CONSOLE_PARAMS: &[&str] = &["console=tty0", "console=ttyS0,115200"];
/// Tells stage 1 the loader chose the generation (`b8g.system=`), so it does
/// not choose again from the profile.
pub const LOADER_PARAM: &str = "b8g.loader=systemd-boot";

/// Everything the partition holds, by path on it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EspPlan {
    /// Files copied from the root tree: ESP path → physical source.
    pub copies: BTreeMap<String, PathBuf>,
    /// Files written from text: ESP path → contents.
    pub texts: BTreeMap<String, String>,
}

/// The entry file name of generation `n`, which is also its entry id.
pub fn entry_name(n: u32) -> String {
    format!("b8g-{n}.conf")
}

/// What the ESP holds for the generations of `gens` (a tree under `root`),
/// with the profile's default as the menu's default.
pub fn plan(root: &Path, gens: &Generations) -> Result<EspPlan, InstallError> {
    let resolve = |logical: &str| Ok::<_, SystemError>(root.join(logical.trim_start_matches('/')));
    let default = gens.profile.current()?.ok_or(InstallError::NoGeneration)?;
    let mut plan = EspPlan::default();
    let mut timeout = String::from("3");
    for g in gens.profile.generations()? {
        let top = &g.toplevel;
        let part = |name: &str| format!("{top}/{name}");
        let kernel = follow(&resolve, &part(toplevel::KERNEL))?;
        let initrd = follow(&resolve, &part(toplevel::INITRD))?;
        let kernel_on_esp = format!("{KERNELS_DIR}/{}-kernel", content_name(&kernel)?);
        let initrd_on_esp = format!("{KERNELS_DIR}/{}-initrd", content_name(&initrd)?);
        let mut params = kernel_params(&resolve, top)?;
        params.push(LOADER_PARAM.to_string());
        params.extend(CONSOLE_PARAMS.iter().map(|p| p.to_string()));
        let name = top
            .rsplit('/')
            .next()
            .and_then(|base| base.split_once('-'))
            .map(|(_, name)| name.trim_start_matches("b8g-system-"))
            .unwrap_or("system");
        let date = b8g_layout::date::ymd(g.created as i64);
        plan.texts.insert(
            format!("{ENTRIES_DIR}/{}", entry_name(g.number)),
            format!(
                "title b8g {name} generation {n} ({date})\n\
                 sort-key b8g\n\
                 version {n}\n\
                 linux /{kernel_on_esp}\n\
                 initrd /{initrd_on_esp}\n\
                 options {}\n",
                params.join(" "),
                n = g.number,
            ),
        );
        plan.copies.insert(kernel_on_esp, kernel);
        plan.copies.insert(initrd_on_esp, initrd);
        if g.number == default {
            let loader = follow(&resolve, &part(toplevel::SYSTEMD_BOOT))
                .map_err(|_| InstallError::NoLoader(top.clone()))?;
            plan.copies.insert(FALLBACK_EFI.into(), loader.clone());
            plan.copies.insert(SYSTEMD_BOOT_EFI.into(), loader);
            if let Ok(t) = fs::read_to_string(resolve(&part(toplevel::LOADER_TIMEOUT))?) {
                timeout = t.trim().to_string();
            }
        }
    }
    plan.texts.insert(
        LOADER_CONF.into(),
        // No editor: editing the command line at the menu is a root shell
        // (`init=/bin/sh`) for anyone at the keyboard.
        format!(
            "default {}\ntimeout {timeout}\neditor no\nconsole-mode keep\n",
            entry_name(default)
        ),
    );
    Ok(plan)
}

/// A name for a file by its content: the first 32 nix32 characters of its sha256.
fn content_name(path: &Path) -> Result<String, InstallError> {
    let mut f = fs::File::open(path).map_err(io_err("open", path))?;
    let mut hasher = b8g_store::format::hash::HashSink::new(HashAlgo::Sha256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let (hash, _) = hasher.finish();
    Ok(hash.to_nix32()[..32].to_string())
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> InstallError + 'a {
    move |source| InstallError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a FAT32 file system of `size_mib` MiB holding `plan` to `img`.
pub fn write(img: &Path, size_mib: u64, plan: &EspPlan) -> Result<(), InstallError> {
    let fat = |e: io::Error| InstallError::Fat(e.to_string());
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(img)
        .map_err(io_err("create", img))?;
    file.set_len(size_mib << 20).map_err(io_err("size", img))?;
    fatfs::format_volume(
        &mut file,
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat32)
            .volume_label(*b"B8G-ESP    ")
            .volume_id(0xb8b8_0001),
    )
    .map_err(fat)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0)).map_err(io_err("seek", img))?;
    let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new()).map_err(fat)?;
    {
        let root = fs.root_dir();
        let parent_of = |path: &str| -> Result<fatfs::Dir<'_, &mut fs::File>, InstallError> {
            let mut dir = root.clone();
            let parts: Vec<&str> = path.split('/').collect();
            for p in &parts[..parts.len() - 1] {
                dir = match dir.open_dir(p) {
                    Ok(d) => d,
                    Err(_) => dir.create_dir(p).map_err(fat)?,
                };
            }
            Ok(dir)
        };
        let file_name = |path: &str| path.rsplit('/').next().unwrap_or(path).to_string();
        for (path, src) in &plan.copies {
            let dir = parent_of(path)?;
            let mut out = dir.create_file(&file_name(path)).map_err(fat)?;
            out.truncate().map_err(fat)?;
            let mut input = fs::File::open(src).map_err(io_err("open", src))?;
            io::copy(&mut input, &mut out).map_err(fat)?;
            out.flush().map_err(fat)?;
        }
        for (path, text) in &plan.texts {
            let dir = parent_of(path)?;
            let mut out = dir.create_file(&file_name(path)).map_err(fat)?;
            out.truncate().map_err(fat)?;
            out.write_all(text.as_bytes()).map_err(fat)?;
            out.flush().map_err(fat)?;
        }
    }
    fs.unmount().map_err(fat)?;
    file.sync_all().map_err(io_err("sync", img))?;
    Ok(())
}

/// The files on an ESP image and their contents (for tests and `--json` checks).
pub fn read_all(img: &Path) -> Result<BTreeMap<String, Vec<u8>>, InstallError> {
    let fat = |e: io::Error| InstallError::Fat(e.to_string());
    let mut file = fs::File::open(img).map_err(io_err("open", img))?;
    let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new()).map_err(fat)?;
    let mut out = BTreeMap::new();
    let mut stack = vec![(String::new(), fs.root_dir())];
    while let Some((prefix, dir)) = stack.pop() {
        for e in dir.iter() {
            let e = e.map_err(fat)?;
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.is_dir() {
                stack.push((path, e.to_dir()));
            } else {
                let mut bytes = Vec::new();
                e.to_file().read_to_end(&mut bytes).map_err(fat)?;
                out.insert(path, bytes);
            }
        }
    }
    Ok(out)
}
