//! The ESP's plan (names, counters, sort keys, the default) and its sync onto
//! a mounted directory.

use std::fs;
use std::path::Path;

use b8g_layout::loader::EntryName;

use super::*;
use crate::generations::Generations;

/// A tree with two generations of a fake system (files where the store's would be).
fn tree(root: &Path) -> Generations {
    let store = root.join("b8g/store");
    for (top, kernel) in [("aaaa-b8g-system-box", "k1"), ("bbbb-b8g-system-box", "k2")] {
        let t = store.join(top);
        fs::create_dir_all(&t).expect("toplevel");
        fs::write(t.join("init"), "").expect("init");
        fs::write(t.join("kernel"), kernel).expect("kernel");
        fs::write(t.join("initrd"), "initrd").expect("initrd");
        fs::write(t.join("kernel-params"), "b8g.system=@toplevel@ quiet\n").expect("params");
        fs::write(t.join("boot-tries"), "2\n").expect("tries");
        fs::write(t.join("systemd-boot"), format!("loader of {top}")).expect("loader");
        fs::write(t.join("loader-timeout"), "7\n").expect("timeout");
    }
    let gens = Generations::new(Some(root), None);
    for top in ["aaaa-b8g-system-box", "bbbb-b8g-system-box"] {
        gens.profile
            .add(&format!("/b8g/store/{top}"))
            .expect("generation");
    }
    gens.profile.set_current(1).expect("default");
    gens.boot
        .sync(&gens.profile, Some(root))
        .expect("stage 1 entries");
    gens
}

fn entries(plan: &EspPlan) -> Vec<&str> {
    plan.texts
        .keys()
        .filter_map(|k| k.strip_prefix("loader/entries/"))
        .collect()
}

#[test]
fn generations_on_trial_get_counters_and_the_default_sorts_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gens = tree(dir.path());
    let plan = plan(&gens, &[]).expect("plan");
    let conf = &plan.texts["loader/loader.conf"];
    assert_eq!(
        conf,
        "default b8g-*\ntimeout 7\neditor no\nconsole-mode keep\n"
    );
    // Neither is good yet: both on trial with the toplevel's boot-tries.
    assert_eq!(entries(&plan), ["b8g-1+2.conf", "b8g-2+2.conf"]);
    let e1 = &plan.texts["loader/entries/b8g-1+2.conf"];
    assert!(e1.starts_with("title b8g box generation 1 ("), "{e1}");
    assert!(e1.contains("\nsort-key b8g-1\nversion 1\n"), "{e1}");
    assert!(
        e1.contains("options b8g.system=/b8g/store/aaaa-b8g-system-box quiet b8g.loader=systemd-boot console=tty0 console=ttyS0,115200\n"),
        "{e1}"
    );
    assert!(plan.texts["loader/entries/b8g-2+2.conf"].contains("\nsort-key b8g-3\n"));
    // The same initrd is one file; the kernels differ.
    let kernels = plan
        .copies
        .keys()
        .filter(|k| k.ends_with("-kernel"))
        .count();
    let initrds = plan
        .copies
        .keys()
        .filter(|k| k.ends_with("-initrd"))
        .count();
    assert_eq!((kernels, initrds), (2, 1), "{:?}", plan.copies);
    let boot = &plan.copies[FALLBACK_EFI];
    assert!(
        boot.ends_with("aaaa-b8g-system-box/systemd-boot"),
        "{boot:?}"
    );
}

#[test]
fn a_good_generation_is_blessed_and_becomes_the_fallback_of_a_new_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gens = tree(dir.path());
    gens.boot.mark_good(1).expect("good");
    gens.profile.set_current(2).expect("default");
    // systemd-boot has counted generation 2 down once already.
    let counted = EntryName {
        generation: 2,
        tries: Some((1, 1)),
    };
    let plan = plan(&gens, &[counted]).expect("plan");
    assert_eq!(entries(&plan), ["b8g-1.conf", "b8g-2+1-1.conf"]);
    assert!(plan.texts["loader/entries/b8g-2+1-1.conf"].contains("\nsort-key b8g-1\n"));
    assert!(plan.texts["loader/entries/b8g-1.conf"].contains("\nsort-key b8g-2\n"));
    // The loader comes from the default generation.
    assert!(plan.copies[FALLBACK_EFI].ends_with("bbbb-b8g-system-box/systemd-boot"));
}

