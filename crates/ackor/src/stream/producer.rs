//! The sending end of a stream: numbers each message, keeps it (in its outbox) until
//! the consumer confirms it was handled, sends within the window the consumer grants,
//! and resends what is unconfirmed to whatever instance the name reaches after a
//! restart.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::NO_TIMEOUT;
use super::consumer::Consumer;
use super::messages::{Item, Open, Opened};
use super::stores::{MemoryOutbox, Outbox, Stored};
use crate::{
    Actor, ActorRef, BoxError, BoxFuture, Codec, Context, Down, Error, Handler, Message, MessagePack, Node,
    Pid, ProcessId, Reentrancy, RemoteMessage, Reply, ReplyHandle, SpawnOptions,
};

/// Finds the consumer's current address (for a name that can move, such as a
/// cluster-wide one).
type Resolve = Arc<dyn Fn() -> BoxFuture<'static, Result<ProcessId, Error>> + Send + Sync>;

/// Where a producer's consumer is.
#[derive(Clone)]
enum Destination {
    /// A name on a node, resolved there on every (re)open.
    Fixed(ProcessId),
    /// Asked anew on every (re)open.
    Resolved(Resolve),
}

impl Destination {
    async fn get(&self) -> Result<ProcessId, Error> {
        match self {
            Destination::Fixed(to) => Ok(to.clone()),
            Destination::Resolved(resolve) => resolve().await,
        }
    }
}

/// How a [`Producer`] works: its id, its consumer, its outbox, how much it holds.
///
/// ```
/// use std::time::Duration;
/// use ackor::stream::{MemoryOutbox, ProducerConfig};
/// use ackor::{NodeName, ProcessId};
///
/// let consumer = ProcessId::new("orders", NodeName::new("shop@10.0.0.7:4370"));
/// let config = ProducerConfig::new("checkout-1", consumer)
///     .capacity(8192)
///     .ack_timeout(Duration::from_secs(60))
///     .outbox(MemoryOutbox::default());
/// # let _ = config;
/// ```
pub struct ProducerConfig {
    id: String,
    to: Destination,
    capacity: usize,
    ack_timeout: Duration,
    retry: (Duration, Duration),
    outbox: Box<dyn Outbox>,
}

impl ProducerConfig {
    /// A producer named `id` (stable across its restarts: the consumer knows its
    /// stream by it) sending to the consumer registered as `to`. Defaults: capacity
    /// 4096, 30 s acknowledgement timeout, an in-memory [`MemoryOutbox`].
    pub fn new(id: impl Into<String>, to: ProcessId) -> Self {
        Self::with_destination(id.into(), Destination::Fixed(to))
    }

    /// Like [`ProducerConfig::new`], for a consumer whose address is looked up
    /// again every time the stream (re)opens: `resolve` gives it (for a cluster-wide
    /// name, ask the cluster there).
    pub fn resolved<F>(id: impl Into<String>, resolve: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<ProcessId, Error>> + Send + Sync + 'static,
    {
        Self::with_destination(id.into(), Destination::Resolved(Arc::new(resolve)))
    }

    fn with_destination(id: String, to: Destination) -> Self {
        ProducerConfig {
            id,
            to,
            capacity: 4096,
            ack_timeout: Duration::from_secs(30),
            retry: (Duration::from_millis(50), Duration::from_secs(2)),
            outbox: Box::new(MemoryOutbox::default()),
        }
    }

    /// How many messages the producer holds unconfirmed at most (at least 1); a
    /// [`Producer::send`] beyond it waits for room.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long a message sent may wait for its confirmation (its handling included)
    /// before the stream is opened again and it is resent.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// The pause before opening the stream again after a failure: from `min`,
    /// doubling up to `max`.
    pub fn retry(mut self, min: Duration, max: Duration) -> Self {
        self.retry = (min, max.max(min));
        self
    }

    /// Where unconfirmed messages are kept: a durable outbox makes them survive the
    /// producer's process.
    pub fn outbox(mut self, outbox: impl Outbox) -> Self {
        self.outbox = Box::new(outbox);
        self
    }
}

/// Where a producer stands, from [`Producer::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerStatus {
    /// The sequence number the next message gets.
    pub next_seq: u64,
    /// The last sequence number the consumer confirmed (0: none).
    pub confirmed: u64,
    /// Messages stored and not yet confirmed.
    pub unconfirmed: usize,
    /// Sends waiting for room (capacity) or for their turn to be stored.
    pub waiting: usize,
    /// Whether the stream is open (the consumer answered the last open).
    pub open: bool,
    /// The window the consumer granted (0 before the first open).
    pub window: u64,
}

