//! The calls waiting for the peer's answers (calls, and important sends waiting for
//! their acknowledgement), and how an answer reaches its caller.

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Peer;
use crate::error::Error;
use crate::remote::untrusted;

/// Completes a remote call with the reply payload or an error; says whether a caller
/// was still there to take it ([`Error::ResponseIgnored`] if not).
pub(crate) type PendingCall = Box<dyn FnOnce(Result<bytes::Bytes, Error>) -> Result<(), Error> + Send>;

/// What waits for the answer of the peer to a call or an important send.
pub(crate) enum Waiting {
    /// A call: the closure takes the outcome.
    Call(PendingCall),
    /// Its sender waits on the channel only for whether it succeeded (the
    /// acknowledgement of an important send), until the deadline: then the peer's
    /// sweeper ends it (see `deadlines`).
    Done(oneshot::Sender<Result<(), Error>>, Instant),
}

impl Waiting {
    /// Hands over the outcome; says whether anyone was still waiting for it.
    pub(super) fn complete(self, outcome: Result<Bytes, Error>) -> Result<(), Error> {
        match self {
            Waiting::Call(call) => call(outcome),
            Waiting::Done(tx, _) => tx.send(outcome.map(|_| ())).map_err(|_| Error::ResponseIgnored),
        }
    }
}

impl From<PendingCall> for Waiting {
    fn from(call: PendingCall) -> Self {
        Waiting::Call(call)
    }
}

/// An answer read from the peer, on its way to what waits for it (see
/// [`Peer::complete_calls`]).
pub(crate) type Answer = (u64, Result<Bytes, Error>, Option<Waiting>);

/// A call waiting for its answer.
pub(super) struct Pending {
    pub(super) waiting: Waiting,
    /// Where its frame waits while the links come up: its index in the peer's queue.
    /// `None` once the frame was handed to a link: the peer may have it, so losing the
    /// connection leaves its fate unknown ([`Error::ConnectionLost`]); a frame that
    /// never left fails with [`Error::NoConnection`].
    pub(super) queued: Option<usize>,
}

impl Pending {
    /// Whether its frame was handed to a link.
    pub(super) fn sent(&self) -> bool {
        self.queued.is_none()
    }
}

/// What [`Peer::withdraw_call`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withdrawn {
    /// The frame was still queued while the links come up: it is taken out and never
    /// leaves, and the call is forgotten. The caller answers [`Error::NoConnection`].
    NeverLeft,
    /// The frame is on a link: the peer may have it. The call is still pending.
    Left,
    /// The call is no longer pending: its outcome is on its way to the caller (an
    /// answer, or the failure of the connection).
    Settled,
}

impl Peer {
    /// The caller of call `id` reached its deadline (an important send's is kept by the
    /// peer's sweeper, which does the same, see `deadlines`): if its frame
    /// has not left yet, takes it back so it never does (see [`Withdrawn`]). A frame
    /// leaves only as a whole queue is handed to the links, under this lock, so the
    /// answer is exact.
    pub(crate) fn withdraw_call(&self, id: u64) -> Withdrawn {
        let mut st = self.lock();
        match st.calls.get(&id) {
            None => return Withdrawn::Settled,
            Some(Pending { queued: None, .. }) => return Withdrawn::Left,
            Some(Pending { queued: Some(_), .. }) => {}
        }
        let removed = st.withdraw(id);
        drop(st);
        drop(removed);
        Withdrawn::NeverLeft
    }

    pub(crate) fn remove_call(&self, id: u64) {
        let mut st = self.lock();
        st.custody.release(id);
        let removed = st.calls.remove(&id);
        st.prune_deadlines();
        drop(st);
        drop(removed);
    }

    /// Hands a reply to its waiting caller; [`Error::ResponseIgnored`] if none waits.
    pub(crate) fn complete_call(&self, id: u64, outcome: Result<bytes::Bytes, Error>) -> Result<(), Error> {
        let call = {
            let mut st = self.lock();
            st.custody.release(id);
            let call = st.calls.remove(&id).map(|p| p.waiting);
            st.prune_deadlines();
            call
        };
        self.hand_over(id, outcome, call)
    }

    /// [`Peer::complete_call`] for many answers (read together from one link) under one
    /// lock; leaves `answers` empty.
    pub(crate) fn complete_calls(&self, answers: &mut Vec<Answer>) {
        {
            let mut st = self.lock();
            for (id, _, waiting) in answers.iter_mut() {
                st.custody.release(*id);
                *waiting = st.calls.remove(id).map(|p| p.waiting);
            }
            st.prune_deadlines();
        }
        for (id, outcome, waiting) in answers.drain(..) {
            let _ = self.hand_over(id, outcome, waiting);
        }
    }

    fn hand_over(
        &self,
        id: u64,
        outcome: Result<Bytes, Error>,
        waiting: Option<Waiting>,
    ) -> Result<(), Error> {
        let taken = match waiting {
            Some(waiting) => waiting.complete(outcome),
            None => Err(Error::ResponseIgnored),
        };
        if taken.is_err() {
            metrics::counter!("ackor_remote_late_replies_total").increment(1);
            tracing::debug!(peer = %untrusted(&self.name), call_id = id, "late reply discarded");
        }
        taken
    }
}
