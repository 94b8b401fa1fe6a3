//! The syslog wire format as journald reads it (systemd's journald-syslog.c): what
//! arrives on `/dev/log` from syslog(3), logger(1) and daemons that write it
//! themselves, the `<N>` level prefix of a service's output lines
//! (`SyslogLevelPrefix=`), and the line b8g-init forwards to a syslog daemon
//! listening on `/run/systemd/journal/syslog` (rsyslog's `syslog.socket`).

/// syslog(3)'s `LOG_USER`: the facility of a message that names none.
const LOG_USER: u16 = 1 << 3;
/// The priority of a message without one: `LOG_USER | LOG_INFO`.
pub const DEFAULT_PRIORITY: u16 = LOG_USER | 6;

/// A syslog datagram, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Facility × 8 + severity, as sent (`<PRI>`), or [`DEFAULT_PRIORITY`].
    pub priority: u16,
    pub ident: Option<String>,
    pub pid: Option<i32>,
    pub text: String,
}

impl Message {
    pub fn severity(&self) -> u8 {
        (self.priority & 7) as u8
    }
}

/// Parses `<PRI>` at the start of `s`: up to three digits. With `with_facility` the
/// whole number is taken (a datagram's `<PRI>`); without it only a bare severity 0–7
/// (a service's output line). Returns the value and the rest, or None.
pub fn parse_priority(s: &str, with_facility: bool) -> Option<(u16, &str)> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u16 = digits.parse().ok()?;
    if !with_facility && v > 7 {
        return None;
    }
    Some((v, &rest[end + 1..]))
}

/// Skips an RFC 3164 timestamp (`Mmm dd hh:mm:ss `, each number's first digit may be a
/// space), as syslog(3) writes it; anything else is left as it is.
fn skip_date(s: &str) -> &str {
    const PATTERN: &[u8] = b"LLL _N _N:_N:_N ";
    let b = s.as_bytes();
    if b.len() < PATTERN.len() {
        return s;
    }
    let ok = PATTERN.iter().zip(b).all(|(p, c)| match p {
        b'L' => c.is_ascii_alphabetic(),
        b'N' => c.is_ascii_digit(),
        b'_' => *c == b' ' || c.is_ascii_digit(),
        other => c == other,
    });
    if ok {
        &s[PATTERN.len()..]
    } else {
        s
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The `TAG[PID]: ` (or `TAG: `) before the message: the first word, if it ends in a
/// colon. One blank after the colon is part of the tag; more belong to the message.
pub fn parse_identifier(s: &str) -> (Option<String>, Option<i32>, &str) {
    let p = s.trim_start_matches(is_space);
    let word_len = p.find(is_space).unwrap_or(p.len());
    let word = &p[..word_len];
    let Some(tag) = word.strip_suffix(':') else {
        return (None, None, s);
    };
    let (ident, pid) = match tag.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((ident, pid)) => (ident, pid.parse().ok()),
        None => (tag, None),
    };
    let mut rest = &p[word_len..];
    if let Some(c) = rest.chars().next().filter(|c| is_space(*c)) {
        rest = &rest[c.len_utf8()..];
    }
    (Some(ident.to_string()), pid, rest)
}

/// Takes a datagram apart as journald does: priority, optional date, tag, message.
/// Trailing newlines and NULs are dropped; invalid UTF-8 is replaced.
pub fn parse_datagram(data: &[u8]) -> Message {
    let text = String::from_utf8_lossy(data);
    let text = text.trim_end_matches(['\n', '\0']);
    let (priority, rest) = parse_priority(text, true).unwrap_or((DEFAULT_PRIORITY, text));
    // A priority without a facility is a user-level message (syslog_fixup_facility).
    let priority = if priority & !7 == 0 {
        priority | LOG_USER
    } else {
        priority
    };
    let (ident, pid, rest) = parse_identifier(skip_date(rest));
    Message {
        priority,
        ident,
        pid,
        text: rest.to_string(),
    }
}

const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// A severity by its syslog name or number 0–7 (`SyslogLevel=`, `journalctl -p`).
pub fn level_number(w: &str) -> Option<u8> {
    LEVELS
        .iter()
        .position(|n| *n == w)
        .map(|i| i as u8)
        .or_else(|| w.parse::<u8>().ok().filter(|v| *v <= 7))
}

/// A facility by its syslog name or number 0–23 (`SyslogFacility=`).
pub fn facility_number(w: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "12", "13", "14", "15", "local0", "local1", "local2", "local3",
        "local4", "local5", "local6", "local7",
    ];
    NAMES
        .iter()
        .position(|n| *n == w)
        .map(|i| i as u8)
        .or_else(|| w.parse::<u8>().ok().filter(|v| *v <= 23))
}

/// `--priority` / `-p` values as journalctl takes them: a name or number (that level and
/// everything more important) or a range `FROM..TO`. Returns the severities allowed.
pub fn parse_level_filter(s: &str) -> Option<std::ops::RangeInclusive<u8>> {
    let level = level_number;
    match s.split_once("..") {
        Some((a, b)) => {
            let from = if a.is_empty() { 0 } else { level(a)? };
            let to = if b.is_empty() { 7 } else { level(b)? };
            Some(from.min(to)..=from.max(to))
        }
        None => Some(0..=level(s)?),
    }
}

