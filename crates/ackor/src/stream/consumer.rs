//! The receiving end of streams: an actor registered under a name, that takes each
//! stream's messages in order, drops repeats, hands each to the actor behind it and
//! confirms it once that actor handled it.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use super::messages::{Delivery, Item, Open, Opened};
use super::stores::{Ledger, MemoryLedger};
use crate::{
    Actor, ActorRef, BoxError, BoxFuture, Codec, Context, Error, Handler, MessagePack, Node, RemoteMessage,
    RemoteMessages, Reply, SpawnOptions,
};

/// Hands one delivery to the actor behind the consumer; resolves once it handled it.
type Forward<M> = Box<dyn Fn(Delivery<M>) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// How a [`Consumer`] works: its demand window, its ledger, how long the actor behind
/// it may take per message.
///
/// ```
/// use std::time::Duration;
/// use ackor::stream::{ConsumerConfig, MemoryLedger};
///
/// let config = ConsumerConfig::new()
///     .window(256)
///     .handle_timeout(Duration::from_secs(60))
///     .ledger(MemoryLedger::default());
/// # let _ = config;
/// ```
pub struct ConsumerConfig {
    window: u32,
    handle_timeout: Duration,
    ledger: Box<dyn Ledger>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            window: 1024,
            handle_timeout: Duration::from_secs(30),
            ledger: Box::new(MemoryLedger::default()),
        }
    }
}

impl ConsumerConfig {
    /// The defaults: window 1024, 30 s per message, an in-memory [`MemoryLedger`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The demand window granted to each producer: how many messages past the last
    /// confirmed one it may have in flight (at least 1). It bounds what one stream
    /// puts in the consumer's mailbox.
    pub fn window(mut self, window: u32) -> Self {
        self.window = window.max(1);
        self
    }

    /// How long the actor behind the consumer may take to handle one message before
    /// the message is answered with [`Error::Timeout`] (and resent by its producer).
    pub fn handle_timeout(mut self, timeout: Duration) -> Self {
        self.handle_timeout = timeout;
        self
    }

    /// The record of what was handled, read when a producer opens its stream.
    pub fn ledger(mut self, ledger: impl Ledger) -> Self {
        self.ledger = Box::new(ledger);
        self
    }
}

/// The receiving end of streams of `M`: registered under a name, it takes each
/// producer's messages in order, drops the repeats a resend brings, hands each to
/// an actor as a [`Delivery<M>`] and confirms it to the producer once the actor's
/// handler returned. See [the module](super) for the whole protocol.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::stream::{Consumer, ConsumerConfig, Delivery};
/// use ackor::{Actor, BoxError, Context, Handler, Node};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Order(u64);
/// # impl ackor::Message for Order { type Reply = (); }
/// # impl ackor::RemoteMessage for Order { const TAG: &'static str = "doc.order"; }
/// # struct Shop;
/// # impl Actor for Shop {
/// #     type Args = ();
/// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Shop) }
/// # }
/// # impl Handler<Delivery<Order>> for Shop {
/// #     type Return = ();
/// #     async fn handle(&mut self, _: Delivery<Order>, _: &mut Context<Self>) {}
/// # }
/// let node = Node::builder().name("shop@local").start().await?;
/// let shop = node.spawn::<Shop>(())?;
/// Consumer::<Order>::spawn(&node, "orders", &shop, ConsumerConfig::new())?;
/// # node.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Consumer<M> {
    forward: Forward<M>,
    window: u32,
    ledger: Box<dyn Ledger>,
    /// The last sequence number handled, per producer whose stream is open here.
    streams: HashMap<String, u64>,
    _message: PhantomData<fn(M)>,
}

/// What [`Consumer::spawn`] starts a consumer with.
pub struct ConsumerArgs<M> {
    forward: Forward<M>,
    config: ConsumerConfig,
}

