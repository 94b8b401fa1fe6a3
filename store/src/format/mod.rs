//! Pure Nix-compatible formats: hashes, nix32, store paths, NAR, derivations.
//!
//! Nothing here touches the filesystem or the network: every function works
//! on values, or on the `io::Read`/`io::Write` it is handed. The filesystem
//! side of NAR (dump a tree, restore a tree) lives in `crate::nar_fs`.
//!
//! # Public API
//! - [`hash`]: [`hash::HashAlgo`] (md5, sha1, sha256, sha512), [`hash::Hash`]
//!   (`to_base16`, `to_nix32`, `to_base64`, `to_sri`, `to_typed(Encoding)`;
//!   `parse_prefixed` for `algo:…`/SRI, `parse_any(s, Option<algo>)`,
//!   `parse_unprefixed(s, algo)` choosing the encoding by length as Nix does;
//!   `Display` is `algo:<nix32>`), [`hash::HashSink`] (an `io::Write` that
//!   hashes and counts bytes; `finish() -> (Hash, u64)`).
//! - [`nix32`]: `encode`, `decode`, `decode_exact::<N>`.
//! - [`store_path`]: [`store_path::StoreDir`] (default `/b8g/store`;
//!   `parse_path`, `parse_path_prefix`, `display`, `make_store_path`,
//!   `make_text_path`, `make_fixed_output_path`, `make_output_path`),
//!   [`store_path::StorePath`] (20-byte hash + validated name; `Display` is the
//!   base name), [`store_path::FileIngestionMethod`], `validate_name`.
//! - [`nar`]: [`nar::NarWriter`] (events: `file(name, executable, size,
//!   &mut dyn Read)`, `symlink`, `start_directory`/`end_directory`, `finish`;
//!   the root has `name = None`), [`nar::NarReader`] (pull parser: `next() ->
//!   Option<Event>`, `read_contents` / `io::Read` for file contents,
//!   `validate_all`, `offset`), [`nar::NarError`] (one variant per fault, each
//!   with its byte offset), `check_name`.
//! - Outside `format`: `crate::nar_fs::{dump_path, hash_path, restore}`.

pub mod derivation;
pub mod hash;
pub mod nar;
pub mod narinfo;
pub mod nix32;
pub mod signing;
pub mod snapshot_manifest;
pub mod store_path;
