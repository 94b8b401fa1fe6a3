//! Booting a built system: the qemu VM for a generation and its root image.
//!
//! A generation (`<toplevel>`) carries `kernel`, `initrd` and `kernel-params`
//! (with `@toplevel@` standing for its own path); the root image holds its
//! closure. This module turns those into a [`Vm`].

use super::qemu::Vm;
use b8g_layout::generation::toplevel;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Why a system could not be turned into a VM.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("cannot read {path} (is this a b8g system toplevel?)")]
    Read { path: PathBuf, source: io::Error },
    #[error("too many levels of symbolic links resolving {0}")]
    Loop(String),
}

/// Follows a logical store path through symlinks that point at other store
/// paths, mapping each logical path to where it really is with `resolve`.
pub fn follow<E: From<SystemError>>(
    resolve: &dyn Fn(&str) -> Result<PathBuf, E>,
    logical: &str,
) -> Result<PathBuf, E> {
    let mut current = logical.to_string();
    for _ in 0..40 {
        let physical = resolve(&current)?;
        match fs::read_link(&physical) {
            Ok(target) => {
                let t = target.to_string_lossy();
                current = if t.starts_with('/') {
                    t.to_string()
                } else {
                    let parent = Path::new(&current).parent().unwrap_or(Path::new("/"));
                    parent.join(&*t).to_string_lossy().to_string()
                };
            }
            // Not a symlink: this is the file itself.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(physical),
            Err(source) => {
                return Err(SystemError::Read {
                    path: physical,
                    source,
                }
                .into())
            }
        }
    }
    Err(SystemError::Loop(logical.to_string()).into())
}

/// The kernel command line of a generation, with `@toplevel@` filled in.
pub fn kernel_params(
    resolve: &dyn Fn(&str) -> Result<PathBuf, SystemError>,
    toplevel_path: &str,
) -> Result<Vec<String>, SystemError> {
    let path = follow(
        resolve,
        &format!("{toplevel_path}/{}", toplevel::KERNEL_PARAMS),
    )?;
    let text = fs::read_to_string(&path).map_err(|source| SystemError::Read { path, source })?;
    Ok(text
        .split_whitespace()
        .map(|w| toplevel::fill_in(w, toplevel_path))
        .collect())
}

/// A VM booting `toplevel_path` from `image` (the first virtio disk,
/// `/dev/vda`, attached read-only unless `writable`).
pub fn vm(
    resolve: &dyn Fn(&str) -> Result<PathBuf, SystemError>,
    toplevel_path: &str,
    image: &Path,
    writable: bool,
) -> Result<Vm, SystemError> {
    let part = |name| format!("{toplevel_path}/{name}");
    let mut vm = Vm::new(follow(resolve, &part(toplevel::KERNEL))?);
    vm.initrd = Some(follow(resolve, &part(toplevel::INITRD))?);
    vm.cmdline = kernel_params(resolve, toplevel_path)?;
    vm.memory_mb = 512;
    vm.extra.extend([
        "-drive".to_string(),
        format!(
            "file={},if=virtio,format=raw,readonly={}",
            // qemu reads `,,` as a comma inside a value; a lone one would end
            // the file name and start an option of the path's choosing.
            image.display().to_string().replace(',', ",,"),
            if writable { "off" } else { "on" }
        ),
    ]);
    Ok(vm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_comma_in_the_image_path_stays_in_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let resolve = move |p: &str| Ok::<_, SystemError>(base.join(p.trim_start_matches('/')));
        let top = dir.path().join("top");
        fs::create_dir_all(&top).unwrap();
        for f in ["kernel", "initrd", "kernel-params"] {
            fs::write(top.join(f), "").unwrap();
        }
        let vm = vm(
            &resolve,
            "/top",
            Path::new("/srv/vm,file.locking=off/r.img"),
            false,
        )
        .unwrap();
        let drive = vm.extra.last().unwrap();
        assert_eq!(
            drive,
            "file=/srv/vm,,file.locking=off/r.img,if=virtio,format=raw,readonly=on"
        );
    }

    #[test]
    fn follows_store_links_and_fills_in_the_toplevel() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let resolve = move |p: &str| Ok::<_, SystemError>(base.join(p.trim_start_matches('/')));
        let store = dir.path().join("b8g/store");
        fs::create_dir_all(store.join("k")).unwrap();
        fs::create_dir_all(store.join("top")).unwrap();
        fs::write(store.join("k/bzImage"), "kernel").unwrap();
        symlink("/b8g/store/k/bzImage", store.join("top/kernel")).unwrap();
        fs::write(
            store.join("top/kernel-params"),
            "b8g.system=@toplevel@ quiet\n",
        )
        .unwrap();
        let k = follow(&resolve, "/b8g/store/top/kernel").unwrap();
        assert_eq!(fs::read_to_string(k).unwrap(), "kernel");
        assert_eq!(
            kernel_params(&resolve, "/b8g/store/top").unwrap(),
            ["b8g.system=/b8g/store/top", "quiet"]
        );
        assert!(matches!(
            follow(&resolve, "/b8g/store/missing"),
            Err(SystemError::Read { .. })
        ));
    }
}
