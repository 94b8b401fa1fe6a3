//! `b8g-build --builders`: derivations built on remote machines over SSH
//! (Debian's sshd on loopback ports, see `ssh_support`) speaking
//! `nix-store --serve`, to b8g machines and to Nix 2.8; a machine killed
//! mid-build, and one returning a tampered output.

mod run_support;
mod ssh_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use run_support::{busybox_project, ok};
use ssh_support::{Machine, B8G};

const B8G_BUILD: &str = env!("CARGO_BIN_EXE_b8g-build");

/// 200 derivations in 20 layers of 10, each depending on two of the layer
/// before, and one on top of the last layer.
const DAG: &str = r#"
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  b = "${bb}/bin/busybox";
  mk = name: deps: derivation {
    inherit name;
    system = "x86_64-linux";
    builder = b;
    args = [ "sh" "-c" "echo ${name} > $out; for d in ${toString deps}; do echo $d >> $out; done" ];
  };
  layer = n: prev: builtins.genList (i: mk "n${toString n}-${toString i}" [
    (builtins.elemAt prev i)
    (builtins.elemAt prev (if i + 1 < 10 then i + 1 else 0))
  ]) 10;
  first = builtins.genList (i: mk "n0-${toString i}" [ ]) 10;
  layers = builtins.foldl' (acc: n: acc ++ [ (layer n (builtins.elemAt acc (n - 1))) ]) [ first ] (builtins.genList (n: n + 1) 19);
in mk "top" (builtins.elemAt layers 19)
"#;

/// One derivation that takes `secs` seconds.
fn slow(secs: u32) -> String {
    format!(
        r#"
let
  bb = builtins.path {{ path = ./bb; name = "busybox"; }};
  b = "${{bb}}/bin/busybox";
in derivation {{
  name = "slow";
  system = "x86_64-linux";
  builder = b;
  args = [ "sh" "-c" "echo working on it; ${{b}} sleep {secs}; echo done > $out" ];
}}
"#
    )
}

/// A b8g command on the client's store rooted at `root`.
fn b8g(exe: &str, root: &Path) -> Command {
    let mut c = Command::new(exe);
    c.args([
        "--store-dir",
        "/nix/store",
        "--state-dir",
        "/nix/var/nix",
        "--root",
    ])
    .arg(root)
    .env("B8G_CONF", root.join("none.conf"))
    .env_remove("NIX_SSHOPTS");
    c
}

fn nar_hash(root: &Path, path: &str) -> String {
    let out = ok(
        b8g(B8G, root)
            .args(["store", "path-info", "--json", path])
            .output()
            .expect("b8g"),
        "b8g store path-info",
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    v[0]["narHash"].as_str().expect("narHash").to_owned()
}

/// Store paths valid in a b8g store, by name suffix.
fn built_there(m: &Machine) -> Vec<String> {
    let out = ok(
        m.b8g()
            .args(["store", "verify", "--json"])
            .output()
            .expect("b8g"),
        "b8g store verify on a machine",
    );
    // Counting store entries is enough: verify proved them consistent.
    let _ = out;
    fs::read_dir(m.dir.join("store/nix/store"))
        .expect("store")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("-n") || n.ends_with("-top"))
        .collect()
}

#[test]
fn a_dag_of_200_builds_over_two_b8g_machines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Machine::start(&dir.path().join("a"));
    let b = Machine::start(&dir.path().join("b"));
    let proj = busybox_project(dir.path(), DAG);
    let builders = format!(
        "{}; {}",
        a.builder_line(&a.b8g_program(), 2, 1),
        b.builder_line(&b.b8g_program(), 2, 1)
    );
    let client = dir.path().join("client");
    let start = std::time::Instant::now();
    let top = ok(
        b8g(B8G_BUILD, &client)
            .current_dir(&proj)
            .args(["-j0", "--no-out-link", "--builders", &builders])
            .output()
            .expect("b8g-build"),
        "b8g-build on two machines",
    );
    eprintln!(
        "201 remote builds in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let (on_a, on_b) = (built_there(&a).len(), built_there(&b).len());
    assert!(
        on_a > 0 && on_b > 0,
        "both machines build: {on_a} and {on_b}"
    );
    assert!(on_a + on_b >= 201, "{on_a} + {on_b}");
    // The same as a local build, path and bytes.
    let local = dir.path().join("local");
    let here = ok(
        b8g(B8G_BUILD, &local)
            .current_dir(&proj)
            .args(["-j2", "--no-out-link"])
            .output()
            .expect("b8g-build"),
        "local b8g-build",
    );
    assert_eq!(top, here);
    assert_eq!(nar_hash(&client, &top), nar_hash(&local, &top));
    ok(
        b8g(B8G, &client)
            .args(["store", "verify", "--check-contents"])
            .output()
            .expect("b8g"),
        "b8g store verify on the client",
    );
}

