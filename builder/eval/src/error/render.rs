//! An error as Nix 2.8 prints it: `showErrorInfo` builds the message, its position
//! with the source lines, the suggestions and the trace; each line is indented under
//! `error: ` with its trailing blanks cut; the logger then drops carriage returns and
//! widens tabs to the next multiple of eight columns, counted from the start of the
//! whole text (`filterANSIEscapes`).

use super::{code_lines, resolve, ErrorKind, EvalError, Pos};

/// The error, with its trace or (`head`) without.
pub(super) fn render(e: &EvalError, with_trace: bool) -> String {
    let mut body = String::new();
    body.push_str(&e.msg);
    body.push('\n');
    push_pos(&mut body, e.shown_pos());
    match e.suggestions.as_slice() {
        [] => {}
        [one] => body.push_str(&format!("Did you mean {one}?\n")),
        [init @ .., last] => body.push_str(&format!(
            "Did you mean one of {} or {last}?\n",
            init.join(", ")
        )),
    }
    // Nix prints a stack overflow from its signal handler, with nothing after it.
    if with_trace && e.kind != ErrorKind::StackOverflow {
        for (pos, what) in &e.trace {
            body.push_str("\n… ");
            body.push_str(what);
            body.push('\n');
            push_pos(&mut body, *pos);
        }
    }
    widen_tabs(&indent("error: ", "       ", chomp(&body)))
}

/// `at file:line:col:` and the code lines, as `showErrorInfo` writes them.
fn push_pos(body: &mut String, pos: Pos) {
    let Some(lc) = resolve(pos) else {
        return;
    };
    body.push('\n');
    body.push_str(&format!("at {}:{}:{}:", lc.file, lc.line, lc.col));
    let Some(code) = code_lines(pos, lc.line) else {
        return;
    };
    body.push('\n');
    if let Some(prev) = &code.prev {
        body.push_str(&format!("\n {:>5}| {prev}", lc.line - 1));
    }
    body.push_str(&format!("\n {:>5}| {}", lc.line, code.this));
    body.push_str(&format!("\n      |{}^", " ".repeat(lc.col)));
    if let Some(next) = &code.next {
        body.push_str(&format!("\n {:>5}| {next}", lc.line + 1));
    }
    body.push('\n');
}

/// The text without its trailing blanks (Nix's `chomp`).
fn chomp(s: &str) -> &str {
    s.trim_end_matches([' ', '\n', '\r', '\t'])
}

/// Each line behind `first` (the first) or `rest`, its trailing blanks cut. An empty
/// text gives an empty one: Nix then prints not even `error:`.
fn indent(first: &str, rest: &str, s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = s
        .split('\n')
        .enumerate()
        .map(|(i, l)| chomp(&format!("{}{l}", if i == 0 { first } else { rest })).to_string())
        .collect();
    lines.join("\n")
}

/// Carriage returns and bells dropped, a tab widened to the next multiple of eight
/// characters counted over the whole text, newlines included.
fn widen_tabs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut w = 0usize;
    for c in s.chars() {
        match c {
            '\t' => {
                out.push(' ');
                w += 1;
                while w % 8 != 0 {
                    out.push(' ');
                    w += 1;
                }
            }
            '\r' | '\u{7}' => {}
            c => {
                out.push(c);
                w += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_are_widened_over_the_whole_text() {
        assert_eq!(widen_tabs("ab\tc"), "ab      c");
        // The newline counts as a character, as in Nix's filter.
        assert_eq!(widen_tabs("abc\n\tx"), "abc\n    x");
        assert_eq!(widen_tabs("a\r\u{7}b"), "ab");
    }

    #[test]
    fn lines_are_indented_and_cut() {
        assert_eq!(
            indent("error: ", "       ", "a  \n\nb\r"),
            "error: a\n\n       b"
        );
        assert_eq!(indent("error: ", "       ", ""), "");
        assert_eq!(
            indent("error: ", "       ", "\nat x"),
            "error:\n       at x"
        );
    }
}
