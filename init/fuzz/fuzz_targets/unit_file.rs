//! Unit files: INI layer and typed parse for every unit kind, with drop-ins layered on
//! the fragment (the input's part after a NUL byte is a drop-in) and specifiers in
//! template instances (`%i`, `%I`, `%j`, `%J`, `%p`, …).
#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use b8g_init::unit::ini::RawUnit;
use b8g_init::unit::name::{expand_specifiers, SpecifierDirs};
use b8g_init::unit::parse::{unit_from_raw, Diags};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (fragment, dropins) = text.split_once('\0').unwrap_or((&text, ""));
    let names = [
        "f@i.service",
        "a-b@x\\x2dy-z.service",
        "f.socket",
        "f.timer",
        "f.target",
        "-.mount",
        "f.path",
        "f-g.slice",
        "dev-vdb.swap",
    ];
    for name in names {
        let mut raw = RawUnit::default();
        let _ = raw.add_source(Path::new(name), fragment);
        for (i, d) in dropins.split('\0').enumerate().filter(|(_, d)| !d.is_empty()) {
            let _ = raw.add_source(Path::new(&format!("{name}.d/{i}.conf")), d);
        }
        let mut list = Vec::new();
        let mut warned = BTreeSet::new();
        let _ = unit_from_raw(name, &raw, &SpecifierDirs::default(), &mut Diags { list: &mut list, warned: &mut warned });
        // Specifiers on their own, on the input's first line, with a template's names.
        let line = fragment.lines().next().unwrap_or("");
        let _ = expand_specifiers(line, name, &SpecifierDirs::default(), None);
    }
});
