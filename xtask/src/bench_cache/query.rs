//! The substitution legs of `cargo xtask bench cache`, on 2 000 small store
//! paths served by `b8g cache serve` (narinfos signed on the way out):
//!
//! - `exists`: which of the 2 000 paths the cache has — `b8g cache query`
//!   (one batched question to a b8g server) against `nix path-info --store
//!   http://…` (a narinfo request per path). Target: b8g ≥ 10× faster.
//! - `slow`: 100 of the paths substituted into an empty store from two
//!   caches, the first behind a proxy that holds each request 200 ms —
//!   `b8g cache pull --substituters "SLOW FAST"` (all caches asked at once,
//!   the first good answer wins) against `nix-store --realise` with the
//!   same `substituters` (Nix asks them in order).
//!
//! Three runs of each, alternating, every run printed. Nix keeps the
//! narinfos it saw in `~/.cache/nix`; each of its runs gets an empty one
//! (b8g keeps none).

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{b8g, nix, output, Options, Server};

const PATHS: usize = 2000;
const SLOW_PATHS: usize = 100;
const DELAY: Duration = Duration::from_millis(200);
const RUNS: usize = 3;

fn time(cmd: &mut Command, what: &str) -> Result<f64> {
    let t = Instant::now();
    output(cmd).with_context(|| what.to_owned())?;
    Ok(t.elapsed().as_secs_f64())
}

/// Forwards connections to `upstream`, holding each chunk the client sends
/// (each request) for [`DELAY`]: a cache far away.
fn slow_proxy(upstream: String) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 || {
                        std::thread::sleep(DELAY);
                        s_out.write_all(&buf[..n]).is_err()
                    } {
                        break;
                    }
                }
                // Either side ending ends the connection: nothing lingers upstream.
                let _ = s_out.shutdown(std::net::Shutdown::Both);
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_in, &mut c_out);
                let _ = c_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    Ok(format!("http://{addr}"))
}

pub(super) fn bench(o: &Options, bin: &Path, w: &Path) -> Result<()> {
    fs::create_dir_all(w.join("files"))?;
    let mut files = Vec::with_capacity(PATHS);
    for i in 0..PATHS {
        let f = w.join(format!("files/f-{i:04}"));
        fs::write(&f, format!("file {i}\n"))?;
        files.push(f);
    }
    let store = w.join("b8g-src");
    let mut add = b8g(bin, &store, &["-q", "store", "add"]);
    add.args(&files);
    let paths: Vec<String> = output(&mut add)?.lines().map(str::to_owned).collect();
    let (sk, pk) = (w.join("key.secret"), w.join("key.public"));
    output(
        Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg("bench-query-1")
            .arg(&sk)
            .arg(&pk),
    )?;
    let pk_text = fs::read_to_string(&pk)?.trim().to_owned();
    let sk_s = sk.to_str().context("UTF-8 path")?;
    let server = Server::start(b8g(
        bin,
        &store,
        // Every client here is 127.0.0.1, the proxy's connections too: the
        // per-address cap meant for the open network would refuse them.
        &[
            "cache",
            "serve",
            "--port",
            "0",
            "--key",
            sk_s,
            "--max-connections-per-address",
            "1024",
        ],
    ))?;
    let mut lines = Vec::new();
    if o.exists {
        eprintln!("existence of {PATHS} paths in {}", server.url);
        for run in 1..=RUNS {
            let mut c = nix(&["path-info", "--store", &server.url]);
            c.args(&paths)
                .env("XDG_CACHE_HOME", w.join(format!("xdg-exists-{run}")));
            let n = time(&mut c, "nix path-info --store http://")?;
            let mut c = b8g(bin, &w.join("empty"), &["cache", "query", &server.url]);
            c.args(&paths);
            let b = time(&mut c, "b8g cache query")?;
            let line = format!(
                "exists run {run}: nix path-info {n:.2} s, b8g cache query {b:.3} s, nix/b8g {:.1}× (target ≥ 10×)",
                n / b
            );
            eprintln!("  {line}");
            lines.push(line);
        }
    }
    if o.slow {
        let slow = slow_proxy(server.url.trim_start_matches("http://").to_owned())?;
        let subs = format!("{slow} {}", server.url);
        let some: Vec<&String> = paths.iter().take(SLOW_PATHS).collect();
        eprintln!(
            "{SLOW_PATHS} paths from two caches, the first {} ms away per request",
            DELAY.as_millis()
        );
        for run in 1..=RUNS {
            let nix_dst = format!("local?root={}", w.join(format!("nix-slow-{run}")).display());
            let mut c = Command::new("nix-store");
            c.args(["--store", &nix_dst, "--realise"])
                .args(&some)
                .args(["--option", "substituters", &subs])
                .args(["--option", "trusted-public-keys", &pk_text])
                .env("XDG_CACHE_HOME", w.join(format!("xdg-slow-{run}")));
            let n = time(&mut c, "nix-store --realise from two caches")?;
            let mut c = b8g(
                bin,
                &w.join(format!("b8g-slow-{run}")),
                &[
                    "-q",
                    "cache",
                    "pull",
                    "--substituters",
                    &subs,
                    "--trusted-public-keys",
                    &pk_text,
                ],
            );
            c.args(&some);
            let b = time(&mut c, "b8g cache pull from two caches")?;
            let line = format!(
                "slow+fast run {run}: nix-store --realise {n:.2} s, b8g cache pull {b:.2} s, nix/b8g {:.1}×",
                n / b
            );
            eprintln!("  {line}");
            lines.push(line);
        }
    }
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "substitution bench ({PATHS} paths served by b8g cache serve; load average {}):",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for l in lines {
        println!("  {l}");
    }
    Ok(())
}