/// The sending end of a stream of `M` to a [`Consumer`]: at least once, in order,
/// handled (each message is confirmed after the consumer's actor handled it), with
/// what is unconfirmed resent to the consumer's next instance after a restart, and
/// dropped there if it was handled already. See [the module](super).
///
/// A cheap handle to the producer's actor; clones share it.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::stream::{Consumer, ConsumerConfig, Delivery, Producer, ProducerConfig};
/// use ackor::{Actor, BoxError, Context, Handler, Node, ProcessId};
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
///
/// let to = ProcessId::new("orders", node.name().clone());
/// let producer = Producer::<Order>::start(&node, ProducerConfig::new("checkout", to)).await?;
/// let seq = producer.send(Order(42)).await?; // stored: it will be handled
/// producer.wait_confirmed(seq).await?; // handled
/// # node.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Producer<M: RemoteMessage> {
    actor: ActorRef<ProducerActor<M>>,
    /// Stops the actor when the last handle goes: two live producers with one id
    /// would mix their numbering at the consumer.
    guard: Arc<StopOnDrop<M>>,
}

impl<M: RemoteMessage> Clone for Producer<M> {
    fn clone(&self) -> Self {
        Producer {
            actor: self.actor.clone(),
            guard: self.guard.clone(),
        }
    }
}

/// Stops a producer's actor when dropped.
struct StopOnDrop<M: RemoteMessage>(ActorRef<ProducerActor<M>>);

impl<M: RemoteMessage> Drop for StopOnDrop<M> {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

/// Refuses an outbox whose content a producer cannot continue from: numbers must be
/// positive, increasing by one, and below the next number.
fn check_stored(stored: &Stored) -> Result<(), Error> {
    let mut expected = stored.messages.first().map(|(seq, _)| *seq);
    for (seq, _) in &stored.messages {
        if *seq == 0 || Some(*seq) != expected {
            return Err(Error::Storage(format!(
                "outbox holds message {seq} where {} was expected",
                expected.unwrap_or(1)
            )));
        }
        expected = seq.checked_add(1);
    }
    match stored.messages.last() {
        Some((last, _)) if stored.next_seq != 0 && stored.next_seq <= *last => Err(Error::Storage(format!(
            "outbox's next number {} is not past its last message {last}",
            stored.next_seq
        ))),
        _ => Ok(()),
    }
}

impl<M: RemoteMessage> Producer<M> {
    /// Loads the outbox (a durable one may hold messages from before a restart, which
    /// are resent first) and starts the producer on `node`; it opens the stream at
    /// once and keeps trying until the consumer answers.
    pub async fn start(node: &Node, mut config: ProducerConfig) -> Result<Self, Error> {
        let stored = config.outbox.load().await?;
        check_stored(&stored)?;
        let actor = node.spawn_with::<ProducerActor<M>>(
            (config, stored),
            // The producer keeps taking sends while confirmations are in flight.
            SpawnOptions::default().reentrancy(Reentrancy::allow_all()),
        )?;
        Ok(Producer {
            guard: Arc::new(StopOnDrop(actor.clone())),
            actor,
        })
    }

    /// Stops the producer. What it holds unconfirmed stays in a durable outbox (a
    /// producer started later on it resends it); an in-memory one is lost. Dropping
    /// the last handle does the same.
    pub fn stop(&self) {
        let _ = self.actor.stop();
    }

    /// Sends `msg`: numbers it, stores it in the outbox (durably, with a durable
    /// outbox) and returns its sequence number; from then on it will be handled by
    /// the consumer, resent as long as needed. Waits while the producer holds
    /// `capacity` unconfirmed messages. Fails with [`Error::Codec`] if `msg` cannot
    /// be encoded, [`Error::Storage`] if the outbox failed (the message was not
    /// taken), [`Error::ProcessTerminated`] once the producer stopped.
    pub async fn send(&self, msg: M) -> Result<u64, Error> {
        let payload = Bytes::from(MessagePack::encode(&msg)?);
        // No timeout: the producer answers once the message is stored, or why not.
        self.actor.call(Enqueue(payload)).timeout(NO_TIMEOUT).await
    }

