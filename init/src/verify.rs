//! Offline checking, like `systemd-analyze verify`: unit files, inittab and LSB
//! headers are parsed and every problem is reported as `file:line`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::unit::load::load_file;
use crate::unit::name::{self, SpecifierDirs};
use crate::unit::parse::Diags;
use crate::unit::{Diagnostic, UnitKind};

/// Unit types systemd has that b8g-init does not run.
const OTHER_SYSTEMD_KINDS: &[&str] = &["device", "automount", "scope"];

/// Diagnostics for one file, chosen by its name: a unit file, a drop-in (`*.conf` in
/// `NAME.TYPE.d/`), inittab, or else an LSB init script.
pub fn verify_file(path: &Path) -> Vec<Diagnostic> {
    let fname = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let note = |error: bool, message: String| Diagnostic {
        location: path.display().to_string(),
        error,
        message,
    };
    if let Some((_, suffix)) = fname.rsplit_once('.') {
        if OTHER_SYSTEMD_KINDS.contains(&suffix) {
            return vec![note(
                false,
                format!("b8g-init does not run .{suffix} units; not checked"),
            )];
        }
        if suffix == "conf" {
            return verify_dropin(path, &fname);
        }
    }
    let mut list = Vec::new();
    if UnitKind::from_name(&fname).is_some() {
        if let Err(e) = name::validate(&fname) {
            list.push(Diagnostic {
                location: path.display().to_string(),
                error: true,
                message: e,
            });
        }
        let mut warned = BTreeSet::new();
        let mut d = Diags {
            list: &mut list,
            warned: &mut warned,
        };
        // As `systemd-analyze verify` puts the file's directory on the unit path: the
        // drop-ins beside it apply (Debian's bip-config.service gets its ExecStart=
        // from bip-config.service.d/).
        let instance = as_instance(&fname);
        let dropins = path
            .parent()
            .map(|dir| {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                crate::unit::load::dropins_of(&[dir.to_path_buf()], &instance)
            })
            .unwrap_or_default();
        load_file(&instance, path, &dropins, &SpecifierDirs::default(), &mut d);
        return list;
    }
    verify_script(path, &fname)
}

/// [`verify_file`], with names b8g-init does not know (an unknown directive or
/// section: a typo such as `Tpye=`) as errors rather than warnings. The build of
/// a system checks its generated units this way: systemd would ignore the line
/// and run something else than was written.
pub fn verify_file_strict(path: &Path) -> Vec<Diagnostic> {
    let mut list = verify_file(path);
    for d in &mut list {
        if crate::unit::parse::names_something_unknown(&d.message) {
            d.error = true;
            // Not ignored any more: the check fails.
            if let Some(m) = d.message.strip_suffix(", ignored") {
                d.message = m.to_string();
            }
        }
    }
    list
}

/// A template is checked as an instance so specifiers resolve.
fn as_instance(name: &str) -> String {
    if name.contains("@.") {
        name.replacen("@.", "@instance.", 1)
    } else {
        name.to_string()
    }
}

/// A drop-in is checked against the kind of unit its directory names; checks of the
/// whole unit (a service without ExecStart=) belong to the unit, not to the drop-in.
fn verify_dropin(path: &Path, fname: &str) -> Vec<Diagnostic> {
    let unit = path
        .parent()
        .and_then(Path::file_name)
        .map(|d| d.to_string_lossy().into_owned())
        .and_then(|d| d.strip_suffix(".d").map(str::to_string))
        .filter(|u| UnitKind::from_name(u).is_some());
    let Some(unit) = unit else {
        return vec![Diagnostic {
            location: path.display().to_string(),
            error: false,
            message: format!(
                "{fname} is not in a unit's drop-in directory (NAME.TYPE.d/); not checked"
            ),
        }];
    };
    let mut list = Vec::new();
    let mut warned = BTreeSet::new();
    let mut d = Diags {
        list: &mut list,
        warned: &mut warned,
    };
    load_file(
        &as_instance(&unit),
        path,
        &[],
        &SpecifierDirs::default(),
        &mut d,
    );
    let whole_unit = path.display().to_string();
    list.retain(|d| d.location != whole_unit);
    list
}

