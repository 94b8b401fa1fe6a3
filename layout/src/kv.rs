//! `key=value` lines: the text of boot entries and of stage 1's boot record,
//! chosen so that a busybox shell reads it with `IFS==`.
//!
//! A line without `=` is ignored and, when a key repeats, the last line wins.
//! Values are kept as they are (not trimmed), and never hold a newline: one
//! is rendered as a space, so a value cannot add a line of its own.

use std::collections::BTreeMap;

/// The keys and values of one file.
pub type KeyValues = BTreeMap<String, String>;

/// Every `key=value` line of `text` (split at the first `=`).
pub fn parse(text: &str) -> KeyValues {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The keys of `order` first, in that order (empty when absent), then any
/// others `kv` holds, sorted: what was read is written back in full.
pub fn render(order: &[&str], kv: &KeyValues) -> String {
    let mut text = String::new();
    let mut line = |k: &str, v: &str| {
        text.push_str(k);
        text.push('=');
        text.push_str(&v.replace('\n', " "));
        text.push('\n');
    };
    for k in order {
        line(k, kv.get(*k).map(String::as_str).unwrap_or(""));
    }
    for (k, v) in kv {
        if !order.contains(&k.as_str()) {
            line(k, v);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_in_the_given_order_with_the_rest_after() {
        let text = "b=2\na=1 \nnoise\nz=x=y\n";
        let kv = parse(text);
        assert_eq!(kv["a"], "1 ");
        assert_eq!(kv["z"], "x=y");
        assert_eq!(render(&["b", "a", "c"], &kv), "b=2\na=1 \nc=\nz=x=y\n");
        assert_eq!(parse(&render(&["b", "a"], &kv)), kv);
    }

    #[test]
    fn the_last_of_a_repeated_key_wins_and_newlines_become_spaces() {
        assert_eq!(parse("a=1\na=2\n")["a"], "2");
        let mut kv = KeyValues::new();
        kv.insert("reason".into(), "two\nlines".into());
        assert_eq!(render(&["reason"], &kv), "reason=two lines\n");
    }
}