#[test]
fn b8g_builds_on_nix_2_8_over_ssh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Machine::start(&dir.path().join("nix"));
    let proj = busybox_project(dir.path(), &slow(0));
    let client = dir.path().join("client");
    let out = ok(
        b8g(B8G_BUILD, &client)
            .current_dir(&proj)
            .args(["-j0", "--no-out-link", "--builders"])
            .arg(m.builder_line(&m.nix_program(), 1, 1))
            .output()
            .expect("b8g-build"),
        "b8g-build on a Nix machine",
    );
    // Nix built it in its own store, and the bytes came back intact.
    let nix_hash = ok(
        Command::new("nix-store")
            .env("NIX_REMOTE", format!("local?root={}/nix", m.dir.display()))
            .args(["-q", "--hash", &out])
            .output()
            .expect("nix-store"),
        "nix-store -q --hash on the machine",
    );
    let ours = nar_hash(&client, &out);
    let nix32 = ok(
        Command::new("nix-hash")
            .args(["--type", "sha256", "--to-base32"])
            .arg(
                ours.strip_prefix("sha256-")
                    .map(|b64| {
                        let bytes = data_encoding::BASE64.decode(b64.as_bytes()).unwrap();
                        data_encoding::HEXLOWER.encode(&bytes)
                    })
                    .unwrap(),
            )
            .output()
            .expect("nix-hash"),
        "nix-hash",
    );
    assert_eq!(nix_hash, format!("sha256:{nix32}"));
}

/// The preferred machine's serve process is killed a second into the
/// session: the build is retried on the other machine and succeeds.
#[test]
fn a_machine_killed_mid_build_costs_a_retry_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dying = Machine::start(&dir.path().join("dying"));
    let good = Machine::start(&dir.path().join("good"));
    let killer = dying.dir.join("b8g-dies");
    fs::write(
        &killer,
        format!("#!/bin/sh\n( sleep 1; kill -9 $$ ) &\nexec {B8G} store serve --stdio \"$@\"\n"),
    )
    .expect("write");
    fs::set_permissions(&killer, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let proj = busybox_project(dir.path(), &slow(3));
    let builders = format!(
        "{}; {}",
        dying.builder_line(&killer, 1, 10),
        good.builder_line(&good.b8g_program(), 1, 1)
    );
    let client = dir.path().join("client");
    let out = b8g(B8G_BUILD, &client)
        .current_dir(&proj)
        .args(["-j0", "--no-out-link", "-L", "--builders", &builders])
        .output()
        .expect("b8g-build");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let path = ok(out, "b8g-build with a dying machine");
    // The remote's build output is shown as the build's (`-L`), and kept
    // as its log here.
    assert!(stderr.contains("slow> working on it"), "{stderr}");
    let log = ok(
        b8g(B8G, &client)
            .args(["log", &path])
            .output()
            .expect("b8g log"),
        "b8g log of a remote build",
    );
    assert!(log.contains("working on it"), "{log}");
    let name = Path::new(&path).file_name().unwrap();
    assert!(good.dir.join("store/nix/store").join(name).exists());
    assert!(!dying.dir.join("store/nix/store").join(name).exists());
}

