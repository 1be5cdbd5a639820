//! The futures of [`ActorRef`]'s verbs that wait: [`Call`] (and its [`CallFuture`])
//! and [`SendImportant`].

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::actor_ref::{ActorRef, Inner};
use super::remote_target::{Head, remote_call};
use crate::actor::{
    Actor, Chained, Envelope, Handler, Message, MsgEnvelope, ReplyReceiver, SenderGone, reply_channel,
};
use crate::error::Error;
use crate::identity::Pid;
use crate::monitor::Blocked;
use crate::remote::{ForgetCall, Withdrawn};

/// What a [`Call`] or [`SendImportant`] addresses: a handle the caller holds, one made
/// for a name (held by the future), or a name that could not be addressed here, whose
/// error the future answers with, so the error of a name-addressed verb comes from
/// the verb itself.
pub(super) enum Target<'a, A: Actor> {
    Borrowed(&'a ActorRef<A>),
    Owned(ActorRef<A>),
    Unaddressable(Error),
}

impl<A: Actor> Target<'_, A> {
    /// From addressing a name: the handle, or why there is none.
    pub(super) fn named(addressed: Result<ActorRef<A>, Error>) -> Target<'static, A> {
        match addressed {
            Ok(to) => Target::Owned(to),
            Err(e) => Target::Unaddressable(e),
        }
    }

    fn get(&self) -> Result<&ActorRef<A>, Error> {
        match self {
            Target::Borrowed(to) => Ok(to),
            Target::Owned(to) => Ok(to),
            Target::Unaddressable(e) => Err(e.clone()),
        }
    }
}

/// An important send in preparation; `.await` it to send and learn the outcome.
///
/// The message leaves when the send is awaited or turned into a future with
/// [`IntoFuture::into_future`]: to pipeline, turn several into futures (in the order
/// they must arrive) and await them together.
#[must_use = "an important send does nothing until awaited"]
pub struct SendImportant<'a, A: Actor, M> {
    pub(super) target: Target<'a, A>,
    pub(super) msg: M,
    pub(super) sender: Option<Pid>,
    pub(super) timeout: Duration,
    /// Acknowledged once handled, not once queued (see [`SendImportant::after_handling`]).
    pub(super) handled: bool,
}

impl<A: Actor, M> SendImportant<'_, A, M> {
    /// Waits at most `timeout` for the acknowledgement instead of the default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Acknowledges the message once the handler has *finished* with it, not once it is
    /// in the mailbox: `Ok(())` then means handled. A handler that hands the work off
    /// takes the acknowledgement with [`Context::defer_reply`](crate::Context::defer_reply)
    /// and answers it when the work is done ([`ReplyHandle::reply`](crate::ReplyHandle::reply)
    /// confirms, [`ReplyHandle::fail`](crate::ReplyHandle::fail) refuses with an error).
    ///
    /// Every error of a plain important send still holds, and these are added:
    /// [`Error::ProcessTerminated`] if the handler panicked (the actor ends with it) or
    /// the actor stopped before handling the message (from another node also
    /// [`Error::ReplyDropped`]), [`Error::ActorFailed`] with the panic's text if the
    /// actor is supervised and restarts. A receiving
    /// node that crashes before the handler finishes sends nothing: the sender gets
    /// [`Error::ConnectionLost`] or [`Error::Timeout`], never `Ok`. The timeout counts
    /// the handling, so give slow handlers a longer one ([`SendImportant::timeout`]).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, Handler, Message, Node};
    /// struct Ledger { entries: u32 }
    /// # impl Actor for Ledger { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Ledger { entries: 0 }) } }
    /// struct Post(u32);
    /// impl Message for Post { type Reply = (); }
    /// impl Handler<Post> for Ledger {
    ///     type Return = ();
    ///     async fn handle(&mut self, post: Post, _: &mut Context<Self>) {
    ///         assert!(post.0 != 13, "unlucky entry");
    ///         self.entries += 1;
    ///     }
    /// }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let ledger = node.spawn::<Ledger>(())?;
    /// ledger.send_important(Post(1)).after_handling().await?; // handled, for certain
    /// let failed = ledger.send_important(Post(13)).after_handling().await;
    /// assert_eq!(failed, Err(ackor::Error::ProcessTerminated));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn after_handling(mut self) -> Self {
        self.handled = true;
        self
    }

    pub(crate) fn from(mut self, sender: Pid) -> Self {
        self.sender = Some(sender);
        self
    }
}

