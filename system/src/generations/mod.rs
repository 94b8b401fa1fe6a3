//! System generations: the profile that names the current one, the boot
//! entries stage 1 reads, comparisons between generations, and whole-system
//! snapshots.
//!
//! On disk (all under one physical root, `/` on a running system):
//! ```text
//! /b8g/var/profiles/system -> system-N-link -> <toplevel>     (profile.rs)
//! /b8g/var/boot/entries/system-N.conf                        (entries.rs)
//! /b8g/var/boot/extlinux/extlinux.conf
//! <state>/gcroots/profiles -> /b8g/var/profiles              (GC root of every generation)
//! /boot/loader/entries/b8g-N[+L[-D]].conf, /boot/EFI/...     (loader.rs, when systemd-boot is installed)
//! ```
//! The names and formats are b8g-layout's ([`b8g_layout::generation`],
//! [`b8g_layout::boot_entry`]), shared with b8g-init and image builders.
//! Every change is a write to a temporary name, fsync, rename(2), fsync of the
//! directory, so a power loss leaves either the old or the new state.
//!
//! This module does not activate anything on a running machine: that is
//! `b8gctl switch` (in b8g-init), which the CLI calls.

pub mod diff;
pub mod entries;
pub mod loader;
pub mod profile;
pub mod snapshot;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O failure with the operation and file it happened on.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {path}: {source}")]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> IoError + 'a {
    move |source| IoError {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Joins a logical absolute path under a physical root.
pub fn under_root(root: Option<&Path>, logical: &str) -> PathBuf {
    match root {
        None => PathBuf::from(logical),
        Some(r) => r.join(logical.trim_start_matches('/')),
    }
}

/// Fsyncs a directory so a rename in it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IoError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err("sync directory", dir))
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("sync", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
    sync_dir(dir)
}

/// Points the symlink `link` at `target` atomically (a new link under a temporary name, then rename).
pub(crate) fn symlink_atomic(target: &str, link: &Path) -> Result<(), IoError> {
    let dir = link.parent().unwrap_or(Path::new("."));
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io_err("create link", &tmp))?;
    fs::rename(&tmp, link).map_err(io_err("rename into place", link))?;
    sync_dir(dir)
}

use b8g_layout::generation::{
    self, BOOTED_SYSTEM, BOOT_DIR, CURRENT_SYSTEM, PROFILES_DIR, SYSTEM_PROFILE,
};
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;
use entries::{BootEntries, BootEntry};
use profile::{Generation, Profile, ProfileError, Selection};

/// Why a generation failed when none of its boots reached b8g-init's boot check.
pub const NEVER_READY: &str =
    "its boots never reached the default target (kernel panic, init crash or hang)";

#[derive(Debug, thiserror::Error)]
pub enum GenerationsError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Store(#[from] b8g_store::local::Error),
    #[error("{0} is not valid in the store (build or import it first)")]
    NotInStore(String),
    #[error("{0} is not a system toplevel: it has no `init`")]
    NotASystem(String),
    #[error(transparent)]
    Loader(#[from] loader::LoaderError),
}

/// The system profile and its boot entries on one machine (or image tree).
#[derive(Debug, Clone)]
pub struct Generations {
    /// Physical root the logical paths live under (`None`: `/`).
    pub root: Option<PathBuf>,
    pub profile: Profile,
    pub boot: BootEntries,
    /// The mounted EFI system partition, when the system boots through
    /// systemd-boot (`<root>/boot` holds `loader/loader.conf`).
    pub esp: Option<PathBuf>,
}

/// A generation as `list-generations` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenerationStatus {
    #[serde(flatten)]
    pub generation: Generation,
    /// The profile's default (what the next boot picks first).
    pub default: bool,
    /// What stage 1 booted last (or /run/booted-system points at).
    pub booted: bool,
    /// What /run/current-system points at: the generation running now.
    pub running: bool,
    #[serde(serialize_with = "entry_json")]
    pub entry: Option<BootEntry>,
    /// Why stage 1 skipped it on the last boot, if it did.
    pub skipped: Option<String>,
}

/// An entry in `list-generations --json`: its fields, as b8g-layout keeps
/// serde out of the formats it shares with b8g-init.
fn entry_json<S: serde::Serializer>(entry: &Option<BootEntry>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Json<'a> {
        generation: u32,
        toplevel: &'a str,
        tries: u32,
        good: bool,
        reason: &'a str,
    }
    serde::Serialize::serialize(
        &entry.as_ref().map(|e| Json {
            generation: e.generation,
            toplevel: &e.toplevel,
            tries: e.tries,
            good: e.good,
            reason: &e.reason,
        }),
        s,
    )
}

impl Generations {
    /// The standard layout (`/b8g/var/profiles/system`, `/b8g/var/boot`) under
    /// `root`, or the profile directory `profile_dir` (physical) with the boot
    /// directory beside it (`<profile_dir>/../boot`) when given.
    pub fn new(root: Option<&Path>, profile_dir: Option<&Path>) -> Generations {
        let (pdir, bdir) = match profile_dir {
            Some(d) => (
                d.to_path_buf(),
                d.parent().unwrap_or(Path::new("/")).join("boot"),
            ),
            None => (under_root(root, PROFILES_DIR), under_root(root, BOOT_DIR)),
        };
        let esp = under_root(root, b8g_layout::loader::ESP_MOUNT);
        Generations {
            root: root.map(Path::to_path_buf),
            profile: Profile::new(pdir, SYSTEM_PROFILE),
            boot: BootEntries::new(bdir),
            esp: esp
                .join(b8g_layout::loader::LOADER_CONF)
                .is_file()
                .then_some(esp),
        }
    }

