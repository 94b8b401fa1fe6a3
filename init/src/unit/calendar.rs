//! Calendar events (`OnCalendar=`) as systemd.time(7) defines them:
//! `[WEEKDAYS] [YEAR-]MONTH-DAY [HOUR:MINUTE[:SECOND]] [TIME ZONE]`, each field `*`, a
//! value, a list (`,`), a range (`..`) or a repetition (`/`), the day counted from the
//! end of the month after `~`, fractional seconds, two-digit years, the shorthands
//! (`minutely` … `yearly`, `quarterly`, `semiannually`), and `UTC` or a zone name.
//!
//! The next elapse is found in civil time of the event's zone (the system's local time
//! unless the spec names one), as systemd does: a time that a daylight-saving gap skips
//! never elapses, and of a time that a fold repeats only the first counts.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

const MAX_YEAR: i16 = 2199;
const MICROS: u32 = 1_000_000;
/// Most comma-separated values one field may list (systemd's
/// CALENDARSPEC_COMPONENTS_MAX): a long list is a typo or an attack.
const MAX_PARTS: usize = 240;
/// Most values one component may stand for: millisecond steps over a minute. Finer
/// ones would make PID 1 list millions of times to find the next one.
const MAX_VALUES: u64 = 60_000;

/// One element of a field's comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Component {
    start: u32,
    end: Option<u32>,
    repeat: Option<u32>,
}

/// A field: no components is `*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Chain(Vec<Component>);

impl Chain {
    fn matches(&self, v: u32) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|c| {
                v >= c.start
                    && c.end.is_none_or(|e| v <= e)
                    && match c.repeat {
                        Some(r) => (v - c.start) % r == 0,
                        None => c.end.is_some() || v == c.start,
                    }
            })
    }

    /// Matches `k`, a day counted from the month's end (1 = the last day): a
    /// repetition runs towards the end, `~07/1` being the last seven days.
    fn matches_from_end(&self, k: u32) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|c| match (c.end, c.repeat) {
                (_, Some(r)) => {
                    k <= c.start && (c.start - k) % r == 0 && c.end.is_none_or(|e| k >= e)
                }
                (Some(e), None) => (c.start.min(e)..=c.start.max(e)).contains(&k),
                (None, None) => k == c.start,
            })
    }

    /// The values in `min..=max` it matches, ascending.
    fn values(&self, min: u32, max: u32, step: u32) -> Vec<u32> {
        if self.0.is_empty() {
            return (min..=max).step_by(step as usize).collect();
        }
        let mut v: Vec<u32> = Vec::new();
        for c in &self.0 {
            let end = c
                .end
                .unwrap_or(if c.repeat.is_some() { max } else { c.start });
            let r = c.repeat.unwrap_or(step);
            let mut x = Some(c.start);
            while let Some(y) = x.filter(|y| *y <= end.min(max)) {
                v.push(y);
                x = y.checked_add(r);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A parsed `OnCalendar=` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    weekdays: Option<u8>, // bit 0 = Monday
    year: Chain,
    month: Chain,
    day: Chain,
    end_of_month: bool,
    hour: Chain,
    minute: Chain,
    /// In microseconds.
    second: Chain,
    /// The zone the spec names (`UTC`, `Europe/Berlin`); else the system's.
    zone: Option<String>,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn weekday(w: &str) -> Result<u32, String> {
    let l = w.to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|d| l == *d || (l.len() == 3 && d.starts_with(&l)))
        .map(|p| p as u32)
        .ok_or_else(|| format!("invalid weekday {w:?}"))
}

fn parse_weekdays(s: &str) -> Result<u8, String> {
    let mut bits = 0u8;
    for item in s.split(',') {
        match item.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                if a > b {
                    return Err(format!("weekday range {item:?} runs backwards"));
                }
                for d in a..=b {
                    bits |= 1 << d;
                }
            }
            None => bits |= 1 << weekday(item)?,
        }
    }
    Ok(bits)
}

