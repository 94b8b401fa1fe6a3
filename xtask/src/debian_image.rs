//! A Debian 12 root booted by qemu from the host's kernel: mmdebstrap, ext4 images and
//! a busybox stage 1 that loads the kernel's modules and hands over to an init. Used by
//! `bench boot` and `debian-server`.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What making and booting such a root needs on the host.
pub const HOST_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "linux-image-amd64",
    "busybox-static",
    "mmdebstrap",
    "e2fsprogs",
];

/// Stage 1: loads the modules, mounts /dev/vda read-write as the root and
/// `switch_root`s to the init named by `stage1.init=` (/sbin/init by default),
/// printing `STAGE1 handoff <uptime> idle <idle> cpu_ticks <ticks>` first.
pub const STAGE1: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
for m in $(/bin/busybox cat /modules.list); do /bin/busybox insmod "/modules/$m"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do /bin/busybox sleep 0.05; i=$((i+1)); done
if ! /bin/busybox mount -t ext4 -o rw /dev/vda /newroot; then
  echo "STAGE1 failed: no root file system" > /dev/console
  /bin/busybox poweroff -f
fi
init=/sbin/init
for w in $(/bin/busybox cat /proc/cmdline); do
  case $w in stage1.init=*) init=${w#stage1.init=};; esac
done
read -r up idle < /proc/uptime
set -- $(/bin/busybox sed 's/^.*) //' /proc/1/stat)
echo "STAGE1 handoff $up idle $idle cpu_ticks $(( ${12} + ${13} )) init $init" > /dev/console
/bin/busybox umount /sys /proc /dev
exec /bin/busybox switch_root /newroot "$init"
"#;

/// The newest /boot/vmlinuz-* and its version (for /lib/modules).
pub fn kernel() -> Result<(PathBuf, String)> {
    let mut k: Vec<String> = std::fs::read_dir("/boot")?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .collect();
    k.sort();
    let v = k
        .pop()
        .context("no /boot/vmlinuz-*: install linux-image-amd64")?;
    Ok((PathBuf::from(format!("/boot/vmlinuz-{v}")), v))
}

/// A Debian 12 root made with mmdebstrap (minbase and `include`, from the host's apt
/// sources) in `dir`, made once: a marker holds the package list it was made with.
pub fn debian_root(dir: &Path, include: &str) -> Result<()> {
    let marker = dir.join(".b8g-mmdebstrap-include");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(include) {
        return Ok(());
    }
    let tmp = dir.with_extension("tmp");
    for d in [&tmp, &dir.to_path_buf()] {
        if d.exists() {
            std::fs::remove_dir_all(d)?;
        }
    }
    let mut sources: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sources" || x == "list"))
                .collect()
        })
        .unwrap_or_default();
    if Path::new("/etc/apt/sources.list").is_file() {
        sources.push("/etc/apt/sources.list".into());
    }
    sources.sort();
    if sources.is_empty() {
        bail!("no apt sources on this host for mmdebstrap");
    }
    crate::run(
        Command::new("mmdebstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={include}"))
            .arg("bookworm")
            .arg(&tmp)
            .args(&sources),
    )?;
    std::fs::write(tmp.join(".b8g-mmdebstrap-include"), include)?;
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

