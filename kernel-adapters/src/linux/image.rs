//! Root file system images of a system closure.
//!
//! The image holds the closure's store paths at their logical location
//! (`/b8g/store/...`), the profile link `/b8g/var/profiles/system`, and the
//! empty directories the running system mounts over. `mkfs.erofs` (erofs,
//! the default) or `mkfs.ext4 -d` (ext4) write it with fixed timestamps,
//! UUID and ownership, so the same closure gives the same bytes.

use b8g_layout::generation;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Root image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Erofs,
    Ext4,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "erofs" => Ok(Format::Erofs),
            "ext4" => Ok(Format::Ext4),
            _ => Err(format!(
                "unknown image format {s:?} (expected erofs or ext4)"
            )),
        }
    }
}

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot run {tool}: {source} (install {package})")]
    Tool {
        tool: &'static str,
        package: &'static str,
        source: io::Error,
    },
    #[error("{tool} failed: {stderr}")]
    ToolFailed { tool: &'static str, stderr: String },
    #[error("{0} is not in the store directory {1}")]
    NotInStore(String, String),
    #[error("cannot register the image's store paths: {0}")]
    Register(#[from] b8g_store::local::Error),
    #[error("bad store path in the image: {0}")]
    StorePath(#[from] b8g_store::format::store_path::StorePathError),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ImageError + 'a {
    move |source| ImageError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What goes into a root image.
pub struct RootImage<'a> {
    /// Logical store directory, e.g. `/b8g/store`.
    pub store_dir: &'a str,
    /// Maps a logical store path to where its bytes are on this machine
    /// (`None`: not a path this image may hold).
    pub resolve: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// Every store path of the closure (logical).
    pub closure: &'a [String],
    /// The generation the profile points at (logical).
    pub toplevel: &'a str,
    pub format: Format,
    /// Free space of an ext4 image in MiB, beyond what the tree needs
    /// (erofs sizes itself).
    pub ext4_free_mib: u64,
}

impl RootImage<'_> {
    /// Writes the image to `out`, staging the tree under `work` (a scratch directory).
    pub fn write(&self, work: &Path, out: &Path) -> Result<(), ImageError> {
        let tree = work.join("root");
        fs::create_dir_all(&tree).map_err(io_err("create directory", &tree))?;
        let store = tree.join(self.store_dir.trim_start_matches('/'));
        fs::create_dir_all(&store).map_err(io_err("create directory", &store))?;
        for path in self.closure {
            let base = path
                .strip_prefix(self.store_dir)
                .and_then(|r| r.strip_prefix('/'))
                .ok_or_else(|| ImageError::NotInStore(path.clone(), self.store_dir.to_string()))?;
            let physical = (self.resolve)(path)
                .ok_or_else(|| ImageError::NotInStore(path.clone(), self.store_dir.to_string()))?;
            copy_tree(&physical, &store.join(base))?;
        }
        register_closure(&tree, self.store_dir, self.closure)?;
        skeleton(&tree)?;
        // Generation 1, the default, as `b8g system` would have made it.
        let profiles = tree.join(generation::PROFILES_DIR.trim_start_matches('/'));
        let first = generation::generation_link_name(generation::SYSTEM_PROFILE, 1);
        fs::create_dir_all(&profiles).map_err(io_err("create directory", &profiles))?;
        symlink(&first, profiles.join(generation::SYSTEM_PROFILE))
            .map_err(io_err("link", &profiles))?;
        symlink(self.toplevel, profiles.join(&first)).map_err(io_err("link", &profiles))?;
        // Before the times are fixed: listing directories changes their atimes.
        let (bytes, entries) = tree_usage(&tree)?;
        normalize_mtimes(&tree)?;
        let _ = fs::remove_file(out);
        match self.format {
            Format::Erofs => run(
                Command::new("mkfs.erofs")
                    .args(["--quiet", "-T0", "--all-root", "-U", IMAGE_UUID])
                    .arg(out)
                    .arg(&tree),
                "mkfs.erofs",
                "erofs-utils",
            ),
            Format::Ext4 => {
                // The tree, ext4's metadata (an eighth, as install reckons it), and the room asked for.
                let need = bytes.div_ceil(1 << 20);
                let size = need + need / 8 + 16 + self.ext4_free_mib;
                write_ext4(&tree, out, size, entries, IMAGE_UUID)
            }
        }
    }
}

/// The image's own store database, with the closure valid in it (at a fixed registration
/// time, so the image stays reproducible): inside the booted system `b8g system
/// list-generations/diff/switch/rollback` find the running generation valid, as NixOS
/// images load theirs from `nix-path-registration`.
fn register_closure(tree: &Path, store_dir: &str, closure: &[String]) -> Result<(), ImageError> {
    use b8g_store::format::store_path::StoreDir;
    use b8g_store::local::{LocalStore, StoreConfig};
    let config = StoreConfig {
        store_dir: StoreDir::new(store_dir)?,
        root: Some(tree.to_owned()),
        ..StoreConfig::default()
    };
    let store = LocalStore::open(&config)?;
    let paths = closure
        .iter()
        .map(|p| store.parse_path(p))
        .collect::<Result<_, _>>()?;
    store.register_in_place(&paths, 1)?;
    Ok(())
}

/// The directories a root file system needs besides the store, `/bin/sh`,
/// and `/usr` as the system profile: `/usr/bin`, `/usr/lib`, `/usr/share`…
/// are links into `/run/current-system/sw`, so they follow the generation.
pub fn skeleton(tree: &Path) -> Result<(), ImageError> {
    for d in [
        "dev", "proc", "sys", "run", "tmp", "etc", "var", "root", "home", "mnt", "boot", "bin",
        "usr",
    ] {
        let p = tree.join(d);
        fs::create_dir_all(&p).map_err(io_err("create directory", &p))?;
    }
    // `#!/bin/sh` and `#!/usr/bin/env` scripts, and Debian's programs whose
    // compiled-in paths are under /usr (python's stdlib, git's helpers, vim's
    // runtime: docs/architecture.md), find them in the system profile.
    // /var/run is /run, as on every FHS system (Debian's programs have it compiled in).
    let mut links = vec![
        (
            "bin/sh".to_owned(),
            "/run/current-system/sw/bin/sh".to_owned(),
        ),
        ("var/run".to_owned(), "/run".to_owned()),
    ];
    for d in USR_FROM_PROFILE {
        links.push((format!("usr/{d}"), format!("/run/current-system/sw/{d}")));
    }
    for (link, target) in links {
        let p = tree.join(&link);
        if fs::symlink_metadata(&p).is_err() {
            symlink(&target, &p).map_err(io_err("link", &p))?;
        }
    }
    Ok(())
}

/// The directories of `/usr` that are the system profile's.
pub const USR_FROM_PROFILE: [&str; 6] = ["bin", "sbin", "lib", "libexec", "share", "include"];

/// The UUID of every image's root file system: images are reproducible, so
/// it is fixed (an installed disk gets its own, see `b8g_system::install`).
pub const IMAGE_UUID: &str = "b8b8b8b8-0000-4000-8000-000000000001";

/// What `tree` takes on a file system of 4 KiB blocks (each entry at least
/// a block), and how many entries (inodes) it has. Symlinks are not followed.
pub fn tree_usage(root: &Path) -> Result<(u64, u64), ImageError> {
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let e = e.map_err(io_err("read", &dir))?;
            let meta = fs::symlink_metadata(e.path()).map_err(io_err("stat", &e.path()))?;
            bytes += meta.len().div_ceil(4096).max(1) * 4096;
            entries += 1;
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok((bytes, entries))
}

/// An ext4 file system of `size_mib` MiB labelled `b8g-root` with `uuid` at
/// `out`, holding `tree`, with a fixed hash seed and timestamps. It gets
/// twice the `entries` the tree has ([`tree_usage`], taken before the tree's
/// times were fixed: listing a directory sets its atime) as inodes: mkfs's
/// default of one per 16 KiB runs out first on a closure of many small files
/// (python's, perl's).
pub fn write_ext4(
    tree: &Path,
    out: &Path,
    size_mib: u64,
    entries: u64,
    uuid: &str,
) -> Result<(), ImageError> {
    let size = format!("{size_mib}M");
    let inodes = (size_mib * 64).max(entries * 2 + 4096);
    run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "b8g-root", "-U", uuid])
            .arg("-N")
            .arg(inodes.to_string())
            .args([
                "-E",
                "root_owner=0:0,hash_seed=b8b8b8b8-0000-4000-8000-000000000002",
            ])
            .arg("-d")
            .arg(tree)
            .arg(out)
            .arg(size)
            .env("E2FSPROGS_FAKE_TIME", "1")
            .env("SOURCE_DATE_EPOCH", "1"),
        "mkfs.ext4",
        "e2fsprogs",
    )?;
    reset_ext4_ctimes(out)
}