    /// Adds `toplevel` as a generation (reusing the newest when it is the same),
    /// registers the GC root, writes its boot entry, and — with `make_default`
    /// — points the profile at it. Returns its number.
    ///
    /// Crash safety: the generation link and its entry exist before the
    /// profile link is renamed, so stage 1 finds an entry for whichever
    /// generation the profile names.
    pub fn install(
        &self,
        store: &LocalStore,
        toplevel: &StorePath,
        make_default: bool,
    ) -> Result<u32, GenerationsError> {
        let logical = store.print_path(toplevel);
        if !store.is_valid(toplevel)? {
            return Err(GenerationsError::NotInStore(logical));
        }
        let init = store.real_path(toplevel).join(generation::toplevel::INIT);
        if fs::symlink_metadata(init).is_err() {
            return Err(GenerationsError::NotASystem(logical));
        }
        self.profile
            .register_gc_root(&store.state_dir().join("gcroots"))?;
        let n = self.profile.add(&logical)?;
        self.sync_boot()?;
        if make_default {
            self.set_default(n)?;
        }
        Ok(n)
    }

    /// Points the profile at generation `n` and rewrites the boot loader configuration.
    pub fn set_default(&self, n: u32) -> Result<(), GenerationsError> {
        self.profile.set_current(n)?;
        self.sync_boot()
    }

    /// Points the profile at the previous generation; returns (from, to).
    pub fn rollback(&self) -> Result<(u32, u32), GenerationsError> {
        let from = self
            .profile
            .current()?
            .ok_or_else(|| ProfileError::Empty(self.profile.link()))?;
        let to = self.profile.previous()?;
        self.set_default(to)?;
        Ok((from, to))
    }

    /// The generation stage 1 booted last, if it recorded one.
    pub fn booted(&self) -> Option<u32> {
        self.boot.last_boot().generation
    }

    /// The toplevels the machine runs: what /run/booted-system (made by the first
    /// activation of a boot) and /run/current-system (the last activation) point at,
    /// as NixOS keeps both. A VM booted straight from an image has no stage-1 record,
    /// so these are how its running generation is known.
    pub fn running(&self) -> Vec<String> {
        [BOOTED_SYSTEM, CURRENT_SYSTEM]
            .iter()
            .filter_map(|l| self.run_link(l))
            .collect()
    }

    fn run_link(&self, link: &str) -> Option<String> {
        fs::read_link(under_root(self.root.as_deref(), link))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    /// Numbers of the generations whose toplevel the machine runs.
    fn running_generations(&self) -> Result<Vec<u32>, GenerationsError> {
        let running = self.running();
        Ok(self
            .profile
            .generations()?
            .into_iter()
            .filter(|g| running.contains(&g.toplevel))
            .map(|g| g.number)
            .collect())
    }

    /// Every generation with its entry and what the last boot did with it.
    pub fn list(&self) -> Result<Vec<GenerationStatus>, GenerationsError> {
        let cur = self.profile.current()?;
        let mut entries = self.boot.all()?;
        // Booted through systemd-boot, the loader counts the tries.
        if let Some(esp) = &self.esp {
            for name in loader::existing(esp)? {
                if let (Some((left, _)), Some(e)) = (name.tries, entries.get_mut(&name.generation))
                {
                    e.tries = left;
                }
            }
        }
        let last = self.boot.last_boot();
        let booted_link = self.run_link(BOOTED_SYSTEM);
        let current_link = self.run_link(CURRENT_SYSTEM);
        Ok(self
            .profile
            .generations()?
            .into_iter()
            .map(|g| {
                let booted = Some(g.number) == last.generation
                    || booted_link.as_deref() == Some(g.toplevel.as_str());
                let mut entry = entries.get(&g.number).cloned();
                // Out of tries with nothing recorded, and not the boot running its
                // last try: no boot got as far as b8g-init's boot check (stage 1
                // says the same when it skips one).
                if let Some(e) = entry.as_mut() {
                    if e.tries == 0 && e.reason.is_empty() && !e.good && !booted {
                        e.reason = NEVER_READY.to_string();
                    }
                }
                GenerationStatus {
                    default: Some(g.number) == cur,
                    booted,
                    running: current_link.as_deref() == Some(g.toplevel.as_str()),
                    entry,
                    skipped: last
                        .skipped
                        .contains(&g.number)
                        .then(|| last.skipped_reason.clone()),
                    generation: g,
                }
            })
            .collect())
    }

    /// Deletes the selected generations and their entries; never the default
    /// one, the booted one, or those in `keep`. Returns the numbers deleted.
    pub fn delete(&self, sel: &Selection, keep: &[u32]) -> Result<Vec<u32>, GenerationsError> {
        let mut keep = keep.to_vec();
        keep.extend(self.booted());
        keep.extend(self.running_generations()?);
        let deleted = self.profile.delete(sel, &keep)?;
        self.sync_boot()?;
        Ok(deleted)
    }

    /// Brings stage 1's entries, extlinux.conf and, when there is one, the
    /// EFI system partition in line with the profile.
    pub fn sync_boot(&self) -> Result<(), GenerationsError> {
        self.boot.sync(&self.profile, self.root.as_deref())?;
        // No default generation yet (the first one is being added): nothing to boot.
        if let (Some(esp), Some(_)) = (&self.esp, self.profile.current()?) {
            let plan = loader::plan(self, &loader::existing(esp)?)?;
            loader::sync_dir(esp, &plan)?;
        }
        Ok(())
    }
}
