//! `b8g store serve --stdio` against Nix 2.8 as the client, over real SSH
//! (Debian's sshd on a loopback port, see `ssh_support`): `nix copy` to and
//! from a b8g machine, and `nix-build --builders` building on it, with the
//! same output paths and NAR hashes as Nix building locally.

mod run_support;
mod ssh_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use run_support::{busybox_project, ok};
use ssh_support::Machine;

const EXPR: &str = r#"
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  b = "${bb}/bin/busybox";
  mk = name: script: extra: derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = b;
    args = [ "sh" "-c" script ];
  } // extra);
  lib = mk "remote-lib" "${b} mkdir -p $out/share; echo library > $out/share/data; ${b} ln -s share/data $out/link" { };
in mk "remote-app" ''
  ${b} mkdir -p $out/bin $doc
  printf '#!${b} sh\n${b} cat ${lib}/share/data\n' > $out/bin/app
  ${b} chmod +x $out/bin/app
  echo "docs for $out" > $doc/README
'' { outputs = [ "out" "doc" ]; }
"#;

/// A Nix command on the throw-away Nix store rooted at `root`.
fn nix(root: &Path, m: &Machine, exe: &str) -> Command {
    let mut c = Command::new(exe);
    c.env("NIX_REMOTE", format!("local?root={}", root.display()))
        .env(
            "NIX_CONFIG",
            "build-users-group =\nsubstituters =\nexperimental-features = nix-command\n",
        )
        .env("NIX_SSHOPTS", m.ssh_opts());
    c
}

fn nar_hash(root: &Path, m: &Machine, path: &str) -> String {
    let out = ok(
        nix(root, m, "nix")
            .args(["path-info", "--json", path])
            .output()
            .expect("nix path-info"),
        "nix path-info",
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    v[0]["narHash"]
        .as_str()
        .unwrap_or_else(|| panic!("no narHash for {path} in {}: {out}", root.display()))
        .to_owned()
}

/// Nix 2.8 builds a two-derivation chain with two outputs on a b8g machine
/// (`-j0`: nothing locally); the outputs equal a local Nix build's.
#[test]
fn nix_builds_on_a_b8g_machine_over_ssh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Machine::start(&dir.path().join("machine"));
    let proj = busybox_project(dir.path(), EXPR);
    let remote_root = dir.path().join("nix-remote-client");
    let builders = format!("{} x86_64-linux", m.nix_uri());
    // `nix-store --realise` prints every output (nix-build only `out`).
    let realise = |root: &Path, extra: &[&str]| {
        let drv = ok(
            nix(root, &m, "nix-instantiate")
                .current_dir(&proj)
                .output()
                .expect("nix-instantiate"),
            "nix-instantiate",
        );
        ok(
            nix(root, &m, "nix-store")
                .arg("--realise")
                .arg(&drv)
                .args(extra)
                .output()
                .expect("nix-store --realise"),
            "nix-store --realise",
        )
    };
    let built = realise(&remote_root, &["-j0", "--builders", &builders]);
    let local_root = dir.path().join("nix-local");
    let local = realise(&local_root, &[]);
    let paths: Vec<&str> = built.lines().collect();
    assert_eq!(paths.len(), 2, "{built}");
    assert_eq!(built, local, "output paths differ from a local Nix build");
    for p in &paths {
        assert_eq!(
            nar_hash(&remote_root, &m, p),
            nar_hash(&local_root, &m, p),
            "NAR hash of {p}"
        );
    }
    // The machine's own store has them registered, deriver and all.
    let info = ok(
        m.b8g()
            .args(["store", "path-info", "--json"])
            .args(&paths)
            .output()
            .expect("b8g"),
        "b8g store path-info on the machine",
    );
    let v: serde_json::Value = serde_json::from_str(&info).expect("JSON");
    for e in v.as_array().expect("array") {
        assert!(
            e["deriver"]
                .as_str()
                .is_some_and(|d| d.ends_with("-remote-app.drv")),
            "{e}"
        );
    }
    ok(
        m.b8g()
            .args(["store", "verify", "--check-contents"])
            .output()
            .expect("b8g"),
        "b8g store verify on the machine",
    );
}

/// `nix copy --to` a b8g machine and `--from` it into a fresh Nix store:
/// the same NAR hashes and references end to end.
#[test]
fn nix_copies_to_and_from_a_b8g_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Machine::start(&dir.path().join("machine"));
    let a = dir.path().join("nix-a");
    let b = dir.path().join("nix-b");
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("sub")).expect("mkdir");
    fs::write(tree.join("sub/file"), "contents\n").expect("write");
    std::os::unix::fs::symlink("sub/file", tree.join("link")).expect("symlink");
    let added = ok(
        nix(&a, &m, "nix-store")
            .arg("--add")
            .arg(&tree)
            .output()
            .expect("nix-store"),
        "nix-store --add",
    );
    // A text path referring to the tree: references travel too.
    let referrer = ok(
        nix(&a, &m, "nix-instantiate")
            .args(["--eval", "--read-write-mode", "-E"])
            .arg(format!(
                "builtins.toFile \"ref\" \"${{builtins.storePath {added}}}\""
            ))
            .output()
            .expect("nix-instantiate"),
        "nix-instantiate toFile",
    )
    .trim_matches('"')
    .to_owned();
    ok(
        nix(&a, &m, "nix")
            .args(["copy", "--to", &m.nix_uri(), &referrer])
            .output()
            .expect("nix copy"),
        "nix copy --to the b8g machine",
    );
    ok(
        nix(&b, &m, "nix")
            .args(["copy", "--from", &m.nix_uri(), &referrer])
            .output()
            .expect("nix copy"),
        "nix copy --from the b8g machine",
    );
    for p in [&added, &referrer] {
        assert_eq!(nar_hash(&a, &m, p), nar_hash(&b, &m, p), "{p}");
    }
    let refs = ok(
        nix(&b, &m, "nix-store")
            .args(["-q", "--references", &referrer])
            .output()
            .expect("nix-store"),
        "nix-store -q --references",
    );
    assert_eq!(refs, added);
}