/// A number of a field: an integer, or for seconds a decimal (kept in microseconds).
fn number(s: &str, micros: bool) -> Result<u32, String> {
    let bad = || format!("invalid number {s:?}");
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (micros && b == b'.'))
    {
        return Err(bad());
    }
    if !micros {
        return s.parse().map_err(|_| bad());
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || frac.len() > 6 || frac.contains('.') {
        return Err(bad());
    }
    let w: u32 = whole.parse().map_err(|_| bad())?;
    let f: u32 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    w.checked_mul(MICROS)
        .and_then(|w| w.checked_add(f))
        .ok_or_else(bad)
}

/// A field's list. `fix` maps a value as written (two-digit years); values must lie in
/// `min..=max`.
fn chain(
    s: &str,
    min: u32,
    max: u32,
    micros: bool,
    fix: fn(u32, usize) -> u32,
) -> Result<Chain, String> {
    if s == "*" {
        return Ok(Chain::default());
    }
    if s.split(',').nth(MAX_PARTS).is_some() {
        return Err(format!("more than {MAX_PARTS} values in {s:?}"));
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for item in s.split(',') {
        let (range, repeat) = match item.split_once('/') {
            Some((r, rep)) => (r, Some(number(rep, micros)?)),
            None => (item, None),
        };
        if repeat == Some(0) {
            return Err(format!("repetition of 0 in {item:?}"));
        }
        let (a, b) = match range.split_once("..") {
            Some((a, b)) => (a, Some(b)),
            None => (range, None),
        };
        let value = |w: &str| -> Result<u32, String> {
            let v = fix(number(w, micros)?, w.len());
            let scale = if micros { MICROS } else { 1 };
            if v < min * scale || v > max * scale + (scale - 1) {
                return Err(format!("{w} is out of range {min}..{max}"));
            }
            Ok(v)
        };
        let start = value(a)?;
        let end = b.map(value).transpose()?;
        if end.is_some_and(|e| e < start) {
            return Err(format!("range {range:?} runs backwards"));
        }
        let top = end.unwrap_or(if micros {
            max * MICROS + MICROS - 1
        } else {
            max
        });
        // How many values this item stands for; the whole field may stand for at most
        // MAX_VALUES (240 fine repetitions would otherwise make millions).
        let count = match (repeat, end) {
            (Some(r), _) => u64::from(top - start) / u64::from(r) + 1,
            (None, Some(e)) if micros => u64::from(e - start) / u64::from(MICROS) + 1,
            (None, Some(e)) => u64::from(e - start) + 1,
            (None, None) => 1,
        };
        total += count;
        if total > MAX_VALUES {
            return Err(format!("{s:?} stands for more than {MAX_VALUES} values"));
        }
        out.push(Component { start, end, repeat });
    }
    Ok(Chain(out))
}

fn same(v: u32, _: usize) -> u32 {
    v
}

/// Two-digit years are 1970–2069.
fn year_fix(v: u32, digits: usize) -> u32 {
    match (digits, v) {
        (1 | 2, 0..=69) => v + 2000,
        (1 | 2, _) => v + 1900,
        _ => v,
    }
}

fn is_zone(w: &str) -> bool {
    w == "UTC"
        || (w.contains('/') || w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
            && jiff::tz::db().get(w).is_ok()
}

impl Calendar {
    pub fn parse(spec: &str) -> Result<Calendar, String> {
        let err = |e: String| format!("invalid calendar spec {spec:?}: {e}");
        let mut words: Vec<&str> = spec.split_whitespace().collect();
        let zone = match words.last() {
            Some(w) if words.len() > 1 && is_zone(w) => {
                let z = w.to_string();
                words.pop();
                Some(z)
            }
            _ => None,
        };
        let expanded;
        if let [one] = words.as_slice() {
            let short = match one.to_ascii_lowercase().as_str() {
                "minutely" => Some("*-*-* *:*:00"),
                "hourly" => Some("*-*-* *:00:00"),
                "daily" => Some("*-*-* 00:00:00"),
                "weekly" => Some("Mon *-*-* 00:00:00"),
                "monthly" => Some("*-*-01 00:00:00"),
                "yearly" | "annually" => Some("*-01-01 00:00:00"),
                "quarterly" => Some("*-01,04,07,10-01 00:00:00"),
                "semiannually" => Some("*-01,07-01 00:00:00"),
                _ => None,
            };
            if let Some(s) = short {
                expanded = s;
                words = expanded.split(' ').collect();
            }
        }
        let mut it = words.into_iter().peekable();
        let weekdays = match it.peek() {
            Some(w) if w.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                let d = parse_weekdays(w).map_err(err)?;
                it.next();
                Some(d)
            }
            _ => None,
        };
        let mut date = None;
        if let Some(w) = it.peek().filter(|w| !w.contains(':')) {
            date = Some(*w);
            it.next();
        }
        let time = it.next();
        if let Some(extra) = it.next() {
            return Err(err(format!("unexpected {extra:?}")));
        }
        if weekdays.is_none() && date.is_none() && time.is_none() {
            return Err(err("empty".into()));
        }
        let (year, month, day, end_of_month) = match date {
            None => ("*", "*", "*", false),
            Some(d) => {
                let (ym, day, eom) = match d.split_once('~') {
                    Some((ym, day)) => (ym, day, true),
                    None => match d.rsplit_once('-') {
                        Some((ym, day)) => (ym, day, false),
                        None => return Err(err(format!("invalid date {d:?}"))),
                    },
                };
                match ym.split_once('-') {
                    Some((y, m)) => (y, m, day, eom),
                    None => ("*", ym, day, eom),
                }
            }
        };
        let (hour, minute, second) = match time {
            None => ("00", "00", "00"),
            Some(t) => {
                let f: Vec<&str> = t.split(':').collect();
                match f.as_slice() {
                    [h, m] => (*h, *m, "00"),
                    [h, m, s] => (*h, *m, *s),
                    _ => return Err(err(format!("invalid time {t:?}"))),
                }
            }
        };
        Ok(Calendar {
            weekdays,
            year: chain(year, 1970, MAX_YEAR as u32, false, year_fix).map_err(err)?,
            month: chain(month, 1, 12, false, same).map_err(err)?,
            day: chain(day, 1, 31, false, same).map_err(err)?,
            end_of_month,
            hour: chain(hour, 0, 23, false, same).map_err(err)?,
            minute: chain(minute, 0, 59, false, same).map_err(err)?,
            second: chain(second, 0, 59, true, same).map_err(err)?,
            zone,
        })
    }

    /// The zone the event is reckoned in: its own, else `local`.
    fn zone<'a>(&self, local: &'a TimeZone) -> std::borrow::Cow<'a, TimeZone> {
        match &self.zone {
            Some(z) if z == "UTC" => std::borrow::Cow::Owned(TimeZone::UTC),
            Some(z) => jiff::tz::db()
                .get(z)
                .map(std::borrow::Cow::Owned)
                .unwrap_or(std::borrow::Cow::Borrowed(local)),
            None => std::borrow::Cow::Borrowed(local),
        }
    }

    fn date_matches(&self, d: Date) -> bool {
        let day_ok = if self.end_of_month {
            let k = (d.days_in_month() - d.day() + 1) as u32;
            self.day.matches_from_end(k)
        } else {
            self.day.matches(d.day() as u32)
        };
        day_ok
            && self
                .weekdays
                .is_none_or(|w| w & (1 << d.weekday().to_monday_zero_offset()) != 0)
    }

    /// The first time the event elapses strictly after `after`, in the zone it names or
    /// else in `local`; None when it never does again.
    pub fn next_after(&self, after: Timestamp, local: &TimeZone) -> Option<Timestamp> {
        let tz = self.zone(local);
        let base = tz.to_datetime(after);
        let hours = self.hour.values(0, 23, 1);
        let minutes = self.minute.values(0, 59, 1);
        let seconds = self.second.values(0, 59 * MICROS + (MICROS - 1), MICROS);
        let mut date = base.date();
        while date.year() <= MAX_YEAR {
            if !self.year.matches(date.year() as u32) {
                date = Date::new(date.year() + 1, 1, 1).ok()?;
                continue;
            }
            if !self.month.matches(date.month() as u32) {
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.date_matches(date) {
                // On the base's own day, start at its hour, minute and second (binary
                // search): a fine spec late in the day must not be walked from midnight.
                let same_day = date == base.date();
                let h0 = if same_day {
                    hours.partition_point(|&h| h < base.hour() as u32)
                } else {
                    0
                };
                for &h in &hours[h0..] {
                    let same_hour = same_day && h == base.hour() as u32;
                    let m0 = if same_hour {
                        minutes.partition_point(|&m| m < base.minute() as u32)
                    } else {
                        0
                    };
                    for &m in &minutes[m0..] {
                        let same_minute = same_hour && m == base.minute() as u32;
                        let base_us =
                            base.second() as u32 * MICROS + base.subsec_nanosecond() as u32 / 1000;
                        let s0 = if same_minute {
                            seconds.partition_point(|&s| s <= base_us)
                        } else {
                            0
                        };
                        for &s in &seconds[s0..] {
                            let t = Time::new(
                                h as i8,
                                m as i8,
                                (s / MICROS) as i8,
                                ((s % MICROS) * 1000) as i32,
                            )
                            .ok()?;
                            let dt = DateTime::from_parts(date, t);
                            if dt <= base {
                                continue;
                            }
                            if let Some(ts) = resolve(&tz, dt, after) {
                                return Some(ts);
                            }
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// The instant of a civil time after `after`: none in a gap, the first of a fold
/// (the second only when the first is not after `after`).
fn resolve(tz: &TimeZone, dt: DateTime, after: Timestamp) -> Option<Timestamp> {
    let amb = tz.to_ambiguous_timestamp(dt);
    let at = |o: jiff::tz::Offset| o.to_timestamp(dt).ok().filter(|t| *t > after);
    match amb.offset() {
        AmbiguousOffset::Unambiguous { offset } => at(offset),
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Fold {
            before,
            after: later,
        } => at(before).or_else(|| at(later)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The first `n` elapses after `base` in `zone`, as `systemd-analyze calendar
    /// --base-time=BASE --iterations=N` prints them (the zone's civil time).
    fn elapses(spec: &str, base: &str, zone: &str, n: usize) -> Vec<String> {
        let tz = jiff::tz::db().get(zone).unwrap();
        let c = Calendar::parse(spec).unwrap();
        let mut t = ts(base);
        let mut out = Vec::new();
        for _ in 0..n {
            match c.next_after(t, &tz) {
                Some(next) => {
                    let z = jiff::ZonedDateTime::new(next, tz.clone());
                    out.push(z.strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string());
                    t = next;
                }
                None => {
                    out.push("never".into());
                    break;
                }
            }
        }
        out
    }

    /// Cases and answers from systemd 252's `systemd-analyze calendar` with
    /// TZ=Europe/Berlin (2026 has its spring gap on 03-29 and its autumn fold on 10-25).
    #[test]
    fn elapses_match_systemd_analyze_calendar() {
        let berlin = |spec, base, n| elapses(spec, base, "Europe/Berlin", n);
        assert_eq!(
            berlin("*-*-* 02:30", "2026-03-29T00:30:00Z", 3),
            [
                "Mon 2026-03-30 02:30:00 CEST",
                "Tue 2026-03-31 02:30:00 CEST",
                "Wed 2026-04-01 02:30:00 CEST"
            ]
        );
        assert_eq!(
            berlin("*:0/15", "2026-03-29T00:30:00Z", 3),
            [
                "Sun 2026-03-29 01:45:00 CET",
                "Sun 2026-03-29 03:00:00 CEST",
                "Sun 2026-03-29 03:15:00 CEST"
            ]
        );
        assert_eq!(
            berlin("*-*-* 02:30", "2026-10-24T12:00:00Z", 2),
            [
                "Sun 2026-10-25 02:30:00 CEST",
                "Mon 2026-10-26 02:30:00 CET"
            ]
        );
        assert_eq!(
            berlin("*:0/30", "2026-10-25T00:10:00Z", 3),
            [
                "Sun 2026-10-25 02:30:00 CEST",
                "Sun 2026-10-25 03:00:00 CET",
                "Sun 2026-10-25 03:30:00 CET"
            ]
        );
        assert_eq!(
            berlin("quarterly", "2026-03-29T00:30:00Z", 3),
            [
                "Wed 2026-04-01 00:00:00 CEST",
                "Wed 2026-07-01 00:00:00 CEST",
                "Thu 2026-10-01 00:00:00 CEST"
            ]
        );
        assert_eq!(
            berlin("Sat *-*-1..7 18:00:00", "2026-03-29T00:30:00Z", 3),
            [
                "Sat 2026-04-04 18:00:00 CEST",
                "Sat 2026-05-02 18:00:00 CEST",
                "Sat 2026-06-06 18:00:00 CEST"
            ]
        );
        assert_eq!(
            berlin(
                "2026-12-05 10:00 America/New_York",
                "2026-03-29T00:30:00Z",
                2
            ),
            ["Sat 2026-12-05 16:00:00 CET", "never"]
        );
        assert_eq!(
            berlin("*-02~01", "2026-01-01T00:00:00Z", 3),
            [
                "Sat 2026-02-28 00:00:00 CET",
                "Sun 2027-02-28 00:00:00 CET",
                "Tue 2028-02-29 00:00:00 CET"
            ]
        );
        assert_eq!(
            berlin("Mon *-05~07/1", "2026-01-01T00:00:00Z", 3),
            [
                "Mon 2026-05-25 00:00:00 CEST",
                "Mon 2027-05-31 00:00:00 CEST",
                "Mon 2028-05-29 00:00:00 CEST"
            ]
        );
        assert_eq!(
            berlin("*-*-1..10/3 00:00", "2026-01-01T00:00:00Z", 4),
            [
                "Sun 2026-01-04 00:00:00 CET",
                "Wed 2026-01-07 00:00:00 CET",
                "Sat 2026-01-10 00:00:00 CET",
                "Sun 2026-02-01 00:00:00 CET"
            ]
        );
        assert_eq!(
            berlin("26-3-4", "2026-01-01T00:00:00Z", 2),
            ["Wed 2026-03-04 00:00:00 CET", "never"]
        );
        assert_eq!(
            berlin("*:*:1.5/2.25", "2026-01-01T00:00:00Z", 4),
            [
                "Thu 2026-01-01 01:00:01 CET",
                "Thu 2026-01-01 01:00:03 CET",
                "Thu 2026-01-01 01:00:06 CET",
                "Thu 2026-01-01 01:00:08 CET"
            ]
        );
        assert_eq!(
            berlin("sunday", "2026-01-01T00:00:00Z", 2),
            ["Sun 2026-01-04 00:00:00 CET", "Sun 2026-01-11 00:00:00 CET"]
        );
        assert_eq!(berlin("2026-02-30", "2026-01-01T00:00:00Z", 1), ["never"]);
        assert_eq!(
            berlin("*-*-* 1,3:15", "2026-01-01T00:00:00Z", 3),
            [
                "Thu 2026-01-01 01:15:00 CET",
                "Thu 2026-01-01 03:15:00 CET",
                "Fri 2026-01-02 01:15:00 CET"
            ]
        );
        assert_eq!(
            berlin("Wed,Fri..Sat", "2026-01-01T00:00:00Z", 3),
            [
                "Fri 2026-01-02 00:00:00 CET",
                "Sat 2026-01-03 00:00:00 CET",
                "Wed 2026-01-07 00:00:00 CET"
            ]
        );
        assert_eq!(
            berlin("semiannually", "2026-01-01T00:00:00Z", 2),
            [
                "Wed 2026-07-01 00:00:00 CEST",
                "Fri 2027-01-01 00:00:00 CET"
            ]
        );
        assert_eq!(
            berlin("*-*-31", "2026-01-01T00:00:00Z", 3),
            [
                "Sat 2026-01-31 00:00:00 CET",
                "Tue 2026-03-31 00:00:00 CEST",
                "Sun 2026-05-31 00:00:00 CEST"
            ]
        );
    }

    #[test]
    fn the_fractional_second_is_kept() {
        let c = Calendar::parse("*:*:1.5/2.25").unwrap();
        let next = c
            .next_after(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC)
            .unwrap();
        assert_eq!(next, ts("2026-01-01T00:00:01.5Z"));
        let next = c.next_after(next, &TimeZone::UTC).unwrap();
        assert_eq!(next, ts("2026-01-01T00:00:03.75Z"));
    }

    #[test]
    fn utc_overrides_the_local_zone() {
        let c = Calendar::parse("daily UTC").unwrap();
        let berlin = jiff::tz::db().get("Europe/Berlin").unwrap();
        assert_eq!(
            c.next_after(ts("2026-06-01T12:00:00Z"), &berlin),
            Some(ts("2026-06-02T00:00:00Z"))
        );
    }

    #[test]
    fn what_systemd_refuses_is_refused() {
        for bad in [
            "*:*/15",
            "Sat..Mon 12:00",
            "12:00:60",
            "*-13-01",
            "*-*-32",
            "25:00",
            "Mon Tue",
            "*-*-* 12:00 Mars/Olympus",
            "",
            "1..5/0 12:00",
            "2026-01-01 12:00:00 extra",
        ] {
            assert!(Calendar::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_search_ends() {
        // Feb 30 never comes; the search stops at the last year a spec may name.
        let c = Calendar::parse("*-02-30").unwrap();
        assert_eq!(
            c.next_after(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC),
            None
        );
    }

    /// One calendar field: `*`, numbers, ranges, lists and steps, with numbers drawn
    /// from small values and from the ends of u32 (where arithmetic overflows hide).
    fn field() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
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

    proptest::proptest! {
        /// Parsing never panics, and the next elapse is strictly later (or none).
        #[test]
        fn calendar_fields_never_panic(
            y in field(), mo in field(), d in field(),
            h in field(), mi in field(), s in field(),
            after in -1_000_000_000i64..8_000_000_000,
        ) {
            let spec = format!("{y}-{mo}-{d} {h}:{mi}:{s}");
            if let Ok(c) = Calendar::parse(&spec) {
                let after = Timestamp::from_second(after).unwrap();
                if let Some(t) = c.next_after(after, &TimeZone::UTC) {
                    proptest::prop_assert!(t > after, "{spec}: {t} <= {after}");
                }
            }
        }

        /// Arbitrary text: an error or a calendar, never a panic.
        #[test]
        fn calendar_arbitrary_text_never_panics(spec in "\\PC{0,40}", after in 0i64..5_000_000_000) {
            if let Ok(c) = Calendar::parse(&spec) {
                let _ = c.next_after(Timestamp::from_second(after).unwrap(), &TimeZone::UTC);
            }
        }
    }

    #[test]
    fn huge_or_fine_steps_are_refused_or_harmless() {
        for spec in [
            "*-*-* 01/4294967295:00",
            "*-*-* 00/4294967295:01/4294967290",
            "2000/4294967295-*-* 00:00",
            "*-*-* 00/99999999999999999999:00",
        ] {
            if let Ok(c) = Calendar::parse(spec) {
                let _ = c.next_after(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC);
            }
        }
        assert!(Calendar::parse("*:*:0/0.000001").is_err());
        assert!(Calendar::parse("*:*:0/0.001").is_ok());
        // Many fine items together are as much as one too fine.
        let many: Vec<String> = (0..240).map(|i| format!("0.{i:06}/0.001")).collect();
        assert!(Calendar::parse(&format!("*:*:{}", many.join(","))).is_err());
        // The finest allowed spec, late in the day: found without walking the day.
        let c = Calendar::parse("*:*:0/0.001").unwrap();
        let t = std::time::Instant::now();
        let next = c.next_after(ts("2026-01-01T23:59:59.9995Z"), &TimeZone::UTC);
        assert_eq!(next, Some(ts("2026-01-02T00:00:00Z")));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        let many = vec!["1"; 241].join(",");
        assert!(Calendar::parse(&format!("*-*-* {many}:00")).is_err());
        // The last year a spec may name: nothing after it.
        let c = Calendar::parse("hourly").unwrap();
        assert_eq!(
            c.next_after(ts("2199-12-31T23:30:00Z"), &TimeZone::UTC),
            None
        );
    }
}
