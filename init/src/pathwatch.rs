//! Watching the file system for `.path` units with inotify.
//!
//! Level conditions (`PathExists=`, `PathExistsGlob=`, `DirectoryNotEmpty=`) are
//! checked by looking at the file system; inotify only wakes the loop when they
//! may have changed. Edge conditions (`PathChanged=`, `PathModified=`) are the
//! inotify events themselves. As in systemd, every existing ancestor of a watched
//! path is watched too, so a path whose directories appear later is still seen.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::unit::PathWatch;

/// Changes to the directory structure that can make a watched path appear or vanish.
const STRUCTURE: u32 = libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// The events that count as a change for `PathChanged=` (systemd's set);
/// `PathModified=` adds plain writes.
fn edge_mask(w: PathWatch) -> u32 {
    let changed = libc::IN_ATTRIB | libc::IN_CLOSE_WRITE | STRUCTURE;
    match w {
        PathWatch::Changed => changed,
        PathWatch::Modified => changed | libc::IN_MODIFY,
        _ => 0,
    }
}

/// What one watched directory or file is to one watch spec.
#[derive(Debug, Clone)]
enum Role {
    /// An ancestor: only its structure matters.
    Ancestor,
    /// The directory holding spec's path: events naming the path count.
    Parent { spec: usize, name: OsString },
    /// The path itself.
    Itself { spec: usize },
}

/// One inotify instance for one `.path` unit.
pub struct PathWatcher {
    fd: OwnedFd,
    /// Watch descriptor → watched path.
    wds: BTreeMap<i32, PathBuf>,
    /// Watched path → its roles.
    roles: BTreeMap<PathBuf, Vec<Role>>,
}

impl PathWatcher {
    pub fn new(specs: &[(PathWatch, PathBuf)]) -> io::Result<PathWatcher> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by inotify_init1 and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut w = PathWatcher {
            fd,
            wds: BTreeMap::new(),
            roles: BTreeMap::new(),
        };
        w.rewatch(specs)?;
        Ok(w)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Adds watches for every spec's existing ancestors, its parent and itself.
    /// Called again after each batch of events: directories may have appeared.
    fn rewatch(&mut self, specs: &[(PathWatch, PathBuf)]) -> io::Result<()> {
        let mut masks: BTreeMap<PathBuf, u32> = BTreeMap::new();
        let mut roles: BTreeMap<PathBuf, Vec<Role>> = BTreeMap::new();
        let mut add = |p: &Path, mask: u32, role: Role| {
            *masks.entry(p.to_path_buf()).or_default() |= mask;
            roles.entry(p.to_path_buf()).or_default().push(role);
        };
        for (spec, (kind, path)) in specs.iter().enumerate() {
            let mut dir = PathBuf::from("/");
            let comps: Vec<&OsStr> = path.components().skip(1).map(|c| c.as_os_str()).collect();
            for (i, c) in comps.iter().enumerate() {
                if !dir.is_dir() {
                    break;
                }
                let last = i + 1 == comps.len();
                if last {
                    add(
                        &dir,
                        STRUCTURE | libc::IN_ATTRIB | edge_mask(*kind),
                        Role::Parent {
                            spec,
                            name: c.to_os_string(),
                        },
                    );
                } else {
                    add(&dir, STRUCTURE, Role::Ancestor);
                }
                dir.push(c);
            }
            if path.exists() {
                let mask = match kind {
                    PathWatch::Changed | PathWatch::Modified => edge_mask(*kind),
                    // Entries appearing or leaving change the answer.
                    PathWatch::DirectoryNotEmpty => STRUCTURE,
                    PathWatch::Exists | PathWatch::ExistsGlob => libc::IN_DELETE_SELF,
                };
                add(path, mask, Role::Itself { spec });
            }
        }
        self.wds.clear();
        for (p, mask) in &masks {
            let c = CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
            // SAFETY: valid fd and NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), *mask) };
            if wd >= 0 {
                self.wds.insert(wd, p.clone());
            }
            // A path that vanished in between is seen by the next event on its parent.
        }
        self.roles = roles;
        Ok(())
    }