/// The line journald forwards to a syslog daemon (`ForwardToSyslog=`):
/// `<PRI>Mmm dd hh:mm:ss IDENT[PID]: MESSAGE`, the time in UTC (PID 1 reads no time
/// zone; rsyslog's imuxsock ignores the sender's time by default anyway).
pub fn forward_line(
    priority: u16,
    unix_secs: i64,
    ident: &str,
    pid: Option<i32>,
    text: &str,
) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (_, month, day) = b8g_layout::date::civil_from_days(days);
    let pid = pid.map(|p| format!("[{p}]")).unwrap_or_default();
    format!(
        "<{priority}>{} {day:>2} {:02}:{:02}:{:02} {ident}{pid}: {text}",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_parsed_as_journald_parses_them() {
        // systemd's test-journald-syslog.c cases.
        let cases: &[(&str, Option<&str>, Option<i32>, &str)] = &[
            ("pidu[111]: xxx", Some("pidu"), Some(111), "xxx"),
            ("pidu: xxx", Some("pidu"), None, "xxx"),
            ("pidu:  xxx", Some("pidu"), None, " xxx"),
            ("pidu xxx", None, None, "pidu xxx"),
            ("   pidu xxx", None, None, "   pidu xxx"),
            ("", None, None, ""),
            ("  ", None, None, "  "),
            (":", Some(""), None, ""),
            (":  ", Some(""), None, " "),
            (" :", Some(""), None, ""),
            ("   pidu:", Some("pidu"), None, ""),
            ("pidu:", Some("pidu"), None, ""),
            ("pidu: ", Some("pidu"), None, ""),
            ("pidu : ", None, None, "pidu : "),
        ];
        for (input, ident, pid, rest) in cases {
            let (i, p, r) = parse_identifier(input);
            assert_eq!((i.as_deref(), p, r), (*ident, *pid, *rest), "{input:?}");
        }
    }

    #[test]
    fn priorities_are_parsed_as_journald_parses_them() {
        for (input, with_facility, want) in [
            ("", false, None),
            ("<>", false, None),
            ("<>aaa", false, None),
            ("<aaaa>", false, None),
            (" <1>", false, None),
            ("<1>", false, Some(1)),
            ("<7>", false, Some(7)),
            ("<8>", false, None),
            ("<9>", true, Some(9)),
            ("<22>", true, Some(22)),
            ("<111>", false, None),
            ("<111>", true, Some(111)),
            ("<1111>", true, None),
        ] {
            assert_eq!(
                parse_priority(input, with_facility).map(|(v, _)| v),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn datagrams_from_syslog_and_logger_are_taken_apart() {
        // glibc's syslog(3) and util-linux logger on a local socket.
        let m = parse_datagram(b"<38>Dec  5 19:30:01 sshd[812]: Accepted publickey for alice\n");
        assert_eq!(m.priority, 38);
        assert_eq!(m.severity(), 6);
        assert_eq!(m.ident.as_deref(), Some("sshd"));
        assert_eq!(m.pid, Some(812));
        assert_eq!(m.text, "Accepted publickey for alice");
        // busybox logger: no pid; a bare severity is a user-level message.
        let m = parse_datagram(b"<3>Dec 15 09:05:59 root: disk on fire");
        assert_eq!(
            (m.priority, m.ident.as_deref(), m.pid),
            (11, Some("root"), None)
        );
        assert_eq!(m.text, "disk on fire");
        // Nothing recognisable: the whole text, user.info.
        let m = parse_datagram(b"just words\0");
        assert_eq!(
            (m.priority, m.ident, m.text.as_str()),
            (14, None, "just words")
        );
        // A date that is not one stays part of the message.
        let m = parse_datagram(b"<13>Dec 5 19:30:01 x: y");
        assert_eq!(m.ident, None);
        assert_eq!(m.text, "Dec 5 19:30:01 x: y");
    }

    #[test]
    fn level_filters_take_names_numbers_and_ranges() {
        assert_eq!(parse_level_filter("err"), Some(0..=3));
        assert_eq!(parse_level_filter("4"), Some(0..=4));
        assert_eq!(parse_level_filter("warning..info"), Some(4..=6));
        assert_eq!(parse_level_filter("info..warning"), Some(4..=6));
        assert_eq!(parse_level_filter("..notice"), Some(0..=5));
        assert_eq!(parse_level_filter("crit.."), Some(2..=7));
        assert_eq!(parse_level_filter("8"), None);
        assert_eq!(parse_level_filter("loud"), None);
    }

    #[test]
    fn forwarded_lines_have_the_syslog_header() {
        // 2026-12-05 09:08:07 UTC.
        assert_eq!(
            forward_line(30, 1_796_461_687, "nginx", Some(42), "started"),
            "<30>Dec  5 09:08:07 nginx[42]: started"
        );
        assert_eq!(
            forward_line(14, 0, "b8g-init", None, "x"),
            "<14>Jan  1 00:00:00 b8g-init: x"
        );
    }
}
