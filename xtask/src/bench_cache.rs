//! `cargo xtask bench cache`: pushing and pulling a closure of real binaries
//! through binary caches, b8g against `nix copy` (Nix 2.8, zstd) in the same
//! run, with `cp -a` + `sync` of the same files as the physical reference.
//!
//! Data: regular files and symlinks copied from `/usr/lib` (sorted, so the
//! same machine gives the same set) until `--mib` MiB (default 1024), split
//! into store paths of varied sizes (64 MiB down to 256 KiB, like a real
//! closure of a few big libraries and many small packages). The same trees
//! are added to a throw-away b8g store and a throw-away Nix store (never the
//! host's /nix); both give the same store paths.
//!
//! Timed, each ending with `sync` so written bytes are on disk:
//! - `cp -a` of the source trees;
//! - push to `file://` (Nix: `nix copy --to file://…?compression=zstd&secret-key=…`;
//!   b8g: `b8g cache push file://… --key …`);
//! - pull from `file://` into an empty store, signatures checked by both;
//! - push over HTTP on loopback to `b8g cache serve --push-token-file` of an
//!   empty store (Nix authenticates with a netrc file); the server checks
//!   and imports every path;
//! - pull over HTTP from `b8g cache serve` of the source store (NARs
//!   serialised and zstd-compressed on the fly, narinfos signed on the way
//!   out) into an empty store.
//!
//! `--zstd-level N` sets the zstd level of b8g's pushes and of the server the
//! HTTP pulls read from (default 1; Nix compresses at 3); the cache sizes printed show
//! what a lower level costs.
//!
//! Ratios are "nix copy time / b8g time" (above 1: b8g is faster). Pulled
//! stores are checked afterwards with `b8g store verify --check-contents`
//! (not timed). The page cache is not dropped: every tool reads warm files.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

mod query;

const STORE_DIR: &str = "/nix/store";
const PUSH_TOKEN: &str = "bench-push-token";

struct Options {
    bytes: u64,
    dir: Option<PathBuf>,
    keep: bool,
    jobs: Option<String>,
    zstd_level: Option<String>,
    b8g: Option<PathBuf>,
    source: PathBuf,
    /// Run the `file://` legs, the HTTP legs, the existence queries, the
    /// pull from a slow and a fast cache (`query`).
    file: bool,
    http: bool,
    exists: bool,
    slow: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        bytes: 1 << 30,
        dir: None,
        keep: false,
        jobs: None,
        zstd_level: None,
        b8g: None,
        source: PathBuf::from("/usr/lib"),
        file: true,
        http: true,
        exists: true,
        slow: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--mib" => o.bytes = value(a)?.parse::<u64>().context("--mib")? << 20,
            "--dir" => o.dir = Some(PathBuf::from(value(a)?)),
            "--keep" => o.keep = true,
            "--jobs" | "-j" => o.jobs = Some(value(a)?.clone()),
            "--b8g" => o.b8g = Some(PathBuf::from(value(a)?)),
            "--zstd-level" => o.zstd_level = Some(value(a)?.clone()),
            "--source" => o.source = PathBuf::from(value(a)?),
            "--legs" => {
                let legs = value(a)?.clone();
                o.file = false;
                o.http = false;
                o.exists = false;
                o.slow = false;
                for leg in legs.split(',') {
                    match leg {
                        "file" => o.file = true,
                        "http" => o.http = true,
                        "exists" => o.exists = true,
                        "slow" => o.slow = true,
                        other => bail!("--legs: unknown leg {other:?} (file, http, exists, slow)"),
                    }
                }
            }
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask bench cache [--mib N] [--source DIR] [--jobs N] [--zstd-level N] [--legs file,http,exists,slow] [--b8g BIN] [--dir DIR] [--keep]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?} (try --help)"),
        }
    }
    ensure!(o.bytes > 0, "--mib must be positive");
    Ok(o)
}

fn need_tool(name: &str) -> Result<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    ensure!(
        found,
        "the cache benchmark needs `{name}` (Debian packages nix-bin, python3, coreutils)"
    );
    Ok(())
}

/// Runs `cmd`, failing with its output if it fails; returns stdout.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed with {}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CPU seconds (user + system) of this process's waited-for children so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// Wall and CPU seconds of one leg.
#[derive(Clone, Copy)]
struct Took {
    wall: f64,
    cpu: f64,
}

/// Runs `cmd` then `sync`; returns the wall time of both and the CPU time
/// of `cmd`, plus what `server` (the HTTP cache of the leg) spent meanwhile.
fn timed(what: &str, cmd: &mut Command, server: Option<&Server>) -> Result<Took> {
    let (cpu0, srv0) = (children_cpu(), server.map_or(0.0, Server::cpu));
    let t = Instant::now();
    output(cmd).with_context(|| what.to_owned())?;
    output(&mut Command::new("sync"))?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu0 + server.map_or(0.0, Server::cpu) - srv0;
    eprintln!("  {what}: {wall:.2} s, CPU {cpu:.2} s");
    Ok(Took { wall, cpu })
}

