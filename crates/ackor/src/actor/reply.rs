//! Reply slots: a one-shot channel from a handler to the caller waiting on it.
//!
//! Hand-written rather than `tokio::sync::oneshot` because the sending half must be
//! erasable to `Arc<dyn Any>` without an allocation (the [`Context`](crate::Context)
//! holds it while a handler runs, whatever the reply type), and because a dropped
//! sender must be told apart from a sent error.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::Error;
use crate::node::SendOn;

enum SlotState<T> {
    Waiting(Option<Waker>),
    Ready(Result<T, Error>),
    SenderGone,
    ReceiverGone,
    Taken,
}

/// Where a slot whose caller is on another node sends the outcome.
pub(crate) struct Forward<T> {
    pub(crate) send: SendOn<T>,
    /// How long an important response waits for the caller's node to confirm.
    pub(crate) ack_timeout: std::time::Duration,
}

pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    /// For the reply of a remote call: the outcome is forwarded, not stored. `None`
    /// for a local call, which then takes no lock for it.
    forward: Option<Mutex<Option<Forward<T>>>>,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_forward(&self) -> Option<Forward<T>> {
        let forward = self.forward.as_ref()?;
        forward.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stores the outcome unless the receiver is gone.
    fn complete(&self, outcome: Result<T, Error>) -> Result<(), Error> {
        if let Some(forward) = self.take_forward() {
            (forward.send)(outcome, None);
            return Ok(());
        }
        let mut st = self.lock();
        match std::mem::replace(&mut *st, SlotState::Taken) {
            SlotState::Waiting(waker) => {
                *st = SlotState::Ready(outcome);
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(())
            }
            other => {
                *st = other;
                Err(Error::ResponseIgnored)
            }
        }
    }

    fn is_waiting(&self) -> bool {
        matches!(*self.lock(), SlotState::Waiting(_))
    }
}

trait AnySlot: Any + Send + Sync {
    fn sender_gone(&self);
}

thread_local! {
    /// Set while the run loop drops what a failed actor instance held: a reply handle
    /// dropped then answers [`Error::ActorFailed`] with this text, not `ReplyDropped`.
    static FAILING: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (which drops what a failed instance held) so that reply handles dropped
/// meanwhile on this thread answer their callers with [`Error::ActorFailed`].
pub(crate) fn while_failing<R>(why: &str, f: impl FnOnce() -> R) -> R {
    let before = FAILING.with(|cell| cell.replace(Some(why.to_string())));
    let out = f();
    FAILING.with(|cell| *cell.borrow_mut() = before);
    out
}

/// What a caller learns when the handle of its reply is dropped unanswered.
fn dropped_unanswered() -> Error {
    FAILING
        .with(|cell| cell.borrow().clone())
        .map_or(Error::ReplyDropped, Error::ActorFailed)
}

impl<T: Send + 'static> AnySlot for Slot<T> {
    fn sender_gone(&self) {
        if let Some(forward) = self.take_forward() {
            (forward.send)(Err(dropped_unanswered()), None);
            return;
        }
        if let Some(why) = FAILING.with(|cell| cell.borrow().clone()) {
            let _ = self.complete(Err(Error::ActorFailed(why)));
            return;
        }
        let mut st = self.lock();
        if let SlotState::Waiting(waker) = &mut *st {
            let waker = waker.take();
            *st = SlotState::SenderGone;
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// Creates a connected reply handle and receiver.
pub(crate) fn channel<T: Send + 'static>() -> (ReplyHandle<T>, ReplyReceiver<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState::Waiting(None)),
        forward: None,
    });
    (
        ReplyHandle {
            slot: Some(slot.clone()),
        },
        ReplyReceiver { slot },
    )
}

