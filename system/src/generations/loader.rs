//! The EFI system partition as systemd-boot reads it: the loader, and one
//! Boot Loader Specification entry per generation with its kernel and initrd.
//!
//! ```text
//! EFI/BOOT/BOOTX64.EFI               systemd-boot (the removable-media path firmware tries)
//! EFI/systemd/systemd-bootx64.efi    systemd-boot
//! EFI/b8g/<sha256>-kernel            kernels and initrds, named by content, so
//! EFI/b8g/<sha256>-initrd              generations that share one share the file
//! loader/loader.conf                 default pattern, timeout, no command-line editor
//! loader/entries/b8g-<N>[+L[-D]].conf  one per generation (b8g_layout::loader)
//! ```
//!
//! Choosing the default, and falling back: loader.conf's `default b8g-*`
//! matches the first entry in systemd-boot's order, and the entries' sort keys
//! make that order: the profile's default generation (`b8g-1`), then the newest
//! good one besides it (`b8g-2`), then the rest (`b8g-3`), newest first within
//! each. A generation that is not yet good gets a counter of its `boot-tries`;
//! systemd-boot counts it down on every boot and sorts an entry with no tries
//! left after all others, so the fallback boots next with no manual step.
//! b8g-init's boot check drops the counter of a good boot.
//!
//! An image (`b8g install`) is written by dosfstools and mtools, since this
//! host cannot mount vfat; a running system's ESP, mounted at `/boot`, is
//! brought in line by [`sync_dir`], in an order that leaves it bootable at
//! every step.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_kernel_adapters::linux::system::{follow, kernel_params, SystemError};
use b8g_layout::generation::toplevel;
use b8g_store::format::hash::HashAlgo;

use b8g_layout::loader::{EntryName, ENTRIES_DIR, LOADER_CONF, LOADER_PARAM};

use super::{io_err as gen_io_err, sync_dir as fsync_dir, write_atomic, Generations, IoError};
use crate::generations::profile::ProfileError;

#[cfg(test)]
#[path = "loader_tests.rs"]
mod tests;

/// Where firmware looks for a boot program on a disk it has no entry for.
pub const FALLBACK_EFI: &str = "EFI/BOOT/BOOTX64.EFI";
/// systemd-boot's own path, as `bootctl install` puts it.
pub const SYSTEMD_BOOT_EFI: &str = "EFI/systemd/systemd-bootx64.efi";
/// The directory of kernels and initrds.
pub const KERNELS_DIR: &str = "EFI/b8g";
/// The kernel parameters every entry gets besides the generation's own: the
/// console on the first screen and on the first serial port (last, so it is
/// `/dev/console`, where b8g-init reports).
pub const CONSOLE_PARAMS: &[&str] = &["console=tty0", "console=ttyS0,115200"];

/// Everything the partition holds, by path on it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EspPlan {
    /// Files copied from the root tree: ESP path → physical source.
    pub copies: BTreeMap<String, PathBuf>,
    /// Files written from text: ESP path → contents.
    pub texts: BTreeMap<String, String>,
}

impl EspPlan {
    /// Every file's path on the partition.
    pub fn paths(&self) -> Vec<String> {
        self.copies
            .keys()
            .chain(self.texts.keys())
            .cloned()
            .collect()
    }
}

/// Why the loader's files could not be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error("there is no default generation")]
    NoGeneration,
    #[error(
        "{0} does not boot through systemd-boot: set boot.loader.systemd-boot.enable = true \
         (b8g install adds it to the configuration it builds)"
    )]
    NoLoader(String),
    #[error("cannot run {tool}: {source} (install {package})")]
    Tool {
        tool: &'static str,
        package: &'static str,
        source: io::Error,
    },
    #[error("cannot write the EFI system partition: {0}")]
    Fat(String),
    #[error("{0} is a symbolic link: the EFI system partition's directories must be directories")]
    Link(PathBuf),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LoaderError + 'a {
    move |source| LoaderError::Io(gen_io_err(op, path)(source))
}

