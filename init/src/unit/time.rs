//! Time spans (`5s`, `1min 30s`, `infinity`) and a subset of systemd calendar events
//! (`OnCalendar=`): `minutely`, `hourly`, `daily`, `weekly`, `monthly`, `yearly` and the
//! `[DOW] Y-M-D H:M[:S]` form with `*`, lists, ranges and `/step`. Times are UTC: PID 1
//! reads no time-zone database.

use std::time::Duration;

use b8g_layout::date::civil_from_days;

/// Parses a systemd time span. `None` inside `Ok` means "infinity". A bare number is
/// in `default_unit_secs` units (seconds for most directives).
pub fn parse_timespan(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s == "infinity" {
        return Ok(None);
    }
    if s.is_empty() {
        return Err("empty time span".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("invalid time span {s:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid number in time span {s:?}"))?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 7.0 * 86400.0,
            _ => return Err(format!("unknown time unit {unit:?} in {s:?}")),
        };
        total += n * mult;
    }
    // Found by fuzzing: from_secs_f64 panics on overflow; PID 1 must reject, not crash.
    Duration::try_from_secs_f64(total)
        .map(Some)
        .map_err(|_| format!("time span {s:?} is too large"))
}

/// Most comma-separated values one calendar field may list.
const MAX_PARTS: usize = 240;

/// One field of a calendar spec: the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field(Vec<u32>);

impl Field {
    fn parse(s: &str, min: u32, max: u32) -> Result<Field, String> {
        let mut v = Vec::new();
        // systemd's bound (CALENDARSPEC_COMPONENTS_MAX): a long list is a typo or an attack.
        if s.split(',').nth(MAX_PARTS).is_some() {
            return Err(format!("more than {MAX_PARTS} values in {s:?}"));
        }
        for part in s.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (
                    r,
                    st.parse::<u32>()
                        .ok()
                        .filter(|n| i32::try_from(*n).is_ok())
                        .ok_or_else(|| format!("bad step {st:?} in {s:?}"))?,
                ),
                None => (part, 1),
            };
            if step == 0 {
                return Err(format!("zero step in {s:?}"));
            }
            let (lo, hi) = if range == "*" {
                (min, max)
            } else if let Some((a, b)) = range.split_once("..") {
                (num(a)?, num(b)?)
            } else {
                let a = num(range)?;
                (a, if part.contains('/') { max } else { a })
            };
            if lo < min || hi > max || lo > hi {
                return Err(format!("value out of range in {s:?}"));
            }
            // Checked: a step larger than what is left of the range ends the list
            // (found by proptest: `01/4294967295` overflowed).
            let mut x = Some(lo);
            while let Some(y) = x.filter(|y| *y <= hi) {
                v.push(y);
                x = y.checked_add(step);
            }
        }
        v.sort_unstable();
        v.dedup();
        Ok(Field(v))
    }
    fn has(&self, x: u32) -> bool {
        self.0.binary_search(&x).is_ok()
    }
}

fn num(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("invalid number {s:?}"))
}

/// A parsed `OnCalendar=` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    weekdays: Option<Vec<u32>>, // 0 = Monday
    year: Field,
    month: Field,
    day: Field,
    hour: Field,
    minute: Field,
    second: Field,
}