impl<'a, A, M> IntoFuture for SendImportant<'a, A, M>
where
    A: Handler<M>,
    M: Message,
{
    type Output = Result<(), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        let target = match self.target.get() {
            Ok(target) => target,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        if self.handled && !target.is_remote() {
            // Here, acknowledged once handled is a call whose reply is not kept. (A
            // local important send has no timeout of its own: it is settled at once.)
            let timeout = match self.timeout {
                Duration::ZERO => target.call_timeout(),
                set => set,
            };
            let call = Call {
                target: Target::Owned(target.clone()),
                msg: self.msg,
                sender: self.sender,
                timeout,
                chain: None,
            };
            let handled = call.into_future();
            return Box::pin(async move { handled.await.map(drop) });
        }
        match &target.inner {
            Inner::Local(cell) => {
                let outcome = cell
                    .mailbox
                    .try_push_user(envelope(self.msg, self.sender))
                    .map_err(|(_, e)| e);
                Box::pin(std::future::ready(outcome))
            }
            Inner::Alias(a) => {
                let outcome = a.cell().and_then(|cell| {
                    cell.mailbox
                        .try_push_user(envelope(self.msg, self.sender))
                        .map_err(|(_, e)| e)
                });
                Box::pin(std::future::ready(outcome))
            }
            Inner::Remote(r) => {
                match r.send_important::<M>(self.sender, self.msg, self.timeout, self.handled) {
                    Ok(waiting) => Box::pin(waiting),
                    Err(e) => Box::pin(std::future::ready(Err(e))),
                }
            }
        }
    }
}

/// The envelope of a message sent without waiting for a reply.
///
/// Inlined: a sender passed in memory (a constant `None`, most often) and read back
/// whole stalls the store buffer on every send.
#[inline(always)]
pub(super) fn envelope<A: Handler<M>, M: Message>(msg: M, sender: Option<Pid>) -> Box<dyn Envelope<A>> {
    Box::new(MsgEnvelope {
        msg,
        sender,
        reply: None,
        chain: None,
        path: Box::default(),
        meta: crate::actor::Meta::current(),
    })
}

/// A call in preparation; `.await` it to send the message and wait for the reply.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// # use ackor::{Actor, BoxError, Context, Handler, Message, Node, Reply};
/// # use std::time::Duration;
/// # struct Slow;
/// # impl Actor for Slow {
/// #     type Args = ();
/// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Slow) }
/// # }
/// # struct Nap;
/// # impl Message for Nap { type Reply = (); }
/// # impl Handler<Nap> for Slow {
/// #     type Return = ();
/// #     async fn handle(&mut self, _: Nap, _: &mut Context<Self>) { tokio::time::sleep(Duration::from_secs(1)).await }
/// # }
/// let node = Node::builder().name("doc@local").start().await?;
/// let slow = node.spawn::<Slow>(())?;
/// let outcome = slow.call(Nap).timeout(Duration::from_millis(10)).await;
/// assert_eq!(outcome, Err(ackor::Error::Timeout));
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until awaited"]
pub struct Call<'a, A: Actor, M> {
    pub(super) target: Target<'a, A>,
    pub(super) msg: M,
    pub(super) sender: Option<Pid>,
    pub(super) timeout: Duration,
    /// For a call from an actor: how it is chained, and the actor, marked blocked while
    /// waiting.
    pub(super) chain: Option<Chained>,
}

impl<A: Actor, M> Call<'_, A, M> {
    /// Waits at most `timeout` for the reply instead of the node's call timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub(crate) fn from(mut self, sender: Pid) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Makes this a blocking call of an actor (call chains, cycle detection).
    pub(crate) fn chained(mut self, chained: Chained) -> Self {
        self.chain = Some(chained);
        self
    }
}

