//! [`ActorRef`]: the typed handle to an actor, and the [`Call`] future.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::envelope::MsgEnvelope;
use super::remote_messages::{DecodeReply, RemoteMessages, table};
use super::reply::{self, Forward, ReplyHandle, ReplyReceiver, SenderGone};
use super::{Actor, ActorCell, Handler, Message};
use crate::error::Error;
use crate::identity::ChainId;
use crate::identity::{Pid, ProcessId};
use crate::monitor::{Blocked, ExitReason, ProcessCell, SystemMsg};
use crate::node::Node;
use crate::reliable::{self, AckWait};
use crate::remote::wire::{self, Outgoing};
use crate::remote::{ForgetCall, Peer, PendingCall, Remote, pin};

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
    inner: Inner<A>,
}

enum Inner<A: Actor> {
    Local(Arc<ActorCell<A>>),
    Remote(Arc<RemoteTarget<A>>),
}

/// An actor on another node, reached through this node's network side.
struct RemoteTarget<A: Actor> {
    pid: Pid,
    /// Set for a name resolved on the remote node (then `pid` is a placeholder).
    name: Option<String>,
    node: Node,
    /// How to encode the messages `A` accepts.
    table: Arc<RemoteMessages<A>>,
    /// The peer node, looked up on the first send.
    peer: OnceLock<Arc<Peer>>,
    /// `pid` as it travels.
    to: wire::WirePid,
}

/// What a `Deliver` frame says besides the message: the call it belongs to, whether it
/// is an important send, and (for calls and requests) its chain and wait-for path.
#[derive(Default)]
struct Head<'a> {
    call_id: u64,
    ack: bool,
    chain: Option<ChainId>,
    path: &'a [u64],
}

thread_local! {
    /// Where remote messages are encoded before they are copied into a link's queue.
    static PAYLOAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with an empty buffer for a message payload: this thread's reused one, or a
/// fresh one if that is in use (a codec that sends while encoding).
fn with_payload_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> Result<R, Error>) -> Result<R, Error> {
    PAYLOAD.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let out = f(&mut buf);
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::new();
            }
            out
        }
        Err(_) => f(&mut Vec::new()),
    })
}

impl<A: Actor> RemoteTarget<A> {
    fn remote(&self) -> Result<&Arc<Remote>, Error> {
        self.node.remote().ok_or(Error::NoConnection)
    }

    fn peer(&self, remote: &Remote) -> Result<&Arc<Peer>, Error> {
        if let Some(peer) = self.peer.get() {
            return Ok(peer);
        }
        let peer = remote.peer_for(self.pid.node())?;
        Ok(self.peer.get_or_init(|| peer))
    }

