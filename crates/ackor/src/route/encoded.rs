//! Messages encoded once and delivered to many processes: [`Encoded`] and
//! [`Node::send_encoded`]. What broadcasts and routers are built on (ackor-cluster's
//! process groups send one encoded message per node, which hands it to each member).

use crate::actor::{Handler, Message, table};
use crate::error::Error;
use crate::identity::{ChainId, Pid};
use crate::node::{Delivery, Node};
use crate::remote::pin;
use crate::remote::wire::{self, Outgoing};

/// A message in its wire form: the tag of its type and its payload, encoded as the
/// receiving actor type registered it (see [`RemoteMessages`](crate::RemoteMessages)).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::{Actor, BoxError, Context, Encoded, Handler, Message, Node, RemoteMessage, RemoteMessages};
/// use serde::{Deserialize, Serialize};
///
/// struct Listener;
/// #[derive(Serialize, Deserialize)]
/// struct News(String);
/// impl Message for News { type Reply = (); }
/// impl RemoteMessage for News { const TAG: &'static str = "doc.news.v1"; }
/// impl Actor for Listener {
///     type Args = ();
///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Listener) }
///     fn remote_messages(m: &mut RemoteMessages<Self>) { m.add::<News>(); }
/// }
/// impl Handler<News> for Listener {
///     type Return = ();
///     async fn handle(&mut self, _: News, _: &mut Context<Self>) {}
/// }
///
/// let node = Node::builder().name("doc@local").start().await?;
/// let listeners: Vec<_> = (0..3).map(|_| node.spawn::<Listener>(())).collect::<Result<_, _>>()?;
/// let news = Encoded::new::<Listener, _>(&News("once".into()))?; // encoded once
/// for l in &listeners {
///     node.send_encoded(l.pid(), &news, None)?;                   // decoded by each
/// }
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    tag: String,
    payload: Vec<u8>,
}

impl Encoded {
    /// Encodes `msg` as actor type `A` receives it from other nodes. Fails with
    /// [`Error::UnknownMessage`] if `A` does not list `M` in its remote messages, and
    /// [`Error::Codec`] if the codec refuses the value.
    pub fn new<A, M>(msg: &M) -> Result<Self, Error>
    where
        A: Handler<M>,
        M: Message,
    {
        let (tag, encode, _) = table::<A>()
            .sender_side::<M>()
            .ok_or_else(|| Error::UnknownMessage(std::any::type_name::<M>().to_string()))?;
        let mut payload = Vec::new();
        encode(msg, &mut payload)?;
        Ok(Encoded {
            tag: tag.to_string(),
            payload,
        })
    }

    /// An encoded message as it came from elsewhere (a tag and a payload).
    pub fn from_parts(tag: impl Into<String>, payload: Vec<u8>) -> Self {
        Encoded {
            tag: tag.into(),
            payload,
        }
    }

    /// The message type's tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The encoded message.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

impl Node {
    /// Sends an [`Encoded`] message to process `to`, on this node or another, without
    /// knowing its actor type: the process decodes it as its type registered the tag.
    /// A plain send, with `sender` as its sender: on this node the errors are
    /// immediate ([`Error::ProcessUnknown`], [`Error::MailboxFull`],
    /// [`Error::UnknownMessage`] for a tag the process does not know, [`Error::Codec`]
    /// for a payload it cannot decode); to another node, those of a plain remote send.
    /// See [`Encoded`] for an example.
    pub fn send_encoded(&self, to: &Pid, msg: &Encoded, sender: Option<&Pid>) -> Result<(), Error> {
        if to.node() == self.name() {
            let process = self.registry().get(to).ok_or(Error::ProcessUnknown)?;
            return process
                .deliver_remote(Delivery {
                    tag: msg.tag.as_bytes(),
                    payload: &msg.payload,
                    from: sender.cloned(),
                    chain: None::<ChainId>,
                    path: Vec::new(),
                    reply: None,
                    trace: crate::trace::current(),
                    call_id: 0,
                    important: false,
                })
                .map_err(|(e, _)| e);
        }
        let remote = self
            .remote()
            .ok_or_else(|| Error::Config("this node has no network side (set a cookie)".into()))?;
        let peer = remote.peer_for(to.node())?;
        let frame = Outgoing::Deliver {
            to: None,
            deliver: wire::DeliverRef {
                to: Some(wire::TargetRef::Pid(wire::PidRef::from(to))),
                from: sender.map(wire::PidRef::from),
                tag: msg.tag.as_bytes(),
                payload: &msg.payload,
                call_id: 0,
                ack: false,
                chain: 0,
                path: &[],
                handled: false,
                trace: crate::trace::current().map(wire::WireTrace::from),
            },
        };
        remote.send_on(&peer, pin(sender, to.id()), &frame, None, true, None)
    }
}
