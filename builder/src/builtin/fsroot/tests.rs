use super::*;
use proptest::prelude::*;
use std::fs;
use std::os::unix::fs::symlink;

const IN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-in";
const OTHER: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-other";

/// A chroot store whose closure is `IN`, with links of every kind in it,
/// a valid-looking path `OTHER` outside the closure and a secret outside
/// the store.
fn fixture() -> (tempfile::TempDir, StoreInputs) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("b8g/store");
    let input = store.join(IN);
    fs::create_dir_all(input.join("d/e")).unwrap();
    fs::create_dir_all(store.join(OTHER)).unwrap();
    fs::write(store.join(OTHER).join("f"), "other").unwrap();
    fs::write(dir.path().join("secret"), "secret").unwrap();
    fs::write(input.join("f"), "in").unwrap();
    symlink("../../../../../../secret", input.join("up")).unwrap();
    symlink("/secret", input.join("abs")).unwrap();
    symlink(format!("/b8g/store/{OTHER}/f"), input.join("other")).unwrap();
    symlink(format!("/b8g/store/{IN}/f"), input.join("self")).unwrap();
    symlink("..", input.join("d/parent")).unwrap();
    symlink("loop", input.join("loop")).unwrap();
    let inputs = StoreInputs::new(&store, "/b8g/store", [IN.to_string()]).unwrap();
    (dir, inputs)
}

#[test]
fn opens_inside_the_closure_and_refuses_the_rest() {
    let (dir, inputs) = fixture();
    let p = |rest: &str| format!("/b8g/store/{IN}{rest}");
    assert_eq!(inputs.open(&p("/f")).unwrap().read().unwrap(), b"in");
    assert_eq!(inputs.open(&p("/self")).unwrap().read().unwrap(), b"in");
    assert!(inputs.open(&p("/d/parent/f")).is_ok());
    for bad in ["/up", "/abs", "/other"] {
        let e = inputs.open(&p(bad)).unwrap_err();
        assert!(matches!(e, BuiltinError::NotInClosure { .. }), "{bad}: {e}");
    }
    assert!(inputs.open(&p("/loop")).is_err());
    assert!(matches!(
        inputs.open(&p("/../../../secret")).unwrap_err(),
        BuiltinError::BadInput { .. }
    ));
    assert!(matches!(
        inputs.open(&format!("/b8g/store/{OTHER}/f")).unwrap_err(),
        BuiltinError::NotInClosure { .. }
    ));
    assert!(matches!(
        inputs.open(&dir.path().join("secret").display().to_string()),
        Err(BuiltinError::NotInStore(_))
    ));
}

#[test]
fn members_are_not_followed_and_must_be_in_the_closure() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("b8g/store");
    fs::create_dir_all(&store).unwrap();
    symlink("/etc", store.join(IN)).unwrap();
    let inputs = StoreInputs::new(&store, "/b8g/store", [IN.to_string()]).unwrap();
    let m = inputs.member(&format!("/b8g/store/{IN}")).unwrap();
    assert!(fs::symlink_metadata(&m).unwrap().file_type().is_symlink());
    assert!(matches!(
        inputs.member(&format!("/b8g/store/{OTHER}")),
        Err(BuiltinError::NotInClosure { .. })
    ));
    assert!(inputs.member(&format!("/b8g/store/{IN}/sub")).is_err());
    assert!(matches!(
        inputs.member("/etc"),
        Err(BuiltinError::NotInStore(_))
    ));
    // Opened, it leads out of the closure.
    assert!(inputs.open(&format!("/b8g/store/{IN}/passwd")).is_err());
}

#[test]
fn a_store_reached_through_a_symlinked_directory_still_opens() {
    // `<root>/b8g -> data/b8g`, as `/b8g -> /data/b8g` on a real machine.
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("data/b8g/store");
    fs::create_dir_all(real.join(IN)).unwrap();
    fs::write(real.join(IN).join("f"), "in").unwrap();
    symlink(format!("/b8g/store/{IN}/f"), real.join(IN).join("abs")).unwrap();
    symlink("data/b8g", dir.path().join("b8g")).unwrap();
    let inputs = StoreInputs::new(
        &dir.path().join("b8g/store"),
        "/b8g/store",
        [IN.to_string()],
    )
    .unwrap();
    let f = inputs.open(&format!("/b8g/store/{IN}/abs")).unwrap();
    assert_eq!(f.logical(), format!("/b8g/store/{IN}/f"));
    assert_eq!(f.read().unwrap(), b"in");
}

#[test]
fn output_writes_never_follow_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let out = OutputTree::new(&dir.path().join("out")).unwrap();
    out.create_dir("", 0o755).unwrap();
    out.symlink("a", outside.to_str().unwrap()).unwrap();
    out.symlink("up", "..").unwrap();
    for rel in ["a/x", "up/x", "a/b/c"] {
        assert!(out.write_file(rel, b"pwned", 0o644).is_err(), "{rel}");
        assert!(out.create_dir_all(rel).is_err(), "{rel}");
        assert!(out.symlink(rel, "/").is_err(), "{rel}");
    }
    assert!(out.write_file("a", b"pwned", 0o644).is_err());
    assert!(out.hard_link("a", "b").is_ok(), "links the symlink itself");
    assert!(out.write_file("../x", b"pwned", 0o644).is_err());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["out", "outside"]);
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just(IN.to_string()),
        Just(OTHER.to_string()),
        Just("b8g".to_string()),
        Just("store".to_string()),
        Just("secret".to_string()),
        "(up|abs|other|self|d|e|f|parent|loop)",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

    /// Whatever path a derivation names, what opens lies in the closure.
    #[test]
    fn open_never_leaves_the_closure(
        parts in proptest::collection::vec(component(), 0..8),
        prefixed in any::<bool>(),
    ) {
        let (dir, inputs) = fixture();
        let tail = parts.join("/");
        let logical = if prefixed {
            format!("/b8g/store/{IN}/{tail}")
        } else {
            format!("/{tail}")
        };
        if let Ok(f) = inputs.open(&logical) {
            let member = dir.path().canonicalize().unwrap().join("b8g/store").join(IN);
            prop_assert!(f.path().starts_with(&member), "{} opened {}", logical, f.path().display());
            let prefix = format!("/b8g/store/{IN}");
            prop_assert!(f.logical().starts_with(&prefix));
        }
    }

    /// Whatever relative path is written to, nothing appears outside the output.
    #[test]
    fn output_writes_stay_beneath(
        ops in proptest::collection::vec((0u8..4, proptest::collection::vec(component(), 1..4)), 0..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputTree::new(&dir.path().join("out")).unwrap();
        out.create_dir("", 0o755).unwrap();
        for (op, parts) in ops {
            let rel = parts.join("/");
            let _ = match op {
                0 => out.write_file(&rel, b"x", 0o644),
                1 => out.create_dir_all(&rel),
                2 => out.symlink(&rel, ".."),
                _ => out.symlink(&rel, dir.path().to_str().unwrap()),
            };
        }
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        prop_assert_eq!(names, vec!["out"]);
    }
}