/// `mkfs.ext4 -d` copies each inode's ctime from the staging tree, where the
/// kernel set it to the time of copying; no flag fixes it. So every inode in
/// use gets ctime 1 afterwards, written by `debugfs` in one pass.
fn reset_ext4_ctimes(img: &Path) -> Result<(), ImageError> {
    let out = Command::new("dumpe2fs")
        .arg(img)
        .output()
        .map_err(|source| ImageError::Tool {
            tool: "dumpe2fs",
            package: "e2fsprogs",
            source,
        })?;
    if !out.status.success() {
        return Err(ImageError::ToolFailed {
            tool: "dumpe2fs",
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let used = used_inodes(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
        ImageError::ToolFailed {
            tool: "dumpe2fs",
            stderr: format!("no inode count or free-inode ranges for {}", img.display()),
        }
    })?;
    // Inodes 1 and 3..=10 are reserved and written by mkfs itself at the fixed time.
    let script: String = used
        .into_iter()
        .filter(|&i| i == 2 || i >= 11)
        .map(|i| format!("sif <{i}> ctime @1\n"))
        .collect();
    let cmds = img.with_extension("ctimes");
    fs::write(&cmds, script).map_err(io_err("write", &cmds))?;
    let res = Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&cmds)
        .arg(img)
        .env("E2FSPROGS_FAKE_TIME", "1")
        .output();
    let _ = fs::remove_file(&cmds);
    let out = res.map_err(|source| ImageError::Tool {
        tool: "debugfs",
        package: "e2fsprogs",
        source,
    })?;
    // debugfs exits 0 when a command fails; its errors are the stderr lines
    // other than its version banner.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !out.status.success() || !errors.is_empty() {
        return Err(ImageError::ToolFailed {
            tool: "debugfs",
            stderr: errors.join("\n"),
        });
    }
    Ok(())
}

