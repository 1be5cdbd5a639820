//! The sending side: queue an important send with its copy kept, and wait for the
//! receiving node's acknowledgement.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::Error;
use crate::remote::wire::Outgoing;
use crate::remote::{ForgetCall, ImportantCounters, Peer, Remote, Waiting, untrusted_text};

/// Counts an important send and gives it a fresh delivery id, to put in its frame
/// before the frame is handed to [`send`].
pub(crate) fn delivery_id(remote: &Remote) -> u64 {
    remote.important().sent();
    remote.next_call_id()
}

/// Queues `frame` (a `Deliver` with `ack` set and delivery id `id`) for `peer`, with
/// its copy kept until the acknowledgement; the returned future waits for that, at
/// most `timeout` from now.
///
/// Fails at once with [`Error::MailboxFull`] while `important_window` sends to the
/// peer already wait, and with the errors of a plain send ([`Error::NoConnection`]
/// while the peer is unreachable, [`Error::NodeStopped`]).
pub(crate) fn send(
    remote: &Arc<Remote>,
    peer: &Arc<Peer>,
    pin: u64,
    id: u64,
    frame: &Outgoing<'_>,
    timeout: Duration,
) -> Result<AckWait, Error> {
    let (tx, rx) = oneshot::channel();
    let window = remote.config().important_window;
    let deadline = Instant::now() + timeout;
    let forget = remote.call_on(peer, pin, id, frame, Waiting::Done(tx, deadline), Some(window))?;
    Ok(AckWait {
        rx,
        forget,
        delivery_id: id,
        counters: remote.important().clone(),
    })
}

/// Waits for the acknowledgement of one important send. It sets up no timer: the
/// deadline, set at the send, is the peer's to keep, and its sweeper ends the wait
/// with [`Error::Timeout`] (or [`Error::NoConnection`] if the frame never left)
/// through the same channel as the acknowledgement.
pub(crate) struct AckWait {
    rx: oneshot::Receiver<Result<(), Error>>,
    /// Forgets the pending entry (and the kept copy) if the sender gives up.
    forget: ForgetCall,
    delivery_id: u64,
    /// The node's counters, told of a nack.
    counters: Arc<ImportantCounters>,
}

impl Future for AckWait {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // An outcome already in is taken without spending the task's budget (a poll
        // of the channel spends one unit even then): many sends awaited at once in a
        // `FuturesUnordered` would otherwise use it up on the first 128 taken and
        // have every other one woken again to be polled once more (+17 % through
        // `FuturesUnordered` with 1024 in flight). Waiting still spends it.
        // (A channel found closed by `try_recv` must not be polled again: tokio's
        // oneshot panics then.)
        let ready = match this.rx.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(oneshot::error::TryRecvError::Closed) => None,
            Err(oneshot::error::TryRecvError::Empty) => match Pin::new(&mut this.rx).poll(cx) {
                Poll::Ready(outcome) => outcome.ok(),
                Poll::Pending => return Poll::Pending,
            },
        };
        let outcome = match ready {
            Some(outcome) => {
                this.forget.answered();
                outcome
            }
            // The pending entry was dropped unanswered: the node's network side shut down.
            None => Err(Error::NoConnection),
        };
        match &outcome {
            Ok(()) => tracing::trace!(delivery_id = this.delivery_id, "acknowledged"),
            Err(e) => {
                this.counters.nacked(e);
                let error = untrusted_text(e);
                tracing::debug!(delivery_id = this.delivery_id, %error, "not acknowledged");
            }
        }
        Poll::Ready(outcome)
    }
}
