//! What a producer and a consumer say to each other, and what the consumer hands to
//! the actor behind it.

use serde::{Deserialize, Serialize};

use crate::{Message, RemoteMessage};

/// A producer (re)opens its stream: which stream, where its numbering stands.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Open {
    /// The producer's id, stable across its restarts.
    pub(super) producer: String,
    /// The tag of the message type the producer sends; the consumer's must match.
    pub(super) tag: String,
    /// The oldest sequence number the producer still holds (or, holding none, the
    /// next one it will use): everything before it was confirmed to it.
    pub(super) first: u64,
    /// Whether the producer's numbering continues the one the consumer may know: false
    /// for a producer that starts afresh without a durable outbox, whose numbers start
    /// over, so the consumer forgets what it confirmed to an earlier incarnation.
    pub(super) resume: bool,
}

impl Message for Open {
    type Reply = Opened;
}

impl RemoteMessage for Open {
    const TAG: &'static str = "ackor.stream.open";
}

/// The consumer's answer to [`Open`]: the last sequence number it handled (0: none)
/// and the demand window it grants (how many past that may be in flight).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Opened {
    pub(super) confirmed: u64,
    pub(super) window: u32,
    /// The consumer's pid (id and creation, on the node the producer reached), for the
    /// producer to monitor: a consumer that goes away reopens the stream at once.
    pub(super) pid: (u64, u32),
}

/// One message of a stream: the payload is the message encoded in MessagePack.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Item {
    pub(super) producer: String,
    pub(super) seq: u64,
    pub(super) payload: bytes::Bytes,
}

impl Message for Item {
    type Reply = ();
}

impl RemoteMessage for Item {
    const TAG: &'static str = "ackor.stream.item";
}

/// A stream message as the consumer's actor receives it: the message with the
/// stream's producer id and sequence number, for handlers that keep their own record
/// of what they handled (see [`Ledger`](super::Ledger)).
///
/// The actor behind a [`Consumer`](super::Consumer) handles `Delivery<M>`; returning
/// from the handler confirms the message (a handler that hands the work off defers
/// the confirmation with [`Context::defer_reply`](crate::Context::defer_reply)).
///
/// ```
/// use ackor::stream::Delivery;
/// use ackor::{Actor, BoxError, Context, Handler};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Order(u64);
/// # impl ackor::Message for Order { type Reply = (); }
/// # impl ackor::RemoteMessage for Order { const TAG: &'static str = "doc.order"; }
///
/// struct Shop { handled: Vec<(String, u64)> }
/// # impl Actor for Shop {
/// #     type Args = ();
/// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Shop { handled: vec![] }) }
/// # }
/// impl Handler<Delivery<Order>> for Shop {
///     type Return = ();
///     async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) {
///         self.handled.push((d.producer().to_string(), d.seq()));
///         let _order: Order = d.into_message();
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Delivery<M> {
    pub(super) producer: String,
    pub(super) seq: u64,
    pub(super) message: M,
}

impl<M> Delivery<M> {
    /// The id of the producer that sent it.
    pub fn producer(&self) -> &str {
        &self.producer
    }

    /// Its sequence number in the producer's stream: 1, 2, 3, ... in the order sent.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Takes the message out.
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<M: Send + 'static> Message for Delivery<M> {
    type Reply = ();
}
