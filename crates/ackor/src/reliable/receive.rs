//! The receiving side: deliver each important send once, and acknowledge it on the
//! link it came in on.

use std::sync::Arc;

use super::dedup::Seen;
use super::store::PeerCustody;
use crate::error::Error;
use crate::remote::wire::{Body, CallReply, Frame, Outgoing, WireError};
use crate::remote::{LinkQueue, Peer, Remote, untrusted};

/// What to do with an important delivery that just arrived.
pub(crate) enum Arrival {
    /// First seen: deliver it, then tell [`Acks::delivered`] or call [`refused`].
    New,
    /// A copy of one already delivered or being delivered (resent after a link flap):
    /// not delivered again; answered here if the first copy is settled.
    Repeat,
}

/// Important delivery `id` arrived from `peer` on the link whose queue is `back`.
/// Check and claim are one step under the peer's lock, so copies read on two links
/// at once are delivered once.
pub(crate) fn arrived(remote: &Remote, peer: &Peer, back: &LinkQueue, id: u64) -> Arrival {
    let before = peer.with_custody(|custody| {
        // The peer's custody is always this folder's `PeerCustody` (see `new_custody`).
        let custody = custody.as_any_mut().downcast_mut::<PeerCustody>()?;
        let before = custody.seen.get(id);
        if before.is_none() {
            custody.seen.set(id, Seen::InProgress);
        }
        before
    });
    match before {
        None => Arrival::New,
        Some(before) => {
            // Deliver once; acknowledge again if the first copy is done (if it is still
            // being delivered, it answers itself).
            remote.important().deduplicated();
            if let Seen::Done(error) = before {
                acknowledge(remote, back, id, error);
            }
            Arrival::Repeat
        }
    }
}

/// The important deliveries from one peer put in their mailboxes during one read of
/// one link, to acknowledge together once the read is handed on ([`Acks::done`]):
/// one lock of the peer records them all for repeats, one lock of the link's queue
/// queues all their acknowledgements, where each took both locks on its own. Until
/// then a repeat finds them in progress and leaves the answer to this.
#[derive(Default)]
pub(crate) struct Acks {
    ids: Vec<u64>,
    /// The peer's incarnation when the first of them was delivered: if the peer
    /// restarted since, they are neither recorded (the new incarnation's window is
    /// its own) nor acknowledged.
    creation: Option<u32>,
}

impl Acks {
    /// Important delivery `id` from `peer` (which [`arrived`] as new) is in the mailbox.
    pub(crate) fn delivered(&mut self, peer: &Peer, id: u64) {
        if self.ids.is_empty() {
            self.creation = peer.creation();
        }
        self.ids.push(id);
    }

    /// Records and acknowledges, on `back`, every delivery since the last call.
    pub(crate) fn done(&mut self, remote: &Remote, peer: &Peer, back: &LinkQueue) {
        if self.ids.is_empty() {
            return;
        }
        let recorded = peer.with_custody_of(self.creation, |custody| {
            if let Some(custody) = custody.as_any_mut().downcast_mut::<PeerCustody>() {
                for &id in &self.ids {
                    custody.seen.set(id, Seen::Done(None));
                }
            }
        });
        if recorded.is_some() {
            remote.important().acked(self.ids.len() as u64);
            back.push_acks_from_reader(&self.ids);
        } else {
            tracing::debug!(peer = %untrusted(peer.name()), count = self.ids.len(), "sender restarted before its important sends were acknowledged: not acknowledged");
        }
        self.ids.clear();
    }
}

impl Drop for Acks {
    fn drop(&mut self) {
        debug_assert!(self.ids.is_empty(), "important deliveries left unacknowledged");
    }
}

/// Important delivery `id` from `peer` was refused with `error`: records it for repeats
/// and answers it on `back` (those put in the mailbox are acknowledged with [`Acks`]).
pub(crate) fn refused(remote: &Remote, peer: &Peer, back: &LinkQueue, id: u64, error: &Error) {
    let error = wire_outcome(remote, Err(error));
    peer.with_custody(|custody| remember(custody, id, &error));
    acknowledge(remote, back, id, error);
}