    /// Encodes `msg` for the wire and hands the frame, with the reply decoder of the
    /// message's type, to `send`.
    fn with_frame<M: Message, R>(
        &self,
        remote: &Remote,
        sender: Option<&Pid>,
        msg: &M,
        head: Head<'_>,
        send: impl FnOnce(&Outgoing<'_>, DecodeReply) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let (tag, encode, decode) = self
            .table
            .sender_side::<M>()
            .ok_or_else(|| Error::UnknownMessage(std::any::type_name::<M>().to_string()))?;
        let to = match &self.name {
            Some(name) => wire::Target::Name(name.clone()),
            None => wire::Target::Pid(self.to.clone()),
        };
        let deliver = wire::Deliver {
            to: Some(to),
            from: sender.map(|p| remote.wire_pid(p)),
            tag: bytes::Bytes::from_static(tag.as_bytes()),
            payload: bytes::Bytes::new(),
            call_id: head.call_id,
            ack: head.ack,
            chain: ChainId::to_wire(head.chain),
            path: head.path.to_vec(),
        };
        with_payload_buffer(|payload| {
            encode(msg, payload)?;
            let frame = Outgoing::Deliver {
                deliver: &deliver,
                payload,
            };
            send(&frame, decode)
        })
    }

    /// A plain send: refused with [`Error::MailboxFull`] while the link is full.
    fn send<M: Message>(&self, sender: Option<&Pid>, msg: &M) -> Result<(), Error> {
        let remote = self.remote()?;
        let peer = self.peer(remote)?;
        let pin = pin(sender, self.pid.id());
        self.with_frame(remote, sender, msg, Head::default(), |frame, _| {
            remote.send_on(peer, pin, frame, None, true, None)
        })
    }

    /// A plain send that waits while the link is full.
    async fn send_wait<M: Message>(&self, sender: Option<Pid>, msg: M) -> Result<(), Error> {
        loop {
            match self.send(sender.as_ref(), &msg) {
                Err(Error::MailboxFull) => {}
                other => return other,
            }
            let remote = self.remote()?;
            let limit = remote.config().link_buffer;
            self.peer(remote)?
                .room_for(pin(sender.as_ref(), self.pid.id()), limit)
                .await;
        }
    }
}

impl<A: Actor> RemoteTarget<A> {
    /// Sends with an acknowledgement from the receiving node (see [`crate::reliable`]):
    /// the frame is queued now, the returned future waits for the acknowledgement.
    fn send_important<M: Message>(
        &self,
        sender: Option<Pid>,
        msg: M,
        timeout: Duration,
    ) -> Result<AckWait, Error> {
        let remote = self.remote()?;
        let peer = self.peer(remote)?;
        let id = reliable::delivery_id(remote);
        let pin = pin(sender.as_ref(), self.pid.id());
        let head = Head {
            call_id: id,
            ack: true,
            ..Head::default()
        };
        self.with_frame(remote, sender.as_ref(), &msg, head, |frame, _| {
            reliable::send(remote, peer, pin, id, frame, timeout)
        })
    }
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Local(c) => Inner::Local(c.clone()),
            Inner::Remote(r) => Inner::Remote(r.clone()),
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
            inner: Inner::Remote(Arc::new(RemoteTarget {
                table: table::<A>(),
                peer: OnceLock::new(),
                to: wire::WirePid::from(&pid),
                pid,
                name: None,
                node,
            })),
        }
    }

    /// A handle to the name `id` on another node (see `Node::remote_named`).
    pub(crate) fn remote_named(id: &ProcessId, node: Node) -> Self {
        ActorRef {
            inner: Inner::Remote(Arc::new(RemoteTarget {
                table: table::<A>(),
                peer: OnceLock::new(),
                to: wire::WirePid::from(&Pid::new(id.node.clone(), 0, 0)),
                pid: Pid::new(id.node.clone(), 0, 0),
                name: Some(id.name.clone()),
                node,
            })),
        }
    }

    /// Sends `msg` as a request of `chain`: `complete` gets the outcome (the reply, the
    /// callee's error, or why it cannot come) and says whether the requester still
    /// waited. Returns what must live as long as the request (a remote call to forget).
    pub(crate) fn request_from<M>(
        &self,
        sender: Pid,
        msg: M,
        chain: ChainId,
        complete: impl FnOnce(Result<M::Reply, Error>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Result<Option<crate::reentrancy::Guard>, Error>
    where
        A: Handler<M>,
        M: Message,
    {
        match &self.inner {
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
                cell.push_chained(Box::new(MsgEnvelope {
                    msg,
                    sender: Some(sender),
                    reply: Some(reply),
                    chain: Some(chain),
                    path: Box::default(),
                }))?;
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
        }
    }

    /// Messages waiting in the user lane (0 for a remote actor: not known here).
    pub fn mailbox_len(&self) -> usize {
        match &self.inner {
            Inner::Local(c) => c.mailbox.user_len(),
            Inner::Remote(_) => 0,
        }
    }

    /// The capacity of the user lane (0 for a remote actor: not known here).
    pub fn mailbox_capacity(&self) -> usize {
        match &self.inner {
            Inner::Local(c) => c.mailbox.capacity(),
            Inner::Remote(_) => 0,
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
        match &self.inner {
            Inner::Local(cell) => cell.mailbox.push_user_wait(envelope(msg, None)).await,
            Inner::Remote(r) => r.send_wait::<M>(None, msg).await,
        }
    }

    /// Sends a message and learns for certain whether it reached the actor's mailbox:
    /// `Ok(())` once it is there, or why not — [`Error::ProcessUnknown`],
    /// [`Error::MailboxFull`], [`Error::ProcessTerminated`], [`Error::NoConnection`]
    /// (definitely not delivered: it never left this node), [`Error::ConnectionLost`]
    /// (the node restarted after the message left: it may have reached the old
    /// incarnation), or [`Error::Timeout`] when no acknowledgement came within the
    /// important-delivery timeout (node default 5 s, see [`SendImportant::timeout`]).
    /// Neither of the last two says the message was not delivered. [`Error::MailboxFull`] also comes back at once when
    /// the per-peer window of unacknowledged important sends
    /// ([`RemoteConfig::important_window`](crate::RemoteConfig::important_window)) is
    /// full. To a local actor it is exactly [`ActorRef::send`]. Unacknowledged sends
    /// survive a link flap: they are resent to the same node incarnation, which delivers
    /// each once.
    /// Many may be in flight at once: await them together to pipeline.
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
        let timeout = match &self.inner {
            Inner::Local(_) => Duration::ZERO,
            Inner::Remote(r) => r
                .node
                .config()
                .remote
                .as_ref()
                .map_or(crate::DEFAULT_CALL_TIMEOUT, |c| c.important_timeout),
        };
        SendImportant {
            target: self,
            msg,
            sender: None,
            timeout,
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
    /// connection dropped after it left: it may have been handled), both at once.
    pub fn call<M>(&self, msg: M) -> Call<'_, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        let timeout = match &self.inner {
            Inner::Local(c) => c.call_timeout,
            Inner::Remote(r) => r.node.config().call_timeout,
        };
        Call {
            target: self,
            msg,
            sender: None,
            timeout,
            chain: None,
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
        }
    }

    /// Kills the actor now, even in the middle of a handler: no `on_stop`, reason
    /// [`ExitReason::Killed`].
    pub fn kill(&self) {
        match &self.inner {
            Inner::Local(cell) => ProcessCell::kill(&**cell),
            Inner::Remote(r) => {
                if let Ok(remote) = r.remote() {
                    let _ = remote.exit(None, &r.pid, &ExitReason::Killed);
                }
            }
        }
    }

    /// Waits until the actor has stopped and returns why. For a remote actor,
    /// [`ExitReason::NoConnection`] if its node is lost first.
    pub fn wait_for_stop(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        let (local, remote) = match &self.inner {
            Inner::Local(cell) => (Some(cell.core.wait_for_exit()), None),
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

/// An important send in preparation; `.await` it to send and learn the outcome.
///
/// The message leaves when the send is awaited or turned into a future with
/// [`IntoFuture::into_future`]: to pipeline, turn several into futures (in the order
/// they must arrive) and await them together.
#[must_use = "an important send does nothing until awaited"]
pub struct SendImportant<'a, A: Actor, M> {
    target: &'a ActorRef<A>,
    msg: M,
    sender: Option<Pid>,
    timeout: Duration,
}

impl<A: Actor, M> SendImportant<'_, A, M> {
    /// Waits at most `timeout` for the acknowledgement instead of the default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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
        match &self.target.inner {
            Inner::Local(cell) => {
                let outcome = cell
                    .mailbox
                    .try_push_user(envelope(self.msg, self.sender))
                    .map_err(|(_, e)| e);
                Box::pin(std::future::ready(outcome))
            }
            Inner::Remote(r) => match r.send_important::<M>(self.sender, self.msg, self.timeout) {
                Ok(waiting) => Box::pin(waiting),
                Err(e) => Box::pin(std::future::ready(Err(e))),
            },
        }
    }
}

/// The envelope of a message sent without waiting for a reply.
fn envelope<A: Handler<M>, M: Message>(msg: M, sender: Option<Pid>) -> Box<dyn super::Envelope<A>> {
    Box::new(MsgEnvelope {
        msg,
        sender,
        reply: None,
        chain: None,
        path: Box::default(),
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
    target: &'a ActorRef<A>,
    msg: M,
    sender: Option<Pid>,
    timeout: Duration,
    /// For a call from an actor: how it is chained, and the actor, marked blocked while
    /// waiting.
    chain: Option<Chained>,
}

/// A blocking call made by an actor.
pub(crate) struct Chained {
    /// The chain of the message the caller handles.
    pub(crate) chain: ChainId,
    /// The caller's wait-for path, ending with `token`.
    pub(crate) path: Box<[u64]>,
    /// This call's token: the caller is blocked by it while it waits.
    pub(crate) token: u64,
    pub(crate) caller: Arc<dyn ProcessCell>,
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
        let (handle, receiver) = reply::channel::<M::Reply>();
        let mut forget = None;
        let (chain, path) = match &self.chain {
            Some(c) => (Some(c.chain), c.path.clone()),
            None => (None, Box::default()),
        };
        // The caller is blocked by this call before the message leaves, so the message
        // finds it blocked even if it comes straight back (a call to itself).
        let mut blocked = self.chain.map(|c| Blocked::on(c.caller, c.token));
        let state = match &self.target.inner {
            Inner::Local(cell) => {
                let env = Box::new(MsgEnvelope {
                    msg: self.msg,
                    sender: self.sender,
                    reply: Some(handle),
                    chain,
                    path,
                });
                match cell.push_chained(env) {
                    Ok(()) => CallState::Waiting(receiver),
                    Err(e) => CallState::Failed(Some(e)),
                }
            }
            Inner::Remote(r) => {
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

/// Sends a remote call; `complete` gets the decoded outcome and says whether the
/// caller still waited.
fn remote_call<A: Actor, M: Message>(
    r: &RemoteTarget<A>,
    sender: Option<Pid>,
    head: Head<'_>,
    msg: &M,
    complete: impl FnOnce(Result<M::Reply, Error>) -> Result<(), Error> + Send + 'static,
) -> Result<ForgetCall, Error> {
    let remote = r.remote()?;
    let peer = r.peer(remote)?;
    let call_id = remote.next_call_id();
    let pin = pin(sender.as_ref(), r.pid.id());
    let head = Head { call_id, ..head };
    r.with_frame(remote, sender.as_ref(), msg, head, |frame, decode| {
        let pending: PendingCall = Box::new(move |outcome| {
            let value = outcome.and_then(|bytes| decode(&bytes)).and_then(|any| {
                any.downcast::<M::Reply>()
                    .map(|v| *v)
                    .map_err(|_| Error::Codec("reply of an unexpected type".into()))
            });
            complete(value)
        });
        remote.call_on(peer, pin, call_id, frame, pending, None)
    })
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
                let err = match &this.target.inner {
                    Inner::Local(cell) if cell.mailbox.is_closed() => Error::ProcessTerminated,
                    Inner::Local(_) => Error::ReplyDropped,
                    Inner::Remote(_) => Error::NoConnection,
                };
                return Poll::Ready(Err(err));
            }
            Poll::Pending => {}
        }
        if !*this.yielded && !this.target.is_remote() {
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
            // Close the slot: a reply that raced the timer is taken, and one that
            // comes later is known to its (important) responder as ignored.
            Some(Poll::Ready(())) => Poll::Ready(receiver.close().unwrap_or(Err(Error::Timeout))),
            _ => Poll::Pending,
        }
    }
}