/// What the ESP holds for the generations of `gens`, with the profile's
/// default first. `existing` are the entry names on the ESP now, whose
/// counters are kept (systemd-boot has been counting them down).
pub fn plan(gens: &Generations, existing: &[EntryName]) -> Result<EspPlan, LoaderError> {
    let root = gens.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let default = gens.profile.current()?.ok_or(LoaderError::NoGeneration)?;
    let generations = gens.profile.generations()?;
    // Every file the ESP gets comes from the store the toplevels are in: a
    // toplevel's links may lead anywhere, so each hop must stay inside it.
    let store_dir = generations
        .iter()
        .find(|g| g.number == default)
        .and_then(|g| Path::new(&g.toplevel).parent())
        .map(Path::to_path_buf)
        .ok_or(LoaderError::NoGeneration)?;
    let resolve = |logical: &str| {
        let p = Path::new(logical);
        let inside = p.strip_prefix(&store_dir).is_ok_and(|rest| {
            rest.components().count() > 0
                && rest
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        });
        if !inside {
            return Err(SystemError::Read {
                path: PathBuf::from(logical),
                source: io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("leads out of the store {}", store_dir.display()),
                ),
            });
        }
        Ok(root.join(logical.trim_start_matches('/')))
    };
    // A small text file of the toplevel, through its links.
    let read_small = |logical: &str| -> Option<String> {
        let path = follow(&resolve, logical).ok()?;
        let mut text = String::new();
        fs::File::open(path)
            .ok()?
            .take(64)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    };
    let stage1 = gens.boot.all()?;
    let good = |n: u32| stage1.get(&n).is_some_and(|e| e.good);
    let fallback = generations
        .iter()
        .rev()
        .map(|g| g.number)
        .find(|&n| n != default && good(n));
    let mut plan = EspPlan::default();
    let mut timeout = String::from("3");
    for g in &generations {
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
        let file = if good(g.number) {
            EntryName {
                generation: g.number,
                tries: None,
            }
        } else if let Some(e) = existing
            .iter()
            .find(|e| e.generation == g.number && e.tries.is_some())
        {
            *e
        } else {
            let tries = read_small(&part(toplevel::BOOT_TRIES))
                .and_then(|t| t.trim().parse::<u32>().ok())
                .unwrap_or(3);
            EntryName {
                generation: g.number,
                tries: Some((tries, 0)),
            }
        };
        let sort_key = if g.number == default {
            "b8g-1"
        } else if Some(g.number) == fallback {
            "b8g-2"
        } else {
            "b8g-3"
        };
        plan.texts.insert(
            format!("{ENTRIES_DIR}/{}", file.render()),
            format!(
                "title b8g {name} generation {n} ({date})\n\
                 sort-key {sort_key}\n\
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
                .map_err(|_| LoaderError::NoLoader(top.clone()))?;
            plan.copies.insert(FALLBACK_EFI.into(), loader.clone());
            plan.copies.insert(SYSTEMD_BOOT_EFI.into(), loader);
            // A number, or the default: nothing else may reach loader.conf.
            if let Some(t) = read_small(&part(toplevel::LOADER_TIMEOUT))
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                timeout = t.to_string();
            }
        }
    }
    plan.texts.insert(
        LOADER_CONF.into(),
        // No editor: editing the command line at the menu is a root shell
        // (`init=/bin/sh`) for anyone at the keyboard.
        format!("default b8g-*\ntimeout {timeout}\neditor no\nconsole-mode keep\n"),
    );
    Ok(plan)
}

