//! Option words as systemctl and journalctl take them.

/// Splits `--opt=value` into (`--opt`, `value`) and `-xVALUE`, for the short options
/// in `with_value`, into (`-x`, `VALUE`); anything else is the flag alone.
pub fn split_flag(a: &str, with_value: &[&str]) -> (String, Option<String>) {
    match a.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
        _ if a.len() > 2 && !a.starts_with("--") && with_value.contains(&&a[..2]) => {
            (a[..2].to_string(), Some(a[2..].to_string()))
        }
        _ => (a.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_options_with_equals_and_short_ones_glued_to_their_value() {
        let s = |a| split_flag(a, &["-p", "-n"]);
        assert_eq!(s("--property=Id"), ("--property".into(), Some("Id".into())));
        assert_eq!(s("-pId"), ("-p".into(), Some("Id".into())));
        assert_eq!(s("-n5"), ("-n".into(), Some("5".into())));
        assert_eq!(s("-q"), ("-q".into(), None));
        assert_eq!(s("-qx"), ("-qx".into(), None));
        assert_eq!(s("--now"), ("--now".into(), None));
    }
}
