//! Boot entries: what stage 1 reads to pick a generation, and a boot loader
//! configuration for disk images.
//!
//! The files are b8g-layout's ([`b8g_layout::boot_entry`]): one
//! `<boot>/entries/system-N.conf` per generation, which stage 1 counts down
//! (`tries`) and b8g-init (`b8gctl boot-check`) judges (`good=1` or
//! `reason=`), and stage 1's `<boot>/last-boot`. This module writes fresh
//! entries and removes stale ones; `<boot>/extlinux/extlinux.conf` lists the
//! same generations, newest first.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use b8g_layout::generation::{self, toplevel};

use super::profile::{Generation, Profile, ProfileError};
use super::{io_err, sync_dir, under_root, write_atomic, IoError};

pub use b8g_layout::boot_entry::{BootEntry, LastBoot};

/// Tries a generation gets when its toplevel does not say (`boot-tries`).
pub const DEFAULT_TRIES: u32 = 3;

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
        self.dir.join(generation::ENTRIES_DIR)
    }

    pub fn entry_path(&self, n: u32) -> PathBuf {
        generation::entry_path(&self.dir, n)
    }

    pub fn read(&self, n: u32) -> Result<Option<BootEntry>, IoError> {
        let p = self.entry_path(n);
        match fs::read_to_string(&p) {
            Ok(t) => Ok(BootEntry::parse(&t).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    pub fn write(&self, e: &BootEntry) -> Result<(), IoError> {
        let d = self.entries_dir();
        fs::create_dir_all(&d).map_err(io_err("create directory", &d))?;
        write_atomic(&self.entry_path(e.generation), e.render().as_bytes())
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
            if !generation::is_entry_file_name(&name) {
                continue;
            }
            if let Ok(t) = fs::read_to_string(e.path()) {
                if let Ok(b) = BootEntry::parse(&t) {
                    out.insert(b.generation, b);
                }
            }
        }
        Ok(out)
    }

    pub fn last_boot(&self) -> LastBoot {
        LastBoot::parse(
            &fs::read_to_string(generation::last_boot_path(&self.dir)).unwrap_or_default(),
        )
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
            let tries_file = format!("{}/{}", g.toplevel, toplevel::BOOT_TRIES);
            let tries = fs::read_to_string(under_root(root, &tries_file))
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
            let params_file = format!("{}/{}", g.toplevel, toplevel::KERNEL_PARAMS);
            let params = fs::read_to_string(under_root(root, &params_file))
                .map(|p| toplevel::fill_in(p.trim(), &g.toplevel))
                .unwrap_or_else(|_| toplevel::system_param(&g.toplevel));
            text.push_str(&format!(
                "\nLABEL b8g-{n}\n  MENU LABEL b8g generation {n}\n  LINUX {t}/kernel\n  INITRD {t}/initrd\n  APPEND {params}\n",
                n = g.number,
                t = g.toplevel
            ));
        }
        let d = self.dir.join(generation::EXTLINUX_DIR);
        fs::create_dir_all(&d).map_err(io_err("create directory", &d))?;
        write_atomic(&d.join(generation::EXTLINUX_FILE), text.as_bytes())
    }
}
