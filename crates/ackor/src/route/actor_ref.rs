//! [`ActorRef`]: the typed handle to an actor, local or remote. Every verb decides
//! here, once, whether the actor is on this node (its mailbox is pushed directly) or on
//! another one (the message goes through [`RemoteTarget`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::call::{Call, SendImportant, Target, envelope};
use super::remote_target::{Head, RemoteTarget, remote_call};
use crate::actor::{Actor, ActorCell, Forward, Handler, Message, MsgEnvelope, ReplyHandle};
use crate::error::Error;
use crate::identity::{ChainId, Pid, ProcessId};
use crate::monitor::{ExitReason, ProcessCell, SystemMsg, wait_for_exit};
use crate::node::Node;
use crate::reentrancy::Guard;

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
    pub(super) inner: Inner<A>,
}

pub(super) enum Inner<A: Actor> {
    Local(Arc<ActorCell<A>>),
    Remote(Arc<RemoteTarget<A>>),
    /// An alias of a local actor (see `Context::create_alias`): every use checks that
    /// the alias still exists.
    Alias(Arc<LocalAlias<A>>),
}

/// An alias of a local actor.
pub(super) struct LocalAlias<A: Actor> {
    pid: Pid,
    cell: Arc<ActorCell<A>>,
    node: Node,
}

impl<A: Actor> LocalAlias<A> {
    /// The actor, while the alias exists; [`Error::ProcessUnknown`] once it was
    /// deleted (or the actor stopped).
    fn live(&self) -> Result<ActorRef<A>, Error> {
        match self.node.registry().get(&self.pid) {
            Some(_) => Ok(ActorRef::from_cell(self.cell.clone())),
            None => Err(Error::ProcessUnknown),
        }
    }

