//! Text that came from the network, made safe to log: node names, message tags, exit
//! reasons, error texts a peer sent (or errors built from them). A peer, even one that
//! does not know the cookie, chooses these bytes; logged as they are, a newline would
//! forge a log record and an escape sequence would repaint the operator's terminal.
//!
//! [`untrusted`] (names, tags) and [`untrusted_text`] (errors, reasons) wrap anything
//! that displays: control characters and other non-printables come out escaped (`\n`,
//! `\t`, `\u{1b}`, ...), and the text is cut after a bound, marked with `…` and how many
//! bytes were left out. Backslashes are left as they are, so escaping twice changes
//! nothing (the result is for people to read, not to parse back).

use std::fmt::{self, Display, Write};

/// How many characters of a name or tag are shown.
pub(crate) const NAME_CHARS: usize = 128;

/// How many characters of an error text or reason are shown (it may hold names that
/// were cut already).
pub(crate) const TEXT_CHARS: usize = 1024;

/// A name or tag from the network, to log: see the module docs.
pub(crate) fn untrusted<T: Display>(value: T) -> Untrusted<T> {
    Untrusted {
        value,
        limit: NAME_CHARS,
    }
}

/// An error text or reason that may hold what a peer sent, to log: see the module docs.
pub(crate) fn untrusted_text<T: Display>(value: T) -> Untrusted<T> {
    Untrusted {
        value,
        limit: TEXT_CHARS,
    }
}

/// Displays `value` escaped and cut (see the module docs).
pub(crate) struct Untrusted<T> {
    value: T,
    /// At most this many characters of `value` are shown.
    limit: usize,
}

impl<T: Display> Display for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Escape {
            out: f,
            left: self.limit,
            cut: 0,
        };
        write!(out, "{}", self.value)?;
        let cut = out.cut;
        if cut > 0 {
            write!(f, "…(+{cut} bytes)")?;
        }
        Ok(())
    }
}

/// Writes what it is given escaped, up to `left` characters; counts the bytes beyond.
struct Escape<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    left: usize,
    cut: usize,
}

impl Write for Escape<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, c) in s.char_indices() {
            if self.left == 0 {
                self.cut += s.len() - i;
                break;
            }
            self.left -= 1;
            match c {
                '\n' => self.out.write_str("\\n")?,
                '\r' => self.out.write_str("\\r")?,
                '\t' => self.out.write_str("\\t")?,
                ' '..='~' => self.out.write_char(c)?,
                // The rest of ASCII are control characters (ESC, DEL, ...).
                c if c.is_ascii() => write!(self.out, "\\u{{{:x}}}", c as u32)?,
                // Beyond ASCII, the standard library's notion of printable: format
                // characters (bidirectional overrides, zero-width), line and paragraph
                // separators, unassigned code points and combining marks come out as
                // `\u{..}`.
                c => write!(self.out, "{}", c.escape_debug())?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_unchanged() {
        let name = "bank-7@10.0.0.1:4370";
        assert_eq!(untrusted(name).to_string(), name);
        assert_eq!(untrusted("größe.v1 €").to_string(), "größe.v1 €");
    }

    #[test]
    fn control_characters_and_escape_sequences_are_escaped() {
        let shown = untrusted("evil\n2024-01-01 INFO forged\x1b[31mred\r\t\x7f\0").to_string();
        assert_eq!(
            shown,
            "evil\\n2024-01-01 INFO forged\\u{1b}[31mred\\r\\t\\u{7f}\\u{0}"
        );
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn invisible_and_reordering_characters_are_escaped() {
        // A right-to-left override, a zero-width space, a line separator, C1 control CSI.
        let shown = untrusted("a\u{202e}b\u{200b}c\u{2028}d\u{9b}e").to_string();
        assert_eq!(shown, "a\\u{202e}b\\u{200b}c\\u{2028}d\\u{9b}e");
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        let long = "x".repeat(1000);
        let shown = untrusted(&long).to_string();
        assert_eq!(shown, format!("{}…(+872 bytes)", "x".repeat(128)));
        assert_eq!(untrusted_text(&long).to_string(), long);
        let longer = "y".repeat(5000);
        assert!(untrusted_text(&longer).to_string().ends_with("…(+3976 bytes)"));
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        let once = untrusted("a\nb\x1b[0m\\c").to_string();
        assert_eq!(untrusted(&once).to_string(), once);
    }

    #[test]
    fn the_bound_counts_what_displays_in_pieces() {
        // An error whose Display writes several pieces is cut across them.
        let e = crate::error::Error::Handshake("z".repeat(200));
        let shown = untrusted(&e).to_string();
        assert!(shown.starts_with("handshake failed: zzz"));
        assert!(shown.ends_with("…(+90 bytes)"), "{shown}");
    }
}
