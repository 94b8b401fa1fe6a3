//! Command lines of Exec*= settings: systemd's word splitting, quoting, C escapes,
//! `;` separators and `$VAR` handling (systemd.service(5), COMMAND LINES).

use super::*;

/// Splits a command line (or an `Environment=` value) into words as systemd does
/// (`extract_first_word` with unquoting and C unescaping): whitespace separates words,
/// single and double quotes group and are removed, and a backslash starts a C escape
/// inside quotes too (`'-p -- \\u'` gives `-p -- \u`, as Debian's getty needs).
/// Variables are left for run time. An unknown escape is kept verbatim (backslash and
/// all), as systemd does after warning; so is `\xNN` or octal above 0x7f, a raw byte
/// that a UTF-8 argument cannot hold.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    Ok(split_words_noting(s)?.0)
}

/// [`split_words`], also saying whether an unknown escape was kept verbatim.
pub fn split_words_noting(s: &str) -> Result<(Vec<String>, bool), String> {
    let mut kept = false;
    let words = extract_words(s, true, false, &mut kept)?;
    Ok((words, kept))
}

/// An Exec line's words: as [`split_words_noting`], and a lone `\;` is a literal `;`
/// argument, as systemd.service(5) says (`find … -exec rm {} \;` in amavis.service).
pub(super) fn split_exec_words(s: &str) -> Result<(Vec<String>, bool), String> {
    let mut kept = false;
    let mut words = Vec::new();
    let mut rest = s;
    // Cut at each unquoted lone `\;`, split the pieces, and put `;` between them.
    loop {
        match find_lone_escaped_semicolon(rest) {
            Some(at) => {
                words.extend(extract_words(&rest[..at], true, false, &mut kept)?);
                words.push(";".to_string());
                rest = &rest[at + 2..];
            }
            None => {
                words.extend(extract_words(rest, true, false, &mut kept)?);
                return Ok((words, kept));
            }
        }
    }
}

/// The byte offset of the first `\;` that stands alone as a word outside quotes.
pub(super) fn find_lone_escaped_semicolon(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (b[i], quote) {
            (b'\\', None)
                if b.get(i + 1) == Some(&b';')
                    && (i == 0 || is_separator(b[i - 1] as char))
                    && b.get(i + 2).is_none_or(|c| is_separator(*c as char)) =>
            {
                return Some(i);
            }
            (b'\\', _) => i += 1,
            (c, Some(q)) if c == q => quote = None,
            (b'\'' | b'"', None) => quote = Some(b[i]),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits a variable's value for a `$VAR` word of a command line: quotes are respected
/// and removed, a backslash takes the next character literally, unbalanced quotes end
/// the word (systemd's `EXTRACT_RELAX|EXTRACT_UNQUOTE`).
pub fn split_variable_value(s: &str) -> Vec<String> {
    extract_words(s, false, true, &mut false).unwrap_or_default()
}

pub(super) fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

pub(super) fn extract_words(
    s: &str,
    cunescape: bool,
    relax: bool,
    kept_escape: &mut bool,
) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while chars.get(i).copied().is_some_and(is_separator) {
            i += 1;
        }
        if i >= chars.len() {
            return Ok(words);
        }
        let mut w = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match (c, quote) {
                ('\\', _) => {
                    let Some(&next) = chars.get(i) else {
                        if quote.is_none() && !relax {
                            // systemd keeps a trailing unquoted backslash (after a warning).
                            *kept_escape = true;
                            w.push('\\');
                        }
                        break;
                    };
                    match cunescape.then(|| cunescape_one(&chars[i..])) {
                        None => {
                            w.push(next);
                            i += 1;
                        }
                        Some(Some((ch, used))) => {
                            w.push(ch);
                            i += used;
                        }
                        Some(None) => {
                            *kept_escape = true;
                            w.push('\\');
                            w.push(next);
                            i += 1;
                        }
                    }
                }
                (c, Some(q)) if c == q => quote = None,
                (c, Some(_)) => w.push(c),
                ('\'' | '"', None) => quote = Some(c),
                (c, None) if is_separator(c) => break,
                (c, None) => w.push(c),
            }
        }
        if quote.is_some() && !relax {
            return Err(format!("unbalanced quoting in {s:?}"));
        }
        words.push(w);
    }
}

