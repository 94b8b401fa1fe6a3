//! Timestamps as journalctl's `--since`/`--until` take them (systemd.time(7),
//! "PARSING TIMESTAMPS") and the local-time rendering of its short output. Local time
//! comes from the C library (`TZ`, else /etc/localtime), as for every other program.

use anyhow::{bail, Result};

const USEC: i64 = 1_000_000;

/// Broken-down local (or UTC) time of `secs` since the epoch.
fn broken_down(secs: i64, utc: bool) -> libc::tm {
    // SAFETY: a zeroed tm is a valid out-parameter; the *_r functions are thread-safe.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs;
        if utc {
            libc::gmtime_r(&t, &mut tm);
        } else {
            libc::localtime_r(&t, &mut tm);
        }
        tm
    }
}

/// Seconds since the epoch of a broken-down time, read as local time or UTC.
fn from_fields(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, utc: bool) -> Result<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        bail!("date or time out of range");
    }
    // SAFETY: a zeroed tm filled with in-range fields.
    let t = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = (y - 1900) as i32;
        tm.tm_mon = mo as i32 - 1;
        tm.tm_mday = d as i32;
        tm.tm_hour = h as i32;
        tm.tm_min = mi as i32;
        tm.tm_sec = s as i32;
        tm.tm_isdst = -1;
        if utc {
            libc::timegm(&mut tm)
        } else {
            libc::mktime(&mut tm)
        }
    };
    Ok(t)
}

/// Parses a `--since`/`--until` value to microseconds since the epoch; `now_us` is now.
/// Takes `YYYY-MM-DD [HH:MM[:SS[.frac]]]`, `HH:MM[:SS]` (today), `now`, `today`,
/// `yesterday`, `tomorrow`, `@SECONDS`, `+SPAN`/`-SPAN`, `SPAN ago`, `SPAN left`, and an
/// optional trailing `UTC`.
pub fn parse(s: &str, now_us: i64) -> Result<i64> {
    let t = s.trim();
    let span = |w: &str| -> Result<i64> {
        match b8g_init::unit::time::parse_timespan(w) {
            Ok(Some(d)) => Ok(d.as_micros() as i64),
            _ => bail!("{s:?} is not a time span"),
        }
    };
    if let Some(w) = t.strip_prefix('@') {
        let secs: f64 = w
            .parse()
            .map_err(|_| anyhow::anyhow!("{s:?}: not a number of seconds"))?;
        return Ok((secs * USEC as f64) as i64);
    }
    if let Some(w) = t.strip_suffix(" ago") {
        return Ok(now_us - span(w.trim())?);
    }
    if let Some(w) = t.strip_suffix(" left") {
        return Ok(now_us + span(w.trim())?);
    }
    if let Some(w) = t.strip_prefix('-') {
        return Ok(now_us - span(w.trim())?);
    }
    if let Some(w) = t.strip_prefix('+') {
        return Ok(now_us + span(w.trim())?);
    }
    let (t, utc) = match t.strip_suffix(" UTC") {
        Some(rest) => (rest.trim_end(), true),
        None => (t, false),
    };
    let now = broken_down(now_us.div_euclid(USEC), utc);
    let today = (
        now.tm_year as i64 + 1900,
        now.tm_mon as u32 + 1,
        now.tm_mday as u32,
    );
    let midnight = |offset_days: i64| -> Result<i64> {
        let (y, m, d) = today;
        Ok((from_fields(y, m, d, 0, 0, 0, utc)? + offset_days * 86_400) * USEC)
    };
    match t {
        "now" => return Ok(now_us),
        "today" => return midnight(0),
        "yesterday" => return midnight(-1),
        "tomorrow" => return midnight(1),
        _ => {}
    }
    let bad = || {
        anyhow::anyhow!("{s:?} is not a time journalctl understands (YYYY-MM-DD HH:MM:SS, today, -1h, '5 min ago', @SECONDS)")
    };
    let (date, time) = match t.split_once(' ') {
        Some((d, tm)) => (Some(d), Some(tm.trim())),
        None if t.contains(':') => (None, Some(t)),
        None => (Some(t), None),
    };
    let (y, mo, d) = match date {
        Some(d) => {
            let f: Vec<&str> = d.split('-').collect();
            let [y, m, dd] = f.as_slice() else {
                return Err(bad());
            };
            (
                y.parse().map_err(|_| bad())?,
                m.parse().map_err(|_| bad())?,
                dd.parse().map_err(|_| bad())?,
            )
        }
        None => today,
    };
    let (h, mi, sec, frac) = match time {
        Some(tm) => {
            let f: Vec<&str> = tm.split(':').collect();
            let (h, mi, sec) = match f.as_slice() {
                [h, mi] => (*h, *mi, "0"),
                [h, mi, s] => (*h, *mi, *s),
                _ => return Err(bad()),
            };
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let frac_us = if frac.is_empty() {
                0
            } else {
                let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
                digits.parse::<i64>().map_err(|_| bad())?
            };
            (
                h.parse().map_err(|_| bad())?,
                mi.parse().map_err(|_| bad())?,
                whole.parse().map_err(|_| bad())?,
                frac_us,
            )
        }
        None => (0, 0, 0, 0),
    };
    Ok(from_fields(y, mo, d, h, mi, sec, utc).map_err(|_| bad())? * USEC + frac)
}

