//! inittab lines and LSB headers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = b8g_init::sysv::parse_inittab("inittab", &text);
    let _ = b8g_init::sysv::parse_lsb("script", &text);
    if let Ok(c) = b8g_init::unit::calendar::Calendar::parse(&text) {
        let _ = c.next_after(
            jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            &jiff::tz::TimeZone::UTC,
        );
    }
    let _ = b8g_init::unit::time::parse_timespan(&text);
});
