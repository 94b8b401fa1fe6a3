//! Boot entries as b8g-system writes them and the other sides change them:
//! fresh entries follow the profile (tries from the toplevel's `boot-tries`),
//! b8g-init's verdict and stage 1's record are read back, and entries of
//! deleted generations go. No store is needed: toplevels here are plain
//! directories under a physical root.

use std::fs;
use std::path::Path;

use b8g_layout::boot_entry::{self, LastBoot};
use b8g_layout::kv;
use b8g_system::generations::entries::{BootEntries, BootEntry, DEFAULT_TRIES};
use b8g_system::generations::profile::{Profile, Selection};

fn toplevel(root: &Path, name: &str, tries: Option<&str>) -> String {
    let logical = format!("/b8g/store/{name}");
    let dir = root.join(logical.trim_start_matches('/'));
    fs::create_dir_all(&dir).expect("mkdir");
    if let Some(t) = tries {
        fs::write(dir.join("boot-tries"), t).expect("write");
    }
    logical
}

#[test]
fn entries_follow_the_profile_and_read_back_what_init_and_stage_1_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let profile = Profile::new(root.join("b8g/var/profiles"), "system");
    let boot = BootEntries::new(root.join("b8g/var/boot"));
    let t1 = toplevel(root, "a-system-1", None);
    let t2 = toplevel(root, "b-system-2", Some("5\n"));
    for t in [&t1, &t2] {
        let n = profile.add(t).expect("add");
        profile.set_current(n).expect("set");
    }
    boot.sync(&profile, Some(root)).expect("sync");
    let e1 = boot.read(1).expect("read").expect("entry 1");
    assert_eq!(
        (e1.toplevel.as_str(), e1.tries),
        (t1.as_str(), DEFAULT_TRIES)
    );
    assert_eq!(
        fs::read_to_string(boot.entry_path(2)).expect("entry 2"),
        format!("generation=2\ntoplevel={t2}\ntries=5\ngood=0\nreason=\n")
    );

    // b8g-init's boot-check rewrites the entry as key=value lines.
    let path = boot.entry_path(2);
    let mut lines = kv::parse(&fs::read_to_string(&path).expect("read"));
    lines.insert(boot_entry::GOOD.into(), "1".into());
    fs::write(&path, kv::render(boot_entry::KEYS, &lines)).expect("write");
    let e2 = boot.read(2).expect("read").expect("entry 2");
    assert!(e2.good);
    // A later sync keeps the counters of an existing entry.
    boot.sync(&profile, Some(root)).expect("sync");
    assert_eq!(boot.read(2).expect("read"), Some(e2));

    // Stage 1's record of the last boot.
    fs::write(
        boot.dir.join("last-boot"),
        "generation=1\nskipped=2\nskipped_reason=it hung\n",
    )
    .expect("write");
    assert_eq!(
        boot.last_boot(),
        LastBoot {
            generation: Some(1),
            skipped: vec![2],
            skipped_reason: "it hung".into(),
        }
    );

    // Deleting generation 1 (not the default) removes its entry; mark_good on
    // a missing entry does nothing.
    profile
        .delete(&Selection::Numbers(vec![1]), &[])
        .expect("delete");
    boot.sync(&profile, Some(root)).expect("sync");
    assert_eq!(boot.read(1).expect("read"), None);
    boot.mark_good(1).expect("mark");
    assert!(!boot.entry_path(1).exists());
    let all: Vec<BootEntry> = boot.all().expect("all").into_values().collect();
    assert_eq!(all.len(), 1);
    let ext = fs::read_to_string(root.join("b8g/var/boot/extlinux/extlinux.conf")).expect("ext");
    assert!(ext.contains(&format!("APPEND b8g.system={t2}\n")), "{ext}");
}