const DOW: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Calendar {
    pub fn parse(spec: &str) -> Result<Calendar, String> {
        let expanded = match spec.trim().to_ascii_lowercase().as_str() {
            "minutely" => "*-*-* *:*:00".to_string(),
            "hourly" => "*-*-* *:00:00".to_string(),
            "daily" => "*-*-* 00:00:00".to_string(),
            "weekly" => "mon *-*-* 00:00:00".to_string(),
            "monthly" => "*-*-01 00:00:00".to_string(),
            "yearly" | "annually" => "*-01-01 00:00:00".to_string(),
            _ => spec.trim().to_string(),
        };
        let mut parts: Vec<&str> = expanded.split_whitespace().collect();
        let mut weekdays = None;
        if let Some(first) = parts.first() {
            if first
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            {
                let mut days = Vec::new();
                for d in first.split(',') {
                    let d = d.to_ascii_lowercase();
                    if let Some((a, b)) = d.split_once("..") {
                        let (a, b) = (dow(a)?, dow(b)?);
                        days.extend(a..=b);
                    } else {
                        days.push(dow(&d)?);
                    }
                }
                weekdays = Some(days);
                parts.remove(0);
            }
        }
        let (date, time) = match parts.as_slice() {
            [d, t] => (*d, *t),
            [x] if x.contains(':') => ("*-*-*", *x),
            [x] => (*x, "00:00:00"),
            [] if weekdays.is_some() => ("*-*-*", "00:00:00"),
            _ => return Err(format!("unsupported calendar spec {spec:?}")),
        };
        let d: Vec<&str> = date.split('-').collect();
        let (y, m, dd) = match d.as_slice() {
            [y, m, dd] => (*y, *m, *dd),
            [m, dd] => ("*", *m, *dd),
            _ => return Err(format!("invalid date in {spec:?}")),
        };
        let t: Vec<&str> = time.split(':').collect();
        let (h, mi, s) = match t.as_slice() {
            [h, mi] => (*h, *mi, "00"),
            [h, mi, s] => (*h, *mi, *s),
            _ => return Err(format!("invalid time in {spec:?}")),
        };
        Ok(Calendar {
            weekdays,
            year: Field::parse(y, 1970, 2199)?,
            month: Field::parse(m, 1, 12)?,
            day: Field::parse(dd, 1, 31)?,
            hour: Field::parse(h, 0, 23)?,
            minute: Field::parse(mi, 0, 59)?,
            second: Field::parse(s, 0, 59)?,
        })
    }

    /// The first matching time strictly after `after` (seconds since the epoch, UTC).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.checked_add(1)?;
        let first_day = start.div_euclid(86400);
        let first_sec = start.rem_euclid(86400);
        // Five years of days bounds the search; a spec that never matches yields None.
        for (i, day) in (first_day..first_day.saturating_add(366 * 5)).enumerate() {
            let (y, m, d) = civil_from_days(day);
            let wd = (day + 3).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            let date_ok = self.year.has(y as u32)
                && self.month.has(m)
                && self.day.has(d)
                && self.weekdays.as_ref().is_none_or(|w| w.contains(&wd));
            if date_ok {
                let from = if i == 0 { first_sec } else { 0 };
                for &h in &self.hour.0 {
                    for &mi in &self.minute.0 {
                        for &s in &self.second.0 {
                            let sec = (h * 3600 + mi * 60 + s) as i64;
                            if sec >= from {
                                return Some(day * 86400 + sec);
                            }
                        }
                    }
                }
            }
        }
        None
    }
}