/// `Mmm DD HH:MM:SS` in local time: journalctl's short format.
pub fn short(us: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = broken_down(us.div_euclid(USEC), false);
    format!(
        "{} {:02} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `YYYY-MM-DDTHH:MM:SS+ZZZZ` in local time (short-iso), with microseconds when `precise`.
pub fn iso(us: i64, precise: bool) -> String {
    let tm = broken_down(us.div_euclid(USEC), false);
    let off = tm.tm_gmtoff / 60;
    let frac = if precise {
        format!(".{:06}", us.rem_euclid(USEC))
    } else {
        String::new()
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{}{:02}{:02}",
        tm.tm_year as i64 + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        if off < 0 { '-' } else { '+' },
        off.abs() / 60,
        off.abs() % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-05 19:30:15.250 UTC.
    const NOW: i64 = 1_796_499_015_250_000;

    #[test]
    fn absolute_times_in_utc() {
        let p = |s: &str| parse(s, NOW).unwrap();
        assert_eq!(p("2026-12-05 19:30:15 UTC"), 1_796_499_015 * USEC);
        assert_eq!(p("2026-12-05 19:30 UTC"), 1_796_499_000 * USEC);
        assert_eq!(p("2026-12-05 UTC"), 1_796_428_800 * USEC);
        assert_eq!(
            p("2026-12-05 19:30:15.5 UTC"),
            1_796_499_015 * USEC + 500_000
        );
        assert_eq!(p("19:00 UTC"), 1_796_497_200 * USEC);
        assert_eq!(p("today UTC"), 1_796_428_800 * USEC);
        assert_eq!(p("yesterday UTC"), (1_796_428_800 - 86_400) * USEC);
        assert_eq!(p("@1796499015"), 1_796_499_015 * USEC);
    }

    #[test]
    fn relative_times() {
        let p = |s: &str| parse(s, NOW).unwrap();
        assert_eq!(p("now"), NOW);
        assert_eq!(p("-1h"), NOW - 3600 * USEC);
        assert_eq!(p("5 min ago"), NOW - 300 * USEC);
        assert_eq!(p("+30s"), NOW + 30 * USEC);
        assert_eq!(p("2h left"), NOW + 7200 * USEC);
    }

    #[test]
    fn local_times_follow_the_time_zone() {
        // Local time is whatever TZ says; this test sets nothing, so it compares the
        // parse with the C library's own conversion of the same fields.
        let local = parse("2026-07-01 12:00:00", NOW).unwrap();
        let tm = broken_down(local / USEC, false);
        assert_eq!(
            (tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min),
            (6, 1, 12, 0)
        );
        assert_eq!(&short(local)[..15], "Jul 01 12:00:00");
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "last week",
            "2026-13-01",
            "25:00",
            "12:00:00:00",
            "@x",
            "-banana",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }
}
