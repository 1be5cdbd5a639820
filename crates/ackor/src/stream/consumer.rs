//! The receiving end of streams: an actor registered under a name, that takes each
//! stream's messages in order, drops repeats, hands each to the actor behind it and
//! confirms it once that actor handled it.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use super::NO_TIMEOUT;
use super::messages::{Delivery, Item, Open, Opened};
use super::stores::{Ledger, MemoryLedger};
use crate::{
    Actor, ActorRef, BoxError, BoxFuture, Codec, Context, Error, Handler, MessagePack, Node, Pid,
    RemoteMessage, RemoteMessages, Reply, SpawnOptions,
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
    mailbox: Option<usize>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            window: 1024,
            handle_timeout: NO_TIMEOUT,
            ledger: Box::new(MemoryLedger::default()),
            mailbox: None,
        }
    }
}

impl ConsumerConfig {
    /// The defaults: window 1024, no handling timeout, an in-memory [`MemoryLedger`].
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
    /// the message is answered with [`Error::Timeout`] and resent by its producer.
    /// None by default: the message timed out is still in the actor's mailbox and
    /// will be handled, so the resent copy is handled again unless the handler skips
    /// what its own record already has (`seq <=` the last it recorded). The stream
    /// keeps its order either way, and a producer whose stream makes no progress
    /// for its `ack_timeout` opens it again.
    pub fn handle_timeout(mut self, timeout: Duration) -> Self {
        self.handle_timeout = timeout;
        self
    }

    /// The consumer's mailbox capacity: the windows of all its producers must fit,
    /// or their messages are refused with [`Error::MailboxFull`] and resent after a
    /// reopen. Default: four windows and some room for opens.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox = Some(capacity.max(1));
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
    /// The actor the consumer serves, linked to it.
    target: Pid,
}

impl<M: RemoteMessage> Consumer<M> {
    /// Starts a consumer registered as `name` on `node` that hands what it receives
    /// to `to`, an actor of the same node. The two are linked: the consumer stops
    /// (and its name goes) when the actor stops for good, so producers wait for the
    /// next one instead of sending to a consumer nobody serves. Fails with
    /// [`Error::Config`] for an actor on another node, and like [`Node::spawn_with`]
    /// (a taken name, a stopped node).
    pub fn spawn<A>(
        node: &Node,
        name: &str,
        to: &ActorRef<A>,
        config: ConsumerConfig,
    ) -> Result<ActorRef<Consumer<M>>, Error>
    where
        A: Handler<Delivery<M>>,
    {
        if to.is_remote() {
            // `Delivery<M>` is a local message: the consumer lives beside its actor.
            return Err(Error::Config(
                "a stream consumer's actor must be on its node".into(),
            ));
        }
        let (to, target) = (to.clone(), to.pid().clone());
        let timeout = config.handle_timeout;
        let capacity = config.mailbox.unwrap_or(4 * config.window as usize + 64);
        let forward: Forward<M> = Box::new(move |delivery| {
            // Acknowledged once handled: a call, whose reply is not kept.
            let handled = to.send_important(delivery).after_handling().timeout(timeout);
            Box::pin(handled.into_future())
        });
        node.spawn_with::<Consumer<M>>(
            ConsumerArgs {
                forward,
                config,
                target,
            },
            SpawnOptions::default().name(name).mailbox_capacity(capacity),
        )
    }
}

impl<M: RemoteMessage> Actor for Consumer<M> {
    type Args = ConsumerArgs<M>;

    async fn init(args: ConsumerArgs<M>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.link(&args.target);
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

    async fn handle(&mut self, open: Open, ctx: &mut Context<Self>) -> Reply<Opened> {
        let pid = (ctx.pid().id(), ctx.pid().creation());
        Reply::from_result(self.open(open, pid).await)
    }
}

impl<M: RemoteMessage> Consumer<M> {
    async fn open(&mut self, open: Open, pid: (u64, u32)) -> Result<Opened, Error> {
        if open.tag != M::TAG {
            return Err(Error::UnknownMessage(open.tag));
        }
        let before = open.first.saturating_sub(1);
        // The record is read at every open: the actor may have handled (and recorded
        // with its effect) a message whose confirmation never came back here.
        let recorded = self.ledger.confirmed(&open.producer).await?;
        let known = match (self.streams.get(&open.producer), recorded) {
            (Some(&here), Some(recorded)) => Some(here.max(recorded)),
            (here, recorded) => here.copied().or(recorded),
        };
        let confirmed = match (open.resume, known) {
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
            pid,
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
        if let Err(e) = (self.forward)(delivery).await {
            // Handled or not, the actor may have recorded it with its effect (a
            // timeout, a stop after the commit): the stream reopens and the record is
            // read again, rather than trusting what this consumer last knew.
            self.streams.remove(&producer);
            return Err(e);
        }
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
