//! `b8g bootstrap lock` against the host's apt: stale pins are brought to the
//! candidates apt offers, with the hashes of those exact versions. Needs the
//! apt lists (`cargo xtask test` runs `apt-get update`) and, for the source
//! pin, network access to the host's configured archive.

use std::process::Command;

use b8g_builder::builtin::pins::{lock_pins, AptResolver};

fn apt(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("cannot run apt-cache: this test needs apt");
    assert!(out.status.success(), "{args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lock_refreshes_stale_binary_and_source_pins() {
    let stale = "{\n  make = {\n    package = \"make\";\n    version = \"0.1-1\";\n    sha256 = \"0000\";\n  };\n  hello-source = {\n    source = \"hello\";\n    version = \"0.1-1\";\n    file = \"hello_0.1.orig.tar.gz\";\n    sha256 = \"0000\";\n  };\n}\n";
    let (new, changes) = lock_pins(stale, &AptResolver::default()).expect("lock");
    assert_eq!(changes.len(), 2, "{changes:?}");

    // The binary pin: apt-cache policy's candidate, and that version's hash.
    let policy = apt(&["apt-cache", "policy", "make"]);
    let candidate = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .expect("apt knows make (run apt-get update)")
        .trim()
        .to_owned();
    let show = apt(&["apt-cache", "show", &format!("make={candidate}")]);
    let sha = show
        .lines()
        .find_map(|l| l.strip_prefix("SHA256:"))
        .expect("SHA256 field")
        .trim();
    assert!(
        new.contains(&format!("version = \"{candidate}\";")),
        "{new}"
    );
    assert!(new.contains(&format!("sha256 = \"{sha}\";")), "{new}");

    // The source pin: an .orig.tar of hello with a sha256.
    let src = new.split("hello-source").nth(1).expect("source entry kept");
    let file = src
        .lines()
        .find_map(|l| l.trim().strip_prefix("file = \""))
        .expect("file line");
    assert!(
        file.starts_with("hello_") && file.contains(".orig.tar."),
        "{src}"
    );
    let hash = src
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256 = \""))
        .expect("sha256 line")
        .trim_end_matches("\";");
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{src}"
    );
}