    /// Waits until the consumer confirmed `seq` (and everything before it).
    pub async fn wait_confirmed(&self, seq: u64) -> Result<(), Error> {
        self.actor.call(WaitConfirmed(seq)).timeout(NO_TIMEOUT).await
    }

    /// Where the producer stands.
    pub async fn status(&self) -> Result<ProducerStatus, Error> {
        self.actor.call(Status).await
    }

    /// The producer's actor (to monitor, link or stop it).
    pub fn actor(&self) -> &ActorRef<ProducerActor<M>> {
        &self.actor
    }
}

/// Whether the stream is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not open; an open is due after the retry pause.
    Closed,
    /// An open is in flight.
    Opening,
    Open,
}

/// A stored message not yet confirmed.
struct Held {
    seq: u64,
    payload: Bytes,
}

/// The actor behind a [`Producer`].
pub struct ProducerActor<M> {
    id: String,
    to: Destination,
    /// The consumer the current open reached.
    at: Option<ProcessId>,
    outbox: Box<dyn Outbox>,
    capacity: usize,
    ack_timeout: Duration,
    retry: (Duration, Duration),
    next_retry: Duration,
    /// Stored and unconfirmed, in sequence order (contiguous numbers).
    held: VecDeque<Held>,
    /// Sends not stored yet, each with its caller.
    incoming: VecDeque<(Bytes, ReplyHandle<u64>)>,
    /// Callers of `wait_confirmed`.
    waiters: Vec<(u64, ReplyHandle<()>)>,
    next_seq: u64,
    confirmed: u64,
    /// The highest sequence number sent since the stream last opened.
    sent_up_to: u64,
    window: u64,
    state: State,
    /// Numbers every open; answers and failures of an older one are stale.
    epoch: u64,
    /// Whether the numbering continues one the consumer may know (see `Open::resume`).
    resume: bool,
    flush_queued: bool,
    trim_queued: bool,
    /// The consumer the stream is open to, monitored: its end reopens the stream.
    consumer: Option<Pid>,
    /// When `confirmed` last moved (or the stream opened): an item's timeout reopens
    /// the stream only if nothing was confirmed for a whole `ack_timeout`.
    progress_at: Instant,
    /// A `Stalled` check is pending.
    stall_check: bool,
    _message: PhantomData<fn(M)>,
}

impl<M: RemoteMessage> Actor for ProducerActor<M> {
    type Args = (ProducerConfig, Stored);

    async fn init((config, stored): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let stored_next = stored.next_seq;
        let held: VecDeque<Held> = stored
            .messages
            .into_iter()
            .map(|(seq, payload)| Held { seq, payload })
            .collect();
        let last_held = held.back().map_or(0, |h| h.seq);
        let next_seq = stored_next.max(last_held + 1).max(1);
        let confirmed = held.front().map_or(next_seq - 1, |h| h.seq.saturating_sub(1));
        if !held.is_empty() {
            tracing::info!(producer = %config.id, unconfirmed = held.len(), "stream resumes with stored messages");
        }
        // A durable outbox with a past continues its stream; a fresh one (or memory)
        // starts a new one, and the consumer forgets an earlier producer's numbering.
        let fresh = stored_next <= 1 && held.is_empty();
        let this = ProducerActor {
            resume: config.outbox.is_durable() && !fresh,
            id: config.id,
            to: config.to,
            at: None,
            outbox: config.outbox,
            capacity: config.capacity,
            ack_timeout: config.ack_timeout,
            retry: config.retry,
            next_retry: config.retry.0,
            held,
            incoming: VecDeque::new(),
            waiters: Vec::new(),
            next_seq,
            confirmed,
            sent_up_to: confirmed,
            window: 0,
            state: State::Closed,
            epoch: 0,
            flush_queued: false,
            trim_queued: false,
            consumer: None,
            progress_at: Instant::now(),
            stall_check: false,
            _message: PhantomData,
        };
        let _ = ctx.send_after(Duration::ZERO, Reopen(0));
        Ok(this)
    }

    async fn on_down(&mut self, ctx: &mut Context<Self>, down: Down) {
        if self.consumer.as_ref() == Some(&down.pid) && self.state == State::Open {
            tracing::debug!(producer = %self.id, consumer = %down.pid, reason = %down.reason, "consumer gone: opening again");
            self.close(ctx);
        }
    }
}