impl<M: RemoteMessage> Consumer<M> {
    /// Starts a consumer registered as `name` on `node` that hands what it receives
    /// to `to`. Fails like [`Node::spawn_with`] (a taken name, a stopped node).
    pub fn spawn<A>(
        node: &Node,
        name: &str,
        to: &ActorRef<A>,
        config: ConsumerConfig,
    ) -> Result<ActorRef<Consumer<M>>, Error>
    where
        A: Handler<Delivery<M>>,
    {
        let to = to.clone();
        let timeout = config.handle_timeout;
        let forward: Forward<M> = Box::new(move |delivery| {
            // Acknowledged once handled: a call here, an after-handling important
            // send if the actor is on another node.
            let handled = to.send_important(delivery).after_handling().timeout(timeout);
            Box::pin(handled.into_future())
        });
        node.spawn_with::<Consumer<M>>(
            ConsumerArgs { forward, config },
            SpawnOptions::default().name(name),
        )
    }

    /// The last sequence number confirmed to `producer` in this incarnation.
    async fn confirmed(&mut self, producer: &str) -> Result<Option<u64>, Error> {
        match self.streams.get(producer) {
            Some(last) => Ok(Some(*last)),
            None => self.ledger.confirmed(producer).await,
        }
    }
}

impl<M: RemoteMessage> Actor for Consumer<M> {
    type Args = ConsumerArgs<M>;

    async fn init(args: ConsumerArgs<M>, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Consumer {
            forward: args.forward,
            window: args.config.window,
            ledger: args.config.ledger,
            streams: HashMap::new(),
            _message: PhantomData,
        })
    }

    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Open>().add::<Item>();
    }
}

impl<M: RemoteMessage> Handler<Open> for Consumer<M> {
    type Return = Reply<Opened>;

    async fn handle(&mut self, open: Open, _: &mut Context<Self>) -> Reply<Opened> {
        Reply::from_result(self.open(open).await)
    }
}

impl<M: RemoteMessage> Consumer<M> {
    async fn open(&mut self, open: Open) -> Result<Opened, Error> {
        if open.tag != M::TAG {
            return Err(Error::UnknownMessage(open.tag));
        }
        let before = open.first.saturating_sub(1);
        let confirmed = match (open.resume, self.confirmed(&open.producer).await?) {
            // Everything before `first` was confirmed to the producer; the record may
            // know more (confirmations the producer never got).
            (true, Some(known)) => known.max(before),
            // A producer starting over: what an earlier incarnation sent is history.
            _ => before,
        };
        tracing::debug!(producer = %open.producer, confirmed, window = self.window, "stream opened");
        metrics::counter!("ackor_stream_opened_total").increment(1);
        self.streams.insert(open.producer, confirmed);
        Ok(Opened {
            confirmed,
            window: self.window,
        })
    }

    /// Takes one message: in order, once; the error to answer it with if not handled.
    async fn take(&mut self, item: Item) -> Result<(), Error> {
        let Some(&last) = self.streams.get(&item.producer) else {
            // The producer opened with an earlier incarnation: it must open again.
            return Err(Error::Rejected("stream not open here".into()));
        };
        if item.seq <= last {
            // A resend of one handled already: confirm it again, do not handle it.
            metrics::counter!("ackor_stream_deduplicated_total").increment(1);
            return Ok(());
        }
        if item.seq != last + 1 {
            return Err(Error::Rejected(format!(
                "out of order: expected {}, got {}",
                last + 1,
                item.seq
            )));
        }
        let message: M = MessagePack::decode(&item.payload)?;
        let span = tracing::debug_span!("stream.deliver", producer = %item.producer, seq = item.seq);
        let _enter = span.enter();
        let delivery = Delivery {
            producer: item.producer,
            seq: item.seq,
            message,
        };
        let producer = delivery.producer.clone();
        drop(_enter);
        (self.forward)(delivery).await?;
        self.ledger.record(&producer, item.seq).await?;
        metrics::counter!("ackor_stream_handled_total").increment(1);
        if let Some(last) = self.streams.get_mut(&producer) {
            *last = item.seq;
        }
        Ok(())
    }
}

impl<M: RemoteMessage> Handler<Item> for Consumer<M> {
    type Return = Reply<()>;

    async fn handle(&mut self, item: Item, _: &mut Context<Self>) -> Reply<()> {
        let (producer, seq) = (item.producer.clone(), item.seq);
        let outcome = self.take(item).await;
        if let Err(e) = &outcome {
            tracing::debug!(producer = %producer, seq, error = %e, "stream message not confirmed");
        }
        Reply::from_result(outcome)
    }
}