/// The inode numbers in use, from `dumpe2fs` output: all of `Inode count`
/// minus every group's `Free inodes:` ranges.
fn used_inodes(dump: &str) -> Option<Vec<u64>> {
    let count: u64 = dump
        .lines()
        .find_map(|l| l.strip_prefix("Inode count:"))?
        .trim()
        .parse()
        .ok()?;
    let mut free = vec![false; count as usize + 1];
    for line in dump.lines() {
        // Group lines are indented; the header's `Free inodes:` is a total.
        let Some(ranges) = line.strip_prefix("  Free inodes:") else {
            continue;
        };
        for r in ranges.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if a == 0 || b > count || a > b {
                return None;
            }
            for i in a..=b {
                free[i as usize] = true;
            }
        }
    }
    Some((1..=count).filter(|&i| !free[i as usize]).collect())
}

fn run(cmd: &mut Command, tool: &'static str, package: &'static str) -> Result<(), ImageError> {
    let out = cmd.output().map_err(|source| ImageError::Tool {
        tool,
        package,
        source,
    })?;
    if !out.status.success() {
        return Err(ImageError::ToolFailed {
            tool,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Copies a store path (file, symlink or directory tree) preserving modes and links.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    let meta = fs::symlink_metadata(src).map_err(io_err("stat", src))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(io_err("read link", src))?;
        symlink(target, dst).map_err(io_err("create symlink", dst))?;
    } else if ft.is_dir() {
        fs::create_dir(dst).map_err(io_err("create directory", dst))?;
        let mut entries: Vec<_> = fs::read_dir(src)
            .map_err(io_err("read directory", src))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("read directory", src))?;
        entries.sort();
        for name in entries {
            copy_tree(&src.join(&name), &dst.join(&name))?;
        }
        fs::set_permissions(dst, meta.permissions()).map_err(io_err("chmod", dst))?;
    } else {
        // Hard links would share inodes with the store; copies keep the store untouched.
        fs::copy(src, dst).map_err(io_err("copy", src))?;
    }
    Ok(())
}

/// Sets every mtime in the tree to 1 (the store's convention), links included.
fn normalize_mtimes(root: &Path) -> Result<(), ImageError> {
    let mut stack = vec![root.to_path_buf()];
    let mut all = Vec::new();
    while let Some(p) = stack.pop() {
        let meta = fs::symlink_metadata(&p).map_err(io_err("stat", &p))?;
        if meta.is_dir() {
            for e in fs::read_dir(&p).map_err(io_err("read directory", &p))? {
                stack.push(e.map_err(io_err("read directory", &p))?.path());
            }
        }
        all.push(p);
    }
    let one = rustix::fs::Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: one,
        last_modification: one,
    };
    for p in all {
        rustix::fs::utimensat(
            rustix::fs::CWD,
            &p,
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ImageError::Io {
            op: "set mtime of",
            path: p.clone(),
            source: e.into(),
        })?;
    }
    Ok(())
}
/// `builtin:b8g-root-image`: the root image of a system as a derivation
/// (`system.build.image`). Inputs: `toplevel` (the generation) and `format`
/// (`erofs` or `ext4`). The closure is found by scanning the generation's files
/// for store paths, since a builtin builder is handed only its direct inputs.
/// The output is a directory holding `root.img`, byte for byte what
/// `b8g-build --image` writes for the same generation.
pub struct RootImageBuilder;

