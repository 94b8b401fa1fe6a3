//! `b8g bootstrap lock --check` and `--only … --override` against the host's
//! apt (the lists `cargo xtask test` fetches): a pin the archive still serves
//! is reported as such, a vanished one as having no source (exit 1), and a
//! narrowed refresh writes only that pin, at the archive's current version,
//! to the override file while the committed lock stays untouched.

use std::process::Command;

fn apt_show(package: &str) -> (String, String) {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", package])
        .output()
        .expect("apt-cache");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |f: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{f}: ")))
            .unwrap_or_else(|| panic!("apt-cache show {package} has no {f} (apt-get update?)"))
            .trim()
            .to_owned()
    };
    (field("Version"), field("SHA256"))
}

fn b8g(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_b8g"));
    let conf = dir.join("b8g.conf");
    std::fs::write(&conf, "").expect("write conf");
    c.env("B8G_CONF", conf)
        .env_remove("B8G_DEBIAN_SNAPSHOT_URL")
        .arg("--root")
        .arg(dir.join("root"));
    c
}

#[test]
fn check_reports_sources_and_override_refreshes_only_the_vanished_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (version, sha) = apt_show("make");
    let pins = dir.path().join("pins.nix");
    let text = format!(
        "{{\n  make = {{\n    package = \"make\";\n    version = \"{version}\";\n    sha256 = \"{sha}\";\n  }};\n  \
         gone = {{\n    package = \"make\";\n    version = \"0.1-1\";\n    sha256 = \"{}\";\n  }};\n}}\n",
        "0".repeat(64)
    );
    std::fs::write(&pins, &text).expect("write pins");

    let out = b8g(dir.path())
        .args(["bootstrap", "lock", "--check", "--json", "--pins"])
        .arg(&pins)
        .output()
        .expect("run b8g");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let entry = |name: &str| {
        report
            .as_array()
            .expect("list")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .clone()
    };
    assert_eq!(entry("make")["sources"][0]["kind"], "archive", "{report}");
    assert!(entry("make")["archive_offers"].is_null(), "{report}");
    assert_eq!(entry("gone")["sources"], serde_json::json!([]), "{report}");
    assert_eq!(
        entry("gone")["archive_offers"],
        version.as_str(),
        "{report}"
    );
    assert!(
        entry("gone")["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/b8g/store/") && p.ends_with("-make.deb")),
        "{report}"
    );
    // Nothing was created for a check.
    assert!(!dir.path().join("root").exists());

    let over = dir.path().join("pins.override.nix");
    let out = b8g(dir.path())
        .args(["bootstrap", "lock", "--pins"])
        .arg(&pins)
        .arg("--override")
        .arg(&over)
        .args(["--only", "gone"])
        .output()
        .expect("run b8g");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&pins).expect("pins"), text);
    let written = std::fs::read_to_string(&over).expect("override written");
    assert!(
        written.contains(&format!("version = \"{version}\";")),
        "{written}"
    );
    assert!(
        written.contains(&format!("sha256 = \"{sha}\";")),
        "{written}"
    );
    assert!(
        !written.contains("  make = {"),
        "only the named pin: {written}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("gone: 0.1-1 -> {version}")),
        "{out:?}"
    );
}

/// The Debian packages' lock against a renamed version: Debian replaced
/// htop's pinned version (here, the lock names one it never had). The check
/// names the package and the command; building fails with both; `b8g
/// bootstrap lock` moves the pin to what the archive serves, with its hash;
/// `add-debian` of a package Debian does not have names it.
#[test]
fn a_renamed_version_in_the_debian_lock_is_named_and_refreshed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (version, sha) = apt_show("htop");
    let lock = dir.path().join("lock.json");
    let out = b8g(dir.path())
        .args(["bootstrap", "add-debian", "htop", "--debian-lock"])
        .arg(&lock)
        .output()
        .expect("run b8g");
    assert!(out.status.success(), "{out:?}");
    let fresh = std::fs::read_to_string(&lock).expect("lock written");
    let pinned = format!("\"version\": \"{version}\",\n      \"sha256\": \"{sha}\"");
    assert!(fresh.contains(&pinned), "{fresh}");
    assert!(
        fresh.contains("\"libncursesw6\""),
        "htop's Depends are locked: {fresh}"
    );
    // Debian moves on: the pinned version is gone.
    let stale = fresh.replace(
        &pinned,
        &format!("\"version\": \"{version}.0\",\n      \"sha256\": \"{sha}\""),
    );
    assert_ne!(stale, fresh);
    std::fs::write(&lock, &stale).unwrap();

    let out = b8g(dir.path())
        .args(["bootstrap", "check-debian", "--debian-lock"])
        .arg(&lock)
        .output()
        .expect("run b8g");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("htop={version}.0: no longer in Debian's archive")),
        "{text}"
    );
    assert!(text.contains("b8g bootstrap lock"), "{text}");

    let expr = format!(
        "let p = import {ws}/recipes/pkgs {{ }}; in (import {ws}/recipes/debian {{ \
         inherit (p) lib bootstrap symlinkJoin b8gTree; lockFile = {lock}; }}).htop",
        ws = workspace.canonicalize().unwrap().display(),
        lock = lock.display()
    );
    let out = b8g(dir.path())
        .args(["build", "--no-out-link", "-E", &expr])
        .output()
        .expect("run b8g");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "cannot download the pinned package htop={version}.0"
        )) && text.contains("Run `b8g bootstrap lock` to refresh"),
        "{text}"
    );

    // The refresh (with a one-pin seeds file, so only the lock is slow to ask about).
    let pins = dir.path().join("pins.nix");
    let (make, make_sha) = apt_show("make");
    std::fs::write(
        &pins,
        format!("{{\n  make = {{\n    package = \"make\";\n    version = \"{make}\";\n    sha256 = \"{make_sha}\";\n  }};\n}}\n"),
    )
    .unwrap();
    let out = b8g(dir.path())
        .args(["bootstrap", "lock", "--pins"])
        .arg(&pins)
        .arg("--debian-lock")
        .arg(&lock)
        .output()
        .expect("run b8g");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("debian htop: {version}.0 -> {version}")),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), fresh);

    let out = b8g(dir.path())
        .args([
            "bootstrap",
            "add-debian",
            "no-such-package-b8g",
            "--debian-lock",
        ])
        .arg(&lock)
        .output()
        .expect("run b8g");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("Debian package no-such-package-b8g (needed by the lock's roots) is not in apt's indices"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        fresh,
        "a failed add changes nothing"
    );
}