    /// The actor's cell, while the alias exists.
    pub(super) fn cell(&self) -> Result<&Arc<ActorCell<A>>, Error> {
        match self.node.registry().get(&self.pid) {
            Some(_) => Ok(&self.cell),
            None => Err(Error::ProcessUnknown),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.cell.mailbox.is_closed()
    }

    /// [`ActorRef::send_from`] through the alias. Out of line, so the alias path adds
    /// nothing to the code of a plain local send (measured: a recursive call here made
    /// local tell ~15% slower).
    #[cold]
    #[inline(never)]
    fn send_from<M>(&self, sender: Option<Pid>, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        self.cell()?
            .mailbox
            .try_push_user(envelope(msg, sender))
            .map_err(|(_, e)| e)
    }
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Local(c) => Inner::Local(c.clone()),
            Inner::Remote(r) => Inner::Remote(r.clone()),
            Inner::Alias(a) => Inner::Alias(a.clone()),
        };
        ActorRef { inner }
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.pid() == other.pid()
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
        ActorRef {
            inner: Inner::Local(cell),
        }
    }

    pub(crate) fn remote(pid: Pid, node: Node) -> Self {
        ActorRef {
            inner: Inner::Remote(Arc::new(RemoteTarget::new(pid, node))),
        }
    }

    /// A handle to `alias`, an alias of the actor of `cell`.
    pub(crate) fn alias(alias: Pid, cell: Arc<ActorCell<A>>, node: Node) -> Self {
        ActorRef {
            inner: Inner::Alias(Arc::new(LocalAlias {
                pid: alias,
                cell,
                node,
            })),
        }
    }

    /// A handle to the name `id` on another node (see `Node::remote_named`).
    pub(crate) fn remote_named(id: &ProcessId, node: Node) -> Self {
        ActorRef {
            inner: Inner::Remote(Arc::new(RemoteTarget::named(id, node))),
        }
    }

    /// Sends `msg` as a request of `chain`: `complete` gets the outcome (the reply, the
    /// callee's error, or why it cannot come) and says whether the requester still
    /// waited. Returns what must live as long as the request (a remote call to forget).
    pub(crate) fn request_from<M>(
        &self,
        sender: Pid,
        request: u64,
        msg: M,
        chain: ChainId,
        complete: impl FnOnce(Result<M::Reply, Error>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Result<Option<Guard>, Error>
    where
        A: Handler<M>,
        M: Message,
    {
        match &self.inner {
            Inner::Alias(a) => a.live()?.request_from(sender, request, msg, chain, complete),
            Inner::Local(cell) => {
                let target = Arc::downgrade(cell);
                let reply = ReplyHandle::forwarding(Forward {
                    send: Box::new(move |outcome, ack| {
                        // A handle dropped because the callee stopped is its termination.
                        let outcome = match outcome {
                            Err(Error::ReplyDropped)
                                if target.upgrade().is_none_or(|c| c.mailbox.is_closed()) =>
                            {
                                Err(Error::ProcessTerminated)
                            }
                            other => other,
                        };
                        let taken = complete(outcome);
                        if let Some(ack) = ack {
                            let _ = ack.send(taken);
                        }
                    }),
                    ack_timeout: cell.call_timeout,
                });
                let mut env = MsgEnvelope {
                    msg,
                    sender: Some(sender),
                    reply: Some(reply),
                    chain: Some(chain),
                    path: Box::default(),
                    meta: crate::actor::Meta::current(),
                };
                // The request id on the callee's span, while it can be listened to.
                if tracing::level_enabled!(tracing::Level::DEBUG) {
                    env.meta.get_or_insert_with(Box::default).ids.request = request;
                }
                cell.push_chained(Box::new(env))?;
                Ok(None)
            }
            Inner::Remote(r) => {
                let head = Head {
                    chain: Some(chain),
                    ..Head::default()
                };
                let forget = remote_call::<A, M>(r, Some(sender), head, &msg, complete)?;
                Ok(Some(Box::new(forget)))
            }
        }
    }

    /// The actor's pid.
    pub fn pid(&self) -> &Pid {
        match &self.inner {
            Inner::Local(c) => c.core.pid(),
            Inner::Remote(r) => &r.pid,
            Inner::Alias(a) => &a.pid,
        }
    }

    /// True for an actor on another node.
    pub fn is_remote(&self) -> bool {
        matches!(self.inner, Inner::Remote(_))
    }

    /// For a local actor: true until it has stopped (or begun stopping and closed its
    /// mailbox). For a remote one: true while this node has a link to its node.
    pub fn is_alive(&self) -> bool {
        match &self.inner {
            Inner::Local(c) => !c.mailbox.is_closed(),
            Inner::Remote(r) => r.node.connected_nodes().contains(r.pid.node()),
            Inner::Alias(a) => a.live().is_ok_and(|r| r.is_alive()),
        }
    }

    /// Messages queued in the user lane that the actor has not taken yet; `None` for
    /// an actor on another node, whose mailbox this node cannot see. The capacity also
    /// counts those it has taken and not finished handling, so a full mailbox may show
    /// fewer than its capacity here.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, Node};
    /// # struct Idle;
    /// # impl Actor for Idle { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Idle) } }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let idle = node.spawn::<Idle>(())?;
    /// assert_eq!(idle.mailbox_len(), Some(0));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn mailbox_len(&self) -> Option<usize> {
        match &self.inner {
            Inner::Local(c) => Some(c.mailbox.user_len()),
            Inner::Remote(_) => None,
            Inner::Alias(a) => a.live().ok().and_then(|r| r.mailbox_len()),
        }
    }

    /// The capacity of the user lane; `None` for an actor on another node (not known
    /// here). See [`SpawnOptions::mailbox_capacity`](crate::SpawnOptions::mailbox_capacity).
    pub fn mailbox_capacity(&self) -> Option<usize> {
        match &self.inner {
            Inner::Local(c) => Some(c.mailbox.capacity()),
            Inner::Remote(_) => None,
            Inner::Alias(a) => a.live().ok().and_then(|r| r.mailbox_capacity()),
        }
    }

    /// Sends a message without waiting: [`Error::MailboxFull`] when the user lane is
    /// full, [`Error::ProcessTerminated`] when the actor has stopped.
    ///
    /// To an actor on another node the message is encoded and queued on the link; only
    /// local problems are reported ([`Error::UnknownMessage`] for a message type the
    /// actor does not list in [`Actor::remote_messages`], [`Error::Codec`],
    /// [`Error::NoConnection`] while its node is known to be unreachable, and
    /// [`Error::MailboxFull`] while the link already holds
    /// [`RemoteConfig::link_buffer`](crate::RemoteConfig::link_buffer) bytes not yet
    /// written, i.e. the network or the other node does not keep up; nothing is queued
    /// then). Use [`ActorRef::send_wait`] to wait for room instead. A message that finds
    /// the remote mailbox full is dropped there (the sender is not told; use
    /// [`ActorRef::send_important`] to know).
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
        match &self.inner {
            Inner::Local(cell) => cell
                .mailbox
                .try_push_user(envelope(msg, sender))
                .map_err(|(_, e)| e),
            Inner::Remote(r) => r.send::<M>(sender.as_ref(), &msg),
            Inner::Alias(a) => a.send_from(sender, msg),
        }
    }

    /// Sends a message, waiting while the user lane is full (back-pressure).
    /// Fails with [`Error::ProcessTerminated`] if the actor stops meanwhile. To a
    /// remote actor it is [`ActorRef::send`], except that it waits while the link is
    /// full ([`RemoteConfig::link_buffer`](crate::RemoteConfig::link_buffer)) instead of
    /// failing with [`Error::MailboxFull`]; the remote mailbox is not waited for.
    pub async fn send_wait<M>(&self, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        // The local case written out with its sender (none) in place: passed as an
        // argument, it would be stored into this future and read back, which costs a
        // store-forwarding stall on every send.
        match &self.inner {
            Inner::Local(cell) => match cell.mailbox.try_push_user(envelope(msg, None)) {
                Err((env, Error::MailboxFull)) => cell.mailbox.push_user_wait(env).await,
                other => other.map_err(|(_, e)| e),
            },
            _ => self.send_wait_from(None, msg).await,
        }
    }

    pub(crate) async fn send_wait_from<M>(&self, sender: Option<Pid>, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        match &self.inner {
            // Room in the lane (the usual case): queued without setting up a wait.
            Inner::Local(cell) => match cell.mailbox.try_push_user(envelope(msg, sender)) {
                Err((env, Error::MailboxFull)) => cell.mailbox.push_user_wait(env).await,
                other => other.map_err(|(_, e)| e),
            },
            Inner::Remote(r) => r.send_wait::<M>(sender, msg).await,
            Inner::Alias(a) => a.cell()?.mailbox.push_user_wait(envelope(msg, sender)).await,
        }
    }

    /// For a remote actor: waits until the link `sender`'s messages to it take has
    /// room again (see [`RemoteConfig::link_buffer`](crate::RemoteConfig::link_buffer)).
    pub(crate) async fn room_on_link(&self, sender: Option<&Pid>) -> Result<(), Error> {
        match &self.inner {
            Inner::Local(_) | Inner::Alias(_) => Ok(()),
            Inner::Remote(r) => r.room_on_link(sender).await,
        }
    }

    /// Sends a message and learns for certain whether it reached the actor's mailbox:
    /// `Ok(())` once it is there, or why not — [`Error::ProcessUnknown`],
    /// [`Error::MailboxFull`], [`Error::ProcessTerminated`], [`Error::NoConnection`]
    /// (definitely not delivered: it never left this node; also when the timeout passes
    /// while the link to the node is still being made, which takes the message back),
    /// [`Error::ConnectionLost`] (the node restarted after the message left: it may have
    /// reached the old incarnation), or [`Error::Timeout`] when no acknowledgement came
    /// within the important-delivery timeout (node default 5 s, see
    /// [`SendImportant::timeout`]) after the message left.
    /// Neither of the last two says the message was not delivered. [`Error::MailboxFull`] also comes back at once when
    /// the per-peer window of unacknowledged important sends
    /// ([`RemoteConfig::important_window`](crate::RemoteConfig::important_window)) is
    /// full. To a local actor it is exactly [`ActorRef::send`]. Unacknowledged sends
    /// survive a link flap: they are resent to the same node incarnation, which delivers
    /// each once.
    /// Many may be in flight at once: await them together to pipeline.
    ///
    /// **What `Ok` does not promise.** It says the message is in the actor's mailbox,
    /// not that it was handled. If the receiving node crashes, or the actor stops or
    /// fails, before handling it, the message is lost and nobody is told. When the
    /// sender must know a message was *handled*, acknowledge it after handling
    /// ([`SendImportant::after_handling`]) or use a call
    /// ([`ActorRef::call_important`]); make the handler idempotent and retry on
    /// [`Error::Timeout`] or [`Error::ConnectionLost`] — or let a
    /// [stream](crate::stream) do the numbering, resending and deduplication.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, Handler, Message, Node};
    /// # struct Sink;
    /// # impl Actor for Sink { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Sink) } }
    /// # struct Item;
    /// # impl Message for Item { type Reply = (); }
    /// # impl Handler<Item> for Sink { type Return = (); async fn handle(&mut self, _: Item, _: &mut Context<Self>) {} }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let sink = node.spawn::<Sink>(())?;
    /// sink.send_important(Item).await?; // in the mailbox, for certain
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn send_important<M>(&self, msg: M) -> SendImportant<'_, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        SendImportant {
            target: Target::Borrowed(self),
            msg,
            sender: None,
            timeout: self.important_timeout(),
            handled: false,
        }
    }

    /// A call whose request delivery is confirmed: if the message cannot be put in the
    /// actor's mailbox the error comes back at once (no timeout); on success no extra
    /// acknowledgement is sent and the caller waits for the reply. (ackor's plain
    /// [`ActorRef::call`] reports delivery failures the same way.)
    pub fn call_important<M>(&self, msg: M) -> Call<'_, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        self.call(msg)
    }

    /// Calls the actor: sends `msg` and waits for the handler's reply, for the node's
    /// call timeout unless [`Call::timeout`] says otherwise.
    ///
    /// Fails with [`Error::MailboxFull`] or [`Error::ProcessTerminated`] at once when
    /// the message cannot be queued, [`Error::ProcessTerminated`] as soon as the actor
    /// stops without answering, [`Error::Timeout`] on expiry (a late reply is then
    /// discarded), or the error the handler answered with. To a remote actor also
    /// [`Error::NoConnection`] (the call never left) and [`Error::ConnectionLost`] (the
    /// connection dropped after it left: it may have been handled), both at once; a
    /// remote call whose timeout passes while the link to its node is still being made
    /// is taken back and answers [`Error::NoConnection`] too, not [`Error::Timeout`].
    pub fn call<M>(&self, msg: M) -> Call<'_, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        Call {
            target: Target::Borrowed(self),
            msg,
            sender: None,
            timeout: self.call_timeout(),
            chain: None,
        }
    }

    /// How long a call waits for its reply by default.
    pub(super) fn call_timeout(&self) -> Duration {
        match &self.inner {
            Inner::Local(c) => c.call_timeout,
            Inner::Remote(r) => r.node.config().call_timeout,
            Inner::Alias(a) => a.cell.call_timeout,
        }
    }

    /// How long an important send waits for its acknowledgement by default (a local
    /// one is answered at once).
    pub(super) fn important_timeout(&self) -> Duration {
        match &self.inner {
            Inner::Local(_) | Inner::Alias(_) => Duration::ZERO,
            Inner::Remote(r) => important_timeout(&r.node),
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
        match &self.inner {
            Inner::Local(cell) => cell
                .mailbox
                .push_system(SystemMsg::Stop(reason))
                .map_err(|_| Error::ProcessTerminated),
            Inner::Remote(r) => r.remote()?.exit(None, &r.pid, &reason),
            Inner::Alias(a) => a.live()?.stop_with(reason),
        }
    }

    /// Kills the actor now, even in the middle of a handler: no `on_stop`, reason
    /// [`ExitReason::Killed`].
    pub fn kill(&self) {
        match &self.inner {
            Inner::Local(cell) => ProcessCell::kill(&**cell),
            Inner::Alias(a) => {
                if let Ok(actor) = a.live() {
                    actor.kill();
                }
            }
            Inner::Remote(r) => {
                if let Ok(remote) = r.remote() {
                    let _ = remote.exit(None, &r.pid, &ExitReason::Killed);
                }
            }
        }
    }

    /// Waits until the actor has stopped and returns why. For a local actor the end is
    /// complete by then: it is out of the node's process table, its name is free, and
    /// its monitors and links have been told. For a remote actor,
    /// [`ExitReason::NoConnection`] if its node is lost first.
    pub fn wait_for_stop(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        let (local, remote) = match &self.inner {
            Inner::Local(cell) => (Some(wait_for_exit(cell.clone())), None),
            Inner::Alias(a) => (Some(wait_for_exit(a.cell.clone())), None),
            Inner::Remote(r) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                match r.remote() {
                    Ok(remote) => {
                        let mref = crate::Ref::new(r.node.name().clone(), r.node.creation());
                        let on_down = Box::new(move |_: Pid, reason: ExitReason| {
                            let _ = tx.send(reason);
                        });
                        remote.monitor(&r.pid, None, &mref, on_down);
                    }
                    Err(_) => {
                        let _ = tx.send(ExitReason::NoConnection);
                    }
                }
                (None, Some(rx))
            }
        };
        async move {
            match (local, remote) {
                (Some(wait), _) => wait.await,
                (None, Some(rx)) => rx.await.unwrap_or(ExitReason::NoConnection),
                (None, None) => ExitReason::NoConnection,
            }
        }
    }
}

/// The node's important-delivery timeout.
pub(super) fn important_timeout(node: &Node) -> Duration {
    node.config()
        .remote
        .as_ref()
        .map_or(crate::DEFAULT_CALL_TIMEOUT, |c| c.important_timeout)
}
