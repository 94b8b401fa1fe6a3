//! Calendar timers as systemd.timer(5) runs them: local time from /etc/localtime,
//! Persistent= catching up on a missed elapse, RandomizedDelaySec= with
//! FixedRandomDelay=.

use std::time::{Duration, SystemTime};

use jiff::civil::time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

use crate::harness::*;

const ZONE: &str = "Pacific/Kiritimati"; // UTC+14: far from the host's UTC

/// The NEXT column of `systemctl list-timers` for `unit`, as printed with TZ=UTC.
fn next_of(s: &System, unit: &str) -> String {
    let o = std::process::Command::new(CTL)
        .env("TZ", "UTC")
        .arg("--socket")
        .arg(s.path("run/b8g/control"))
        .args(["list-timers", "--no-legend"])
        .output()
        .expect("b8gctl list-timers");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let row = out
        .lines()
        .find(|l| l.contains(unit))
        .unwrap_or_else(|| panic!("{unit} not listed:\n{out}"));
    // "Sun 2026-12-06 13:00:00 UTC 13h left …": the first four words.
    row.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

#[test]
fn calendar_timers_follow_the_local_zone_catch_up_when_persistent_and_delay_at_random() {
    let daily3 = "[Timer]\nOnCalendar=*-*-* 03:00:00\n";
    let install = "[Install]\nWantedBy=timers.target\n";
    let mut s = System::new(&[
        ("catch.timer", &format!("{daily3}Persistent=yes\n{install}")),
        (
            "catch.service",
            "[Service]\nType=oneshot\nExecStart=/bin/echo caught-up\n",
        ),
        ("plain.timer", &format!("{daily3}{install}")),
        (
            "plain.service",
            "[Service]\nType=oneshot\nExecStart=/bin/echo plain-ran\n",
        ),
        (
            "jitter.timer",
            &format!("{daily3}RandomizedDelaySec=1h\nFixedRandomDelay=yes\n{install}"),
        ),
        (
            "jitter.service",
            "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        ),
        (
            "utc.timer",
            &format!("[Timer]\nOnCalendar=*-*-* 03:00:00 UTC\n{install}"),
        ),
        (
            "utc.service",
            "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        ),
    ]);
    let zone_file = format!("/usr/share/zoneinfo/{ZONE}");
    std::fs::copy(&zone_file, s.path("etc/localtime"))
        .unwrap_or_else(|e| panic!("{zone_file} (tzdata): {e}"));
    // A stamp from two days ago: at least one 03:00 was missed since.
    let stamp = s.path("var/lib/systemd/timers/stamp-catch.timer");
    std::fs::create_dir_all(stamp.parent().unwrap()).unwrap();
    let f = std::fs::File::create(&stamp).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(2 * 86_400))
        .unwrap();
    drop(f);
    s.boot();
    s.wait_ready();
    s.wait_for(
        |s| s.log("catch.service").contains("caught-up"),
        "the persistent timer to catch up",
    );
    let age = std::fs::metadata(&stamp)
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .unwrap_or_default();
    assert!(
        age < Duration::from_secs(60),
        "stamp not renewed: {age:?} old"
    );
    assert!(!s.log("plain.service").contains("plain-ran"));

    // 03:00 in the zone of /etc/localtime, shown in UTC; `UTC` in the spec wins.
    let tz = jiff::tz::db().get(ZONE).unwrap();
    let next_in = |tz: &TimeZone| {
        let now = ZonedDateTime::new(Timestamp::now(), tz.clone());
        let today = now
            .date()
            .to_datetime(time(3, 0, 0, 0))
            .to_zoned_datetime(tz.clone())
            .unwrap();
        let at = if today.timestamp() > now.timestamp() {
            today
        } else {
            today.tomorrow().unwrap()
        };
        ZonedDateTime::new(at.timestamp(), TimeZone::UTC)
            .strftime("%a %Y-%m-%d %H:%M:%S UTC")
            .to_string()
    };
    assert_eq!(next_of(&s, "plain.timer"), next_in(&tz));
    assert_eq!(next_of(&s, "utc.timer"), next_in(&TimeZone::UTC));
    // The fixed random delay: within the hour after, and the same each time.
    let plain: jiff::civil::DateTime = next_of(&s, "plain.timer")[4..23].parse().unwrap();
    let jitter: jiff::civil::DateTime = next_of(&s, "jitter.timer")[4..23].parse().unwrap();
    let delay = plain.duration_until(jitter);
    assert!(
        delay >= jiff::SignedDuration::ZERO && delay < jiff::SignedDuration::from_hours(1),
        "{plain} {jitter}"
    );
    s.ctl_ok(&["restart", "jitter.timer"]);
    assert_eq!(
        next_of(&s, "jitter.timer")[4..23],
        jitter.to_string()[..19].replace('T', " ")
    );
    s.poweroff();
}