impl<M: RemoteMessage> ProducerActor<M> {
    /// Queues `msg` to this actor; if the mailbox is full, a timer waits for room.
    fn to_self<T>(ctx: &Context<Self>, msg: T)
    where
        T: Message + Copy,
        Self: Handler<T>,
    {
        if ctx.actor_ref().send(msg).is_err() {
            let _ = ctx.send_after(Duration::ZERO, msg);
        }
    }

    fn schedule_flush(&mut self, ctx: &Context<Self>) {
        if !self.flush_queued && !self.incoming.is_empty() && self.held.len() < self.capacity {
            self.flush_queued = true;
            Self::to_self(ctx, Flush);
        }
    }

    fn schedule_trim(&mut self, ctx: &Context<Self>) {
        if !self.trim_queued {
            self.trim_queued = true;
            Self::to_self(ctx, Trim);
        }
    }

    /// Checks for a stall after `ack_timeout`, unless a check is already pending.
    fn arm_stall_check(&mut self, ctx: &Context<Self>) {
        if !self.stall_check {
            self.stall_check = true;
            let stalled = Stalled {
                epoch: self.epoch,
                confirmed: self.confirmed,
            };
            let _ = ctx.send_after(self.ack_timeout, stalled);
        }
    }

    fn schedule_reopen(&mut self, ctx: &Context<Self>) {
        let delay = self.next_retry;
        self.next_retry = (self.next_retry * 2).min(self.retry.1);
        let _ = ctx.send_after(delay, Reopen(self.epoch));
    }

    /// Opens (again): asks where the consumer is and where its record stands.
    fn open(&mut self, ctx: &mut Context<Self>) {
        self.epoch += 1;
        self.state = State::Opening;
        let epoch = self.epoch;
        let open = Open {
            producer: self.id.clone(),
            tag: M::TAG.to_string(),
            first: self.held.front().map_or(self.next_seq, |h| h.seq),
            resume: self.resume,
        };
        let (to, node, me, timeout) = (
            self.to.clone(),
            ctx.node().clone(),
            ctx.pid().clone(),
            self.ack_timeout,
        );
        let opening = async move {
            let at = to.get().await?;
            let opened = node
                .call_important_name::<Consumer<M>, Open>(&at, open)
                .from(me)
                .timeout(timeout)
                .await?;
            Ok::<_, Error>((at, opened))
        };
        let piped = ctx.pipe_to(opening, move |this: &mut Self, ctx, outcome| {
            this.opened(ctx, epoch, outcome.and_then(|o| o));
        });
        if let Err(e) = piped {
            tracing::warn!(producer = %self.id, error = %e, "stream open not started");
            self.state = State::Closed;
            self.schedule_reopen(ctx);
        }
    }