fn dow(s: &str) -> Result<u32, String> {
    let s = s.to_ascii_lowercase();
    DOW.iter()
        .position(|d| s.starts_with(d))
        .map(|p| p as u32)
        .ok_or_else(|| format!("invalid weekday {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_timespan("1min 30s").unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_timespan("250ms").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_timespan("2h").unwrap(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(parse_timespan("infinity").unwrap(), None);
        assert!(parse_timespan("5 parsecs").is_err());
        assert!(parse_timespan("").is_err());
        // Regression: fuzz artifact crash-dccaec44 (overflowing span).
        assert!(parse_timespan("\t\t555555555555555555555555555555555555\t").is_err());
        assert!(parse_timespan("99999999999999999999999999w").is_err());
    }

    #[test]
    fn calendar_next() {
        // 2024-03-01 12:34:56 UTC = 1709296496
        let t = 1_709_296_496;
        let c = Calendar::parse("hourly").unwrap();
        assert_eq!(c.next_after(t), Some(1_709_298_000)); // 13:00:00
        let c = Calendar::parse("*-*-* *:*:00").unwrap();
        assert_eq!(c.next_after(t), Some(1_709_296_500));
        let c = Calendar::parse("daily").unwrap();
        assert_eq!(c.next_after(t), Some(1_709_337_600)); // 2024-03-02
        let c = Calendar::parse("Mon *-*-* 00:00:00").unwrap();
        assert_eq!(c.next_after(t), Some(1_709_510_400)); // Mon 2024-03-04
        let c = Calendar::parse("*-02-29 00:00").unwrap();
        assert_eq!(c.next_after(t), Some(1_835_395_200)); // 2028-02-29
        let c = Calendar::parse("*:0/15").unwrap();
        assert_eq!(c.next_after(t), Some(1_709_297_100)); // 12:45:00
        assert!(Calendar::parse("*-13-01").is_err());
        assert!(Calendar::parse("blursday").is_err());
    }

    /// One calendar field: `*`, numbers, ranges, lists and steps, with numbers drawn
    /// from small values and from the ends of u32 (where arithmetic overflows hide).
    fn field() -> impl Strategy<Value = String> {
        let n = || {
            prop_oneof![
                0u64..100,
                (u64::from(u32::MAX) - 100)..=u64::from(u32::MAX) + 2,
                any::<u32>().prop_map(u64::from),
            ]
        };
        let part = (
            prop_oneof![
                Just("*".to_string()),
                n().prop_map(|a| a.to_string()),
                (n(), n()).prop_map(|(a, b)| format!("{a}..{b}")),
            ],
            proptest::option::of(n()),
        )
            .prop_map(|(r, st)| match st {
                Some(st) => format!("{r}/{st}"),
                None => r,
            });
        proptest::collection::vec(part, 1..4).prop_map(|v| v.join(","))
    }

    fn instant() -> impl Strategy<Value = i64> {
        prop_oneof![
            0i64..5_000_000_000,
            Just(i64::MAX),
            Just(i64::MIN),
            (i64::MAX - 1000)..=i64::MAX,
            any::<i64>(),
        ]
    }

    proptest! {
        /// Calendar parsing never panics, every value it keeps lies in its field's
        /// range, and the next elapse is strictly later (or none).
        #[test]
        fn calendar_fields_never_panic(
            y in field(), mo in field(), d in field(),
            h in field(), mi in field(), s in field(),
            after in instant(),
        ) {
            let spec = format!("{y}-{mo}-{d} {h}:{mi}:{s}");
            if let Ok(c) = Calendar::parse(&spec) {
                for (f, lo, hi) in [
                    (&c.year, 1970, 2199), (&c.month, 1, 12), (&c.day, 1, 31),
                    (&c.hour, 0, 23), (&c.minute, 0, 59), (&c.second, 0, 59),
                ] {
                    prop_assert!(f.0.iter().all(|v| (lo..=hi).contains(v)), "{spec}: {f:?}");
                }
                if let Some(t) = c.next_after(after) {
                    prop_assert!(t > after, "{spec}: {t} <= {after}");
                }
            }
        }

        /// Arbitrary text: an error or a calendar, never a panic.
        #[test]
        fn calendar_arbitrary_text_never_panics(spec in "\\PC{0,40}", after in instant()) {
            if let Ok(c) = Calendar::parse(&spec) {
                let _ = c.next_after(after);
            }
        }
    }

    #[test]
    fn calendar_huge_steps_are_rejected_or_harmless() {
        // Regression: `x += step` overflowed on a step near u32::MAX (debug panic, and
        // a wrap-around in release that could loop).
        for spec in [
            "*-*-* 01/4294967295:00",
            "*-*-* 00/4294967295:01/4294967290",
            "2000/4294967295-*-* 00:00",
            "*-*-* 00/99999999999999999999:00",
        ] {
            match Calendar::parse(spec) {
                Ok(c) => assert!(c.hour.0.len() <= 24 && c.year.0.len() <= 230, "{spec}"),
                Err(e) => assert!(e.contains("step"), "{spec}: {e}"),
            }
        }
        assert_eq!(
            Calendar::parse("*-*-* 01/100:00").map(|c| c.hour),
            Ok(Field(vec![1]))
        );
        assert!(Calendar::parse("hourly").is_ok_and(|c| c.next_after(i64::MAX).is_none()));
    }
}