/// A name for a file by its content: the first 32 nix32 characters of its sha256.
fn content_name(path: &Path) -> Result<String, LoaderError> {
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

/// Runs one of dosfstools' or mtools' programs; FAT's epoch as the time of
/// everything it writes, so the same plan gives the same bytes.
fn tool(
    program: &'static str,
    package: &'static str,
    args: &[&OsStr],
) -> Result<Vec<u8>, LoaderError> {
    let out = Command::new(program)
        .args(args)
        // mtools: no check of the drive's geometry against a config file; times fixed.
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("SOURCE_DATE_EPOCH", FAT_EPOCH)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| LoaderError::Tool {
            tool: program,
            package,
            source,
        })?;
    if !out.status.success() {
        return Err(LoaderError::Fat(format!(
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
/// `serial` is the volume serial (8 hex digits), the ESP's UUID.
pub fn write(img: &Path, size_mib: u64, plan: &EspPlan, serial: &str) -> Result<(), LoaderError> {
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
            OsStr::new(serial),
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
pub fn read_file(img: &Path, path: &str) -> Result<Vec<u8>, LoaderError> {
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

/// Refuses an ESP where the directories b8g writes to are symbolic links
/// (a FAT file system has none; a `/boot` that is another file system might,
/// and writing or deleting through them would reach outside it).
fn refuse_links(esp: &Path, plan: &EspPlan) -> Result<(), LoaderError> {
    let mut dirs: std::collections::BTreeSet<PathBuf> = [PathBuf::new()].into();
    for path in plan.copies.keys().chain(plan.texts.keys()) {
        let mut p = PathBuf::new();
        for part in Path::new(path)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            p.push(part);
            dirs.insert(p.clone());
        }
    }
    for d in dirs {
        let full = esp.join(&d);
        if fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(LoaderError::Link(full));
        }
    }
    Ok(())
}

/// The entry names on a mounted ESP (`esp`), as systemd-boot has left them.
pub fn existing(esp: &Path) -> Result<Vec<EntryName>, LoaderError> {
    let dir = esp.join(ENTRIES_DIR);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    for e in entries {
        let e = e.map_err(io_err("read", &dir))?;
        if let Some(n) = EntryName::parse(&e.file_name().to_string_lossy()) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Brings a mounted ESP in line with `plan`, so that power lost at any moment
/// leaves it bootable: kernels, initrds and the loader first, then the
/// entries, then loader.conf (each written under a temporary name and renamed),
/// and only then what the plan no longer names is removed.
pub fn sync_dir(esp: &Path, plan: &EspPlan) -> Result<(), LoaderError> {
    refuse_links(esp, plan)?;
    // What a sync cut short by power loss left under temporary names, first:
    // half a kernel may be what keeps this one from fitting.
    let planned: std::collections::BTreeSet<PathBuf> = plan
        .copies
        .keys()
        .chain(plan.texts.keys())
        .filter_map(|p| esp.join(p).parent().map(Path::to_path_buf))
        .collect();
    for d in &planned {
        remove_stale_temporaries(d)?;
    }
    let mut dirs = std::collections::BTreeSet::new();
    let copy = |path: &str, src: &Path, dirs: &mut std::collections::BTreeSet<PathBuf>| {
        let dst = esp.join(path);
        let parent = dst.parent().unwrap_or(esp).to_path_buf();
        fs::create_dir_all(&parent).map_err(io_err("create", &parent))?;
        dirs.insert(parent);
        // Kernels and initrds are named by content: one already there is the same.
        let same = path.starts_with(KERNELS_DIR) && dst.is_file();
        if !same {
            let bytes = fs::read(src).map_err(io_err("read", src))?;
            if fs::read(&dst).ok().as_deref() != Some(&bytes[..]) {
                write_atomic(&dst, &bytes)?;
            }
        }
        Ok::<_, LoaderError>(())
    };
    for (path, src) in &plan.copies {
        copy(path, src, &mut dirs)?;
    }
    let mut texts: Vec<(&String, &String)> = plan.texts.iter().collect();
    // loader.conf last among the writes.
    texts.sort_by_key(|(p, _)| p.as_str() == LOADER_CONF);
    for (path, text) in texts {
        let dst = esp.join(path);
        let parent = dst.parent().unwrap_or(esp).to_path_buf();
        fs::create_dir_all(&parent).map_err(io_err("create", &parent))?;
        dirs.insert(parent);
        if fs::read(&dst).ok().as_deref() != Some(text.as_bytes()) {
            write_atomic(&dst, text.as_bytes())?;
        }
    }
    // Stale entries of this system, then kernels and initrds no entry names.
    let entries = esp.join(ENTRIES_DIR);
    for name in existing(esp)? {
        let path = format!("{ENTRIES_DIR}/{}", name.render());
        if !plan.texts.contains_key(&path) {
            let p = entries.join(name.render());
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
        }
    }
    let kernels = esp.join(KERNELS_DIR);
    if let Ok(list) = fs::read_dir(&kernels) {
        for e in list.flatten() {
            let path = format!("{KERNELS_DIR}/{}", e.file_name().to_string_lossy());
            // Only files: a directory someone made there is theirs.
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir && !plan.copies.contains_key(&path) {
                let p = e.path();
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
            }
        }
    }
    for d in dirs {
        fsync_dir(&d)?;
    }
    Ok(())
}

/// Removes `.NAME.tmp-PID` files ([`write_atomic`]'s temporary names) whose
/// process is gone from `dir`: left by a sync that power loss interrupted (a
/// live process's may be another sync's, in flight).
fn remove_stale_temporaries(dir: &Path) -> Result<(), LoaderError> {
    let ours = format!(".tmp-{}", std::process::id());
    let alive = |pid: &str| Path::new("/proc").join(pid).exists();
    let Ok(list) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in list.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let temporary = name.starts_with('.')
            && name.rsplit_once(".tmp-").is_some_and(|(_, pid)| {
                !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !alive(pid)
            });
        if temporary && !name.ends_with(&ours) && e.file_type().is_ok_and(|t| t.is_file()) {
            let p = e.path();
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
        }
    }
    Ok(())
}
