//! The one error type of ackor.

use std::fmt;

/// A boxed error, as returned by [`Actor::init`](crate::Actor::init).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when talking to a process.
///
/// Variants are named for what happened, so a caller can tell a message that was
/// never delivered (`ProcessUnknown`, `MailboxFull`, `ProcessTerminated`) from one
/// whose fate is unknown (`Timeout`).
///
/// ```
/// use ackor::Error;
///
/// let err = Error::MailboxFull;
/// assert_eq!(err.to_string(), "the mailbox of the process is full");
/// assert!(err.is_not_delivered());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No process with that pid or name exists (it never did, or it is gone and its
    /// mailbox was released).
    #[error("no such process")]
    ProcessUnknown,
    /// The bounded user lane of the recipient's mailbox is full.
    #[error("the mailbox of the process is full")]
    MailboxFull,
    /// The process stopped before it could take or answer the message.
    #[error("the process has terminated")]
    ProcessTerminated,
    /// No answer came within the allowed time; the message may or may not have been
    /// processed.
    #[error("timed out waiting for an answer")]
    Timeout,
    /// An important response reached a caller that was no longer waiting.
    #[error("the response was ignored: the caller was no longer waiting")]
    ResponseIgnored,
    /// No link to the recipient's node could be had; the message was not delivered.
    ///
    /// Also the answer of a remote call or important send whose timeout passed while
    /// the link to the node was still being made (a node that accepts the connection
    /// but does not complete the handshake, say): the message was still waiting on this
    /// node and is taken back then, so it never leaves. Whichever of the handshake
    /// timeout and the call's own timeout ends first, such a message answers this.
    #[error("no connection to the node")]
    NoConnection,
    /// The connection to the recipient's node was lost (or the node restarted) after
    /// the message left and before its answer or acknowledgement came: it may or may
    /// not have been delivered and handled.
    #[error("the connection to the node was lost before an answer came")]
    ConnectionLost,
    /// `request` was used by an actor (or with a per-call mode) that has reentrancy off.
    #[error("reentrancy is disabled for this actor or call")]
    ReentrancyDisabled,
    /// The actor already has its maximum number of requests in flight.
    #[error("too many requests in flight")]
    ReentrancyInFlightLimit,
    /// A non-blocking request got no reply within its timeout.
    #[error("the request timed out")]
    RequestTimeout,
    /// A non-blocking request was canceled before its reply arrived.
    #[error("the request was canceled")]
    RequestCanceled,
    /// A call or request would wait on itself: its target is blocked in a `call` that
    /// waits, through a chain of calls or requests, for this one (A calls B, B calls A).
    /// It fails at once instead of deadlocking until a timeout; use a non-blocking
    /// [`Context::request`](crate::Context::request) for such cycles.
    #[error("call cycle: the target is blocked in a call waiting on this one")]
    CallCycle,
    /// The node asked to spawn an actor does not allow remote spawns of this kind (see
    /// [`Node::allow_remote_spawn`](crate::Node::allow_remote_spawn)).
    #[error("unknown actor kind {0:?}: the node does not allow spawning it remotely")]
    UnknownActorKind(String),
    /// The handler dropped the reply handle of a call without answering it.
    #[error("the handler dropped the reply without answering")]
    ReplyDropped,
    /// The actor failed (its handler panicked, say) while it held this message or its
    /// reply: the message is lost. A supervised actor is restarted and handles the
    /// messages queued behind it; the text is the failure.
    #[error("the actor failed while it held the message: {0}")]
    ActorFailed(String),
    /// The callee answered the call with an error of its own.
    #[error("the callee answered with an error: {0}")]
    Rejected(String),
    /// The name is already registered on this node.
    #[error("the name {0:?} is already registered")]
    NameTaken(String),
    /// The process already has a registered name; a process has at most one.
    #[error("the process is already registered as {0:?}")]
    AlreadyRegistered(String),
    /// The actor failed to start: its `init` returned an error or panicked.
    #[error("the actor failed to start: {0}")]
    InitFailed(String),
    /// The node is shutting down or has shut down.
    #[error("the node is shutting down")]
    NodeStopped,
    /// The node configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The receiving node does not know this message tag for the target actor (or the
    /// sender has not registered the message type for remote use). Both sides register
    /// a message in [`Actor::remote_messages`](crate::Actor::remote_messages), which
    /// `#[ackor::actor]` writes from the actor's handlers: then this means the message
    /// is not a [`RemoteMessage`](crate::RemoteMessage), or the two nodes run different
    /// versions of the actor.
    #[error("unknown message type {0:?} for this actor")]
    UnknownMessage(String),
    /// A payload could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// A durable store failed: a stream's [`Outbox`](crate::stream::Outbox) or
    /// [`Ledger`](crate::stream::Ledger) could not read or write.
    #[error("storage error: {0}")]
    Storage(String),
    /// The handshake with a peer failed: wrong cookie, wrong version, timeout, garbage.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// A peer broke the wire protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// Creates the error a callee sends back to reject a call, see [`Reply::Error`](crate::Reply::Error).
    ///
    /// ```
    /// let err = ackor::Error::rejected("insufficient funds");
    /// assert_eq!(err, ackor::Error::Rejected("insufficient funds".into()));
    /// ```
    pub fn rejected(reason: impl fmt::Display) -> Self {
        Error::Rejected(reason.to_string())
    }

    /// True when the message is known not to have reached the recipient's mailbox.
    ///
    /// ```
    /// assert!(ackor::Error::ProcessUnknown.is_not_delivered());
    /// assert!(!ackor::Error::Timeout.is_not_delivered());
    /// ```
    pub fn is_not_delivered(&self) -> bool {
        matches!(
            self,
            Error::ProcessUnknown
                | Error::MailboxFull
                | Error::NoConnection
                | Error::NodeStopped
                | Error::ReentrancyDisabled
                | Error::ReentrancyInFlightLimit
                | Error::CallCycle
        )
    }

    /// A short, fixed label for metrics: never text from a peer, so a label set stays
    /// bounded whatever other nodes send.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Error::ProcessUnknown => "process_unknown",
            Error::MailboxFull => "mailbox_full",
            Error::ProcessTerminated => "process_terminated",
            Error::UnknownMessage(_) => "unknown_message",
            Error::Codec(_) => "codec",
            Error::CallCycle => "call_cycle",
            Error::Timeout => "timeout",
            Error::NoConnection => "no_connection",
            Error::ConnectionLost => "connection_lost",
            Error::ActorFailed(_) => "actor_failed",
            Error::NodeStopped => "node_stopped",
            Error::Rejected(_) => "rejected",
            Error::Storage(_) => "storage",
            _ => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn metric_labels_never_carry_text_from_a_peer() {
        assert_eq!(Error::Rejected("a\nforged line".into()).label(), "rejected");
        assert_eq!(Error::ActorFailed("anything".into()).label(), "actor_failed");
        assert_eq!(
            Error::UnknownMessage("\u{1b}[31m".into()).label(),
            "unknown_message"
        );
        assert_eq!(Error::Timeout.label(), "timeout");
    }
}