impl<'a, A, M> IntoFuture for Call<'a, A, M>
where
    A: Handler<M>,
    M: Message,
{
    type Output = Result<M::Reply, Error>;
    type IntoFuture = CallFuture<'a, A, M::Reply>;

    fn into_future(self) -> Self::IntoFuture {
        let (handle, receiver) = reply_channel::<M::Reply>();
        let mut forget = None;
        let (chain, path) = match &self.chain {
            Some(c) => (Some(c.chain), c.path.clone()),
            None => (None, Box::default()),
        };
        // The caller is blocked by this call before the message leaves, so the message
        // finds it blocked even if it comes straight back (a call to itself).
        let mut blocked = self.chain.map(|c| Blocked::on(c.caller, c.token));
        let target = match self.target.get() {
            Ok(target) => target,
            Err(e) => {
                return CallFuture {
                    target: self.target,
                    state: CallState::Failed(Some(e)),
                    timeout: self.timeout,
                    yielded: false,
                    _forget: None,
                    _blocked: None,
                    sleep: None,
                };
            }
        };
        // Where it goes: a local cell (an alias that still exists reaches one), or
        // another node.
        let dest = match &target.inner {
            Inner::Local(cell) => Ok(Ok(cell)),
            Inner::Alias(a) => a.cell().map(Ok),
            Inner::Remote(r) => Ok(Err(r)),
        };
        let state = match dest {
            Err(e) => CallState::Failed(Some(e)),
            Ok(Ok(cell)) => {
                let env = Box::new(MsgEnvelope {
                    msg: self.msg,
                    sender: self.sender,
                    reply: Some(handle),
                    chain,
                    path,
                    meta: crate::actor::Meta::current(),
                });
                match cell.push_chained(env) {
                    Ok(()) => CallState::Waiting(receiver),
                    Err(e) => CallState::Failed(Some(e)),
                }
            }
            Ok(Err(r)) => {
                let complete = move |value| handle.complete_with(value);
                let head = Head {
                    chain,
                    path: &path,
                    ..Head::default()
                };
                match remote_call::<A, M>(r, self.sender, head, &self.msg, complete) {
                    Ok(guard) => {
                        forget = Some(guard);
                        CallState::Waiting(receiver)
                    }
                    Err(e) => CallState::Failed(Some(e)),
                }
            }
        };
        if matches!(state, CallState::Failed(_)) {
            blocked = None;
        }
        CallFuture {
            target: self.target,
            state,
            timeout: self.timeout,
            yielded: false,
            _forget: forget,
            _blocked: blocked,
            sleep: None,
        }
    }
}

enum CallState<T> {
    Waiting(ReplyReceiver<T>),
    Failed(Option<Error>),
}

pin_project! {
    /// The future of an awaited [`Call`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<'a, A: Actor, T> {
        target: Target<'a, A>,
        state: CallState<T>,
        timeout: Duration,
        // Whether the call already yielded once before arming its timer.
        yielded: bool,
        // For a remote call: forgets the pending call if this future is dropped.
        _forget: Option<ForgetCall>,
        // For a call from an actor: marks it blocked in its chain while waiting.
        _blocked: Option<Blocked>,
        // Armed on the second wait only: see `poll`.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<A: Actor, T> Future for CallFuture<'_, A, T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let receiver = match this.state {
            CallState::Failed(e) => return Poll::Ready(Err(e.take().unwrap_or(Error::ProcessTerminated))),
            CallState::Waiting(r) => r,
        };
        match Pin::new(&mut *receiver).poll(cx) {
            Poll::Ready(Ok(outcome)) => {
                if let Some(forget) = this._forget.as_mut() {
                    forget.answered();
                }
                return Poll::Ready(outcome);
            }
            Poll::Ready(Err(SenderGone)) => {
                // The reply handle was dropped: by the actor stopping (its mailbox is
                // closed before anything it held is dropped), or by the handler.
                let err = match this.target.get().map(|t| &t.inner) {
                    Ok(Inner::Local(cell)) if cell.mailbox.is_closed() => Error::ProcessTerminated,
                    Ok(Inner::Alias(a)) if a.is_closed() => Error::ProcessTerminated,
                    Ok(Inner::Local(_) | Inner::Alias(_)) => Error::ReplyDropped,
                    Ok(Inner::Remote(_)) | Err(_) => Error::NoConnection,
                };
                return Poll::Ready(Err(err));
            }
            Poll::Pending => {}
        }
        if !*this.yielded && !this.target.get().is_ok_and(|t| t.is_remote()) {
            // Most calls are answered within one scheduling round: the callee was just
            // woken on this worker. Yield once (tokio defers our wake-up until the
            // worker has run the callee) before arming a timer, because arming one
            // for a new earliest deadline wakes the timer driver with a system call,
            // which would cost more than the whole round trip.
            *this.yielded = true;
            let _ = std::pin::pin!(tokio::task::yield_now()).poll(cx);
            return Poll::Pending;
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => match this._forget.as_mut().map(ForgetCall::withdraw) {
                // A remote call still queued while the links come up never leaves now:
                // it was not delivered, whatever the handshake does later.
                Some(Withdrawn::NeverLeft) => Poll::Ready(Err(Error::NoConnection)),
                // Its outcome is being handed over: the receiver wakes this future.
                Some(Withdrawn::Settled) => Poll::Pending,
                // Close the slot: a reply that raced the timer is taken, and one that
                // comes later is known to its (important) responder as ignored.
                Some(Withdrawn::Left) | None => Poll::Ready(receiver.close().unwrap_or(Err(Error::Timeout))),
            },
            _ => Poll::Pending,
        }
    }
}
