//! Streams: end-to-end delivery to a logical receiver, that survives the receiver's
//! restart and (with a durable outbox) the sender's.
//!
//! An important send says the message reached a mailbox; a send
//! [acknowledged after handling](crate::SendImportant::after_handling) says it was
//! handled. Neither survives a crash: a receiver killed with messages in its mailbox
//! loses them, a sender killed before an answer forgets what it sent. A stream
//! carries a sequence of messages from a [`Producer`] to a [`Consumer`] so that
//! every message is handled, in order, across restarts of either side, in the
//! manner of Akka's reliable delivery:
//!
//! - **Numbered and kept.** The producer numbers each message (1, 2, 3, ...) and
//!   keeps it in its [`Outbox`] until the consumer confirms it. [`Producer::send`]
//!   returns once the message is stored; with a durable outbox (such as
//!   `ackor_durable::FileOutbox`) it is then on disk.
//! - **Confirmed after handling.** The consumer hands each message to its actor as a
//!   [`Delivery<M>`] and confirms it once the handler returned.
//! - **A demand window.** When the stream opens, the consumer grants a window: the
//!   producer sends only up to `last confirmed + window`, so one stream puts about
//!   `window` messages in the consumer's mailbox, however fast the producer is (after
//!   a reopen, copies of messages still queued there can add to it once). Give the
//!   consumer a mailbox for the windows of all its producers. The producer in turn holds at most `capacity` unconfirmed messages;
//!   `send` beyond that waits.
//! - **Resent to the next instance.** The consumer is addressed by name (on a node,
//!   or through a resolver, for a cluster-wide name), looked up again whenever the
//!   stream opens. When a message is not confirmed (the consumer stopped, its node
//!   died, a timeout), the producer opens the stream again — to whatever instance the
//!   name reaches by then — and resends everything unconfirmed, in order.
//! - **Repeats dropped.** The consumer remembers, per producer, the last number it
//!   handled (in its [`Ledger`]; the default is in memory) and confirms a repeat
//!   without handling it. A consumer that restarted without a record learns where
//!   the stream stands from the producer when it opens (everything before the oldest
//!   message the producer still holds was confirmed).
//!
//! **What it promises.** Every message a `send` accepted is handled at least once,
//! in the order sent, as long as the producer (or its durable outbox) lives on.
//! Exactly once needs three things: the consumer's record as durable as its effects
//! and written with them (keep the [`Delivery`]'s producer id and number with the
//! actor's state, and have the [`Ledger`] read them back — the `orders` example does
//! this with a file), a handler that skips a number its record already has (a copy
//! resent after a lost confirmation), and one live producer per producer id (a
//! [`Producer`] stops when its last handle is dropped). A message whose handler fails
//! (panics, or the actor stops) is not confirmed and is resent, again and again with
//! a growing pause: a message that always fails blocks its stream, as in any ordered
//! log.
//!
//! **When it notices.** A consumer that stops or whose node is lost (its
//! monitor's `Down`) reopens the stream at once; a consumer that answers nothing
//! reopens it once nothing was confirmed for the producer's `ack_timeout`.
//!
//! **Wire.** Two remote messages to the consumer: `ackor.stream.open` (a call:
//! producer id, message tag, the oldest number held, whether the numbering
//! continues) answered with the last confirmed number and the window, and
//! `ackor.stream.item` (producer id, number, payload in MessagePack), an important send
//! acknowledged after handling.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! use ackor::stream::{Consumer, ConsumerConfig, Delivery, Producer, ProducerConfig};
//! use ackor::{Actor, BoxError, Context, Handler, Node, ProcessId, RemoteConfig};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Order { id: u64 }
//! impl ackor::Message for Order { type Reply = (); }
//! impl ackor::RemoteMessage for Order { const TAG: &'static str = "shop.order.v1"; }
//!
//! /// Handles orders; returning from the handler confirms one.
//! struct Shop { orders: Vec<u64> }
//! impl Actor for Shop {
//!     type Args = ();
//!     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Shop { orders: vec![] }) }
//! }
//! impl Handler<Delivery<Order>> for Shop {
//!     type Return = ();
//!     async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) {
//!         self.orders.push(d.message().id);
//!     }
//! }
//!
//! let remote = || RemoteConfig::new("cookie");
//! let shop_node = Node::builder().name("shop@127.0.0.1:0").remote(remote()).start().await?;
//! let shop = shop_node.spawn::<Shop>(())?;
//! Consumer::<Order>::spawn(&shop_node, "orders", &shop, ConsumerConfig::new().window(64))?;
//!
//! let checkout = Node::builder().name("checkout@127.0.0.1:0").remote(remote()).start().await?;
//! let to = ProcessId::new("orders", shop_node.name().clone());
//! let producer = Producer::<Order>::start(&checkout, ProducerConfig::new("checkout-1", to)).await?;
//! let mut last = 0;
//! for id in 1..=100 {
//!     last = producer.send(Order { id }).await?;
//! }
//! producer.wait_confirmed(last).await?; // all 100 handled, in order
//! # checkout.shutdown().await;
//! # shop_node.shutdown().await;
//! # Ok(()) }
//! ```

mod consumer;
mod messages;
mod producer;
mod stores;

pub use consumer::{Consumer, ConsumerArgs, ConsumerConfig};
pub use messages::Delivery;
pub use producer::{Producer, ProducerActor, ProducerConfig, ProducerStatus};
pub use stores::{Ledger, MemoryLedger, MemoryOutbox, Outbox, Stored};

/// "No timeout" (a century): for calls the producer always answers, and for the
/// consumer's handling by default.
const NO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
