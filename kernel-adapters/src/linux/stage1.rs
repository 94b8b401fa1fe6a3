//! `builtin:b8g-initrd`: the stage-1 initramfs of a system, built in-process.
//!
//! Inputs (derivation attributes): `kernel` (a package with `lib/modules/<version>`),
//! `busybox` (with `bin/busybox`, static), `modules` (space-separated names to
//! load, dependencies are added), `init` (the stage-1 script). The output is a
//! directory with `initrd`, an uncompressed, reproducible newc archive.

use super::initramfs::Initramfs;
use super::modules::ModuleIndex;
use b8g_builder::builtin::{BuiltinBuilder, BuiltinContext, BuiltinError};
use std::fs;
use std::path::{Path, PathBuf};

/// Applets stage 1 uses, linked to busybox in `/bin`.
const APPLETS: &[&str] = &[
    "sh",
    "mount",
    "umount",
    "insmod",
    "switch_root",
    "sleep",
    "cat",
    "cut",
    "mkdir",
    "echo",
    "ls",
    "readlink",
    "mknod",
    "test",
    "[",
];

/// The `b8g-initrd` builtin builder.
pub struct InitrdBuilder;

impl BuiltinBuilder for InitrdBuilder {
    fn name(&self) -> &'static str {
        "b8g-initrd"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let kernel = cx.attr("kernel", "b8g-initrd")?;
        let busybox = cx.attr("busybox", "b8g-initrd")?;
        let init = cx.attr("init", "b8g-initrd")?;
        let wanted: Vec<&str> = cx
            .attr("modules", "b8g-initrd")?
            .split_whitespace()
            .collect();
        let modules_dir = follow(cx, &format!("{kernel}/lib/modules"))?;
        let version_dir = single_subdir(&modules_dir)?;
        let index =
            ModuleIndex::scan(&version_dir).map_err(|e| BuiltinError::Other(e.to_string()))?;
        let order = index
            .load_order(&wanted)
            .map_err(|e| BuiltinError::Other(e.to_string()))?;

        let mut img = Initramfs::new();
        let err = |e: super::initramfs::InitramfsError| BuiltinError::Other(e.to_string());
        img.host_file(
            "bin/busybox",
            &follow(cx, &format!("{busybox}/bin/busybox"))?,
        )
        .map_err(err)?;
        for a in APPLETS {
            img.symlink(&format!("bin/{a}"), "busybox").map_err(err)?;
        }
        img.char_dev("dev/console", 0o600, 5, 1).map_err(err)?;
        img.char_dev("dev/null", 0o666, 1, 3).map_err(err)?;
        for d in ["proc", "sys", "sysroot", "run", "tmp"] {
            img.dir(d, 0o755).map_err(err)?;
        }
        img.file("init", 0o755, init.as_bytes().to_vec())
            .map_err(err)?;
        let mut list = String::new();
        for path in &order {
            let name = path
                .file_name()
                .expect("module paths end in a file name")
                .to_string_lossy();
            img.host_file(&format!("lib/modules/{name}"), path)
                .map_err(err)?;
            list.push_str(&format!("/lib/modules/{name}\n"));
        }
        img.file("etc/b8g-modules", 0o644, list).map_err(err)?;

        let out = cx.out()?;
        fs::create_dir(out).map_err(|source| BuiltinError::Io {
            op: "create directory",
            path: out.into(),
            source,
        })?;
        img.write_to_path(&out.join("initrd")).map_err(err)
    }
}

fn follow(cx: &BuiltinContext<'_>, logical: &str) -> Result<PathBuf, BuiltinError> {
    super::system::follow(cx.resolve, logical)
}

impl From<super::system::SystemError> for BuiltinError {
    fn from(e: super::system::SystemError) -> Self {
        BuiltinError::Other(e.to_string())
    }
}

pub(crate) fn single_subdir(dir: &Path) -> Result<PathBuf, BuiltinError> {
    let io = |source| BuiltinError::Io {
        op: "read directory",
        path: dir.into(),
        source,
    };
    let mut subs: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subs.sort();
    match subs.len() {
        1 => Ok(subs.remove(0)),
        n => Err(BuiltinError::Other(format!(
            "{} holds {n} kernel versions, expected one",
            dir.display()
        ))),
    }
}