impl b8g_builder::builtin::BuiltinBuilder for RootImageBuilder {
    fn name(&self) -> &'static str {
        "b8g-root-image"
    }

    fn build(
        &self,
        cx: &b8g_builder::builtin::BuiltinContext<'_>,
    ) -> Result<(), b8g_builder::builtin::BuiltinError> {
        use b8g_builder::builtin::BuiltinError;
        let other = |e: &dyn std::fmt::Display| BuiltinError::Other(e.to_string());
        let toplevel = cx.attr("toplevel", "b8g-root-image")?;
        let format: Format = cx
            .attr("format", "b8g-root-image")?
            .parse()
            .map_err(|e: String| BuiltinError::Other(e))?;
        let store_dir = cx.inputs.store_dir();
        // The generation itself must be an input (the scan below silently
        // leaves out what is not).
        cx.open(toplevel)?;
        let member = |p: &str| crate::unikernel::builder::closure_member(cx, p);
        let closure: Vec<String> =
            crate::unikernel::closure::closure(store_dir, &[toplevel], &member)
                .map_err(|e| other(&e))?
                .into_iter()
                .collect();
        // Store paths as they are (a store path that is a symlink is copied
        // as one), each a member of the input closure.
        let resolve = |logical: &str| -> Option<PathBuf> { cx.inputs.member(logical).ok() };
        let work = tempfile::tempdir().map_err(|e| other(&e))?;
        let image = work.path().join("root.img");
        RootImage {
            store_dir,
            resolve: &resolve,
            closure: &closure,
            toplevel,
            format,
            // As b8g-build --image sizes it, so both give the same bytes.
            ext4_free_mib: 64 + closure.len() as u64,
        }
        .write(work.path(), &image)
        .map_err(|e| other(&e))?;
        let out = cx.out()?;
        out.create_dir("", 0o755)?;
        let file = fs::File::open(&image).map_err(|source| BuiltinError::Io {
            op: "open",
            path: image.clone(),
            source,
        })?;
        out.write_from("root.img", file, 0o444)
    }
}

#[cfg(test)]
mod tests {
    use super::used_inodes;

    #[test]
    fn used_inodes_are_the_complement_of_free_ranges() {
        let dump = "Inode count:              16\nFree inodes:              9\n\
Group 0: (Blocks 1-8191)\n  Free inodes: 5-8, 10\nGroup 1:\n  Free inodes: 13-16\n";
        assert_eq!(used_inodes(dump).unwrap(), vec![1, 2, 3, 4, 9, 11, 12]);
        assert!(used_inodes("no count here").is_none());
        assert!(used_inodes("Inode count: 4\n  Free inodes: 3-9\n").is_none());
    }
}
