//! The system profile: `<dir>/system -> system-N-link -> <toplevel>`.
//!
//! A generation is a numbered link to an immutable toplevel; the profile link
//! names the default one. Creating a generation and switching the default are
//! each one atomic rename. The profile directory is registered as a GC root
//! (a link in `<state>/gcroots` to the directory), so every generation's
//! closure stays alive until its link is deleted.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use b8g_layout::generation::{generation_link_name, parse_generation_link_name};

use super::{io_err, symlink_atomic, sync_dir, IoError};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("generation {0} does not exist")]
    NoSuchGeneration(u32),
    #[error("profile {0} has no generation yet")]
    Empty(PathBuf),
    #[error("no generation older than {0} to roll back to")]
    NoPrevious(u32),
    #[error("{0} is not a valid generation selection (expected N, +K or older-than Nd)")]
    BadSelection(String),
}

/// One generation of a profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Generation {
    pub number: u32,
    /// The logical toplevel path the link points at.
    pub toplevel: String,
    /// Seconds since the epoch when the link was made.
    pub created: u64,
}

/// A profile: a directory of numbered links and the link naming the default.
/// Invariant: `dir` is the physical directory (under the store's root).
#[derive(Debug, Clone)]
pub struct Profile {
    pub dir: PathBuf,
    pub name: String,
}

/// Which generations `delete-generations` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These numbers.
    Numbers(Vec<u32>),
    /// All but the newest K.
    KeepNewest(u32),
    /// Those made more than this long ago.
    OlderThan(Duration),
}

impl std::str::FromStr for Selection {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Self, ProfileError> {
        let bad = || ProfileError::BadSelection(s.to_string());
        if let Some(k) = s.strip_prefix('+') {
            return k.parse().map(Selection::KeepNewest).map_err(|_| bad());
        }
        if let Some(d) = s.strip_prefix("older-than").map(str::trim) {
            let days: u64 = d
                .strip_suffix('d')
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?;
            return Ok(Selection::OlderThan(Duration::from_secs(days * 86400)));
        }
        let nums: Result<Vec<u32>, _> = s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::parse)
            .collect();
        match nums {
            Ok(n) if !n.is_empty() => Ok(Selection::Numbers(n)),
            _ => Err(bad()),
        }
    }
}

impl Profile {
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Profile {
        Profile {
            dir: dir.into(),
            name: name.to_string(),
        }
    }

