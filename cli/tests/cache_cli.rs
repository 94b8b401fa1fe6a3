//! `b8g store sign` and `b8g cache key|push|pull|verify` end to end: a
//! signature made by `store sign` travels with a push made without a key,
//! is accepted by a pull that trusts the key, and a pull trusting another
//! key is refused with nothing registered.

use std::fs;

mod store_support;
use store_support::Store;
const STORE_DIR: &str = "/b8g/store";

fn key_pair(s: &Store, name: &str) -> (String, String) {
    let secret = s.file(&format!("{name}.secret"));
    let public = s.file(&format!("{name}.public"));
    s.ok(&[
        "cache",
        "key",
        "generate",
        name,
        "--secret-file",
        secret.to_str().expect("utf-8"),
        "--public-file",
        public.to_str().expect("utf-8"),
    ]);
    let text = fs::read_to_string(&public).expect("public key");
    assert!(
        text.starts_with(&format!("{name}:")),
        "public key in Nix's name:base64 form: {text}"
    );
    (
        secret.to_str().expect("utf-8").to_owned(),
        text.trim().to_owned(),
    )
}

#[test]
fn store_sign_then_push_unsigned_then_pull_trusting_the_key() {
    let src = Store::new(STORE_DIR);
    let (secret, public) = key_pair(&src, "signer-1");
    let (_, other_public) = key_pair(&src, "other-1");
    let tree = src.file("tree");
    fs::create_dir_all(tree.join("bin")).expect("mkdir");
    fs::write(tree.join("bin/tool"), "#!/bin/sh\necho hi\n").expect("write");
    let path = src.ok(&["store", "add", tree.to_str().expect("utf-8")]);
    let path = path.trim();

    // Unsigned paths cannot be pulled by anyone.
    let info = src.ok(&["store", "path-info", "--json", path]);
    assert!(!info.contains("signer-1:"), "{info}");
    src.ok(&["store", "sign", "--key", &secret, path]);
    let info = src.ok(&["store", "path-info", "--json", path]);
    assert!(info.contains("signer-1:"), "signature recorded: {info}");
    // Signing again adds nothing.
    let out = src.run(&["store", "sign", "--key", &secret, path]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("added 0 signatures"));
    // A missing key file is a clear error.
    let out = src.run(&["store", "sign", "--key", "/nonexistent/key", path]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read secret key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Push without --key: the stored signature travels.
    let cache_dir = src.file("cache");
    let url = format!("file://{}", cache_dir.display());
    let out = src.ok(&["-q", "cache", "push", &url, path]);
    assert_eq!(out.trim(), path, "pushed paths on stdout");
    src.ok(&["cache", "verify", &url, "--trusted-public-keys", &public]);
    // Regression: the wrong key printed one identical line per path; now one
    // summary line naming how many and who signed them.
    let other = src.file("other");
    fs::write(&other, "other\n").expect("write");
    let other = src.ok(&["store", "add", other.to_str().expect("utf-8")]);
    src.ok(&["store", "sign", "--key", &secret, other.trim()]);
    src.ok(&["-q", "cache", "push", &url, other.trim()]);
    let out = src.run(&[
        "cache",
        "verify",
        &url,
        "--trusted-public-keys",
        &other_public,
    ]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 of 2 paths have no valid signature by a trusted key (signed by: signer-1); \
         are the trusted public keys the right ones?\n"
    );

    // A puller trusting another key refuses it and registers nothing.
    let wrong = Store::new(STORE_DIR);
    let out = wrong.run(&[
        "cache",
        "pull",
        &url,
        path,
        "--trusted-public-keys",
        &other_public,
    ]);
    assert!(
        !out.status.success(),
        "pulled a path signed by an untrusted key"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no valid signature by a trusted key"), "{err}");
    assert!(!wrong.run(&["store", "path-info", path]).status.success());

    // Trusting the signer: the path arrives and checks out.
    let dest = Store::new(STORE_DIR);
    dest.ok(&[
        "cache",
        "pull",
        &url,
        path,
        "--trusted-public-keys",
        &public,
    ]);
    let info = dest.ok(&["store", "path-info", "--json", path]);
    assert!(info.contains("signer-1:"), "{info}");
    dest.ok(&["store", "verify", "--check-contents"]);
}