/// The right to answer one call, kept by a handler that answers later.
///
/// Get it with [`Context::defer_reply`](crate::Context::defer_reply), return
/// [`Reply::Deferred`](crate::Reply::Deferred) from the handler, and answer from a later
/// message, a continuation or a spawned task. Dropping the handle without answering
/// answers the caller with [`Error::ReplyDropped`] (or [`Error::ProcessTerminated`] when
/// the actor stopped), so no caller is left waiting.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::{Actor, BoxError, Context, Handler, Message, Node, Reply, ReplyHandle};
///
/// struct Later { pending: Option<ReplyHandle<u32>> }
/// impl Actor for Later {
///     type Args = ();
///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(Later { pending: None })
///     }
/// }
/// struct Ask;
/// impl Message for Ask { type Reply = u32; }
/// struct Answer(u32);
/// impl Message for Answer { type Reply = (); }
///
/// impl Handler<Ask> for Later {
///     type Return = Reply<u32>;
///     async fn handle(&mut self, _: Ask, ctx: &mut Context<Self>) -> Reply<u32> {
///         self.pending = ctx.defer_reply();
///         Reply::Deferred
///     }
/// }
/// impl Handler<Answer> for Later {
///     type Return = ();
///     async fn handle(&mut self, msg: Answer, _: &mut Context<Self>) {
///         if let Some(handle) = self.pending.take() {
///             handle.reply(msg.0);
///         }
///     }
/// }
///
/// let node = Node::builder().name("doc@local").start().await?;
/// let later = node.spawn::<Later>(())?;
/// let asking = tokio::spawn({ let later = later.clone(); async move { later.call(Ask).await } });
/// tokio::time::sleep(std::time::Duration::from_millis(10)).await;
/// later.send(Answer(42))?;
/// assert_eq!(asking.await.unwrap()?, 42);
/// node.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ReplyHandle<T: Send + 'static> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T: Send + 'static> ReplyHandle<T> {
    /// A handle whose outcome goes to `forward` (the reply route of a remote call).
    pub(crate) fn forwarding(forward: Forward<T>) -> Self {
        ReplyHandle {
            slot: Some(Arc::new(Slot {
                state: Mutex::new(SlotState::Waiting(None)),
                forward: Some(Mutex::new(Some(forward))),
            })),
        }
    }

    /// Completes a local slot from outside (the reply of a remote call arriving);
    /// [`Error::ResponseIgnored`] if the caller had already given up.
    pub(crate) fn complete_with(self, outcome: Result<T, Error>) -> Result<(), Error> {
        self.complete(outcome)
    }

    /// Answers with an important response: resolves `Ok(())` once the value is with a
    /// caller that was still waiting, [`Error::ResponseIgnored`] if the caller had
    /// timed out or stopped, [`Error::NoConnection`] if its node was lost, and
    /// [`Error::Timeout`] if the caller's node did not confirm in time. For a local
    /// caller the answer is known at once.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use ackor::{Actor, BoxError, Context, Handler, Message, Node, Reply};
    ///
    /// struct Commit;
    /// impl Message for Commit { type Reply = &'static str; }
    /// struct Ledger;
    /// impl Actor for Ledger {
    ///     type Args = ();
    ///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Ledger) }
    /// }
    /// impl Handler<Commit> for Ledger {
    ///     type Return = Reply<&'static str>;
    ///     async fn handle(&mut self, _: Commit, ctx: &mut Context<Self>) -> Reply<&'static str> {
    ///         if let Some(reply) = ctx.defer_reply() {
    ///             match reply.reply_important("committed").await {
    ///                 Ok(()) => { /* the caller has the answer */ }
    ///                 Err(e) => { /* it does not: undo, or retry later */ let _ = e; }
    ///             }
    ///         }
    ///         Reply::Deferred
    ///     }
    /// }
    ///
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let ledger = node.spawn::<Ledger>(())?;
    /// assert_eq!(ledger.call(Commit).await?, "committed");
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn reply_important(mut self, value: T) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let slot = self.slot.take();
        let forward = slot.as_ref().and_then(|s| s.take_forward());
        let (local, remote) = match (slot, forward) {
            (_, Some(forward)) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                (forward.send)(Ok(value), Some(tx));
                (None, Some((rx, forward.ack_timeout)))
            }
            (Some(slot), None) => (Some(slot.complete(Ok(value))), None),
            (None, None) => (Some(Err(Error::ResponseIgnored)), None),
        };
        async move {
            match (local, remote) {
                (Some(done), _) => done,
                (None, Some((rx, timeout))) => match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(Error::NoConnection),
                    Err(_) => Err(Error::Timeout),
                },
                (None, None) => Err(Error::ResponseIgnored),
            }
        }
    }

    /// Answers the caller with a value. A caller that gave up meanwhile (timeout) is
    /// not told; the value is dropped.
    pub fn reply(self, value: T) {
        let _ = self.complete(Ok(value));
    }

    /// Answers the caller with an error, e.g. [`Error::rejected`].
    pub fn fail(self, error: Error) {
        let _ = self.complete(Err(error));
    }

    /// True while the caller is still waiting for the answer.
    pub fn is_waiting(&self) -> bool {
        self.slot.as_ref().is_some_and(|s| s.is_waiting())
    }

    /// Answers, learning whether the caller was still waiting.
    pub(crate) fn complete(mut self, outcome: Result<T, Error>) -> Result<(), Error> {
        match self.slot.take() {
            Some(slot) => slot.complete(outcome),
            None => Err(Error::ResponseIgnored),
        }
    }
}