fn verify_script(path: &Path, fname: &str) -> Vec<Diagnostic> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            return vec![Diagnostic {
                location: path.display().to_string(),
                error: true,
                message: format!("cannot read: {e}"),
            }]
        }
    };
    if fname == "inittab" {
        return crate::sysv::parse_inittab(&path.display().to_string(), &text).1;
    }
    let (h, mut d) = crate::sysv::parse_lsb(&path.display().to_string(), &text);
    if h.is_none() && d.is_empty() {
        d.push(Diagnostic {
            location: path.display().to_string(),
            error: false,
            message: "no LSB header (### BEGIN INIT INFO); ordering falls back to rcN.d priorities"
                .into(),
        });
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_automounts_and_dropins_are_not_sysv_scripts() {
        // Regression: they were read as LSB scripts ("no LSB header").
        let d = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        };
        let slice = write("system-getty.slice", "[Slice]\nTasksMax=50%\n");
        let automount = write(
            "proc-sys-fs-binfmt_misc.automount",
            "[Automount]\nWhere=/x\n",
        );
        let diags = verify_file(&automount);
        assert!(diags.iter().all(|d| !d.error), "{diags:?}");
        assert!(diags[0].message.contains("does not run"), "{diags:?}");
        // Slices are units now: checked like any other, and this one is clean.
        assert_eq!(verify_file(&slice), []);
        let bad_slice = write("bad.slice", "[Slice]\nMemoryMax=lots\n");
        assert!(verify_file(&bad_slice)
            .iter()
            .any(|d| d.error && d.message.contains("MemoryMax")));
        let good = write(
            "nginx.service.d/override.conf",
            "[Service]\nLimitNOFILE=65536\nExecStart=\nExecStart=/usr/sbin/nginx\n",
        );
        assert_eq!(verify_file(&good), []);
        let partial = write(
            "getty@.service.d/noclear.conf",
            "[Service]\nTTYVTDisallocate=no\n",
        );
        assert!(verify_file(&partial)
            .iter()
            .all(|d| !d.error && !d.message.contains("ExecStart")));
        let bad = write("x.service.d/bad.conf", "[Service]\nType=bogus\n");
        let diags = verify_file(&bad);
        assert!(
            diags
                .iter()
                .any(|d| d.error && d.location.ends_with("bad.conf:2")),
            "{diags:?}"
        );
        let stray = write("etc/foo.conf", "key=value\n");
        let diags = verify_file(&stray);
        assert!(
            diags.iter().all(|d| !d.error) && diags[0].message.contains("drop-in"),
            "{diags:?}"
        );
    }

    #[test]
    fn strict_verification_makes_a_typo_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.service");
        std::fs::write(
            &p,
            "[Unit]\nDescription=x\n[Service]\nTpye=simple\nExecStart=/bin/true\n[Bogus]\nA=b\n",
        )
        .unwrap();
        assert!(verify_file(&p).iter().all(|d| !d.error));
        let strict = verify_file_strict(&p);
        let errors: Vec<String> = strict
            .iter()
            .filter(|d| d.error)
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{strict:?}");
        assert!(
            errors[0].ends_with("x.service:4: error: unknown directive Tpye="),
            "{errors:?}"
        );
        assert!(errors[1].contains("unknown section [Bogus]"), "{errors:?}");
        // Directives b8g-init parses but does not enforce stay warnings.
        std::fs::write(&p, "[Service]\nProtectSystem=strict\nExecStart=/bin/true\n").unwrap();
        assert!(verify_file_strict(&p).iter().all(|d| !d.error));
    }

    #[test]
    fn drop_ins_beside_the_unit_apply() {
        // Debian 12's bip: ExecStart= comes from the package's own drop-in.
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path().join("bip-config.service");
        std::fs::write(&unit, "[Service]\nType=oneshot\n").unwrap();
        assert!(verify_file(&unit).iter().any(|d| d.error));
        std::fs::create_dir(dir.path().join("bip-config.service.d")).unwrap();
        std::fs::write(
            dir.path().join("bip-config.service.d/bip-config.conf"),
            "[Service]\nExecStart=/usr/share/bip/bip_env.sh\n",
        )
        .unwrap();
        assert_eq!(verify_file(&unit), []);
        // A template's drop-ins apply to the instance it is checked as.
        let tpl = dir.path().join("t@.service");
        std::fs::write(&tpl, "[Service]\nType=oneshot\n").unwrap();
        std::fs::create_dir(dir.path().join("t@.service.d")).unwrap();
        std::fs::write(
            dir.path().join("t@.service.d/x.conf"),
            "[Service]\nExecStart=/bin/t %i\n",
        )
        .unwrap();
        assert_eq!(verify_file(&tpl), []);
    }

    #[test]
    fn verify_golden() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/init/verify");
        let mut checked = 0;
        for e in std::fs::read_dir(&dir).expect("testdata/init/verify") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".exp") || name.ends_with(".md") {
                continue;
            }
            // verify_file names inittab by its file name; the fixture is called fail-inittab.
            let diags = if name.ends_with("inittab") {
                let text = std::fs::read_to_string(&p).expect("read");
                crate::sysv::parse_inittab(&p.display().to_string(), &text).1
            } else {
                verify_file(&p)
            };
            let prefix = format!("{}/", dir.display());
            let got: String = diags
                .iter()
                .map(|d| format!("{}\n", d.to_string().replace(&prefix, "")))
                .collect();
            let want =
                std::fs::read_to_string(dir.join(format!("{name}.exp"))).expect("expected output");
            assert_eq!(got, want, "diagnostics of {name}");
            assert_eq!(
                diags.iter().any(|d| d.error),
                name.starts_with("fail-"),
                "{name}"
            );
            checked += 1;
        }
        assert!(checked >= 4);
    }
}