/// How important delivery `id` from `peer`, acknowledged after handling, is settled
/// by the handler's outcome (its reply, or why there is none: a panic, a stop, a
/// [`ReplyHandle::fail`](crate::ReplyHandle::fail)); returns whether the
/// acknowledgement could be queued. Unlike [`Acks`] and [`refused`] it answers from
/// the actor's task: on `back`, the link the send came in on, while that link lasts
/// (the acknowledgement then carries the TCP acknowledgement of the send, one segment
/// fewer), and else on the node's own links (the sender resent it on a new link
/// meanwhile and still waits).
pub(crate) fn settle_when_handled(
    remote: &Arc<Remote>,
    peer: &Arc<Peer>,
    back: &Arc<LinkQueue>,
    id: u64,
) -> impl FnOnce(Result<(), &Error>) -> Result<(), Error> + Send + Sync + 'static {
    let (remote, peer, back) = (remote.clone(), peer.clone(), back.clone());
    // The incarnation that sent it: if the sender restarts before the handler is done,
    // the outcome is not recorded in (nor sent to) the new one, whose ids and dedup
    // window are its own.
    let creation = peer.creation();
    move |outcome| {
        let Some(error) = record_for(&remote, &peer, creation, id, outcome) else {
            tracing::debug!(peer = %untrusted(peer.name()), delivery_id = id, "sender restarted before the handler finished: no acknowledgement");
            return Err(Error::ConnectionLost);
        };
        let ack = Body::Reply(CallReply {
            call_id: id,
            error,
            ..Default::default()
        });
        let sent = match remote.answer_on(&back, ack.clone()) {
            // Pinned by the delivery id: acknowledgements need no order among themselves.
            Err(Error::ConnectionLost) => remote.send(peer.name(), id, ack),
            pushed => pushed,
        };
        if let Err(e) = &sent {
            tracing::debug!(peer = %untrusted(peer.name()), delivery_id = id, error = %e, "acknowledgement after handling not sent");
        }
        sent
    }
}

/// Counts the outcome of delivery `id` and records it for repeats, while the peer is
/// still incarnation `creation`: the wire error to answer with; `None` (nothing
/// recorded) once it restarted.
fn record_for(
    remote: &Remote,
    peer: &Peer,
    creation: Option<u32>,
    id: u64,
    outcome: Result<(), &Error>,
) -> Option<Option<WireError>> {
    let error = wire_outcome(remote, outcome);
    peer.with_custody_of(creation, |custody| remember(custody, id, &error))?;
    Some(error)
}

fn wire_outcome(remote: &Remote, outcome: Result<(), &Error>) -> Option<WireError> {
    match outcome {
        Ok(()) => {
            remote.important().acked(1);
            None
        }
        Err(e) => Some(WireError::from(e)),
    }
}

fn remember(custody: &mut dyn crate::remote::Custody, id: u64, error: &Option<WireError>) {
    if let Some(custody) = custody.as_any_mut().downcast_mut::<PeerCustody>() {
        custody.seen.set(id, Seen::Done(error.clone()));
    }
}

/// Answers an important send: on `back`, the queue of the link it came in on, whose
/// writer (in the same task as the reader) writes it right after this read. No other
/// task is woken, which would cost a worker wake-up per acknowledgement.
fn acknowledge(remote: &Remote, back: &LinkQueue, delivery_id: u64, error: Option<WireError>) {
    let ack = Frame::new(Body::Reply(CallReply {
        call_id: delivery_id,
        error,
        ..Default::default()
    }));
    if let Err(e) = back.push_from_reader(&Outgoing::Frame(&ack), remote.config().max_frame_size) {
        tracing::debug!(delivery_id, error = %e, "acknowledgement not sent");
    }
}
