//! The remote half of an [`ActorRef`](super::ActorRef): an actor on another node,
//! reached through this node's network side. Messages are encoded with the actor
//! type's [`RemoteMessages`] table into a `Deliver` frame and queued on the link the
//! sender→recipient pair is pinned to; important sends go through
//! [`crate::reliable`], calls register their pending reply with the peer.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::actor::{Actor, DecodeReply, Message, RemoteMessages, table};
use crate::error::Error;
use crate::identity::{ChainId, Pid, ProcessId};
use crate::node::Node;
use crate::reliable::{self, AckWait};
use crate::remote::wire::{self, Outgoing};
use crate::remote::{ForgetCall, Peer, PendingCall, Remote, pin};

/// An actor on another node, reached through this node's network side.
pub(super) struct RemoteTarget<A: Actor> {
    /// The actor's pid; a placeholder (id 0) for a name resolved on the remote node.
    pub(super) pid: Pid,
    pub(super) node: Node,
    /// How to encode the messages `A` accepts.
    table: Arc<RemoteMessages<A>>,
    /// The peer node, looked up on the first send.
    peer: OnceLock<Arc<Peer>>,
    /// Where its messages go (the pid, or a name resolved on the remote node), as
    /// written in each of them.
    to: wire::EncodedTarget,
}

/// What a `Deliver` frame says besides the message: the call it belongs to, whether it
/// is an important send, and (for calls and requests) its chain and wait-for path.
#[derive(Default)]
pub(super) struct Head<'a> {
    pub(super) call_id: u64,
    pub(super) ack: bool,
    /// With `ack`: acknowledged once handled (see `SendImportant::after_handling`).
    pub(super) handled: bool,
    pub(super) chain: Option<ChainId>,
    pub(super) path: &'a [u64],
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
    pub(super) fn remote(&self) -> Result<&Arc<Remote>, Error> {
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
        sender: Option<&Pid>,
        msg: &M,
        head: Head<'_>,
        send: impl FnOnce(&Outgoing<'_>, DecodeReply) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let (tag, encode, decode) = self
            .table
            .sender_side::<M>()
            .ok_or_else(|| Error::UnknownMessage(std::any::type_name::<M>().to_string()))?;
        let trace = crate::trace::current().map(wire::WireTrace::from);
        with_payload_buffer(|payload| {
            encode(msg, payload)?;
            let frame = Outgoing::Deliver {
                to: Some(&self.to),
                deliver: wire::DeliverRef {
                    to: None,
                    from: sender.map(wire::PidRef::from),
                    tag: tag.as_bytes(),
                    payload,
                    call_id: head.call_id,
                    ack: head.ack,
                    chain: ChainId::to_wire(head.chain),
                    path: head.path,
                    handled: head.handled,
                    trace,
                },
            };
            send(&frame, decode)
        })
    }

    /// A plain send: refused with [`Error::MailboxFull`] while the link is full.
    pub(super) fn send<M: Message>(&self, sender: Option<&Pid>, msg: &M) -> Result<(), Error> {
        let remote = self.remote()?;
        let peer = self.peer(remote)?;
        let pin = pin(sender, self.pid.id());
        self.with_frame(sender, msg, Head::default(), |frame, _| {
            remote.send_on(peer, pin, frame, None, true, None)
        })
    }

    /// A plain send that waits while the link is full.
    pub(super) async fn send_wait<M: Message>(&self, sender: Option<Pid>, msg: M) -> Result<(), Error> {
        loop {
            match self.send(sender.as_ref(), &msg) {
                Err(Error::MailboxFull) => {}
                other => return other,
            }
            self.room_on_link(sender.as_ref()).await?;
        }
    }

    /// Waits until the link `sender`'s messages to this actor are pinned to has room.
    pub(super) async fn room_on_link(&self, sender: Option<&Pid>) -> Result<(), Error> {
        let remote = self.remote()?;
        let limit = remote.config().link_buffer;
        self.peer(remote)?
            .room_for(pin(sender, self.pid.id()), limit)
            .await;
        Ok(())
    }
}

impl<A: Actor> RemoteTarget<A> {
    /// Sends with an acknowledgement from the receiving node (see [`crate::reliable`]):
    /// the frame is queued now, the returned future waits for the acknowledgement.
    pub(super) fn send_important<M: Message>(
        &self,
        sender: Option<Pid>,
        msg: M,
        timeout: Duration,
        handled: bool,
    ) -> Result<AckWait, Error> {
        let remote = self.remote()?;
        let peer = self.peer(remote)?;
        let id = reliable::delivery_id(remote);
        let pin = pin(sender.as_ref(), self.pid.id());
        let head = Head {
            call_id: id,
            ack: true,
            handled,
            ..Head::default()
        };
        self.with_frame(sender.as_ref(), &msg, head, |frame, _| {
            reliable::send(remote, peer, pin, id, frame, timeout)
        })
    }
}

impl<A: Actor> RemoteTarget<A> {
    /// A handle to process `pid` on another node.
    pub(super) fn new(pid: Pid, node: Node) -> Self {
        RemoteTarget {
            table: table::<A>(),
            peer: OnceLock::new(),
            to: wire::EncodedTarget::new(wire::TargetRef::Pid(wire::PidRef::from(&pid))),
            pid,
            node,
        }
    }

    /// A handle to the name `id` on another node, resolved there on arrival.
    pub(super) fn named(id: &ProcessId, node: Node) -> Self {
        let placeholder = Pid::new(id.node.clone(), 0, 0);
        RemoteTarget {
            table: table::<A>(),
            peer: OnceLock::new(),
            to: wire::EncodedTarget::new(wire::TargetRef::Name(&id.name)),
            pid: placeholder,
            node,
        }
    }
}

/// Sends a remote call; `complete` gets the decoded outcome and says whether the
/// caller still waited.
pub(super) fn remote_call<A: Actor, M: Message>(
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
    r.with_frame(sender.as_ref(), msg, head, |frame, decode| {
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
