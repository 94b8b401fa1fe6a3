//! The Nix ARchive format (NAR): a canonical serialisation of a file tree.
//!
//! A NAR is a sequence of strings, each an 8-byte little-endian length, the
//! bytes, and zero padding to a multiple of 8:
//!
//! ```text
//! nar   = "nix-archive-1" node
//! node  = "(" "type" ( "regular" ["executable" ""] "contents" <bytes>
//!                    | "symlink" "target" <target>
//!                    | "directory" { "entry" "(" "name" <name> "node" node ")" } ) ")"
//! ```
//!
//! Directory entries are strictly ascending by raw bytes, so every tree has
//! exactly one NAR. [`NarWriter`] produces it from events; [`NarReader`] parses
//! it as a stream of [`Event`]s and rejects everything that is not canonical,
//! reporting the byte offset. Neither buffers a whole file: contents flow
//! through in chunks. Reading and writing a tree on disk is `crate::nar_fs`.

mod reader;
mod writer;

pub use reader::{Event, NarError, NarReader, Node};
pub use writer::{NarWriteError, NarWriter};

/// The first string of every NAR.
pub const MAGIC: &[u8] = b"nix-archive-1";
/// Longest entry name accepted (Linux's NAME_MAX: longer names cannot exist on disk).
pub const MAX_NAME_LEN: usize = 255;
/// Longest symlink target accepted (Linux's PATH_MAX minus the NUL).
pub const MAX_TARGET_LEN: usize = 4095;

/// What is wrong with a directory entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    Dot,
    DotDot,
    Slash,
    Nul,
    TooLong,
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "the name is empty",
            NameProblem::Dot => "the name is \".\"",
            NameProblem::DotDot => "the name is \"..\"",
            NameProblem::Slash => "the name contains '/'",
            NameProblem::Nul => "the name contains a NUL byte",
            NameProblem::TooLong => "the name is longer than 255 bytes",
        })
    }
}

/// Checks a directory entry name: not empty, not `.` or `..`, no `/` or NUL,
/// at most [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &[u8]) -> Result<(), NameProblem> {
    match name {
        b"" => Err(NameProblem::Empty),
        b"." => Err(NameProblem::Dot),
        b".." => Err(NameProblem::DotDot),
        _ if name.len() > MAX_NAME_LEN => Err(NameProblem::TooLong),
        _ if name.contains(&b'/') => Err(NameProblem::Slash),
        _ if name.contains(&0) => Err(NameProblem::Nul),
        _ => Ok(()),
    }
}

/// Number of zero bytes that pad a string of `len` bytes to a multiple of 8.
pub(crate) const fn padding(len: u64) -> usize {
    ((8 - len % 8) % 8) as usize
}

/// A byte string shown for error messages (lossy UTF-8, quoted and escaped by `{:?}`).
pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests;
