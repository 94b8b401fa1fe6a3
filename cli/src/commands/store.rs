//! `b8g store …`: the local store from the command line.
//!
//! Data goes to stdout (store paths, NARs, JSON); progress and diagnostics go
//! to stderr through `tracing`. Listings take `--json`.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_store::format::hash::{Encoding, HashAlgo, HashSink};
use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{GcOptions, LocalStore, PathInfo, RootKind, VerifyOptions};
use b8g_store::nar_fs;
use clap::Subcommand;
use serde_json::json;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StoreCommand,
}

/// The `store` command for embedding in another clap tree (cargo-style).
// Only the consistency test calls it today; the derive tree embeds `Args` directly.
#[allow(dead_code)]
pub fn cli() -> clap::Command {
    <Args as clap::Args>::augment_args(clap::Command::new("store"))
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Add files or trees to the store by content and print their store paths.
    Add {
        /// Hash the file's bytes and store them as a regular, non-executable
        /// file, as Nix's evaluation does (`nix-store --add-fixed sha256`
        /// gives the same path, but keeps an execute bit); needs a regular file.
        #[arg(long, conflicts_with = "recursive")]
        flat: bool,
        /// Hash the NAR serialisation (`nix-store --add`); the default.
        #[arg(long)]
        recursive: bool,
        /// Name of the store path (default: the file name of PATH).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Write the NAR serialisation of PATH (any file or tree) to stdout.
    Dump {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Unpack a NAR read from stdin to PATH, which must not exist.
    Restore {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Import a NAR from stdin as a content-addressed store path and print it.
    Import {
        /// Name of the store path.
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Print the hash of a file or tree (NAR hash by default).
    Hash {
        /// Print as base16.
        #[arg(long, group = "encoding")]
        base16: bool,
        /// Print as nix32 (Nix's base-32).
        #[arg(long, group = "encoding")]
        base32: bool,
        /// Print as SRI (`sha256-<base64>`); the default.
        #[arg(long, group = "encoding")]
        sri: bool,
        /// Hash the file's bytes instead of its NAR serialisation.
        #[arg(long)]
        flat: bool,
        /// Hash algorithm: md5, sha1, sha256 or sha512.
        #[arg(long = "type", default_value = "sha256", value_name = "ALGO")]
        algo: HashAlgo,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Show the registration of valid store paths.
    PathInfo {
        /// Print JSON (the fields of `nix path-info --json`).
        #[arg(long)]
        json: bool,
        /// Also list everything the paths refer to, transitively (references first).
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Print each path's NAR size (as `nix path-info -s`: the path, a tab, the size).
        #[arg(short = 's', long = "size")]
        size: bool,
        /// Print each path's closure size, the NAR sizes of its closure added up
        /// (`closureSize` in JSON).
        #[arg(short = 'S', long = "closure-size")]
        closure_size: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// List references, referrers or the closure of store paths.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["references", "referrers", "requisites"])))]
    Query {
        /// Direct references.
        #[arg(long)]
        references: bool,
        /// Valid paths that refer directly to the given ones.
        #[arg(long)]
        referrers: bool,
        /// The closure: the paths and everything they refer to, transitively.
        #[arg(long, short = 'R')]
        requisites: bool,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Delete every store path not reachable from a GC root.
    Gc {
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Stop after freeing this many bytes (suffixes K, M, G allowed).
        #[arg(long, value_name = "BYTES", value_parser = parse_size)]
        max_freed: Option<u64>,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
        /// Delete the pinned Debian seeds of the bootstrap lock too. By
        /// default they are kept as roots: Debian's archive drops old
        /// versions, and the store may hold the only copy.
        #[arg(long)]
        include_seeds: bool,
        /// The recipes directory whose bootstrap lock names the seeds
        /// (default: this workspace's recipes, when present).
        #[arg(long, env = "B8G_RECIPES", value_name = "DIR")]
        recipes: Option<PathBuf>,
    },
    /// Check that the store matches its database; exit 1 if it does not.
    Verify {
        /// Re-hash every valid path and compare with the database.
        #[arg(long)]
        check_contents: bool,
        /// Drop registrations of missing paths and remove unregistered leftovers.
        #[arg(long)]
        repair: bool,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Hard-link identical files in the store and report the bytes saved.
    Optimise {
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Sign valid store paths with a secret key (Nix's `nix store sign`); the
    /// signature is recorded in the store and travels with every later push.
    Sign {
        /// Secret key file (`name:base64`, as `b8g cache key generate` writes).
        #[arg(long, short = 'k', value_name = "FILE", required = true)]
        key: PathBuf,
        /// Sign the closure of the paths, not only them.
        #[arg(short, long)]
        recursive: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Speak Nix's `nix-store --serve` protocol (2.7) on standard input and
    /// output: what `ssh://` builders, `nix copy --to ssh://` and Hydra run on
    /// the remote side. Nix runs `REMOTE-PROGRAM --serve --write`.
    Serve {
        /// Serve on standard input and output (the only transport; ssh provides it).
        #[arg(long, required = true)]
        stdio: bool,
        /// Let the client add paths without signatures and build: trust it as
        /// Nix trusts a `trusted-user`.
        #[arg(long)]
        write: bool,
        /// Accepted and ignored: Nix appends `--serve --write` to its `remote-program`.
        #[arg(long, hide = true)]
        serve: bool,
        /// The store to serve, as Nix's `remote-store` parameter sends it: a
        /// chroot store's root directory or `local?root=DIR` (default: the
        /// global options' store).
        #[arg(long, value_name = "URI")]
        store: Option<String>,
        /// Build jobs at once for a client's `BuildPaths`.
        #[arg(short = 'j', long = "max-jobs", default_value_t = 1, value_name = "N")]
        jobs: usize,
        /// Cores each build may use (`NIX_BUILD_CORES`; 0: all).
        #[arg(long, default_value_t = 0, value_name = "N")]
        cores: u32,
    },
    /// List the GC roots.
    Roots {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Parses `123`, `4K`, `5M`, `6G` (powers of 1024).
pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number with an optional K, M or G"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

fn open_store(global: &GlobalArgs) -> Result<LocalStore> {
    global.open_store()
}

/// A valid path as Nix 2.8's `nix path-info --json` shows it: the optional
/// fields (`ca`, `deriver`, `registrationTime`, `signatures`) only when set.
fn info_json(store: &LocalStore, info: &PathInfo) -> serde_json::Value {
    let mut v = json!({
        "path": store.print_path(&info.path),
        "narHash": info.nar_hash.to_sri(),
        "narSize": info.nar_size,
        "references": info.references.iter().map(|r| store.print_path(r)).collect::<Vec<_>>(),
    });
    if let Some(ca) = &info.ca {
        v["ca"] = json!(ca);
    }
    if let Some(d) = &info.deriver {
        v["deriver"] = json!(store.print_path(d));
    }
    if info.registration_time != 0 {
        v["registrationTime"] = json!(info.registration_time);
    }
    if !info.signatures.is_empty() {
        v["signatures"] = json!(info.signatures);
    }
    v
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn print_lines<I: IntoIterator<Item = String>>(lines: I) -> Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(())
}

/// The seeds of the bootstrap lock in `recipes` (given, or this workspace's
/// when it is there): the roots `b8g store gc` adds unless `--include-seeds`.
fn seed_roots(store: &LocalStore, recipes: Option<PathBuf>) -> Result<Vec<StorePath>> {
    use b8g_builder::builtin::pin_sources::{lock_seed_paths, LOCK_FILE};
    let dir = match recipes {
        Some(r) => r.join("bootstrap"),
        None => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/bootstrap");
            // An installed b8g without the recipes has no lock to keep.
            if !dir.join(LOCK_FILE).is_file() {
                return Ok(Vec::new());
            }
            dir
        }
    };
    lock_seed_paths(&dir, store.store_dir())
        .with_context(|| format!("cannot read the bootstrap lock in {}", dir.display()))
}

fn default_name(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name; pass --name", path.display()))?;
    name.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8; pass --name", path.display()))
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    match args.command {
        StoreCommand::Add {
            flat,
            recursive: _,
            name,
            paths,
        } => {
            if name.is_some() && paths.len() > 1 {
                bail!("--name can only be used with a single PATH");
            }
            let store = open_store(global)?;
            for src in &paths {
                let n = match &name {
                    Some(n) => n.clone(),
                    None => default_name(src)?,
                };
                let p = if flat {
                    store.add_flat(src, &n)
                } else {
                    store.add_recursive(src, &n)
                }
                .with_context(|| format!("cannot add {}", src.display()))?;
                print_lines([store.print_path(&p)])?;
            }
        }
        StoreCommand::Dump { path } => {
            let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            let mut out = nar_fs::dump_path(&path, out)
                .with_context(|| format!("cannot dump {}", path.display()))?;
            out.flush()?;
        }
        StoreCommand::Restore { path } => {
            let input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
            nar_fs::restore(input, &path)
                .with_context(|| format!("cannot restore to {}", path.display()))?;
        }
        StoreCommand::Import { name } => {
            let store = open_store(global)?;
            let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
            let p = store
                .add_nar(&mut input, &name)
                .context("cannot import the NAR")?;
            print_lines([store.print_path(&p)])?;
        }
        StoreCommand::Hash {
            base16,
            base32,
            sri: _,
            flat,
            algo,
            paths,
        } => {
            let encoding = if base16 {
                Some(Encoding::Base16)
            } else if base32 {
                Some(Encoding::Nix32)
            } else {
                None
            };
            let mut lines = Vec::new();
            for path in &paths {
                let hash = if flat {
                    let mut file = std::fs::File::open(path)
                        .with_context(|| format!("cannot open {}", path.display()))?;
                    let mut sink = HashSink::new(algo);
                    io::copy(&mut file, &mut sink)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    sink.finish().0
                } else {
                    nar_fs::hash_path(path, algo)
                        .with_context(|| format!("cannot hash {}", path.display()))?
                        .0
                };
                lines.push(match encoding {
                    Some(e) => hash.encode(e),
                    None => hash.to_sri(),
                });
            }
            print_lines(lines)?;
        }
        StoreCommand::PathInfo {
            json,
            recursive,
            size,
            closure_size,
            paths,
        } => {
            let store = open_store(global)?;
            let mut wanted = Vec::new();
            for arg in &paths {
                let p = store.resolve_arg(arg)?;
                if store.path_info(&p)?.is_none() {
                    bail!("path '{}' is not valid", store.print_path(&p));
                }
                wanted.push(p);
            }
            let mut infos = store.path_infos(&wanted, recursive)?;
            let closure_sizes = |infos: &[PathInfo]| -> Result<Vec<u64>> {
                if !closure_size {
                    return Ok(Vec::new());
                }
                Ok(infos
                    .iter()
                    .map(|i| store.closure_size(&i.path))
                    .collect::<Result<_, _>>()?)
            };
            if json {
                // Nix prints JSON in store-path order.
                infos.sort_by(|a, b| a.path.cmp(&b.path));
                let sizes = closure_sizes(&infos)?;
                print_json(&serde_json::Value::Array(
                    infos
                        .iter()
                        .enumerate()
                        .map(|(n, i)| {
                            let mut v = info_json(&store, i);
                            if let Some(c) = sizes.get(n) {
                                v["closureSize"] = json!(c);
                            }
                            v
                        })
                        .collect(),
                ))?;
            } else if size || closure_size {
                // `nix path-info -s/-S`: paths padded to one width, then `\t%11d` per size.
                let sizes = closure_sizes(&infos)?;
                let width = infos
                    .iter()
                    .map(|i| store.print_path(&i.path).len())
                    .max()
                    .unwrap_or(0);
                print_lines(infos.iter().enumerate().map(|(n, i)| {
                    let mut line = format!("{:width$}", store.print_path(&i.path));
                    if size {
                        line.push_str(&format!("\t{:>11}", i.nar_size));
                    }
                    if let Some(c) = sizes.get(n) {
                        line.push_str(&format!("\t{c:>11}"));
                    }
                    line
                }))?;
            } else {
                print_lines(infos.iter().map(|i| {
                    format!(
                        "{}\t{}\t{}",
                        store.print_path(&i.path),
                        i.nar_hash.to_sri(),
                        i.nar_size
                    )
                }))?;
            }
        }
        StoreCommand::Query {
            references,
            referrers,
            requisites,
            json,
            paths,
        } => {
            let store = open_store(global)?;
            let ps = paths
                .iter()
                .map(|a| store.resolve_valid_arg(a))
                .collect::<Result<Vec<_>, _>>()?;
            let mut result = std::collections::BTreeSet::new();
            if requisites {
                result = store.closure(ps.iter())?;
            } else {
                for p in &ps {
                    result.extend(if references {
                        store.references(p)?
                    } else {
                        store.referrers(p)?
                    });
                }
            }
            debug_assert!(references || referrers || requisites);
            let lines: Vec<String> = result.iter().map(|p| store.print_path(p)).collect();
            if json {
                print_json(&json!(lines))?;
            } else {
                print_lines(lines)?;
            }
        }
        StoreCommand::Gc {
            dry_run,
            max_freed,
            json,
            include_seeds,
            recipes,
        } => {
            let store = open_store(global)?;
            let seeds = if include_seeds {
                Vec::new()
            } else {
                seed_roots(&store, recipes)?
            };
            // The systems this machine runs (/run/booted-system, /run/current-system),
            // as NixOS keeps them: their generation may have been deleted.
            let running: Vec<StorePath> =
                b8g_system::generations::Generations::new(global.root.as_deref(), None)
                    .running()
                    .iter()
                    .filter_map(|t| store.parse_path(t).ok())
                    .collect();
            let kept = seeds
                .iter()
                .filter(|p| store.is_valid(p).unwrap_or(false))
                .count();
            let report = store.gc(&GcOptions {
                dry_run,
                max_freed,
                extra_roots: seeds.iter().chain(&running).cloned().collect(),
            })?;
            if kept > 0 && global.quiet == 0 {
                eprintln!(
                    "keeping {kept} pinned seeds of the bootstrap lock (--include-seeds deletes them too)"
                );
            }
            if json {
                print_json(&json!({
                    "dryRun": dry_run,
                    "keptSeeds": kept,
                    "deleted": report.deleted,
                    "removedStrays": report.removed_strays,
                    "bytesFreed": report.bytes_freed,
                }))?;
            } else {
                print_lines(report.deleted.iter().cloned())?;
            }
            if dry_run {
                eprintln!(
                    "{} store paths would be deleted ({} bytes of NAR)",
                    report.deleted.len(),
                    report.bytes_freed
                );
            } else {
                eprintln!(
                    "{} store paths deleted, {} leftovers removed, {} bytes freed",
                    report.deleted.len(),
                    report.removed_strays.len(),
                    report.bytes_freed
                );
            }
        }
        StoreCommand::Serve {
            stdio: _,
            write,
            serve: _,
            store,
            jobs,
            cores,
        } => {
            let mut global = global.clone();
            if let Some(uri) = store {
                let root = match uri.strip_prefix("local?root=") {
                    Some(r) => r,
                    None if uri.starts_with('/') => uri.as_str(),
                    None => bail!("--store {uri:?}: expected a directory or local?root=DIR"),
                };
                global.root = Some(PathBuf::from(root));
            }
            let global = &global;
            let store = open_store(global)?;
            // The configured caches: a client's `builders-use-substitutes`
            // fetches inputs from them.
            let substituters = super::system::configured_substituters(global)?;
            let opts = b8g_builder::realise::RealiseOptions {
                substituters,
                schedule: b8g_builder::schedule::ScheduleOptions {
                    jobs: jobs.max(1),
                    keep_going: false,
                },
                sandbox: b8g_builder::sandbox::SandboxConfig {
                    cores,
                    ..Default::default()
                },
                ..Default::default()
            };
            b8g_builder::serve::serve_stdio(
                &store,
                b8g_store::serve::server::ServeOptions { write },
                opts,
                &b8g_kernel_adapters::builtins(),
            )
            .context("serving the nix-store --serve protocol")?;
        }
        StoreCommand::Verify {
            check_contents,
            repair,
            json,
        } => {
            let store = open_store(global)?;
            let report = store.verify(&VerifyOptions {
                check_contents,
                repair,
            })?;
            if json {
                print_json(&json!({
                    "checked": report.checked,
                    "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    "repaired": report.repaired,
                    "unresolved": report.unresolved.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                }))?;
            } else {
                for p in &report.problems {
                    eprintln!("error: {p}");
                }
                for r in &report.repaired {
                    eprintln!("repaired: {r}");
                }
                eprintln!(
                    "checked {} valid paths{}: {} problems, {} repaired, {} unresolved",
                    report.checked,
                    if check_contents {
                        " (with contents)"
                    } else {
                        ""
                    },
                    report.problems.len(),
                    report.repaired.len(),
                    report.unresolved.len()
                );
            }
            if !report.is_ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        StoreCommand::Optimise { json } => {
            let store = open_store(global)?;
            let report = store.optimise()?;
            if json {
                print_json(
                    &json!({ "filesLinked": report.files_linked, "bytesSaved": report.bytes_saved }),
                )?;
            } else {
                print_lines([format!(
                    "{} bytes saved ({} files hard-linked)",
                    report.bytes_saved, report.files_linked
                )])?;
            }
        }
        StoreCommand::Sign {
            key,
            recursive,
            paths,
        } => {
            let store = open_store(global)?;
            let text = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read secret key {}", key.display()))?;
            let key = SecretKey::parse(&text)
                .with_context(|| format!("invalid secret key in {}", key.display()))?;
            let mut paths: Vec<StorePath> = paths
                .iter()
                .map(|p| store.resolve_valid_arg(p))
                .collect::<Result<_, _>>()?;
            if recursive {
                paths = store.closure(&paths)?.into_iter().collect();
            }
            let n = b8g_store::cache::sign_paths(&store, &key, &paths)?;
            eprintln!(
                "added {n} signatures by {} ({} paths already signed)",
                key.name(),
                paths.len() - n
            );
        }
        StoreCommand::Roots { json } => {
            let store = open_store(global)?;
            let roots = store.roots()?;
            if json {
                let v: Vec<_> = roots
                    .iter()
                    .map(|r| {
                        let (kind, via) = match &r.kind {
                            RootKind::Direct => ("direct", None),
                            RootKind::Indirect { via } => ("indirect", Some(via.display().to_string())),
                            RootKind::Temporary => ("temporary", None),
                            RootKind::Runtime => ("runtime", None),
                        };
                        json!({ "link": r.link.display().to_string(), "kind": kind, "via": via, "target": r.target })
                    })
                    .collect();
                print_json(&serde_json::Value::Array(v))?;
            } else {
                print_lines(roots.iter().map(|r| match &r.kind {
                    RootKind::Indirect { via } => {
                        format!("{} -> {} -> {}", r.link.display(), via.display(), r.target)
                    }
                    RootKind::Temporary => format!("{{temp:{}}} -> {}", r.link.display(), r.target),
                    RootKind::Runtime => {
                        format!("{{runtime:{}}} -> {}", r.link.display(), r.target)
                    }
                    RootKind::Direct => format!("{} -> {}", r.link.display(), r.target),
                }))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("10K"), Ok(10240));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert!(parse_size("x").is_err());
        assert!(parse_size("K").is_err());
    }

    #[test]
    fn store_command_is_consistent() {
        super::cli().debug_assert();
    }
}