    fn opened(&mut self, ctx: &mut Context<Self>, epoch: u64, outcome: Result<(ProcessId, Opened), Error>) {
        if epoch != self.epoch {
            return;
        }
        let (at, opened) = match outcome {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(producer = %self.id, error = %e, "stream not opened: retrying");
                self.close(ctx);
                return;
            }
        };
        if opened.confirmed >= self.next_seq {
            // The consumer has numbers this producer never gave: its record is of a
            // stream this producer no longer remembers (an outbox lost or replaced).
            // Start over rather than have new messages taken for repeats.
            tracing::warn!(
                producer = %self.id,
                consumer_confirmed = opened.confirmed,
                next_seq = self.next_seq,
                "the consumer knows a longer stream: starting the numbering over there"
            );
            self.resume = false;
            self.state = State::Closed;
            self.open(ctx);
            return;
        }
        metrics::counter!("ackor_stream_reopened_total").increment(u64::from(self.at.is_some()));
        tracing::debug!(producer = %self.id, consumer = %at, confirmed = opened.confirmed, window = opened.window, "stream open");
        let consumer = Pid::new(at.node.clone(), opened.pid.0, opened.pid.1);
        if self.consumer.as_ref() != Some(&consumer) {
            ctx.monitor(&consumer);
            self.consumer = Some(consumer);
        }
        self.at = Some(at);
        self.state = State::Open;
        self.resume = true;
        self.progress_at = Instant::now();
        self.window = u64::from(opened.window.max(1));
        // Everything past what the consumer has goes (again): what was in flight may
        // be lost.
        let in_flight = self.sent_up_to.max(self.confirmed);
        self.confirm_up_to(ctx, opened.confirmed);
        let resent = in_flight.saturating_sub(self.confirmed);
        if resent > 0 {
            metrics::counter!("ackor_stream_resent_total").increment(resent);
        }
        self.sent_up_to = self.confirmed;
        self.pump(ctx);
    }

    /// The stream failed: open it again after the retry pause.
    fn close(&mut self, ctx: &Context<Self>) {
        self.state = State::Closed;
        self.schedule_reopen(ctx);
    }

    /// Sends what the window allows.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let Some(at) = self.at.clone().filter(|_| self.state == State::Open) else {
            return;
        };
        let limit = self.confirmed + self.window;
        let Some(front) = self.held.front().map(|h| h.seq) else {
            return;
        };
        let start = (self.sent_up_to + 1).saturating_sub(front) as usize;
        let mut sent = 0;
        for held in self.held.iter().skip(start) {
            if held.seq > limit {
                break;
            }
            let item = Item {
                producer: self.id.clone(),
                seq: held.seq,
                payload: held.payload.clone(),
            };
            let acked = ctx
                .send_important_name::<Consumer<M>, Item>(&at, item)
                .after_handling()
                .timeout(self.ack_timeout)
                .into_future();
            let (epoch, seq) = (self.epoch, held.seq);
            let piped = ctx.pipe_to(acked, move |this: &mut Self, ctx, outcome| {
                this.acked(ctx, epoch, seq, outcome.and_then(|o| o));
            });
            if piped.is_err() {
                break;
            }
            self.sent_up_to = held.seq;
            sent += 1;
        }
        metrics::counter!("ackor_stream_sent_total").increment(sent);
    }

    fn acked(&mut self, ctx: &mut Context<Self>, epoch: u64, seq: u64, outcome: Result<(), Error>) {
        match outcome {
            // True whatever the epoch: the consumer handled it.
            Ok(()) => {
                self.confirm_up_to(ctx, seq);
                self.pump(ctx);
            }
            // Only waited long (behind the window): if anything after it is
            // confirmed, it was handled too. Check again once the stream has made no
            // progress for a whole `ack_timeout`.
            Err(Error::Timeout)
                if epoch == self.epoch
                    && self.state == State::Open
                    && self.progress_at.elapsed() < self.ack_timeout =>
            {
                // One check pending at a time, however many items timed out.
                self.arm_stall_check(ctx);
            }
            Err(e) if epoch == self.epoch && self.state == State::Open => {
                tracing::debug!(producer = %self.id, seq, error = %e, "stream message not confirmed: opening again");
                self.close(ctx);
            }
            // A failure of an earlier open, or after this one already failed.
            Err(_) => {}
        }
    }

    /// The consumer handled everything up to `seq`.
    fn confirm_up_to(&mut self, ctx: &mut Context<Self>, seq: u64) {
        if seq <= self.confirmed {
            return;
        }
        let newly = seq - self.confirmed;
        self.confirmed = seq;
        self.progress_at = Instant::now();
        // Progress: a poison message (never confirmed) keeps the pause growing.
        self.next_retry = self.retry.0;
        while self.held.front().is_some_and(|h| h.seq <= seq) {
            self.held.pop_front();
        }
        self.sent_up_to = self.sent_up_to.max(seq);
        metrics::counter!("ackor_stream_confirmed_total").increment(newly);
        let confirmed = self.confirmed;
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].0 <= confirmed {
                let (_, waiter) = self.waiters.swap_remove(i);
                waiter.reply(());
            } else {
                i += 1;
            }
        }
        self.schedule_trim(ctx);
        self.schedule_flush(ctx);
    }
}

/// Reopens the stream if nothing was confirmed since (and it is still the same open).
struct Stalled {
    epoch: u64,
    confirmed: u64,
}
impl Message for Stalled {
    type Reply = ();
}

impl<M: RemoteMessage> Handler<Stalled> for ProducerActor<M> {
    type Return = ();

    async fn handle(&mut self, s: Stalled, ctx: &mut Context<Self>) {
        self.stall_check = false;
        let unconfirmed = self.sent_up_to > self.confirmed;
        if s.epoch != self.epoch || self.state != State::Open || !unconfirmed {
            return;
        }
        if self.confirmed == s.confirmed {
            tracing::debug!(producer = %self.id, confirmed = self.confirmed, "stream stalled: opening again");
            self.close(ctx);
        } else {
            // Progress, but messages that timed out are still unconfirmed: look again
            // later, so a stream that stops moving is noticed without another timeout.
            self.arm_stall_check(ctx);
        }
    }
}