    /// The link naming the default generation.
    pub fn link(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    fn gen_link_name(&self, n: u32) -> String {
        generation_link_name(&self.name, n)
    }

    pub fn gen_link(&self, n: u32) -> PathBuf {
        self.dir.join(self.gen_link_name(n))
    }

    /// Every generation, oldest first. Temporary links left by a crash are ignored.
    pub fn generations(&self) -> Result<Vec<Generation>, ProfileError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read profile directory", &self.dir)(e).into()),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(io_err("read profile directory", &self.dir))?;
            let fname = e.file_name().to_string_lossy().to_string();
            let Some(n) = parse_generation_link_name(&self.name, &fname) else {
                continue;
            };
            let path = e.path();
            let target = fs::read_link(&path).map_err(io_err("read link", &path))?;
            let created = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            out.push(Generation {
                number: n,
                toplevel: target.to_string_lossy().to_string(),
                created,
            });
        }
        out.sort_by_key(|g| g.number);
        Ok(out)
    }

    /// The default generation's number (what the profile link names), if any.
    pub fn current(&self) -> Result<Option<u32>, ProfileError> {
        let link = self.link();
        match fs::read_link(&link) {
            Ok(t) => Ok(parse_generation_link_name(&self.name, &t.to_string_lossy())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read link", &link)(e).into()),
        }
    }

    /// Adds `toplevel` as a new generation (or returns the newest one when it
    /// already names the same toplevel) without making it the default.
    pub fn add(&self, toplevel: &str) -> Result<u32, ProfileError> {
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        let gens = self.generations()?;
        if let Some(last) = gens.last() {
            if last.toplevel == toplevel {
                return Ok(last.number);
            }
        }
        let n = gens.last().map(|g| g.number + 1).unwrap_or(1);
        symlink_atomic(toplevel, &self.gen_link(n))?;
        Ok(n)
    }

    /// Makes generation `n` the default (one rename).
    pub fn set_current(&self, n: u32) -> Result<(), ProfileError> {
        if fs::symlink_metadata(self.gen_link(n)).is_err() {
            return Err(ProfileError::NoSuchGeneration(n));
        }
        symlink_atomic(&self.gen_link_name(n), &self.link())?;
        Ok(())
    }

    /// The toplevel of generation `n`.
    pub fn toplevel(&self, n: u32) -> Result<String, ProfileError> {
        self.generations()?
            .into_iter()
            .find(|g| g.number == n)
            .map(|g| g.toplevel)
            .ok_or(ProfileError::NoSuchGeneration(n))
    }

    /// The newest generation older than the default one.
    pub fn previous(&self) -> Result<u32, ProfileError> {
        let cur = self
            .current()?
            .ok_or_else(|| ProfileError::Empty(self.link()))?;
        self.generations()?
            .iter()
            .rev()
            .map(|g| g.number)
            .find(|&n| n < cur)
            .ok_or(ProfileError::NoPrevious(cur))
    }

    /// Deletes the selected generations, never the default one nor any in
    /// `keep` (the booted one); returns the numbers deleted.
    pub fn delete(&self, sel: &Selection, keep: &[u32]) -> Result<Vec<u32>, ProfileError> {
        let gens = self.generations()?;
        let cur = self.current()?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let chosen: Vec<u32> = match sel {
            Selection::Numbers(ns) => {
                for n in ns {
                    if !gens.iter().any(|g| g.number == *n) {
                        return Err(ProfileError::NoSuchGeneration(*n));
                    }
                }
                ns.clone()
            }
            Selection::KeepNewest(k) => {
                let k = *k as usize;
                gens.iter().rev().skip(k).map(|g| g.number).collect()
            }
            Selection::OlderThan(age) => gens
                .iter()
                .filter(|g| now.saturating_sub(g.created) > age.as_secs())
                .map(|g| g.number)
                .collect(),
        };
        let mut deleted = Vec::new();
        for n in chosen {
            if Some(n) == cur || keep.contains(&n) {
                continue;
            }
            let link = self.gen_link(n);
            fs::remove_file(&link).map_err(io_err("remove", &link))?;
            deleted.push(n);
        }
        deleted.sort();
        // Links a crashed switch left under a temporary name would keep their
        // closure alive for GC; they never were generations.
        let prefix = format!(".{}", self.name);
        for e in fs::read_dir(&self.dir).map_err(io_err("read profile directory", &self.dir))? {
            let e = e.map_err(io_err("read profile directory", &self.dir))?;
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with(&prefix) && n.contains(".tmp-") {
                let _ = fs::remove_file(e.path());
            }
        }
        sync_dir(&self.dir)?;
        Ok(deleted)
    }

    /// Registers the profile directory as a GC root: `<gcroots>/profiles` links
    /// to it, and GC searches linked directories for roots.
    pub fn register_gc_root(&self, gcroots: &Path) -> Result<(), ProfileError> {
        fs::create_dir_all(gcroots).map_err(io_err("create directory", gcroots))?;
        let link = gcroots.join("profiles");
        // Relative when possible, so the root holds in a chroot store and in
        // an image made from it (where the physical prefix is gone) alike.
        let target = relative(gcroots, &self.dir);
        if fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
            return Ok(());
        }
        symlink_atomic(&target.to_string_lossy(), &link)?;
        Ok(())
    }
}

/// `to` as seen from the directory `from` (both absolute): `../../profiles`.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return to.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out
}
