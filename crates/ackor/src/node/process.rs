//! What the node's process table holds: processes that take signals (see
//! [`ProcessCell`]) and, decoded by their own actor type, messages from other nodes.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::identity::{ChainId, Pid};
use crate::monitor::ProcessCell;
use crate::reliable::AckSender;

use super::introspect::ProcessInfo;

/// Sends an outcome on to another node; with an [`AckSender`] for an important
/// response.
pub(crate) type SendOn<T> = Box<dyn FnOnce(Result<T, Error>, Option<AckSender>) + Send + Sync>;

/// Where the reply to a remote call goes: the encoded outcome is sent back to the
/// caller's node.
pub(crate) struct RemoteReplyTo {
    /// Sends the encoded outcome; with an ack sender for an important response.
    pub(crate) send: SendOn<Vec<u8>>,
    /// How long an important response waits for the caller's node to confirm.
    pub(crate) ack_timeout: Duration,
}

/// A delivery that failed, with the reply route given back so the caller can be told.
pub(crate) type Undelivered = (Error, Option<RemoteReplyTo>);

/// A message from another node, as the node's router hands it to a process.
pub(crate) struct Delivery<'a> {
    /// The message type's wire tag (UTF-8 from a well-behaved sender).
    pub(crate) tag: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) from: Option<Pid>,
    pub(crate) chain: Option<ChainId>,
    /// The wait-for path of a call (see `identity::ChainId` and `monitor::Blocked`).
    pub(crate) path: Vec<u64>,
    /// Set for a call: where its reply goes.
    pub(crate) reply: Option<RemoteReplyTo>,
    /// The trace it was sent in.
    pub(crate) trace: Option<crate::trace::TraceContext>,
    /// The wire id it came with: a call's call id, or an important send's delivery id
    /// (`important`); 0 for neither.
    pub(crate) call_id: u64,
    pub(crate) important: bool,
}

/// A live process of this node, as its process table holds it.
pub(crate) trait Process: ProcessCell {
    /// Decodes a message that came from another node and queues it; gives the reply
    /// route back with the error when it cannot.
    fn deliver_remote(self: Arc<Self>, message: Delivery<'_>) -> Result<(), Undelivered>;

    /// A snapshot of the process for [`Node::processes`](crate::Node::processes).
    fn info(&self) -> ProcessInfo;
}
