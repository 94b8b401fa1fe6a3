//! Messages for a terminal or not: Nix strips ANSI escape sequences from
//! what it prints when stderr is not a terminal (`filterANSIEscapes`), and
//! scripts that grep errors (nixpkgs lib's tests) rely on it, since lib puts
//! colours into its messages.

use std::io::IsTerminal as _;

/// `msg` as it should reach stderr.
pub fn for_stderr(msg: &str) -> String {
    if std::io::stderr().is_terminal() {
        msg.to_owned()
    } else {
        strip(msg)
    }
}

pub use b8g_eval::print::strip_ansi as strip;

#[cfg(test)]
mod tests {
    #[test]
    fn strips_colours_and_keeps_text() {
        assert_eq!(
            super::strip("type \u{1b}[1;35m\"configuration\"\u{1b}[0m, ok"),
            "type \"configuration\", ok"
        );
        assert_eq!(super::strip("plain ü"), "plain ü");
        assert_eq!(super::strip("a\u{1b}b"), "ab");
    }
}