    /// Reads every pending event. Returns the edge-triggered spec that fired
    /// (`PathChanged=`/`PathModified=`), if any; then re-adds watches.
    pub fn read_events(&mut self, specs: &[(PathWatch, PathBuf)]) -> Option<usize> {
        let mut fired = None;
        let mut buf = [0u8; 8192];
        let header = std::mem::size_of::<libc::inotify_event>();
        loop {
            // SAFETY: reading into a buffer we own, of the length given.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if n <= 0 {
                break;
            }
            let n = n as usize;
            let mut off = 0;
            while off + header <= n {
                // SAFETY: the kernel wrote a whole inotify_event at `off`; read_unaligned
                // because the byte buffer has no alignment guarantee.
                let ev: libc::inotify_event = unsafe {
                    std::ptr::read_unaligned(buf.as_ptr().add(off) as *const libc::inotify_event)
                };
                let name_bytes = &buf[off + header..(off + header + ev.len as usize).min(n)];
                let name_end = name_bytes
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(name_bytes.len());
                let name = OsStr::from_bytes(&name_bytes[..name_end]);
                off += header + ev.len as usize;
                if fired.is_none() {
                    fired = self.edge_for(ev.wd, ev.mask, name, specs);
                }
            }
        }
        // Failing to re-add leaves the old watches; the next event tries again.
        let _ = self.rewatch(specs);
        fired
    }

    fn edge_for(
        &self,
        wd: i32,
        mask: u32,
        name: &OsStr,
        specs: &[(PathWatch, PathBuf)],
    ) -> Option<usize> {
        let path = self.wds.get(&wd)?;
        self.roles.get(path)?.iter().find_map(|r| {
            let (spec, relevant) = match r {
                Role::Ancestor => return None,
                Role::Parent { spec, name: n } => (*spec, n.as_os_str() == name),
                Role::Itself { spec } => (*spec, true),
            };
            let m = edge_mask(specs[spec].0);
            (relevant && mask & m != 0).then_some(spec)
        })
    }
}

/// The first level condition that holds now, for the log.
pub fn level_holds(specs: &[(PathWatch, PathBuf)]) -> Option<String> {
    specs.iter().find_map(|(kind, path)| {
        let holds = match kind {
            PathWatch::Exists => path.exists(),
            PathWatch::ExistsGlob => crate::condition::glob_matches(path),
            PathWatch::DirectoryNotEmpty => {
                std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some())
            }
            PathWatch::Changed | PathWatch::Modified => false,
        };
        holds.then(|| format!("{} {}", describe(*kind), path.display()))
    })
}

pub fn describe(kind: PathWatch) -> &'static str {
    match kind {
        PathWatch::Exists => "PathExists=",
        PathWatch::ExistsGlob => "PathExistsGlob=",
        PathWatch::Changed => "PathChanged=",
        PathWatch::Modified => "PathModified=",
        PathWatch::DirectoryNotEmpty => "DirectoryNotEmpty=",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_edge(w: &mut PathWatcher, specs: &[(PathWatch, PathBuf)]) -> Option<usize> {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let mut p = libc::pollfd {
                fd: w.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, 100) };
            if let Some(s) = w.read_events(specs) {
                return Some(s);
            }
        }
        None
    }

    #[test]
    fn levels_follow_the_file_system() {
        let d = tempfile::tempdir().unwrap();
        let specs = vec![
            (PathWatch::Exists, d.path().join("a/flag")),
            (PathWatch::ExistsGlob, d.path().join("g/*.job")),
            (PathWatch::DirectoryNotEmpty, d.path().join("q")),
        ];
        assert_eq!(level_holds(&specs), None);
        std::fs::create_dir_all(d.path().join("q")).unwrap();
        assert_eq!(level_holds(&specs), None);
        std::fs::create_dir_all(d.path().join("g")).unwrap();
        std::fs::write(d.path().join("g/x.job"), "").unwrap();
        assert!(level_holds(&specs).unwrap().starts_with("PathExistsGlob="));
        std::fs::remove_file(d.path().join("g/x.job")).unwrap();
        std::fs::write(d.path().join("q/item"), "").unwrap();
        assert!(level_holds(&specs)
            .unwrap()
            .starts_with("DirectoryNotEmpty="));
    }

    #[test]
    fn changed_fires_on_close_after_write_even_when_the_directory_comes_later() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("later/conf");
        let specs = vec![(PathWatch::Changed, file.clone())];
        let mut w = PathWatcher::new(&specs).unwrap();
        // The directory appears: an event on the ancestor, but no change of the file.
        std::fs::create_dir(d.path().join("later")).unwrap();
        std::fs::write(d.path().join("later/other"), "x").unwrap();
        let end = Instant::now() + Duration::from_millis(300);
        while Instant::now() < end {
            assert_eq!(w.read_events(&specs), None);
        }
        std::fs::write(&file, "x").unwrap();
        assert_eq!(wait_edge(&mut w, &specs), Some(0));
        // Now the file itself is watched too: rewriting it fires again.
        std::fs::write(&file, "y").unwrap();
        assert_eq!(wait_edge(&mut w, &specs), Some(0));
    }
}
