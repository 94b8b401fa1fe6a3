//! Stage 1 is a busybox script (`recipes/modules/system/initrd.nix`) and
//! cannot use b8g-layout, so it keeps its own copy of the generation layout
//! and the boot entry format. This test holds that copy, and the toplevel's
//! files (`recipes/modules/system/toplevel.nix`), to the crate:
//! a change on either side without the other fails here.

use b8g_layout::boot_entry::{KEYS, LAST_BOOT_KEYS};
use b8g_layout::generation::{
    entry_file_name, generation_link_name, toplevel, BOOT_DIR, ENTRIES_DIR, LAST_BOOT_FILE,
    PROFILES_DIR, SYSTEM_PROFILE,
};
use std::path::Path;

fn module(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recipes/modules/system")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_has(text: &str, what: &str) {
    assert!(text.contains(what), "the module lacks {what:?}");
}

/// `key=%s\n` for each key: the printf format of a kv file.
fn printf_format(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("{k}=%s\\n")).collect()
}

#[test]
fn stage1_reads_and_writes_the_layout_crates_files() {
    let s = module("initrd.nix");
    assert_has(&s, &format!("boot=/sysroot{BOOT_DIR}\n"));
    assert_has(
        &s,
        &format!("readlink /sysroot{PROFILES_DIR}/{SYSTEM_PROFILE} "),
    );
    // The profile link names `system-N-link`; stage 1 strips it down to N.
    assert_eq!(generation_link_name(SYSTEM_PROFILE, 7), "system-7-link");
    assert_has(&s, "cur=''${cur#system-}; cur=''${cur%-link}");
    // Entry files, by generation number.
    let entry = entry_file_name(4711).replace("4711", "$cur");
    assert_has(&s, &format!("f=\"$boot/{ENTRIES_DIR}/{entry}\""));
    // An entry is read key by key and written in the crate's order.
    for k in KEYS {
        assert_has(&s, &format!("{k})"));
    }
    assert_has(&s, &format!("printf '{}'", printf_format(KEYS)));
    // The record of the last boot.
    assert_has(&s, &format!("printf '{}'", printf_format(LAST_BOOT_KEYS)));
    assert_has(&s, &format!("\"$boot/{LAST_BOOT_FILE}.tmp\""));
    // The generation named on the kernel command line.
    assert_has(
        &s,
        &format!("{p}*) system=\"''${{w#{p}}}\"", p = toplevel::SYSTEM_PARAM),
    );
    // A boot loader's choice (its entries carry this parameter) is not made again.
    let (param, _) = b8g_layout::loader::LOADER_PARAM
        .split_once('=')
        .expect("a key=value parameter");
    assert_has(&s, &format!("{param}=*) loader=\"''${{w#{param}=}}\""));
}

#[test]
fn the_toplevel_names_itself_in_its_kernel_params() {
    let s = module("toplevel.nix");
    assert_has(
        &s,
        &format!(
            "params = [ \"{}\" ]",
            toplevel::system_param(toplevel::PLACEHOLDER)
        ),
    );
    for part in [
        toplevel::KERNEL,
        toplevel::INITRD,
        toplevel::INIT,
        toplevel::KERNEL_PARAMS,
        toplevel::BOOT_TRIES,
    ] {
        assert_has(&s, &format!("\n    {part} = {{ type = "));
    }
}
