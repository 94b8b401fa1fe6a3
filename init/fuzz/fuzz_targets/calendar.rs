//! `OnCalendar=` expressions: parse, then compute elapses from arbitrary instants.
#![no_main]

use b8g_init::unit::time::Calendar;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (after, text) = match data.split_first_chunk::<8>() {
        Some((a, rest)) => (i64::from_le_bytes(*a), rest),
        None => (0, data),
    };
    if let Ok(c) = Calendar::parse(&String::from_utf8_lossy(text)) {
        if let Some(t) = c.next_after(after) {
            assert!(t > after);
        }
    }
});