/// One C escape as systemd's `cunescape_one` reads it, `rest` starting after the
/// backslash: the character and how many characters of `rest` it used, or `None` for
/// an unknown or unrepresentable escape (NUL, or a raw byte above 0x7f).
pub(super) fn cunescape_one(rest: &[char]) -> Option<(char, usize)> {
    let digits = |n: usize, radix: u32| -> Option<u32> {
        let ds = rest.get(1..=n)?;
        ds.iter()
            .try_fold(0u32, |acc, c| c.to_digit(radix).map(|d| acc * radix + d))
    };
    let simple = match rest.first()? {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        '"' => '"',
        '\'' => '\'',
        's' => ' ',
        'x' => {
            let v = digits(2, 16).filter(|v| (1..0x80).contains(v))?;
            return Some((char::from_u32(v)?, 3));
        }
        'u' => {
            let v = digits(4, 16).filter(|v| *v != 0)?;
            return Some((char::from_u32(v)?, 5));
        }
        'U' => {
            let v = digits(8, 16).filter(|v| *v != 0)?;
            return Some((char::from_u32(v)?, 9));
        }
        c if c.is_digit(8) => {
            let first = c.to_digit(8)?;
            let v = digits(2, 8).map(|rest2| first * 64 + rest2)?;
            let v = Some(v).filter(|v| (1..0x80).contains(v))?;
            return Some((char::from_u32(v)?, 3));
        }
        _ => return None,
    };
    Some((simple, 1))
}

pub(super) fn parse_exec(v: &str, loc: &str, diags: &mut Diags) -> Result<ExecCommand, String> {
    let mut rest = v.trim_start();
    let mut cmd = ExecCommand {
        argv: vec![],
        ignore_failure: false,
        custom_argv0: false,
        privileged: false,
        expand: true,
        location: loc.to_string(),
    };
    loop {
        match rest.chars().next() {
            Some('-') => cmd.ignore_failure = true,
            Some('@') => cmd.custom_argv0 = true,
            Some('+') | Some('!') => cmd.privileged = true,
            Some(':') => cmd.expand = false,
            _ => break,
        }
        rest = &rest[1..];
    }
    let (argv, kept_escape) = split_exec_words(rest)?;
    if kept_escape {
        diags.warn(
            loc.to_string(),
            format!("ignoring unknown escape sequences in {rest:?}"),
        );
    }
    cmd.argv = argv;
    if cmd.argv.is_empty() {
        return Err("empty command".into());
    }
    if !cmd.argv[0].starts_with('/') && cmd.argv[0].contains('/') {
        return Err(format!(
            "executable path {:?} is neither absolute nor a plain name",
            cmd.argv[0]
        ));
    }
    if cmd.custom_argv0 && cmd.argv.len() < 2 {
        return Err("@ needs an argv[0] after the path".into());
    }
    Ok(cmd)
}

pub(super) fn push_exec(
    target: &mut Vec<ExecCommand>,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    if v.is_empty() {
        target.clear();
        return Ok(());
    }
    // A lone unquoted `;` separates commands, each with its own prefixes, as in
    // systemd's config_parse_exec (netctl-sleep.service, kup-server.service).
    for part in split_lone_semicolons(v) {
        target.push(parse_exec(part, loc, diags)?);
    }
    Ok(())
}

/// `v` cut at each `;` that stands alone as a word outside quotes; a trailing one
/// ends the line.
pub(super) fn split_lone_semicolons(v: &str) -> Vec<&str> {
    let b = v.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (b[i], quote) {
            (b';', None)
                if (i == 0 || is_separator(b[i - 1] as char))
                    && b.get(i + 1).is_none_or(|c| is_separator(*c as char)) =>
            {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            (b'\\', _) => i += 1,
            (c, Some(q)) if c == q => quote = None,
            (b'\'' | b'"', None) => quote = Some(b[i]),
            _ => {}
        }
        i += 1;
    }
    if !v[start..].trim().is_empty() || parts.is_empty() {
        parts.push(&v[start..]);
    }
    parts
}
