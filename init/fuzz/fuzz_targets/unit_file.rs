//! Unit files: INI layer, typed parse with specifiers, for every unit kind.
#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use b8g_init::unit::ini::RawUnit;
use b8g_init::unit::name::SpecifierDirs;
use b8g_init::unit::parse::{unit_from_raw, Diags};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for name in ["f@i.service", "f.socket", "f.timer", "f.target", "-.mount"] {
        let mut raw = RawUnit::default();
        let _ = raw.add_source(Path::new(name), &text);
        let mut list = Vec::new();
        let mut warned = BTreeSet::new();
        let _ = unit_from_raw(name, &raw, &SpecifierDirs::default(), &mut Diags { list: &mut list, warned: &mut warned });
    }
});
