//! Files as the evaluator sees them when the store lives under another root (a chroot store,
//! `--root DIR`): a path in the logical store directory is read from where the store keeps
//! it, as Nix does for `local?root=…` (`import "${builtins.toFile "m" "{ }"}"`).

use std::io;
use std::path::{Path, PathBuf};

use b8g_eval::{EvalIo, FileType, StdIo};

pub(crate) struct StoreIo {
    /// The logical store directory, without a trailing slash.
    store_dir: String,
    real_store: PathBuf,
}

impl StoreIo {
    pub(crate) fn new(store_dir: &str, real_store: &Path) -> StoreIo {
        StoreIo {
            store_dir: store_dir.trim_end_matches('/').to_string(),
            real_store: real_store.to_owned(),
        }
    }

    /// The physical path for `path`: inside the store, under the store's real directory.
    fn physical(&self, path: &str) -> PathBuf {
        match path.strip_prefix(&self.store_dir) {
            Some("") => self.real_store.clone(),
            Some(rest) if rest.starts_with('/') => self.real_store.join(&rest[1..]),
            _ => PathBuf::from(path),
        }
    }

    fn physical_str(&self, path: &str) -> io::Result<String> {
        self.physical(path)
            .into_os_string()
            .into_string()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))
    }
}

impl EvalIo for StoreIo {
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        StdIo.read_file(&self.physical_str(path)?)
    }
    fn read_dir(&self, path: &str) -> io::Result<Vec<(String, FileType)>> {
        StdIo.read_dir(&self.physical_str(path)?)
    }
    fn file_type(&self, path: &str) -> io::Result<FileType> {
        StdIo.file_type(&self.physical_str(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths_are_read_under_the_real_store_and_others_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("root/nix/store");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("abc-m.nix"), "{ }").unwrap();
        let outside = dir.path().join("plain.nix");
        std::fs::write(&outside, "1").unwrap();
        let io = StoreIo::new("/nix/store", &real);
        assert_eq!(io.read_file("/nix/store/abc-m.nix").unwrap(), b"{ }");
        assert_eq!(io.read_file(outside.to_str().unwrap()).unwrap(), b"1");
        assert!(io.read_file("/nix/storefoo/abc-m.nix").is_err());
        assert_eq!(io.file_type("/nix/store").unwrap(), FileType::Directory);
    }
}