pub fn write_mode(path: &Path, text: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// An ext4 file system image of `size` (mkfs.ext4's units), holding `from` when given;
/// the fixed UUID, hash seed and time make it reproducible.
pub fn make_ext4(
    from: Option<&Path>,
    image: &Path,
    label: &str,
    uuid: &str,
    size: &str,
) -> Result<()> {
    let _ = std::fs::remove_file(image);
    let mut c = Command::new("mkfs.ext4");
    c.env("E2FSPROGS_FAKE_TIME", "1")
        .args(["-q", "-F", "-L", label, "-U", uuid, "-E"])
        .arg(format!("hash_seed={uuid},root_owner=0:0"));
    if let Some(from) = from {
        c.arg("-d").arg(from);
    }
    crate::run(c.arg(image).arg(size))
}

/// Modules in load order: each after the modules it depends on (from modules.dep).
fn module_closure(version: &str, modules: &[&str]) -> Result<Vec<String>> {
    let base = PathBuf::from(format!("/lib/modules/{version}"));
    let dep = std::fs::read_to_string(base.join("modules.dep"))
        .with_context(|| format!("reading {}/modules.dep", base.display()))?;
    let deps: std::collections::BTreeMap<String, Vec<String>> = dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, d)| {
            (
                m.to_string(),
                d.split_whitespace().map(str::to_string).collect(),
            )
        })
        .collect();
    let find = |name: &str| -> Result<String> {
        deps.keys()
            .find(|k| {
                Path::new(k)
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| {
                        f == format!("{name}.ko") || f == format!("{}.ko", name.replace('_', "-"))
                    })
            })
            .cloned()
            .with_context(|| format!("module {name} not in modules.dep (built in?)"))
    };
    fn visit(
        m: &str,
        deps: &std::collections::BTreeMap<String, Vec<String>>,
        out: &mut Vec<String>,
    ) {
        if out.iter().any(|o| o == m) {
            return;
        }
        // modules.dep lists the full closure, the last entries loaded first.
        for d in deps.get(m).into_iter().flatten().rev() {
            visit(d, deps, out);
        }
        out.push(m.to_string());
    }
    let mut out = Vec::new();
    for m in modules {
        visit(&find(m)?, &deps, &mut out);
    }
    Ok(out)
}

/// The stage-1 initramfs: busybox, `modules` (with what they need) and [`STAGE1`].
pub fn stage1(version: &str, modules: &[&str]) -> Result<Vec<u8>> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("busybox-static is required")?;
    let mods = module_closure(version, modules)?;
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "newroot", "modules"] {
        c.entry(d, 0o040755, &[], (0, 0))?;
    }
    c.entry("dev/console", 0o020600, &[], (5, 1))?;
    c.entry("bin/busybox", 0o100755, &std::fs::read(busybox)?, (0, 0))?;
    c.entry("bin/sh", 0o120777, b"busybox", (0, 0))?;
    c.entry("init", 0o100755, STAGE1.as_bytes(), (0, 0))?;
    let mut list = String::new();
    for m in &mods {
        let file = Path::new(m)
            .file_name()
            .context("module name")?
            .to_string_lossy()
            .into_owned();
        let data = std::fs::read(format!("/lib/modules/{version}/{m}"))?;
        c.entry(&format!("modules/{file}"), 0o100644, &data, (0, 0))?;
        list.push_str(&file);
        list.push('\n');
    }
    c.entry("modules.list", 0o100644, list.as_bytes(), (0, 0))?;
    Ok(cpio::newc::trailer(c.out)?)
}

/// A newc cpio archive in memory, written with the `cpio` crate.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) -> Result<()> {
        self.ino += 1;
        let mut w = cpio::NewcBuilder::new(name)
            .ino(self.ino)
            .mode(mode)
            .nlink(1)
            .rdev_major(rdev.0)
            .rdev_minor(rdev.1)
            .write(&mut self.out, data.len() as u32);
        w.write_all(data)?;
        w.finish()?;
        Ok(())
    }
}

/// The benchmarks' marker: `/usr/local/sbin/bench-ready` (`script`) run by
/// `bench-ready.service` (`unit`), enabled for multi-user.target by a link, as
/// `systemctl enable` would.
pub fn install_ready_unit(rootfs: &Path, script: &str, unit: &str) -> Result<()> {
    write_mode(
        &rootfs.join("usr/local/sbin/bench-ready"),
        script.as_bytes(),
        0o755,
    )?;
    write_mode(
        &rootfs.join("etc/systemd/system/bench-ready.service"),
        unit.as_bytes(),
        0o644,
    )?;
    let link = rootfs.join("etc/systemd/system/multi-user.target.wants/bench-ready.service");
    if std::fs::symlink_metadata(&link).is_err() {
        std::fs::create_dir_all(link.parent().context("parent")?)?;
        std::os::unix::fs::symlink("/etc/systemd/system/bench-ready.service", &link)?;
    }
    Ok(())
}
