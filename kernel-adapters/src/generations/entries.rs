//! Boot entries: what stage 1 reads to pick a generation, and a boot loader
//! configuration for disk images.
//!
//! `<boot>/entries/system-N.conf` holds `key=value` lines (a format a busybox
//! shell reads with `IFS==`):
//! ```text
//! generation=N
//! toplevel=/b8g/store/…-b8g-system-…
//! tries=3        boots left before stage 1 skips it while it is not good
//! good=0         1 once b8g-init reached default.target and the health checks passed
//! reason=…       why its last boot failed, if one did
//! ```
//! Stage 1 decrements `tries` before handing over; b8g-init (`b8gctl
//! boot-check`) sets `good=1` or `reason=`. Stage 1 records what it booted in
//! `<boot>/last-boot` (`generation=`, `skipped=`, `skipped_reason=`).
//! `<boot>/extlinux/extlinux.conf` lists the same generations, newest first.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::profile::{Generation, Profile, ProfileError};
use super::{io_err, sync_dir, under_root, write_atomic, IoError};

/// Default logical boot directory.
pub const DEFAULT_BOOT_DIR: &str = "/b8g/var/boot";
/// Tries a generation gets when its toplevel does not say (`boot-tries`).
pub const DEFAULT_TRIES: u32 = 3;

/// One generation's boot entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootEntry {
    pub generation: u32,
    pub toplevel: String,
    pub tries: u32,
    pub good: bool,
    pub reason: String,
}

impl BootEntry {
    pub fn parse(text: &str) -> Option<BootEntry> {
        let kv: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        Some(BootEntry {
            generation: kv.get("generation")?.trim().parse().ok()?,
            toplevel: kv.get("toplevel")?.trim().to_string(),
            tries: kv
                .get("tries")
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
            good: kv.get("good").map(|g| g.trim() == "1").unwrap_or(false),
            reason: kv
                .get("reason")
                .map(|r| r.trim().to_string())
                .unwrap_or_default(),
        })
    }

    pub fn to_text(&self) -> String {
        format!(
            "generation={}\ntoplevel={}\ntries={}\ngood={}\nreason={}\n",
            self.generation,
            self.toplevel,
            self.tries,
            u8::from(self.good),
            self.reason.replace('\n', " ")
        )
    }
}

/// What stage 1 recorded about the last boot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LastBoot {
    pub generation: Option<u32>,
    pub skipped: Vec<u32>,
    pub skipped_reason: String,
}

/// The boot directory: entries, the extlinux configuration and stage 1's record.
/// Invariant: `dir` is physical.
#[derive(Debug, Clone)]
pub struct BootEntries {
    pub dir: PathBuf,
}

impl BootEntries {
    pub fn new(dir: impl Into<PathBuf>) -> BootEntries {
        BootEntries { dir: dir.into() }
    }

    fn entries_dir(&self) -> PathBuf {
        self.dir.join("entries")
    }

    pub fn entry_path(&self, n: u32) -> PathBuf {
        self.entries_dir().join(format!("system-{n}.conf"))
    }

    pub fn read(&self, n: u32) -> Result<Option<BootEntry>, IoError> {
        let p = self.entry_path(n);
        match fs::read_to_string(&p) {
            Ok(t) => Ok(BootEntry::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    pub fn write(&self, e: &BootEntry) -> Result<(), IoError> {
        let d = self.entries_dir();
        fs::create_dir_all(&d).map_err(io_err("create directory", &d))?;
        write_atomic(&self.entry_path(e.generation), e.to_text().as_bytes())
    }

    /// Every entry, by generation number.
    pub fn all(&self) -> Result<BTreeMap<u32, BootEntry>, IoError> {
        let d = self.entries_dir();
        let mut out = BTreeMap::new();
        let rd = match fs::read_dir(&d) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err("read directory", &d)(e)),
        };
        for e in rd {
            let e = e.map_err(io_err("read directory", &d))?;
            let name = e.file_name().to_string_lossy().to_string();
            if !(name.starts_with("system-") && name.ends_with(".conf")) {
                continue;
            }
            if let Ok(t) = fs::read_to_string(e.path()) {
                if let Some(b) = BootEntry::parse(&t) {
                    out.insert(b.generation, b);
                }
            }
        }
        Ok(out)
    }

    pub fn last_boot(&self) -> LastBoot {
        let text = fs::read_to_string(self.dir.join("last-boot")).unwrap_or_default();
        let mut lb = LastBoot::default();
        for l in text.lines() {
            match l.split_once('=') {
                Some(("generation", v)) => lb.generation = v.trim().parse().ok(),
                Some(("skipped", v)) => {
                    lb.skipped = v
                        .split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                }
                Some(("skipped_reason", v)) => lb.skipped_reason = v.trim().to_string(),
                _ => {}
            }
        }
        lb
    }

    /// Brings the entries in line with the profile: a fresh entry (full tries,
    /// not good) for each generation that has none, existing counters kept,
    /// entries of deleted generations removed; then rewrites extlinux.conf.
    /// `root` is the physical root the store lives under (to read each
    /// toplevel's `boot-tries` and `kernel-params`).
    pub fn sync(&self, profile: &Profile, root: Option<&Path>) -> Result<(), ProfileError> {
        let gens = profile.generations()?;
        let have = self.all()?;
        for g in &gens {
            if have
                .get(&g.number)
                .is_some_and(|e| e.toplevel == g.toplevel)
            {
                continue;
            }
            let tries = fs::read_to_string(under_root(root, &format!("{}/boot-tries", g.toplevel)))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(DEFAULT_TRIES);
            self.write(&BootEntry {
                generation: g.number,
                toplevel: g.toplevel.clone(),
                tries,
                good: false,
                reason: String::new(),
            })?;
        }
        for n in have.keys() {
            if !gens.iter().any(|g| g.number == *n) {
                let p = self.entry_path(*n);
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
            }
        }
        if self.entries_dir().is_dir() {
            sync_dir(&self.entries_dir())?;
        }
        self.write_extlinux(&gens, profile.current()?, root)?;
        Ok(())
    }

    /// Marks generation `n` good (what an operator does for an image's first generation).
    pub fn mark_good(&self, n: u32) -> Result<(), IoError> {
        if let Some(mut e) = self.read(n)? {
            e.good = true;
            e.reason.clear();
            self.write(&e)?;
        }
        Ok(())
    }

    fn write_extlinux(
        &self,
        gens: &[Generation],
        current: Option<u32>,
        root: Option<&Path>,
    ) -> Result<(), IoError> {
        let mut text =
            String::from("# Written by b8g system; one entry per generation, newest first.\n");
        text.push_str("TIMEOUT 30\n");
        if let Some(c) = current {
            text.push_str(&format!("DEFAULT b8g-{c}\n"));
        }
        for g in gens.iter().rev() {
            let params =
                fs::read_to_string(under_root(root, &format!("{}/kernel-params", g.toplevel)))
                    .map(|p| p.trim().replace("@toplevel@", &g.toplevel))
                    .unwrap_or_else(|_| format!("b8g.system={}", g.toplevel));
            text.push_str(&format!(
                "\nLABEL b8g-{n}\n  MENU LABEL b8g generation {n}\n  LINUX {t}/kernel\n  INITRD {t}/initrd\n  APPEND {params}\n",
                n = g.number,
                t = g.toplevel
            ));
        }
        let d = self.dir.join("extlinux");
        fs::create_dir_all(&d).map_err(io_err("create directory", &d))?;
        write_atomic(&d.join("extlinux.conf"), text.as_bytes())
    }
}
