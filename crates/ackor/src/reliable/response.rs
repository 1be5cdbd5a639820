//! Important responses (RR-2PC, FR-2PC): a responder learns whether its reply reached
//! a caller that was still waiting.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::Error;
use crate::identity::NodeName;
use crate::remote::wire::{Body, CallReply, WireError};
use crate::remote::{Peer, PendingCall, Remote, untrusted};

/// Told whether an important response reached a caller that was still waiting.
pub(crate) type AckSender = tokio::sync::oneshot::Sender<Result<(), Error>>;

/// Sends a reply to call `call_id` of `caller_node` as an important response: it
/// carries an `ack_id` of its own and waits, as a call does, for the caller's node to
/// say whether a caller took it; `ack` gets that answer ([`Error::ResponseIgnored`] if
/// no caller was waiting; [`Error::ConnectionLost`] if the connection dropped after it
/// left, [`Error::NoConnection`] if it never left). The responder bounds its wait.
pub(crate) fn send_response(
    remote: &Arc<Remote>,
    caller_node: &NodeName,
    pin: u64,
    call_id: u64,
    (payload, error): (Bytes, Option<WireError>),
    ack: AckSender,
) {
    let ack_id = remote.next_call_id();
    let confirm: PendingCall = Box::new(move |outcome| {
        let _ = ack.send(outcome.map(|_| ()));
        Ok(())
    });
    let body = Body::Reply(CallReply {
        call_id,
        payload,
        error,
        ack_id,
    });
    match remote.call(caller_node, pin, ack_id, body, confirm) {
        // The entry goes with the answer or the connection.
        Ok(mut waiting) => waiting.answered(),
        Err(e) => tracing::debug!(to = %untrusted(caller_node), %e, "reply lost: no route to the caller"),
    }
}

/// An important response arrived from `peer`: hands it to the waiting caller and
/// tells the responder whether one was waiting.
pub(crate) fn confirm_response(remote: &Arc<Remote>, peer: &Peer, reply: CallReply) {
    let outcome = match &reply.error {
        Some(e) => Err(Error::from(e)),
        None => Ok(reply.payload),
    };
    let taken = peer.complete_call(reply.call_id, outcome);
    let ack = Body::Reply(CallReply {
        call_id: reply.ack_id,
        error: taken.err().as_ref().map(WireError::from),
        ..Default::default()
    });
    let _ = remote.send(peer.name(), reply.call_id, ack);
}
