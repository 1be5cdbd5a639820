//! What the `ackor` command's exit status means (also in `ackor --help` and the README).

/// Success; for `ackor node`, a clean stop after SIGINT or SIGTERM.
pub const OK: u8 = 0;
/// A failure at run time: the node cannot listen on its address, a second signal cut
/// the shutdown short, the runtime could not start.
pub const RUNTIME: u8 = 1;
/// Bad usage or configuration: a missing or invalid flag, config file, cookie, TLS file
/// (clap's own usage errors are 2 too).
pub const USAGE: u8 = 2;
/// The target node could not be reached (no connection, the connection was lost, the
/// handshake failed, or no answer within `--timeout`).
pub const UNREACHABLE: u8 = 3;
/// The target node answered with an error (an unknown name, a full mailbox, a message
/// the actor does not take, ...).
pub const REMOTE_ERROR: u8 = 4;

/// The text `ackor --help` ends with.
pub const HELP: &str = "Exit status:
  0  success; for `ackor node`, a clean stop after SIGINT or SIGTERM
  1  runtime failure (cannot listen on the address, second signal during shutdown)
  2  usage or configuration error
  3  the target node could not be reached (client commands)
  4  the target node answered with an error (client commands)";

/// Why a command failed, with its exit status.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl Failure {
    /// A failure with this status.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(USAGE, message)
    }

    /// A runtime failure.
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure::new(RUNTIME, message)
    }

    /// An error from talking to a node: unreachable, or its answer.
    pub fn from_remote(node: &str, e: &ackor::Error) -> Self {
        use ackor::Error as E;
        let code = match e {
            E::NoConnection | E::ConnectionLost | E::Handshake(_) | E::Timeout => UNREACHABLE,
            E::Config(_) => USAGE,
            E::NodeStopped => RUNTIME,
            _ => REMOTE_ERROR,
        };
        Failure::new(code, format!("{node}: {}: {e}", variant(e)))
    }
}

/// The error's variant name (`ProcessUnknown`, `MailboxFull`, ...).
pub fn variant(e: &ackor::Error) -> String {
    let debug = format!("{e:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}