/// A message to send, encoded.
struct Enqueue(Bytes);
impl Message for Enqueue {
    type Reply = u64;
}

impl<M: RemoteMessage> Handler<Enqueue> for ProducerActor<M> {
    type Return = Reply<u64>;

    async fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) -> Reply<u64> {
        if let Some(caller) = ctx.defer_reply::<u64>() {
            self.incoming.push_back((msg.0, caller));
            self.schedule_flush(ctx);
        }
        Reply::Deferred
    }
}

/// Stores what came in since the last flush, in one batch.
#[derive(Clone, Copy)]
struct Flush;
impl Message for Flush {
    type Reply = ();
}

impl<M: RemoteMessage> Handler<Flush> for ProducerActor<M> {
    type Return = ();

    async fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) {
        self.flush_queued = false;
        let room = self.capacity.saturating_sub(self.held.len());
        let n = room.min(self.incoming.len());
        if n == 0 {
            return;
        }
        let batch: Vec<(Bytes, ReplyHandle<u64>)> = self.incoming.drain(..n).collect();
        let payloads: Vec<Bytes> = batch.iter().map(|(p, _)| p.clone()).collect();
        let first = self.next_seq;
        match self.outbox.store(first, &payloads).await {
            Ok(()) => {
                self.next_seq += n as u64;
                for (seq, (payload, caller)) in (first..).zip(batch) {
                    self.held.push_back(Held { seq, payload });
                    caller.reply(seq);
                }
                self.pump(ctx);
            }
            Err(e) => {
                tracing::warn!(producer = %self.id, error = %e, "outbox store failed: sends refused");
                for (_, caller) in batch {
                    caller.fail(e.clone());
                }
            }
        }
        self.schedule_flush(ctx);
    }
}

/// Tells the outbox what was confirmed since the last trim.
#[derive(Clone, Copy)]
struct Trim;
impl Message for Trim {
    type Reply = ();
}

impl<M: RemoteMessage> Handler<Trim> for ProducerActor<M> {
    type Return = ();

    async fn handle(&mut self, _: Trim, _: &mut Context<Self>) {
        self.trim_queued = false;
        if let Err(e) = self.outbox.confirm(self.confirmed).await {
            // Harmless but for space: what it still holds is resent after a restart
            // and dropped by the consumer as already handled.
            tracing::warn!(producer = %self.id, error = %e, "outbox confirm failed");
        }
    }
}

/// Opens the stream again, unless a newer open (than `.0`) happened meanwhile.
struct Reopen(u64);
impl Message for Reopen {
    type Reply = ();
}

impl<M: RemoteMessage> Handler<Reopen> for ProducerActor<M> {
    type Return = ();

    async fn handle(&mut self, Reopen(epoch): Reopen, ctx: &mut Context<Self>) {
        if epoch == self.epoch && self.state != State::Open {
            self.open(ctx);
        }
    }
}

/// Waits until the consumer confirmed the sequence number.
struct WaitConfirmed(u64);
impl Message for WaitConfirmed {
    type Reply = ();
}

impl<M: RemoteMessage> Handler<WaitConfirmed> for ProducerActor<M> {
    type Return = Reply<()>;

    async fn handle(&mut self, WaitConfirmed(seq): WaitConfirmed, ctx: &mut Context<Self>) -> Reply<()> {
        if seq <= self.confirmed {
            return Reply::Value(());
        }
        if let Some(waiter) = ctx.defer_reply::<()>() {
            self.waiters.push((seq, waiter));
        }
        Reply::Deferred
    }
}

/// Asks where the producer stands.
struct Status;
impl Message for Status {
    type Reply = ProducerStatus;
}

impl<M: RemoteMessage> Handler<Status> for ProducerActor<M> {
    type Return = ProducerStatus;

    async fn handle(&mut self, _: Status, _: &mut Context<Self>) -> ProducerStatus {
        ProducerStatus {
            next_seq: self.next_seq,
            confirmed: self.confirmed,
            unconfirmed: self.held.len(),
            waiting: self.incoming.len(),
            open: self.state == State::Open,
            window: self.window,
        }
    }
}