impl<T: Send + 'static> Drop for ReplyHandle<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.sender_gone();
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for ReplyHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyHandle")
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

/// A reply handle with its type erased, held by the context while a handler runs.
pub(crate) struct ErasedReply {
    slot: Option<Arc<dyn AnySlot>>,
}

impl ErasedReply {
    pub(crate) fn new<T: Send + 'static>(mut handle: ReplyHandle<T>) -> Self {
        let slot = handle.slot.take().map(|s| s as Arc<dyn AnySlot>);
        ErasedReply { slot }
    }

    /// Gets the typed handle back; gives `self` back if `T` is not the reply type.
    pub(crate) fn downcast<T: Send + 'static>(mut self) -> Result<ReplyHandle<T>, Self> {
        let Some(slot) = self.slot.take() else {
            return Ok(ReplyHandle { slot: None });
        };
        // Checked on a reference first: the `Arc` moves into the typed handle whole,
        // with no count taken and given back.
        let is_t = (&*slot as &dyn Any).is::<Slot<T>>();
        if !is_t {
            self.slot = Some(slot);
            return Err(self);
        }
        let any: Arc<dyn Any + Send + Sync> = slot;
        match any.downcast::<Slot<T>>() {
            Ok(typed) => Ok(ReplyHandle { slot: Some(typed) }),
            // Not reached: the same type check passed above. (Were it reached, the
            // caller would wait for its timeout.)
            Err(_) => Ok(ReplyHandle { slot: None }),
        }
    }
}

impl Drop for ErasedReply {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.sender_gone();
        }
    }
}

/// The sender dropped its handle without answering.
pub(crate) struct SenderGone;

/// The caller's half: resolves with the answer or with [`SenderGone`].
pub(crate) struct ReplyReceiver<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for ReplyReceiver<T> {
    type Output = Result<Result<T, Error>, SenderGone>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.slot.lock();
        match &mut *st {
            SlotState::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            SlotState::Ready(_) => match std::mem::replace(&mut *st, SlotState::Taken) {
                SlotState::Ready(outcome) => Poll::Ready(Ok(outcome)),
                _ => Poll::Ready(Err(SenderGone)),
            },
            SlotState::SenderGone | SlotState::ReceiverGone | SlotState::Taken => {
                Poll::Ready(Err(SenderGone))
            }
        }
    }
}

impl<T> ReplyReceiver<T> {
    /// Gives up waiting: returns the outcome if it arrived meanwhile, so a reply is
    /// either taken by the caller or known to the responder as ignored, never both.
    pub(crate) fn close(&mut self) -> Option<Result<T, Error>> {
        let mut st = self.slot.lock();
        match std::mem::replace(&mut *st, SlotState::ReceiverGone) {
            SlotState::Ready(outcome) => {
                *st = SlotState::Taken;
                Some(outcome)
            }
            _ => None,
        }
    }
}

impl<T> Drop for ReplyReceiver<T> {
    fn drop(&mut self) {
        let mut st = self.slot.lock();
        if matches!(*st, SlotState::Waiting(_) | SlotState::Ready(_)) {
            *st = SlotState::ReceiverGone;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_now<T>(rx: &mut ReplyReceiver<T>) -> Poll<Result<Result<T, Error>, SenderGone>> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(rx).poll(&mut cx)
    }

    #[test]
    fn reply_reaches_receiver() {
        let (tx, mut rx) = channel::<u32>();
        assert!(poll_now(&mut rx).is_pending());
        tx.reply(7);
        assert!(matches!(poll_now(&mut rx), Poll::Ready(Ok(Ok(7)))));
    }

    #[test]
    fn dropped_handle_is_reported() {
        let (tx, mut rx) = channel::<u32>();
        drop(tx);
        assert!(matches!(poll_now(&mut rx), Poll::Ready(Err(SenderGone))));
    }

    #[test]
    fn erased_handle_round_trips_and_rejects_wrong_type() {
        let (tx, mut rx) = channel::<u32>();
        let erased = ErasedReply::new(tx);
        let erased = match erased.downcast::<String>() {
            Ok(_) => panic!("wrong type accepted"),
            Err(e) => e,
        };
        let Ok(typed) = erased.downcast::<u32>() else {
            panic!("right type refused")
        };
        typed.reply(3);
        assert!(matches!(poll_now(&mut rx), Poll::Ready(Ok(Ok(3)))));
    }

    #[test]
    fn answer_after_receiver_gone_is_ignored() {
        let (tx, rx) = channel::<u32>();
        drop(rx);
        assert!(!tx.is_waiting());
        assert_eq!(tx.complete(Ok(1)), Err(Error::ResponseIgnored));
    }
}
