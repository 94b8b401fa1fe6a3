//! The bootstrap seeds as the README's commands need them.
//!
//! Debian's archive serves only current versions, so pins in
//! `recipes/bootstrap/pins.nix` vanish whenever Debian ships an update.
//! [`refresh_vanished`] runs before `demo` and `test`: it asks `b8g bootstrap
//! lock --check` where each committed pin can still be had, and writes the
//! pins no usable source serves into the untracked
//! `recipes/bootstrap/pins.override.nix` (refreshed to what the archive
//! serves now), printing them loudly; with none, it removes the override.
//! [`push`] (`cargo xtask seeds push DIR|URL`) puts every seed of the lock
//! into a signed b8g binary cache, the project's own memory of its bootstrap.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{root, run};

/// The committed lock and its local override.
fn pins() -> PathBuf {
    root().join("recipes/bootstrap/pins.nix")
}

pub fn override_file() -> PathBuf {
    root().join("recipes/bootstrap/pins.override.nix")
}

/// Which sources count for the caller: the test suite builds in fresh stores
/// with no caches, so only the archive and the snapshot service serve it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Usable {
    /// Archive or snapshot service.
    Fetchable,
    /// Also this machine's store and configured caches (the demo uses them).
    Any,
}

/// Refreshes pins that no usable source serves into the local override,
/// and does the same for the Debian packages' lock.
pub fn refresh_vanished(b8g: &Path, usable: Usable) -> Result<()> {
    refresh_seeds(b8g, usable)?;
    refresh_debian(b8g)
}

/// `recipes/debian/lock.json`: when packages left the archive, a lock
/// re-resolved from the same roots goes to the untracked
/// `recipes/debian/lock.override.json` (removed again once all are served).
fn refresh_debian(b8g: &Path) -> Result<()> {
    let lock = root().join("recipes/debian/lock.json");
    let file = root().join("recipes/debian/lock.override.json");
    let mut check = Command::new(b8g);
    check
        .args(["bootstrap", "check-debian", "--debian-lock"])
        .arg(&lock)
        .arg("--override")
        .arg(&file);
    let out = check
        .output()
        .with_context(|| format!("cannot run {check:?}"))?;
    if !out.status.success() {
        bail!(
            "{check:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if file.exists() {
        let bar = "=".repeat(78);
        eprintln!("{bar}");
        eprintln!(
            "DEBIAN LOCK REFRESHED: packages of {} left Debian's archive.",
            lock.display()
        );
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!(
            "Building with the local override (untracked); commit with `b8g bootstrap lock`."
        );
        eprintln!("{bar}");
    }
    Ok(())
}

fn refresh_seeds(b8g: &Path, usable: Usable) -> Result<()> {
    let out = Command::new(b8g)
        .args(["bootstrap", "lock", "--check", "--json", "--pins"])
        .arg(pins())
        .output()
        .with_context(|| format!("cannot run {}", b8g.display()))?;
    // Exit 1 only says some pin has no source; the JSON tells which.
    let report: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "b8g bootstrap lock --check gave no report: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let mut vanished = Vec::new();
    for pin in &report {
        let name = pin["name"].as_str().unwrap_or_default().to_owned();
        let kinds: Vec<&str> = pin["sources"]
            .as_array()
            .map(|s| s.iter().filter_map(|x| x["kind"].as_str()).collect())
            .unwrap_or_default();
        let ok = kinds.iter().any(|k| match usable {
            Usable::Fetchable => matches!(*k, "archive" | "snapshot"),
            Usable::Any => true,
        });
        if !kinds.contains(&"archive") {
            eprintln!(
                "warning: pin {name} ({}={}) is no longer in Debian's archive{}",
                pin["package"].as_str().unwrap_or_default(),
                pin["version"].as_str().unwrap_or_default(),
                if ok { " (another source has it)" } else { "" }
            );
        }
        if !ok {
            vanished.push(name);
        }
    }
    let file = override_file();
    if vanished.is_empty() {
        if file.exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove {}", file.display()))?;
            eprintln!("every pin is served again: removed {}", file.display());
        }
        return Ok(());
    }
    let mut lock = Command::new(b8g);
    lock.args(["bootstrap", "lock", "--pins"])
        .arg(pins())
        .arg("--override")
        .arg(&file)
        .arg("--only")
        .args(&vanished);
    let out = lock
        .output()
        .with_context(|| format!("cannot run {lock:?}"))?;
    if !out.status.success() {
        bail!(
            "{lock:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let bar = "=".repeat(78);
    eprintln!("{bar}");
    eprintln!(
        "PINS REFRESHED: {} pinned seed(s) left Debian's archive and no other source serves them.",
        vanished.len()
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!(
        "Building with the local override {} (untracked).\n\
         Commit the refresh with `b8g bootstrap lock --only {}`.",
        file.display(),
        vanished.join(" ")
    );
    eprintln!("{bar}");
    Ok(())
}

/// `cargo xtask seeds push DIR|URL [--key FILE]`: realises every seed of the
/// lock (with the override) and pushes them, signed, to a b8g binary cache.
pub fn push(b8g: &Path, args: &[String]) -> Result<()> {
    let mut dest = None;
    let mut key = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key" => key = Some(PathBuf::from(it.next().context("--key needs a file")?)),
            other if dest.is_none() => dest = Some(other.to_owned()),
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let Some(dest) = dest else {
        bail!("usage: cargo xtask seeds push DIR|URL [--key SECRET-KEY-FILE]");
    };
    let url = if dest.contains("://") {
        dest
    } else {
        std::fs::create_dir_all(&dest).with_context(|| format!("cannot create {dest}"))?;
        let abs = Path::new(&dest)
            .canonicalize()
            .with_context(|| format!("cannot resolve {dest}"))?;
        format!("file://{}", abs.display())
    };
    let key = match key {
        Some(k) => k,
        None => default_key(b8g)?,
    };
    let out = Command::new(b8g)
        .current_dir(root())
        .args(["build", "--no-out-link", "recipes/bootstrap/seed-files.nix"])
        .output()
        .context("cannot run b8g build")?;
    if !out.status.success() {
        bail!(
            "realising the seeds failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let paths: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_owned)
        .collect();
    if paths.is_empty() {
        bail!("b8g build printed no seed paths");
    }
    let mut push = Command::new(b8g);
    push.args(["cache", "push", "--no-closure", "--key"])
        .arg(&key)
        .arg(&url)
        .args(&paths);
    run(&mut push)?;
    let public = Command::new(b8g)
        .args(["cache", "key", "public"])
        .arg(&key)
        .output()
        .context("cannot print the public key")?;
    eprintln!(
        "pushed {} seeds to {url}. To substitute them, add to b8g.conf:\n  \
         substituters = {url}\n  trusted-public-keys = {}",
        paths.len(),
        String::from_utf8_lossy(&public.stdout).trim()
    );
    Ok(())
}

/// `target/seeds/b8g-seeds-1.secret`, generated once.
fn default_key(b8g: &Path) -> Result<PathBuf> {
    let dir = root().join("target/seeds");
    let secret = dir.join("b8g-seeds-1.secret");
    if !secret.exists() {
        std::fs::create_dir_all(&dir)?;
        run(Command::new(b8g)
            .args(["cache", "key", "generate", "b8g-seeds-1", "--secret-file"])
            .arg(&secret)
            .arg("--public-file")
            .arg(dir.join("b8g-seeds-1.public")))?;
    }
    Ok(secret)
}
