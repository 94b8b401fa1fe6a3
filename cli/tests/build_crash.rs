//! A DAG of 200 small sandboxed derivations built with `-j2`; `b8g-build` is
//! SIGKILLed in the middle, the store then holds only valid, complete paths,
//! and a restart builds exactly what is missing.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const B8G: &str = env!("CARGO_BIN_EXE_b8g");
const B8G_BUILD: &str = env!("CARGO_BIN_EXE_b8g-build");

/// Node i depends on nodes i/2 and i/3; `all` depends on every node.
const DAG_NIX: &str = r#"
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  b = "${bb}/bin/busybox";
  nodes = builtins.genList mk 200;
  mk = i:
    let deps = if i == 0 then [ ] else [ (builtins.elemAt nodes (i / 2)) ]
      ++ (if i > 2 then [ (builtins.elemAt nodes (i / 3)) ] else [ ]);
    in derivation {
      name = "n${toString i}";
      system = "x86_64-linux";
      builder = b;
      args = [ "sh" "-c" "${b} cat ${toString deps} /dev/null | ${b} wc -l > $out; echo ${toString i} >> $out; ${b} usleep 30000" ];
    };
in derivation {
  name = "all";
  system = "x86_64-linux";
  builder = b;
  args = [ "sh" "-c" "${b} cat ${toString nodes} > $out" ];
}
"#;

fn cmd(exe: &str, root: &Path, proj: &Path) -> Command {
    let mut c = Command::new(exe);
    c.current_dir(proj)
        .args([
            "--store-dir",
            "/b8g/store",
            "--state-dir",
            "/b8g/var/b8g",
            "--root",
        ])
        .arg(root)
        .env_remove("B8G_STORE_DIR")
        .env_remove("B8G_STATE_DIR")
        .env_remove("B8G_STORE_ROOT")
        .env("B8G_CONF", proj.join("no-such.conf"));
    c
}

/// Valid `n<i>` outputs, after checking that every valid path is intact.
/// Unregistered leftovers (an output renamed into place but not registered
/// when the kill came) are allowed: they are not valid and get rebuilt.
fn valid_nodes(root: &Path, proj: &Path) -> usize {
    let out = cmd(B8G, root, proj)
        .args(["store", "verify", "--check-contents", "--json"])
        .output()
        .expect("run verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let problems = v["problems"].as_array().expect("problems");
    for p in problems {
        let p = p.as_str().unwrap_or_default();
        assert!(
            p.contains("not registered"),
            "the store has an invalid or damaged path after the kill: {p}"
        );
    }
    // Valid paths: busybox, the 201 .drv files (all written before building), and outputs.
    let checked = v["checked"].as_u64().expect("checked") as usize;
    let all_valid = proj.join("result").exists();
    checked - 202 - usize::from(all_valid)
}

#[test]
fn sigkill_in_the_middle_then_restart_builds_only_what_is_missing() {
    assert!(
        Path::new("/bin/busybox").is_file(),
        "this test needs a static busybox at /bin/busybox (Debian package busybox-static)"
    );
    let t = tempfile::Builder::new()
        .prefix("b8g-build-crash")
        .tempdir()
        .expect("tempdir");
    let proj = t.path().join("proj");
    fs::create_dir_all(proj.join("bb/bin")).expect("mkdir");
    fs::copy("/bin/busybox", proj.join("bb/bin/busybox")).expect("copy busybox");
    fs::write(proj.join("default.nix"), DAG_NIX).expect("write");
    let root = t.path().join("store");

    let mut child = cmd(B8G_BUILD, &root, &proj)
        .args(["-q", "-j", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start b8g-build");
    // Kill once a good part of the DAG is built, but not all of it.
    let logs = root.join("b8g/var/b8g/log/drvs");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let started = fs::read_dir(&logs).map_or(0, |rd| {
            rd.flatten()
                .map(|d| fs::read_dir(d.path()).map_or(0, |x| x.count()))
                .sum::<usize>()
        });
        if started >= 60 {
            break;
        }
        assert!(Instant::now() < deadline, "the build did not progress");
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("b8g-build ended before it was killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL b8g-build");
    child.wait().expect("reap");

    let before = valid_nodes(&root, &proj);
    assert!(
        before > 0 && before < 200,
        "{before} nodes valid at the kill"
    );

    let out = cmd(B8G_BUILD, &root, &proj)
        .args(["-j", "2"])
        .output()
        .expect("restart b8g-build");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "restart failed: {err}");
    // Everything missing is built (the nodes and `all`), nothing twice.
    let expected = format!("{} built,", 200 - before + 1);
    assert!(err.contains(&expected), "expected {expected:?} in {err}");
    assert_eq!(valid_nodes(&root, &proj), 200);
    let result = fs::read_to_string(proj.join("result")).expect("read result");
    assert_eq!(result.lines().count(), 400, "{result}");
}
