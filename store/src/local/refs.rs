//! Reference scanning: which of a set of candidate store paths occur in a
//! byte stream.
//!
//! Like Nix, we look for the 32-character nix32 hash parts of the candidates
//! (not the full paths) in the NAR serialisation of the object, so a
//! reference in file contents, a symlink target or a file name all count.
//! The scanner is a `Write` sink: feed it the NAR in chunks of any size; a
//! hash split across two chunks is still found.

use std::collections::{BTreeSet, HashMap};
use std::io;

use crate::format::nix32;
use crate::format::store_path::{StorePath, HASH_CHARS};

/// Finds candidate hash parts in everything written to it.
pub struct RefScanner {
    candidates: HashMap<[u8; HASH_CHARS], StorePath>,
    found: BTreeSet<StorePath>,
    /// The last `HASH_CHARS - 1` bytes seen, which may begin a hash that the
    /// next chunk completes.
    tail: Vec<u8>,
}

/// Membership table of the nix32 alphabet; the scanner's inner loop tests every byte.
const IS_NIX32: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < nix32::ALPHABET.len() {
        t[nix32::ALPHABET[i] as usize] = true;
        i += 1;
    }
    t
};

fn is_nix32(b: u8) -> bool {
    IS_NIX32[b as usize]
}

impl RefScanner {
    pub fn new<'a>(candidates: impl IntoIterator<Item = &'a StorePath>) -> Self {
        let candidates = candidates
            .into_iter()
            .map(|p| {
                let mut key = [0u8; HASH_CHARS];
                key.copy_from_slice(p.hash_part().as_bytes());
                (key, p.clone())
            })
            .collect();
        RefScanner {
            candidates,
            found: BTreeSet::new(),
            tail: Vec::with_capacity(2 * HASH_CHARS),
        }
    }

    /// The candidates seen so far.
    pub fn found(&self) -> &BTreeSet<StorePath> {
        &self.found
    }

    pub fn into_found(self) -> BTreeSet<StorePath> {
        self.found
    }

    /// Scans windows starting at `0..limit` of `data` (each must fit in `data`).
    fn scan(&mut self, data: &[u8], limit: usize) {
        let mut i = 0;
        'outer: while i < limit && i + HASH_CHARS <= data.len() {
            // Check the window from its end: a non-nix32 byte at offset j means
            // no hash can start at or before i + j, so skip past it.
            for j in (0..HASH_CHARS).rev() {
                if !is_nix32(data[i + j]) {
                    i += j + 1;
                    continue 'outer;
                }
            }
            let key: &[u8; HASH_CHARS] = data[i..i + HASH_CHARS]
                .try_into()
                .expect("window has HASH_CHARS bytes");
            if let Some(p) = self.candidates.get(key) {
                if !self.found.contains(p) {
                    self.found.insert(p.clone());
                }
            }
            i += 1;
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.candidates.is_empty() || chunk.is_empty() {
            return;
        }
        // Windows that start in the tail and end in this chunk.
        if !self.tail.is_empty() {
            let mut joined = std::mem::take(&mut self.tail);
            let start_len = joined.len();
            joined.extend_from_slice(&chunk[..chunk.len().min(HASH_CHARS - 1)]);
            self.scan(&joined, start_len);
            joined.truncate(start_len);
            self.tail = joined;
        }
        self.scan(chunk, chunk.len());
        // Keep the last HASH_CHARS - 1 bytes of tail + chunk.
        let keep = HASH_CHARS - 1;
        if chunk.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(keep);
            self.tail.drain(..excess);
        }
    }
}

impl io::Write for RefScanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sp(hash_char: char, name: &str) -> StorePath {
        let s = format!("{}-{name}", hash_char.to_string().repeat(HASH_CHARS));
        StorePath::from_base_name(&s).expect("valid test path")
    }

    #[test]
    fn finds_hashes_across_every_split_point() {
        let a = sp('a', "a");
        let b = sp('1', "b");
        let c = sp('z', "c");
        let text = format!(
            "xx/b8g/store/{}-a/bin and {}-b!",
            a.hash_part(),
            b.hash_part()
        );
        for split in 0..text.len() {
            for split2 in split..text.len() {
                let mut s = RefScanner::new([&a, &b, &c]);
                s.write_all(&text.as_bytes()[..split]).expect("write");
                s.write_all(&text.as_bytes()[split..split2]).expect("write");
                s.write_all(&text.as_bytes()[split2..]).expect("write");
                let found: Vec<_> = s.into_found().into_iter().collect();
                assert_eq!(
                    found,
                    vec![b.clone(), a.clone()],
                    "split at {split}/{split2}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte_and_overlapping_runs() {
        let a = sp('a', "a");
        // A long run of nix32 chars containing the hash at an odd offset.
        let text = format!("qqq{}qq", a.hash_part());
        let mut s = RefScanner::new([&a]);
        for b in text.as_bytes() {
            s.write_all(&[*b]).expect("write");
        }
        assert!(s.found().contains(&a));
        let mut s = RefScanner::new([&a]);
        s.write_all(&text.as_bytes()[..text.len() - 3])
            .expect("write");
        assert!(s.found().is_empty(), "hash cut short must not match");
    }
}
