//! Standard output for the commands: a reader that went away (`ackor ps | head -1`, a
//! parent that stopped reading) is not a failure, where `println!` would panic.

use std::io::Write as _;

/// Prints `text` and a newline on standard output, ignoring a closed pipe.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
