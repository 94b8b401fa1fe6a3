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