/// The files to copy under `source`, sorted, with their sizes.
fn collect(source: &Path, limit: u64) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![source.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names.into_iter().rev() {
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() || meta.file_type().is_symlink() {
                files.push((p, if meta.is_file() { meta.len() } else { 0 }));
            }
        }
    }
    files.sort();
    for (p, len) in files {
        // Unreadable files (sockets, permissions) would break both tools alike; skip them.
        if len > 0 && fs::File::open(&p).is_err() {
            continue;
        }
        total += len;
        out.push((p, len));
        if total >= limit {
            break;
        }
    }
    ensure!(
        total >= limit / 2,
        "{} holds only {} MiB of files; pass a smaller --mib or another --source",
        source.display(),
        total >> 20
    );
    Ok(out)
}

/// Copies the files into store-path-sized groups `src/p-NNN/…`; returns the group directories.
fn lay_out(files: &[(PathBuf, u64)], source: &Path, src: &Path) -> Result<Vec<PathBuf>> {
    // A closure has a few big paths and many small ones.
    const TARGETS: [u64; 6] = [64 << 20, 16 << 20, 4 << 20, 1 << 20, 256 << 10, 8 << 20];
    let mut groups = Vec::new();
    let mut current: Option<(PathBuf, u64, u64)> = None;
    for (f, len) in files {
        if current
            .as_ref()
            .is_none_or(|(_, size, target)| size >= target)
        {
            let dir = src.join(format!("p-{:03}", groups.len()));
            fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
            let target = TARGETS[groups.len() % TARGETS.len()];
            groups.push(dir.clone());
            current = Some((dir, 0, target));
        }
        let Some((dir, size, _)) = current.as_mut() else {
            unreachable!("set just above");
        };
        let rel = f.strip_prefix(source).unwrap_or(f);
        let to = dir.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("mkdir {}", parent.display()))?;
        }
        let meta = fs::symlink_metadata(f)?;
        if meta.file_type().is_symlink() {
            symlink(fs::read_link(f)?, &to).with_context(|| format!("symlink {}", to.display()))?;
        } else {
            fs::copy(f, &to).with_context(|| format!("copy {}", f.display()))?;
        }
        *size += len;
    }
    Ok(groups)
}

/// A b8g command against a chroot store under `root`.
fn b8g(bin: &Path, root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--store-dir",
        STORE_DIR,
        "--state-dir",
        "/nix/var/b8g",
        "--root",
    ])
    .arg(root)
    .args(args)
    .env_remove("B8G_STORE_DIR")
    .env_remove("B8G_STATE_DIR")
    .env_remove("B8G_STORE_ROOT");
    c
}

/// `nix` with flakes off, the experimental command on and no network substituters.
fn nix(args: &[&str]) -> Command {
    let mut c = Command::new("nix");
    c.args([
        "--extra-experimental-features",
        "nix-command",
        "--option",
        "substituters",
        "",
    ])
    .args(args);
    c
}

/// A `b8g cache serve` process; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(mut cmd: Command) -> Result<Server> {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start b8g cache serve")?;
        let stderr = child.stderr.take().context("piped stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .context("b8g cache serve exited before listening")??;
            if let Some(i) = line.find("http://") {
                break line[i..].trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, url })
    }
}

