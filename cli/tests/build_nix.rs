//! Nix interop of the builder: the same expression instantiated by
//! `nix-instantiate` and by b8g (store directory `/nix/store`) gives the same
//! `.drv` path and bytes, and building it with `nix-store --realise` (in a
//! throw-away Nix store, sandboxed) and with `b8g-build` gives the same output
//! paths and NAR hashes. The builder is a static busybox that both stores
//! import by content through `builtins.path`, so it is the same store path in both.
//!
//! Needs Nix 2.8 (`nix-bin`) and a static busybox (`busybox-static`).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const B8G: &str = env!("CARGO_BIN_EXE_b8g");
const B8G_BUILD: &str = env!("CARGO_BIN_EXE_b8g-build");

const INTEROP_NIX: &str = r#"
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  b = "${bb}/bin/busybox";
  mk = name: script: extra: derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = b;
    args = [ "sh" "-c" script ];
  } // extra);
  lib = mk "interop-lib" "${b} mkdir -p $out/share; echo library > $out/share/data; ${b} ln -s share/data $out/link" { };
in {
  lib = lib;
  app = mk "interop-app" ''
    ${b} mkdir -p $out/bin $doc
    printf '#!${b} sh\n${b} cat ${lib}/share/data\n' > $out/bin/app
    ${b} chmod +x $out/bin/app
    echo "docs for $out" > $doc/README
  '' { outputs = [ "out" "doc" ]; };
}
"#;

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn proj(&self) -> std::path::PathBuf {
        self.dir.path().join("proj")
    }
    fn nix(&self, exe: &str) -> Command {
        let mut c = Command::new(exe);
        c.current_dir(self.proj())
            .env(
                "NIX_REMOTE",
                format!("local?root={}", self.dir.path().join("nix-root").display()),
            )
            // Whatever the host's nix.conf says: builds as the calling user (no
            // `nixbld` group on a machine with only nix-bin), and no network caches.
            .env("NIX_CONFIG", "build-users-group =\nsubstituters =\n");
        c
    }
    fn b8g(&self, exe: &str) -> Command {
        let mut c = Command::new(exe);
        c.current_dir(self.proj())
            .args([
                "--store-dir",
                "/nix/store",
                "--state-dir",
                "/nix/var/nix",
                "--root",
            ])
            .arg(self.dir.path().join("b8g-root"))
            .env_remove("B8G_STORE_DIR")
            .env_remove("B8G_STATE_DIR")
            .env_remove("B8G_STORE_ROOT")
            .env("B8G_CONF", self.dir.path().join("none.conf"));
        c
    }
    fn b8g_nar_hash(&self, path: &str) -> String {
        let info = ok(
            self.b8g(B8G)
                .args(["store", "path-info", "--json", path])
                .output()
                .expect("run b8g"),
            "b8g store path-info",
        );
        let v: serde_json::Value = serde_json::from_str(&info).expect("path-info JSON");
        let entry = if v.is_array() { &v[0] } else { &v };
        entry["narHash"].as_str().expect("narHash").to_owned()
    }
    fn nix_nar_hash(&self, path: &str) -> String {
        let info = ok(
            self.nix("nix")
                .args([
                    "--extra-experimental-features",
                    "nix-command",
                    "path-info",
                    "--json",
                    path,
                ])
                .output()
                .expect("run nix path-info"),
            "nix path-info",
        );
        let v: serde_json::Value = serde_json::from_str(&info).expect("path-info JSON");
        v[0]["narHash"].as_str().expect("narHash").to_owned()
    }
}

fn setup() -> Env {
    let version = Command::new("nix-instantiate").arg("--version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "this test needs Nix 2.8 (Debian package nix-bin)"
    );
    assert!(
        Path::new("/bin/busybox").is_file(),
        "this test needs a static busybox at /bin/busybox (Debian package busybox-static)"
    );
    let dir = tempfile::Builder::new()
        .prefix("b8g-build-nix")
        .tempdir()
        .expect("tempdir");
    let env = Env { dir };
    fs::create_dir_all(env.proj().join("bb/bin")).expect("mkdir");
    fs::copy("/bin/busybox", env.proj().join("bb/bin/busybox")).expect("copy busybox");
    fs::write(env.proj().join("default.nix"), INTEROP_NIX).expect("write");
    env
}

/// Both NAR hashes as SRI (`sha256-<base64>`), as both `path-info --json` print them.
fn same_hash(nix: &str, ours: &str) {
    assert_eq!(nix, ours, "NAR hashes differ");
}

#[test]
fn nix_instantiated_derivations_build_to_the_same_outputs_in_b8g_and_nix() {
    let env = setup();
    for attr in ["lib", "app"] {
        let nix_drv = ok(
            env.nix("nix-instantiate")
                .args(["-A", attr])
                .output()
                .expect("run nix-instantiate"),
            "nix-instantiate",
        );
        let our_drv = ok(
            env.b8g(B8G)
                .args(["instantiate", "-A", attr])
                .output()
                .expect("run b8g"),
            "b8g instantiate",
        );
        assert_eq!(nix_drv, our_drv, "derivation paths differ for {attr}");
        let rel = nix_drv.trim_start_matches('/');
        assert_eq!(
            fs::read(env.dir.path().join("nix-root").join(rel)).expect("nix .drv"),
            fs::read(env.dir.path().join("b8g-root").join(rel)).expect("b8g .drv"),
            ".drv files differ for {attr}"
        );

        // Nix builds the derivation (sandboxed), b8g builds it too.
        let nix_outs = ok(
            env.nix("nix-store")
                .args(["--realise", &nix_drv, "--option", "sandbox", "true"])
                .output()
                .expect("run nix-store"),
            "nix-store --realise",
        );
        // nix-build and b8g-build print the output the value stands for (`out`);
        // both built every output, whose contents must agree.
        let nix_built = ok(
            env.nix("nix-build")
                .args(["-A", attr, "--no-out-link", "--option", "sandbox", "true"])
                .output()
                .expect("run nix-build"),
            "nix-build",
        );
        let our_outs = ok(
            env.b8g(B8G_BUILD)
                .args(["-q", "-A", attr, "--no-out-link"])
                .output()
                .expect("run b8g-build"),
            "b8g-build",
        );
        assert_eq!(nix_built, our_outs, "printed outputs differ for {attr}");
        for p in nix_outs.lines() {
            same_hash(&env.nix_nar_hash(p), &env.b8g_nar_hash(p));
        }
    }
    // Several -A (and one given twice): what each stands for, in order, as nix-build prints it.
    let several = ["-A", "app.doc", "-A", "lib", "-A", "app", "-A", "lib"];
    let nix_built = ok(
        env.nix("nix-build")
            .args(several)
            .args(["--no-out-link", "--option", "sandbox", "true"])
            .output()
            .expect("run nix-build"),
        "nix-build",
    );
    let our_outs = ok(
        env.b8g(B8G_BUILD)
            .arg("-q")
            .args(several)
            .arg("--no-out-link")
            .output()
            .expect("run b8g-build"),
        "b8g-build",
    );
    assert_eq!(nix_built, our_outs, "printed outputs differ for several -A");
}
