//! `builtin:b8g-initrd`: the stage-1 initramfs of a system, built in-process.
//!
//! Inputs (derivation attributes): `kernel` (a package with `lib/modules/<version>`),
//! `busybox` (with `bin/busybox`, static), `modules` (space-separated names to
//! load, dependencies are added), `init` (the stage-1 script). The output is a
//! directory with `initrd`, an uncompressed, reproducible newc archive.

use super::initramfs::Initramfs;
use super::modules::ModuleIndex;
use b8g_builder::builtin::{BuiltinBuilder, BuiltinContext, BuiltinError};
use std::io::Write;
use std::path::PathBuf;

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
        let version_dir = single_subdir(cx, &format!("{kernel}/lib/modules"))?;
        let index =
            ModuleIndex::scan(&version_dir).map_err(|e| BuiltinError::Other(e.to_string()))?;
        let order = index
            .load_order(&wanted)
            .map_err(|e| BuiltinError::Other(e.to_string()))?;

        let mut img = Initramfs::new();
        let err = |e: super::initramfs::InitramfsError| BuiltinError::Other(e.to_string());
        img.host_file(
            "bin/busybox",
            &cx.resolve(&format!("{busybox}/bin/busybox"))?,
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
        out.create_dir("", 0o755)?;
        write_initrd(&img, &out, "initrd")
    }
}

/// Writes `img` as the new file `rel` of `out`.
pub(crate) fn write_initrd(
    img: &Initramfs,
    out: &b8g_builder::builtin::OutputTree,
    rel: &str,
) -> Result<(), BuiltinError> {
    let file = out.create_file(rel, 0o444)?;
    let mut w = img
        .write(std::io::BufWriter::new(file))
        .map_err(|e| BuiltinError::Other(e.to_string()))?;
    w.flush().map_err(|source| BuiltinError::Io {
        op: "write",
        path: out.path().join(rel),
        source,
    })
}

impl From<super::system::SystemError> for BuiltinError {
    fn from(e: super::system::SystemError) -> Self {
        BuiltinError::Other(e.to_string())
    }
}

/// The one directory inside `logical` (a directory of the input closure),
/// resolved through `cx` so that it too lies in the input closure.
pub(crate) fn single_subdir(
    cx: &BuiltinContext<'_>,
    logical: &str,
) -> Result<PathBuf, BuiltinError> {
    let dir = cx.open(logical)?;
    let mut subs = Vec::new();
    for name in dir.read_dir_names()? {
        let child = format!("{}/{}", dir.logical(), name.to_string_lossy());
        // What does not open inside the closure is not a kernel version.
        if let Ok(f) = cx.open(&child) {
            if f.is_dir() {
                subs.push(f.path().to_path_buf());
            }
        }
    }
    match subs.len() {
        1 => Ok(subs.remove(0)),
        n => Err(BuiltinError::Other(format!(
            "{logical} holds {n} kernel versions, expected one"
        ))),
    }
}