impl Server {
    /// CPU seconds (user + system) the server has used so far.
    fn cpu(&self) -> f64 {
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.child.id())) else {
            return 0.0;
        };
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        (ticks(11) + ticks(12)) as f64 / hz
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b8g_binary(o: &Options) -> Result<PathBuf> {
    if let Some(b) = &o.b8g {
        return Ok(b.clone());
    }
    crate::run(crate::cargo().args(["build", "--release", "-p", "b8g-cli", "--bin", "b8g"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    Ok(target.join("release/b8g"))
}

fn du(path: &Path) -> Result<u64> {
    let out = output(Command::new("du").args(["-sb"]).arg(path))?;
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("du output")
}

/// Entry point, wired to `cargo xtask bench cache`.
pub fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    for t in ["nix", "nix-store", "cp", "sync", "du"] {
        need_tool(t)?;
    }
    let bin = b8g_binary(&o)?;
    let work = match &o.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(format!("/tmp/b8g-bench-cache-{}", std::process::id())),
    };
    ensure!(
        !work.exists(),
        "{} exists; remove it or pass another --dir",
        work.display()
    );
    fs::create_dir_all(&work)?;
    let result = (|| {
        if o.file || o.http {
            bench(&o, &bin, &work)?;
        }
        if o.exists || o.slow {
            query::bench(&o, &bin, &work.join("query"))?;
        }
        Ok(())
    })();
    if !o.keep {
        // Nix makes its store read-only; make it writable so it can be removed.
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(&work)
            .status();
        let _ = fs::remove_dir_all(&work);
    }
    result
}

fn bench(o: &Options, bin: &Path, w: &Path) -> Result<()> {
    eprintln!(
        "bench cache: collecting {} MiB from {}",
        o.bytes >> 20,
        o.source.display()
    );
    let files = collect(&o.source, o.bytes)?;
    let src = w.join("src");
    let groups = lay_out(&files, &o.source, &src)?;
    let data = du(&src)?;
    eprintln!(
        "  {} files, {} MiB in {} store paths",
        files.len(),
        data >> 20,
        groups.len()
    );
    let group_args: Vec<&str> = groups
        .iter()
        .map(|g| g.to_str().context("UTF-8 path"))
        .collect::<Result<_>>()?;

    // Keys in Nix's format, made by Nix, used by both tools.
    let (sk, pk) = (w.join("key.secret"), w.join("key.public"));
    output(
        Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg("bench-1")
            .arg(&sk)
            .arg(&pk),
    )?;
    let pk_text = fs::read_to_string(&pk)?.trim().to_owned();
    let sk_s = sk.to_str().context("UTF-8 path")?;

    // The same trees in both source stores.
    let b8g_src = w.join("b8g-src");
    let mut add = b8g(bin, &b8g_src, &["store", "add"]);
    add.args(&group_args);
    let ours: Vec<String> = output(&mut add)?.lines().map(str::to_owned).collect();
    let nix_src = format!("local?root={}", w.join("nix-src").display());
    let mut add = Command::new("nix-store");
    add.args(["--store", &nix_src, "--add"]).args(&group_args);
    let theirs: Vec<String> = output(&mut add)?.lines().map(str::to_owned).collect();
    ensure!(
        ours == theirs,
        "b8g and Nix made different store paths for the same trees"
    );
    let paths: Vec<&str> = ours.iter().map(String::as_str).collect();
    let mut rows: Vec<(&str, Took, Took)> = Vec::new();

    eprintln!("cp -a + sync");
    let cp = timed(
        "cp -a",
        Command::new("cp").arg("-a").arg(&src).arg(w.join("cp-dst")),
        None,
    )?;

    let mut pulled: Vec<PathBuf> = Vec::new();
    if o.file {
        eprintln!("file:// push");
        let nix_cache = w.join("nix-cache");
        let to = format!(
            "file://{}?compression=zstd&secret-key={sk_s}",
            nix_cache.display()
        );
        let mut c = nix(&["copy", "--store", &nix_src, "--to", &to]);
        c.args(&paths);
        let n = timed("nix copy --to file://", &mut c, None)?;
        let b8g_cache = w.join("b8g-cache");
        let b8g_cache_url = format!("file://{}", b8g_cache.display());
        let mut c = b8g(
            bin,
            &b8g_src,
            &["-q", "cache", "push", &b8g_cache_url, "--key", sk_s],
        );
        if let Some(j) = &o.jobs {
            c.args(["--jobs", j]);
        }
        if let Some(l) = &o.zstd_level {
            c.args(["--zstd-level", l]);
        }
        c.args(&paths);
        let b = timed("b8g cache push file://", &mut c, None)?;
        rows.push(("push file://", n, b));
        eprintln!(
            "  cache sizes: nix {} MiB, b8g {} MiB",
            du(&nix_cache)? >> 20,
            du(&b8g_cache)? >> 20
        );

        eprintln!("file:// pull");
        let nix_dst = format!("local?root={}", w.join("nix-dst-file").display());
        let mut c = nix(&[
            "copy",
            "--from",
            &format!("file://{}", nix_cache.display()),
            "--to",
            &nix_dst,
            "--option",
            "trusted-public-keys",
            &pk_text,
        ]);
        c.args(&paths);
        let n = timed("nix copy --from file://", &mut c, None)?;
        let b8g_dst_file = w.join("b8g-dst-file");
        let mut c = b8g(bin, &b8g_dst_file, &["-q", "cache", "pull", &b8g_cache_url]);
        // Paths before the option, which takes any number of values.
        c.args(&paths).args(["--trusted-public-keys", &pk_text]);
        let b = timed("b8g cache pull file://", &mut c, None)?;
        rows.push(("pull file://", n, b));
        pulled.push(b8g_dst_file);
    }

    if o.http {
        eprintln!("HTTP push (to b8g cache serve of an empty store, which imports)");
        let token_file = w.join("token");
        fs::write(&token_file, PUSH_TOKEN)?;
        let token_s = token_file.to_str().context("UTF-8 path")?;
        let serve_push = |root: &Path| -> Result<Server> {
            Server::start(b8g(
                bin,
                root,
                &[
                    "cache",
                    "serve",
                    "--port",
                    "0",
                    "--push-token-file",
                    token_s,
                    "--push-key",
                    &pk_text,
                ],
            ))
        };
        let nix_target = serve_push(&w.join("srv-nix-push"))?;
        let netrc = w.join("netrc");
        let host = nix_target
            .url
            .trim_start_matches("http://")
            .split(':')
            .next()
            .unwrap_or("127.0.0.1")
            .to_owned();
        fs::write(
            &netrc,
            format!("machine {host} login b8g password {PUSH_TOKEN}\n"),
        )?;
        let mut c = nix(&[
            "copy",
            "--store",
            &nix_src,
            "--option",
            "netrc-file",
            netrc.to_str().context("UTF-8 path")?,
            "--to",
            &format!("{}?compression=zstd&secret-key={sk_s}", nix_target.url),
        ]);
        c.args(&paths);
        let n = timed("nix copy --to http://", &mut c, Some(&nix_target))?;
        drop(nix_target);
        let b8g_target = serve_push(&w.join("srv-b8g-push"))?;
        let mut c = b8g(
            bin,
            &b8g_src,
            &[
                "-q",
                "cache",
                "push",
                &b8g_target.url,
                "--key",
                sk_s,
                "--token",
                PUSH_TOKEN,
            ],
        );
        if let Some(j) = &o.jobs {
            c.args(["--jobs", j]);
        }
        if let Some(l) = &o.zstd_level {
            c.args(["--zstd-level", l]);
        }
        c.args(&paths);
        let b = timed("b8g cache push http://", &mut c, Some(&b8g_target))?;
        drop(b8g_target);
        rows.push(("push http://", n, b));

        eprintln!("HTTP pull (from b8g cache serve of the source store, compressing on the fly)");
        let mut serve = b8g(
            bin,
            &b8g_src,
            &["cache", "serve", "--port", "0", "--key", sk_s],
        );
        if let Some(l) = &o.zstd_level {
            serve.args(["--zstd-level", l]);
        }
        let source_server = Server::start(serve)?;
        let nix_dst_http = format!("local?root={}", w.join("nix-dst-http").display());
        let mut c = nix(&[
            "copy",
            "--from",
            &source_server.url,
            "--to",
            &nix_dst_http,
            "--option",
            "trusted-public-keys",
            &pk_text,
        ]);
        c.args(&paths);
        let n = timed("nix copy --from http://", &mut c, Some(&source_server))?;
        let b8g_dst_http = w.join("b8g-dst-http");
        let mut c = b8g(
            bin,
            &b8g_dst_http,
            &["-q", "cache", "pull", &source_server.url],
        );
        c.args(&paths).args(["--trusted-public-keys", &pk_text]);
        let b = timed("b8g cache pull http://", &mut c, Some(&source_server))?;
        drop(source_server);
        rows.push(("pull http://", n, b));
        pulled.push(b8g_dst_http);
    }

    // Not timed: what b8g pulled is complete and intact.
    for dst in &pulled {
        output(&mut b8g(
            bin,
            dst,
            &["-q", "store", "verify", "--check-contents"],
        ))
        .with_context(|| format!("verifying {}", dst.display()))?;
    }

    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let level = o.zstd_level.clone().unwrap_or_else(|| "default".to_owned());
    println!();
    println!(
        "cache bench: {} MiB in {} store paths ({} files from {}); cp -a + sync {:.2} s; \
         b8g zstd level {level}, Nix zstd (level 3); load average {}",
        data >> 20,
        paths.len(),
        files.len(),
        o.source.display(),
        cp.wall,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<14} {:>12} {:>10} {:>16} {:>14} {:>14} {:>12} {:>12}",
        "",
        "nix copy (s)",
        "b8g (s)",
        "nix/b8g (>1 ok)",
        "b8g / cp -a",
        "nix CPU (s)",
        "b8g CPU (s)",
        "CPU nix/b8g"
    );
    for (what, n, b) in rows {
        println!(
            "{what:<14} {:>12.2} {:>10.2} {:>16.2} {:>14.2} {:>14.2} {:>12.2} {:>12.2}",
            n.wall,
            b.wall,
            n.wall / b.wall,
            b.wall / cp.wall,
            n.cpu,
            b.cpu,
            n.cpu / b.cpu.max(0.01)
        );
    }
    println!(
        "(wall times include a final sync; CPU is user + system of the client and, for HTTP, of the server)"
    );
    Ok(())
}
