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
//! The FAT file system is written into an image file by dosfstools and
//! mtools (no mount needed); every time on it is FAT's epoch, so the same
//! generations give the same bytes.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs one of dosfstools' or mtools' programs; FAT's epoch as the time of
/// everything it writes, so the same plan gives the same bytes.
fn tool(
    program: &'static str,
    package: &'static str,
    args: &[&OsStr],
) -> Result<Vec<u8>, InstallError> {
    let out = Command::new(program)
        .args(args)
        // mtools: no check of the drive's geometry against a config file; times fixed.
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("SOURCE_DATE_EPOCH", FAT_EPOCH)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| InstallError::Tool {
            tool: program,
            package,
            source,
        })?;
    if !out.status.success() {
        return Err(InstallError::Fat(format!(
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// 1980-01-01, the first time FAT can record.
const FAT_EPOCH: &str = "315532800";

/// Writes a FAT32 file system of `size_mib` MiB holding `plan` to `img`, with
/// dosfstools' `mkfs.fat` and mtools (this host cannot mount vfat; the
/// `fatfs` crate's released version writes directories `fsck.fat` rejects).
pub fn write(img: &Path, size_mib: u64, plan: &EspPlan) -> Result<(), InstallError> {
    let _ = fs::remove_file(img);
    let kib = (size_mib << 10).to_string();
    tool(
        "mkfs.fat",
        "dosfstools",
        &[
            OsStr::new("--invariant"),
            OsStr::new("-F"),
            OsStr::new("32"),
            OsStr::new("-n"),
            OsStr::new("B8G-ESP"),
            OsStr::new("-i"),
            OsStr::new("b8b80001"),
            OsStr::new("-C"),
            img.as_os_str(),
            OsStr::new(&kib),
        ],
    )?;
    let mut dirs: Vec<String> = Vec::new();
    for path in plan.copies.keys().chain(plan.texts.keys()) {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let d = parts[..i].join("/");
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs.sort_by_key(|d| d.matches('/').count());
    let i = OsStr::new("-i");
    for d in &dirs {
        let target = format!("::{d}");
        tool("mmd", "mtools", &[i, img.as_os_str(), OsStr::new(&target)])?;
    }
    let scratch = img.with_extension("texts");
    fs::create_dir_all(&scratch).map_err(io_err("create", &scratch))?;
    let mut sources: Vec<(PathBuf, &String)> = plan
        .copies
        .iter()
        .map(|(path, src)| (src.clone(), path))
        .collect();
    for (n, (path, text)) in plan.texts.iter().enumerate() {
        let f = scratch.join(n.to_string());
        fs::write(&f, text).map_err(io_err("write", &f))?;
        sources.push((f, path));
    }
    for (src, path) in &sources {
        let target = format!("::{path}");
        tool(
            "mcopy",
            "mtools",
            &[i, img.as_os_str(), src.as_os_str(), OsStr::new(&target)],
        )?;
    }
    let _ = fs::remove_dir_all(&scratch);
    fs::File::open(img)
        .and_then(|f| f.sync_all())
        .map_err(io_err("sync", img))?;
    Ok(())
}

/// The contents of the file `path` on an ESP image.
pub fn read_file(img: &Path, path: &str) -> Result<Vec<u8>, InstallError> {
    let source = format!("::{path}");
    tool(
        "mcopy",
        "mtools",
        &[
            OsStr::new("-i"),
            img.as_os_str(),
            OsStr::new(&source),
            OsStr::new("-"),
        ],
    )
}