/// A machine whose store holds the output with other bytes than it
/// registered: the output is refused, nothing lands in the client's store.
#[test]
fn a_tampered_output_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Machine::start(&dir.path().join("evil"));
    let proj = busybox_project(dir.path(), &slow(0));
    // Built there honestly, then changed behind the database's back.
    let out = ok(
        m.b8g()
            .current_dir(&proj)
            .env_remove("B8G_STORE_ROOT")
            .arg("build")
            .arg("--no-out-link")
            .output()
            .expect("b8g build"),
        "b8g build on the machine's store",
    );
    let real = m.dir.join("store").join(out.trim_start_matches('/'));
    let mut perms = fs::metadata(&real).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(&real, perms).unwrap();
    fs::write(&real, "forged\n").unwrap();
    let client = dir.path().join("client");
    let o = b8g(B8G_BUILD, &client)
        .current_dir(&proj)
        .args(["-j0", "--no-out-link", "--builders"])
        .arg(m.builder_line(&m.b8g_program(), 1, 1))
        .output()
        .expect("b8g-build");
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{err}");
    assert!(!o.status.success(), "a tampered output was accepted: {err}");
    assert!(err.contains("bad output") && err.contains("hash"), "{err}");
    let valid = b8g(B8G, &client)
        .args(["store", "path-info", &out])
        .output()
        .expect("b8g");
    assert!(!valid.status.success(), "the forged output is valid here");
}

/// `--builders-use-substitutes`: the machine fetches the build's inputs from
/// its own cache (named in its b8g.conf) instead of being sent them.
#[test]
fn builders_use_substitutes_fetch_inputs_on_the_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Machine::start(&dir.path().join("m"));
    let proj = busybox_project(dir.path(), &slow(0));
    let client = dir.path().join("client");
    // The client's inputs (busybox, imported by evaluation) go to a signed
    // file cache the machine trusts.
    let drv = ok(
        b8g(B8G, &client)
            .current_dir(&proj)
            .args(["instantiate", "default.nix"])
            .output()
            .expect("b8g instantiate"),
        "instantiate",
    );
    let busybox = ok(
        b8g(B8G, &client)
            .args(["store", "query", "--references", &drv])
            .output()
            .expect("query"),
        "query references",
    );
    let busybox = busybox
        .lines()
        .find(|l| l.ends_with("-busybox"))
        .expect("busybox input")
        .to_owned();
    let secret = dir.path().join("k.secret");
    let public = dir.path().join("k.public");
    ok(
        Command::new(B8G)
            .args([
                "cache",
                "key",
                "generate",
                "machine-cache-1",
                "--secret-file",
            ])
            .arg(&secret)
            .arg("--public-file")
            .arg(&public)
            .output()
            .unwrap(),
        "key",
    );
    let cache = format!("file://{}", dir.path().join("cache").display());
    ok(
        b8g(B8G, &client)
            .args(["cache", "push", "--key"])
            .arg(&secret)
            .arg(&cache)
            .arg(&busybox)
            .output()
            .unwrap(),
        "push busybox",
    );
    fs::write(
        m.dir.join("none.conf"),
        format!(
            "substituters = {cache}\ntrusted-public-keys = {}\n",
            fs::read_to_string(&public).unwrap().trim()
        ),
    )
    .unwrap();
    let out = b8g(B8G_BUILD, &client)
        .current_dir(&proj)
        .args([
            "-j0",
            "--no-out-link",
            "-L",
            "--builders-use-substitutes",
            "--builders",
        ])
        .arg(m.builder_line(&m.b8g_program(), 1, 1))
        .output()
        .expect("b8g-build");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out, "b8g-build --builders-use-substitutes");
    assert!(!stderr.contains("copying 1 paths to"), "{stderr}");
    let name = Path::new(&busybox).file_name().unwrap();
    assert!(m.dir.join("store/nix/store").join(name).exists());
}

/// A machine that stops answering (its serve process frozen a second into
/// the session) does not hold the build past `--build-timeout`: the session
/// is ended here, and the build fails as timed out.
#[test]
fn a_stalled_machine_is_held_to_the_build_timeout_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Machine::start(&dir.path().join("frozen"));
    let frozen = m.dir.join("b8g-freezes");
    fs::write(
        &frozen,
        format!(
            "#!/bin/sh\n( sleep 1; kill -STOP $$; sleep 30; kill -9 $$ ) &\n\
             exec {B8G} store serve --stdio \"$@\"\n"
        ),
    )
    .expect("write");
    fs::set_permissions(&frozen, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let proj = busybox_project(dir.path(), &slow(20));
    let client = dir.path().join("client");
    let start = std::time::Instant::now();
    let out = b8g(B8G_BUILD, &client)
        .current_dir(&proj)
        .args(["-j0", "--no-out-link", "--build-timeout", "3", "--builders"])
        .arg(m.builder_line(&frozen, 1, 1))
        .output()
        .expect("b8g-build");
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("timed out after 3 s"), "{err}");
    assert!(took.as_secs() < 15, "took {took:?}");
}
