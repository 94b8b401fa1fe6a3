//! Time spans (`5s`, `1min 30s`, `infinity`) as systemd.time(7) writes them. Calendar
//! events are in `calendar.rs`.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
