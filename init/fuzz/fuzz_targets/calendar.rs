//! `OnCalendar=` expressions: parse, then compute elapses from arbitrary instants, in
//! UTC and in a zone with daylight-saving gaps and folds.
#![no_main]

use b8g_init::unit::calendar::Calendar;
use jiff::tz::TimeZone;
use jiff::Timestamp;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (after, text) = match data.split_first_chunk::<8>() {
        Some((a, rest)) => (i64::from_le_bytes(*a), rest),
        None => (0, data),
    };
    let after = Timestamp::from_second(after.rem_euclid(7_000_000_000)).unwrap_or(Timestamp::UNIX_EPOCH);
    if let Ok(c) = Calendar::parse(&String::from_utf8_lossy(text)) {
        let berlin = jiff::tz::db().get("Europe/Berlin").unwrap_or(TimeZone::UTC);
        for tz in [TimeZone::UTC, berlin] {
            if let Some(t) = c.next_after(after, &tz) {
                assert!(t > after);
            }
        }
    }
});
