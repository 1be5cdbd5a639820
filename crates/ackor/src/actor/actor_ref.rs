//! [`ActorRef`]: the typed handle to an actor, and the [`Call`] future.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::envelope::MsgEnvelope;
use super::reply::{self, ReplyReceiver, SenderGone};
use super::{Actor, ActorCell, Handler, Message};
use crate::error::Error;
use crate::identity::Pid;
use crate::monitor::{ExitReason, ProcessCell, SystemMsg};

/// A handle to an actor of type `A`: send it messages, call it, stop it.
///
/// Cheap to clone; holding one does not keep the actor running. Every verb fails at
/// once with [`Error::ProcessTerminated`] once the actor has stopped.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::{Actor, BoxError, Context, Handler, Message, Node};
///
/// struct Counter(u64);
/// impl Actor for Counter {
///     type Args = u64;
///     async fn init(start: u64, _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Counter(start)) }
/// }
/// struct Add(u64);
/// impl Message for Add { type Reply = u64; }
/// impl Handler<Add> for Counter {
///     type Return = u64;
///     async fn handle(&mut self, msg: Add, _: &mut Context<Self>) -> u64 { self.0 += msg.0; self.0 }
/// }
///
/// let node = Node::builder().name("doc@local").start().await?;
/// let counter = node.spawn::<Counter>(10)?;
/// counter.send(Add(1))?;                       // fire and forget
/// assert_eq!(counter.call(Add(2)).await?, 13); // request and reply
/// counter.stop()?;
/// counter.wait_for_stop().await;
/// assert_eq!(counter.send(Add(1)), Err(ackor::Error::ProcessTerminated));
/// node.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ActorRef<A: Actor> {
    cell: Arc<ActorCell<A>>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef {
            cell: self.cell.clone(),
        }
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

impl<A: Actor> Eq for ActorRef<A> {}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({})", self.pid())
    }
}

impl<A: Actor> ActorRef<A> {
    pub(crate) fn from_cell(cell: Arc<ActorCell<A>>) -> Self {
        ActorRef { cell }
    }

    /// The actor's pid.
    pub fn pid(&self) -> &Pid {
        self.cell.core.pid()
    }

    /// True until the actor has stopped (or begun stopping and closed its mailbox).
    pub fn is_alive(&self) -> bool {
        !self.cell.mailbox.is_closed()
    }

    /// Messages waiting in the user lane.
    pub fn mailbox_len(&self) -> usize {
        self.cell.mailbox.user_len()
    }

    /// The capacity of the user lane.
    pub fn mailbox_capacity(&self) -> usize {
        self.cell.mailbox.capacity()
    }

    /// Sends a message without waiting: [`Error::MailboxFull`] when the user lane is
    /// full, [`Error::ProcessTerminated`] when the actor has stopped.
    pub fn send<M>(&self, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        self.send_from(None, msg)
    }

    pub(crate) fn send_from<M>(&self, sender: Option<Pid>, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        let env = Box::new(MsgEnvelope {
            msg,
            sender,
            reply: None,
        });
        self.cell.mailbox.try_push_user(env).map_err(|(_, e)| e)
    }

    /// Sends a message, waiting while the user lane is full (back-pressure).
    /// Fails with [`Error::ProcessTerminated`] if the actor stops meanwhile.
    pub async fn send_wait<M>(&self, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        let env = Box::new(MsgEnvelope {
            msg,
            sender: None,
            reply: None,
        });
        self.cell.mailbox.push_user_wait(env).await
    }

    /// Calls the actor: sends `msg` and waits for the handler's reply, for the node's
    /// call timeout unless [`Call::timeout`] says otherwise.
    ///
    /// Fails with [`Error::MailboxFull`] or [`Error::ProcessTerminated`] at once when
    /// the message cannot be queued, [`Error::ProcessTerminated`] as soon as the actor
    /// stops without answering, [`Error::Timeout`] on expiry (a late reply is then
    /// discarded), or the error the handler answered with.
    pub fn call<M>(&self, msg: M) -> Call<'_, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        Call {
            target: self,
            msg,
            sender: None,
            timeout: self.cell.call_timeout,
        }
    }

    /// Asks the actor to stop with reason `Normal`. The stop overtakes queued user
    /// messages (their callers get [`Error::ProcessTerminated`]); the handler running
    /// now finishes first, then `on_stop` runs.
    pub fn stop(&self) -> Result<(), Error> {
        self.stop_with(ExitReason::Normal)
    }

    /// Asks the actor to stop with `reason`.
    pub fn stop_with(&self, reason: ExitReason) -> Result<(), Error> {
        self.cell
            .mailbox
            .push_system(SystemMsg::Stop(reason))
            .map_err(|_| Error::ProcessTerminated)
    }

    /// Kills the actor now, even in the middle of a handler: no `on_stop`, reason
    /// [`ExitReason::Killed`].
    pub fn kill(&self) {
        ProcessCell::kill(&*self.cell);
    }

    /// Waits until the actor has stopped and returns why.
    pub fn wait_for_stop(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        self.cell.core.wait_for_exit()
    }
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
    target: &'a ActorRef<A>,
    msg: M,
    sender: Option<Pid>,
    timeout: Duration,
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
}

impl<'a, A, M> IntoFuture for Call<'a, A, M>
where
    A: Handler<M>,
    M: Message,
{
    type Output = Result<M::Reply, Error>;
    type IntoFuture = CallFuture<'a, A, M::Reply>;

    fn into_future(self) -> Self::IntoFuture {
        let (handle, receiver) = reply::channel::<M::Reply>();
        let env = Box::new(MsgEnvelope {
            msg: self.msg,
            sender: self.sender,
            reply: Some(handle),
        });
        let state = match self.target.cell.mailbox.try_push_user(env) {
            Ok(()) => CallState::Waiting(receiver),
            Err((_env, e)) => CallState::Failed(Some(e)),
        };
        CallFuture {
            target: self.target,
            state,
            timeout: self.timeout,
            yielded: false,
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
        target: &'a ActorRef<A>,
        state: CallState<T>,
        timeout: Duration,
        // Whether the call already yielded once before arming its timer.
        yielded: bool,
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
        match Pin::new(receiver).poll(cx) {
            Poll::Ready(Ok(outcome)) => return Poll::Ready(outcome),
            Poll::Ready(Err(SenderGone)) => {
                // The reply handle was dropped: by the actor stopping (its mailbox is
                // closed before anything it held is dropped), or by the handler.
                let err = if this.target.cell.mailbox.is_closed() {
                    Error::ProcessTerminated
                } else {
                    Error::ReplyDropped
                };
                return Poll::Ready(Err(err));
            }
            Poll::Pending => {}
        }
        if !*this.yielded {
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
            Some(Poll::Ready(())) => Poll::Ready(Err(Error::Timeout)),
            _ => Poll::Pending,
        }
    }
}