#[test]
fn a_toplevel_without_a_loader_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gens = tree(dir.path());
    fs::remove_file(
        dir.path()
            .join("b8g/store/aaaa-b8g-system-box/systemd-boot"),
    )
    .expect("rm");
    let e = plan(&gens, &[]).expect_err("no loader");
    assert!(
        e.to_string().contains("boot.loader.systemd-boot.enable"),
        "{e}"
    );
}

#[test]
fn a_mounted_esp_follows_the_profile_and_loses_what_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let gens = tree(root);
    assert_eq!(gens.esp.as_deref(), None, "made before the ESP was there");
    let esp = root.join("boot");
    fs::create_dir_all(esp.join("loader")).expect("esp");
    fs::write(esp.join("loader/loader.conf"), "").expect("conf");
    let gens = Generations::new(Some(root), None);
    assert_eq!(gens.esp.as_deref(), Some(esp.as_path()));
    // Someone else's entry on the same ESP is left alone.
    fs::create_dir_all(esp.join("loader/entries")).expect("entries");
    fs::write(esp.join("loader/entries/debian.conf"), "title x\n").expect("other");
    gens.sync_boot().expect("sync");
    let names = |esp: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(esp.join("loader/entries"))
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&esp), ["b8g-1+2.conf", "b8g-2+2.conf", "debian.conf"]);
    assert_eq!(
        fs::read_to_string(esp.join("EFI/BOOT/BOOTX64.EFI")).expect("loader"),
        "loader of aaaa-b8g-system-box"
    );
    assert_eq!(
        fs::read_dir(esp.join("EFI/b8g")).expect("kernels").count(),
        3
    );
    // A sync that power loss cut short left temporaries; the next sync removes
    // them (and leaves a dot file that is not one alone).
    fs::write(
        esp.join("loader/entries/.b8g-2+2.conf.tmp-99999999"),
        "title half",
    )
    .expect("tmp");
    fs::write(esp.join("loader/.loader.conf.tmp-99999998"), "def").expect("tmp");
    fs::write(esp.join("loader/.keep"), "").expect("dot file");
    gens.sync_boot().expect("sync");
    assert_eq!(names(&esp), ["b8g-1+2.conf", "b8g-2+2.conf", "debian.conf"]);
    assert!(!esp.join("loader/.loader.conf.tmp-99999998").exists());
    assert!(esp.join("loader/.keep").is_file());
    // systemd-boot counts a boot of generation 1; then generation 2 is deleted.
    fs::rename(
        esp.join("loader/entries/b8g-1+2.conf"),
        esp.join("loader/entries/b8g-1+1-1.conf"),
    )
    .expect("count");
    gens.delete(
        &crate::generations::profile::Selection::Numbers(vec![2]),
        &[],
    )
    .expect("delete");
    assert_eq!(names(&esp), ["b8g-1+1-1.conf", "debian.conf"]);
    // Generation 2's kernel went with it; the shared initrd stays.
    assert_eq!(
        fs::read_dir(esp.join("EFI/b8g")).expect("kernels").count(),
        2
    );
    assert!(fs::read_to_string(esp.join("loader/loader.conf"))
        .expect("conf")
        .starts_with("default b8g-*\n"));
    // No temporary files are left behind.
    for d in ["loader", "loader/entries", "EFI/b8g", "EFI/BOOT"] {
        for e in fs::read_dir(esp.join(d)).expect("read") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(!name.contains("tmp"), "{d}/{name}");
        }
    }
}

