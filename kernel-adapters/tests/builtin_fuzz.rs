//! Property tests of the text the kernel adapters' builtin builders parse from
//! derivation attributes (the unikernel `layout`, the unikernel `manifest`, the
//! initrd's `kernel`/`busybox`/`modules` attributes): no input panics, and no
//! input makes a builtin read outside its inputs or write outside its output.
//! `PROPTEST_CASES` sets the number of cases (default small, for `cargo test`).

use b8g_builder::builtin::{BuiltinBuilder, BuiltinContext, StoreInputs};
use b8g_kernel_adapters::linux::stage1::InitrdBuilder;
use b8g_kernel_adapters::unikernel::builder::{parse_layout, LayoutEntry, UnikernelBuilder};
use b8g_kernel_adapters::unikernel::manifest::Manifest;
use b8g_kernel_adapters::unikernel::{escape, unescape};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

const KERNEL: &str = "11111111111111111111111111111111-kernel";
const BUSYBOX: &str = "22222222222222222222222222222222-busybox";
const OTHER: &str = "33333333333333333333333333333333-other";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64)
}

/// A chroot store: a kernel and a busybox in the closure, another path and a
/// secret outside it.
fn fixture() -> (tempfile::TempDir, StoreInputs) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("b8g/store");
    fs::create_dir_all(store.join(KERNEL).join("lib/modules/6.1.0-test")).unwrap();
    fs::write(store.join(KERNEL).join("vmlinuz"), "kernel").unwrap();
    fs::create_dir_all(store.join(BUSYBOX).join("bin")).unwrap();
    fs::write(store.join(BUSYBOX).join("bin/busybox"), "busybox").unwrap();
    symlink("../../../../secret", store.join(BUSYBOX).join("up")).unwrap();
    symlink("/secret", store.join(BUSYBOX).join("abs")).unwrap();
    fs::create_dir_all(store.join(OTHER).join("bin")).unwrap();
    fs::write(store.join(OTHER).join("bin/busybox"), "other").unwrap();
    fs::write(dir.path().join("secret"), "SECRET-BYTES").unwrap();
    fs::create_dir(dir.path().join("staging")).unwrap();
    let inputs = StoreInputs::new(
        &store,
        "/b8g/store",
        [KERNEL.to_string(), BUSYBOX.to_string()],
    )
    .unwrap();
    (dir, inputs)
}

/// A path a hostile derivation might name.
fn path() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(KERNEL.to_string()),
        Just(BUSYBOX.to_string()),
        Just(OTHER.to_string()),
        "(bin|busybox|up|abs|lib|modules|secret|vmlinuz|b8g|store)",
    ];
    (
        prop_oneof![Just("/b8g/store/"), Just("/"), Just("")],
        proptest::collection::vec(part, 0..6),
    )
        .prop_map(|(p, parts)| format!("{p}{}", parts.join("/")))
}

/// Nothing but the output appeared in staging, no output holds the secret.
fn check_contained(dir: &std::path::Path) -> Result<(), TestCaseError> {
    let staged: Vec<_> = fs::read_dir(dir.join("staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    prop_assert!(staged.iter().all(|n| n == "out"), "{staged:?}");
    let mut top: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    prop_assert_eq!(top, vec!["b8g", "secret", "staging"]);
    let mut stack = vec![dir.join("staging")];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if m.is_file() {
            let data = fs::read(&p).unwrap();
            prop_assert!(
                !data.windows(12).any(|w| w == b"SECRET-BYTES"),
                "{} holds the secret",
                p.display()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn layout_parser_never_panics(s in "[a-z\t/\\\\n0-9 ]{0,80}") {
        let _ = parse_layout(&s);
    }

    #[test]
    fn layout_round_trips_through_escape(dest in ".{0,20}", contents in ".{0,40}", mode in 0u32..0o7777) {
        let line = format!("text\t{}\t{mode:o}\t{}\n", escape(&dest), escape(&contents));
        prop_assert_eq!(
            parse_layout(&line).unwrap(),
            vec![LayoutEntry::Text { dest: dest.clone(), mode, contents: contents.clone() }]
        );
        prop_assert_eq!(unescape(&escape(&contents)).unwrap(), contents);
    }

    #[test]
    fn manifest_parser_never_panics(s in "(memory|machine|append|qemu-arg|x)?=?[-a-zA-Z0-9,=\\\\\n]{0,60}") {
        if let Ok(m) = Manifest::parse(&s) {
            prop_assert!(m.memory_mib >= 16);
        }
    }

    /// The initrd builtin with hostile `kernel`/`busybox`/`modules`: it reads
    /// only its inputs and writes only its output.
    #[test]
    fn initrd_attributes_are_contained(
        kernel in path(),
        busybox in path(),
        modules in "[a-z_ .-]{0,20}",
        init in ".{0,20}",
    ) {
        let (dir, inputs) = fixture();
        let env: BTreeMap<String, String> = [
            ("kernel", kernel),
            ("busybox", busybox),
            ("modules", modules),
            ("init", init),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let outputs: BTreeMap<String, PathBuf> =
            [("out".to_string(), dir.path().join("staging/out"))].into();
        let cx = BuiltinContext { env: &env, outputs: &outputs, inputs: &inputs };
        let _ = InitrdBuilder.build(&cx);
        check_contained(dir.path())?;
    }

    /// The unikernel builtin with a hostile `layout` and `roots`.
    #[test]
    fn unikernel_attributes_are_contained(
        roots in proptest::collection::vec(path(), 0..3),
        copies in proptest::collection::vec((path(), "[a-z/.]{1,10}"), 0..3),
    ) {
        let (dir, inputs) = fixture();
        let layout: String = copies
            .iter()
            .map(|(src, dest)| format!("copy\t/{}\t{}\n", escape(dest), escape(src)))
            .collect();
        let env: BTreeMap<String, String> = [
            ("kernel", format!("/b8g/store/{KERNEL}")),
            ("shim", format!("/b8g/store/{BUSYBOX}/bin/busybox")),
            ("storeDir", "/b8g/store".to_string()),
            ("roots", roots.join(" ")),
            ("modules", String::new()),
            ("config", String::new()),
            ("layout", layout),
            ("manifest", String::new()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let outputs: BTreeMap<String, PathBuf> =
            [("out".to_string(), dir.path().join("staging/out"))].into();
        let cx = BuiltinContext { env: &env, outputs: &outputs, inputs: &inputs };
        let _ = UnikernelBuilder.build(&cx);
        check_contained(dir.path())?;
    }
}
