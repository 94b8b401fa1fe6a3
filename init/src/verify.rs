//! Offline checking, like `systemd-analyze verify`: unit files, inittab and LSB
//! headers are parsed and every problem is reported as `file:line`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::unit::load::load_file;
use crate::unit::name::{self, SpecifierDirs};
use crate::unit::parse::Diags;
use crate::unit::{Diagnostic, UnitKind};

/// Diagnostics for one file, chosen by its name.
pub fn verify_file(path: &Path) -> Vec<Diagnostic> {
    let fname = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
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
        // A template is checked as an instance so specifiers resolve.
        let unit_name = if fname.contains("@.") {
            fname.replacen("@.", "@instance.", 1)
        } else {
            fname.clone()
        };
        load_file(&unit_name, path, &[], &SpecifierDirs::default(), &mut d);
        return list;
    }
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