#[test]
fn a_toplevels_links_cannot_lead_out_of_the_store_or_into_loader_conf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let gens = tree(root);
    let secret = root.join("secret");
    fs::write(&secret, "TOP-SECRET").expect("secret");
    let top = root.join("b8g/store/aaaa-b8g-system-box");
    // A timeout that is not a number, with lines for loader.conf in it.
    fs::write(
        top.join("loader-timeout"),
        "0\ndefault evil.conf\neditor yes\n",
    )
    .expect("timeout");
    let plan_text = plan(&gens, &[]).expect("plan");
    assert_eq!(
        plan_text.texts["loader/loader.conf"],
        "default b8g-*\ntimeout 3\neditor no\nconsole-mode keep\n"
    );
    // A timeout linked to a file outside the store is not read.
    fs::remove_file(top.join("loader-timeout")).expect("rm");
    std::os::unix::fs::symlink("/../../../../../../secret", top.join("loader-timeout"))
        .expect("link");
    let p = plan(&gens, &[]).expect("plan");
    assert!(!p.texts["loader/loader.conf"].contains("SECRET"));
    // A kernel linked out of the store (through `..`) is refused, not copied.
    fs::remove_file(top.join("kernel")).expect("rm");
    std::os::unix::fs::symlink("/b8g/store/../../secret", top.join("kernel")).expect("link");
    let e = plan(&gens, &[]).expect_err("kernel outside the store");
    assert!(e.to_string().contains("/b8g/store/../../secret"), "{e}");
}

#[test]
fn planted_links_and_odd_names_on_the_esp_are_refused_or_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let gens = tree(root);
    let esp = root.join("boot");
    fs::create_dir_all(esp.join("loader/entries")).expect("esp");
    fs::write(esp.join("loader/loader.conf"), "").expect("conf");
    drop(gens);
    let gens = Generations::new(Some(root), None);
    // Someone's entry spelled with a leading zero: not b8g's, never removed,
    // and it does not stop the sync.
    fs::write(esp.join("loader/entries/b8g-02.conf"), "title x\n").expect("odd");
    gens.sync_boot().expect("sync");
    assert!(esp.join("loader/entries/b8g-02.conf").is_file());
    // EFI/b8g made a link to a directory elsewhere: nothing is written or deleted through it.
    let victim = root.join("victim");
    fs::create_dir_all(&victim).expect("victim");
    fs::write(victim.join("passwd"), "root:x:0:0").expect("file");
    fs::remove_dir_all(esp.join("EFI/b8g")).expect("rm");
    std::os::unix::fs::symlink(&victim, esp.join("EFI/b8g")).expect("plant");
    let e = gens.sync_boot().expect_err("planted link");
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    let left: Vec<_> = fs::read_dir(&victim).expect("read").collect();
    assert_eq!(left.len(), 1, "the victim directory was touched");
}

#[test]
fn a_generation_out_of_the_loaders_tries_with_no_record_never_got_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let gens = tree(root);
    gens.boot.mark_good(1).expect("good");
    let esp = root.join("boot");
    fs::create_dir_all(esp.join("loader")).expect("esp");
    fs::write(esp.join("loader/loader.conf"), "").expect("conf");
    let gens = Generations::new(Some(root), None);
    gens.sync_boot().expect("sync");
    // systemd-boot used both tries of generation 2; no boot reached the boot check.
    fs::rename(
        esp.join("loader/entries/b8g-2+2.conf"),
        esp.join("loader/entries/b8g-2+0-2.conf"),
    )
    .expect("count");
    let list = gens.list().expect("list");
    let e2 = list[1].entry.as_ref().expect("entry of 2");
    assert_eq!(
        (e2.tries, e2.reason.as_str()),
        (0, crate::generations::NEVER_READY)
    );
    let e1 = list[0].entry.as_ref().expect("entry of 1");
    assert!(e1.good && e1.reason.is_empty());
}
