//! End-to-end delivery across two ackor nodes: important sends acknowledged on arrival
//! and after handling, and streams ([`ackor::stream`]) with an in-memory or a file
//! outbox (and optionally a file ledger), all to the same do-nothing actor on B.
//!
//! Set-up: the nodes of [`AckorNodes`] (A sends, B receives, one 2-worker runtime). The
//! receiving actor is a [`Sink`] on B: it counts what it handles (and, for a stream,
//! checks that sequence numbers come one after the other). The message is [`Tick`], a
//! `u64`.
//!
//! | function | what is timed |
//! |---|---|
//! | [`important`] | `n` [`ActorRef::send_important`]s from A to a sink on B, at most `window` unacknowledged (the oldest awaited first), acknowledged on arrival or [after handling](ackor::SendImportant::after_handling); then a call for the count, which must be `n` |
//! | [`stream`] | a [`Producer`] on A, a [`Consumer`] on B forwarding to a sink: `n` [`Producer::send`]s (one at a time, or up to [`StreamSetup::senders`] at once), then [`Producer::wait_confirmed`] of the last. One message is sent and confirmed before the clock starts (the stream is open) |
//!
//! The stream's outbox is wrapped in a [`CountingOutbox`], which counts the
//! [`Outbox::store`] batches and times them.

use std::collections::{BTreeMap, HashMap};
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ackor::stream::{Consumer, ConsumerConfig, Delivery, Outbox, Producer, ProducerConfig, Stored};
use ackor::{
    Actor, ActorRef, BoxError, BoxFuture, Context, Error, ExitReason, Handler, Message, ProcessId,
    RemoteMessage, RemoteMessages, SpawnOptions,
};
use ackor_durable::{FileLedger, FileOutbox};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use serde::{Deserialize, Serialize};

use super::ackor_remote::{AckorNodes, RECEIVER_MAILBOX, pipelined};
use crate::{BenchError, check_count};

/// The message: a small serde struct.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Tick(pub u64);

impl Message for Tick {
    type Reply = ();
}

impl RemoteMessage for Tick {
    const TAG: &'static str = "bench.tick";
}

/// Asks a [`Sink`] what it handled.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handled;

/// A [`Sink`]'s answer to [`Handled`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkCount {
    /// Messages handled ([`Tick`]s and deliveries).
    pub handled: u64,
    /// Deliveries whose sequence number was not the previous one's plus one.
    pub out_of_order: u64,
}

impl Message for Handled {
    type Reply = SinkCount;
}

impl RemoteMessage for Handled {
    const TAG: &'static str = "bench.handled";
}

/// The receiving actor: its handlers only count.
#[derive(Debug, Default)]
pub struct Sink {
    count: SinkCount,
    last_seq: Option<u64>,
}

impl Actor for Sink {
    type Args = ();

    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink::default())
    }

    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Tick>().add::<Handled>();
    }
}

impl Handler<Tick> for Sink {
    type Return = ();

    async fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        self.count.handled += 1;
    }
}

impl Handler<Delivery<Tick>> for Sink {
    type Return = ();

    async fn handle(&mut self, d: Delivery<Tick>, _: &mut Context<Self>) {
        if self.last_seq.is_some_and(|last| d.seq() != last + 1) {
            self.count.out_of_order += 1;
        }
        self.last_seq = Some(d.seq());
        self.count.handled += 1;
    }
}

impl Handler<Handled> for Sink {
    type Return = SinkCount;

    async fn handle(&mut self, _: Handled, _: &mut Context<Self>) -> SinkCount {
        self.count
    }
}

/// What an important send's acknowledgement means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// In B's mailbox (plain [`ActorRef::send_important`]).
    OnArrival,
    /// Handled ([`ackor::SendImportant::after_handling`]).
    AfterHandling,
}

/// Spawns a sink on B and returns it with A's handle to it.
async fn sink(nodes: &AckorNodes) -> Result<(ActorRef<Sink>, ActorRef<Sink>), BenchError> {
    let options = SpawnOptions::default().mailbox_capacity(RECEIVER_MAILBOX);
    let local = nodes.b().spawn_with::<Sink>((), options)?;
    let there = nodes.a().actor_ref::<Sink>(local.pid())?;
    if !there.is_remote() {
        return Err("ackor: the handle on A is not remote".into());
    }
    there.call(Handled).await?;
    Ok((local, there))
}

async fn stop<A: Actor>(what: &str, actor: &ActorRef<A>) -> Result<(), BenchError> {
    actor.stop()?;
    match actor.wait_for_stop().await {
        ExitReason::Normal => Ok(()),
        other => Err(format!("ackor stream bench: {what} stopped with {other}").into()),
    }
}

/// `n` important sends of [`Tick`] from A to a fresh sink on B, at most `window`
/// unacknowledged; then a call for the count (must be `n`). Returns the time of both.
pub async fn important(nodes: &AckorNodes, n: u64, window: usize, ack: Ack) -> Result<Duration, BenchError> {
    let (local, there) = sink(nodes).await?;
    let start = Instant::now();
    pipelined(n, window, |i| {
        let send = there.send_important(Tick(i));
        match ack {
            Ack::OnArrival => send.into_future(),
            Ack::AfterHandling => send.after_handling().into_future(),
        }
    })
    .await?;
    let got = there.call(Handled).await?;
    let elapsed = start.elapsed();
    check_count("ackor important", got.handled, n)?;
    stop("sink", &local).await?;
    Ok(elapsed)
}

/// The store of a stream's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// [`ackor::stream::MemoryOutbox`].
    Memory,
    /// [`ackor_durable::FileOutbox`] in a fresh file under [`StreamSetup::dir`].
    File,
}

/// The record of a stream's consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// [`ackor::stream::MemoryLedger`].
    Memory,
    /// [`ackor_durable::FileLedger`] in a fresh file under [`StreamSetup::dir`].
    File,
}

/// How one stream run is set up.
#[derive(Debug, Clone)]
pub struct StreamSetup {
    /// The producer's store.
    pub outbox: OutboxKind,
    /// The consumer's record.
    pub ledger: LedgerKind,
    /// The consumer's demand window.
    pub window: u32,
    /// The producer's capacity (unconfirmed messages held at most).
    pub capacity: usize,
    /// `Producer::send`s outstanding at once: 1 is a plain loop, each send awaited
    /// before the next; more keeps that many going (the producer stores what came in
    /// meanwhile in one batch). Keep it below the producer's mailbox (1024): a call to
    /// a full mailbox fails.
    pub senders: usize,
    /// The consumer's mailbox capacity ([`ConsumerConfig::mailbox_capacity`]); `None`:
    /// the consumer's default.
    pub consumer_mailbox: Option<usize>,
    /// Where the file stores go (a fresh pair of files per run, removed after it).
    pub dir: PathBuf,
}

/// What one stream run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamRun {
    /// From the first timed send to the last one's confirmation.
    pub elapsed: Duration,
    /// The outbox's figures during that time.
    pub outbox: OutboxFigures,
}

/// What a [`CountingOutbox`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxFigures {
    /// [`Outbox::store`] calls (batches).
    pub stores: u64,
    /// Messages stored.
    pub stored: u64,
    /// Time inside `store`, summed.
    pub store_time: Duration,
    /// [`Outbox::confirm`] calls.
    pub confirms: u64,
    /// Time inside `confirm`, summed.
    pub confirm_time: Duration,
}

impl OutboxFigures {
    /// Messages per store batch, on average.
    pub fn per_batch(&self) -> f64 {
        self.stored as f64 / self.stores.max(1) as f64
    }

    /// Mean time of one store, in microseconds.
    pub fn store_us(&self) -> f64 {
        self.store_time.as_secs_f64() * 1e6 / self.stores.max(1) as f64
    }

    /// Mean time of one confirm, in microseconds.
    pub fn confirm_us(&self) -> f64 {
        self.confirm_time.as_secs_f64() * 1e6 / self.confirms.max(1) as f64
    }
}

/// Counters shared by a [`CountingOutbox`] and whoever reads them.
#[derive(Debug, Default)]
pub struct OutboxCounters {
    stores: AtomicU64,
    stored: AtomicU64,
    store_ns: AtomicU64,
    confirms: AtomicU64,
    confirm_ns: AtomicU64,
}

impl OutboxCounters {
    /// The figures so far.
    pub fn figures(&self) -> OutboxFigures {
        OutboxFigures {
            stores: self.stores.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            store_time: Duration::from_nanos(self.store_ns.load(Ordering::Relaxed)),
            confirms: self.confirms.load(Ordering::Relaxed),
            confirm_time: Duration::from_nanos(self.confirm_ns.load(Ordering::Relaxed)),
        }
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        for c in [
            &self.stores,
            &self.stored,
            &self.store_ns,
            &self.confirms,
            &self.confirm_ns,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// An [`Outbox`] that passes everything to `O` and counts store batches, messages and
/// the time spent in `store` and `confirm` (from the call to the future's completion:
/// for a file outbox, the hop to tokio's blocking pool and the commit).
pub struct CountingOutbox<O> {
    inner: O,
    counters: Arc<OutboxCounters>,
}

impl<O: Outbox> CountingOutbox<O> {
    /// Wraps `inner`; the counters are shared with the caller.
    pub fn new(inner: O, counters: Arc<OutboxCounters>) -> Self {
        CountingOutbox { inner, counters }
    }
}

impl<O: Outbox> Outbox for CountingOutbox<O> {
    fn load(&mut self) -> BoxFuture<'_, Result<Stored, Error>> {
        self.inner.load()
    }

    fn store<'a>(&'a mut self, first: u64, messages: &'a [Bytes]) -> BoxFuture<'a, Result<(), Error>> {
        let counters = self.counters.clone();
        let n = messages.len() as u64;
        let start = Instant::now();
        let store = self.inner.store(first, messages);
        Box::pin(async move {
            let outcome = store.await;
            counters.stores.fetch_add(1, Ordering::Relaxed);
            counters.stored.fetch_add(n, Ordering::Relaxed);
            counters
                .store_ns
                .fetch_add(nanos(start.elapsed()), Ordering::Relaxed);
            outcome
        })
    }

    fn confirm(&mut self, up_to: u64) -> BoxFuture<'_, Result<(), Error>> {
        let counters = self.counters.clone();
        let start = Instant::now();
        let confirm = self.inner.confirm(up_to);
        Box::pin(async move {
            let outcome = confirm.await;
            counters.confirms.fetch_add(1, Ordering::Relaxed);
            counters
                .confirm_ns
                .fetch_add(nanos(start.elapsed()), Ordering::Relaxed);
            outcome
        })
    }

    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }
}

/// Numbers the streams of a process (consumer names, producer ids, file names).
static STREAMS: AtomicU64 = AtomicU64::new(0);

/// One stream run: a sink and a consumer on B, a producer on A, set up as `setup`
/// says; one message sent and confirmed, then `n` timed. The sink must have handled
/// all `n + 1`, in order.
pub async fn stream(nodes: &AckorNodes, n: u64, setup: &StreamSetup) -> Result<StreamRun, BenchError> {
    let k = STREAMS.fetch_add(1, Ordering::Relaxed);
    let name = format!("bench-stream-{}-{k}", std::process::id());
    let uses_files = setup.outbox == OutboxKind::File || setup.ledger == LedgerKind::File;
    if uses_files {
        std::fs::create_dir_all(&setup.dir)?;
    }
    let outbox_path = setup.dir.join(format!("{name}.outbox"));
    let ledger_path = setup.dir.join(format!("{name}.ledger"));

    let (sink, _) = sink(nodes).await?;
    let mut consumer_config = ConsumerConfig::new().window(setup.window);
    if let Some(capacity) = setup.consumer_mailbox {
        consumer_config = consumer_config.mailbox_capacity(capacity);
    }
    if setup.ledger == LedgerKind::File {
        consumer_config = consumer_config.ledger(FileLedger::open(&ledger_path)?);
    }
    let consumer = Consumer::<Tick>::spawn(nodes.b(), &name, &sink, consumer_config)?;

    let counters = Arc::new(OutboxCounters::default());
    let to = ProcessId::new(name.as_str(), nodes.b().name().clone());
    let producer_config = ProducerConfig::new(format!("{name}-producer"), to)
        .capacity(setup.capacity)
        .ack_timeout(Duration::from_secs(60));
    let producer_config = match setup.outbox {
        OutboxKind::Memory => producer_config.outbox(CountingOutbox::new(
            ackor::stream::MemoryOutbox::default(),
            counters.clone(),
        )),
        OutboxKind::File => producer_config.outbox(CountingOutbox::new(
            FileOutbox::open(&outbox_path)?,
            counters.clone(),
        )),
    };
    let producer = Producer::<Tick>::start(nodes.a(), producer_config).await?;

    // Open and warm: the first message handled before the clock starts.
    let first = producer.send(Tick(0)).await?;
    producer.wait_confirmed(first).await?;
    counters.reset();

    let start = Instant::now();
    let last = send_all(&producer, n, setup.senders.max(1)).await?;
    producer.wait_confirmed(last).await?;
    let elapsed = start.elapsed();
    let outbox = counters.figures();

    let got = sink.call(Handled).await?;
    check_count("ackor stream", got.handled, n + 1)?;
    if got.out_of_order != 0 {
        return Err(format!("ackor stream: {} deliveries out of order", got.out_of_order).into());
    }
    if last != first + n {
        return Err(format!(
            "ackor stream: last sequence number {last}, expected {}",
            first + n
        )
        .into());
    }
    stop("producer", producer.actor()).await?;
    stop("consumer", &consumer).await?;
    stop("sink", &sink).await?;
    if uses_files {
        for path in [&outbox_path, &ledger_path] {
            if path.exists() {
                std::fs::remove_file(path)?;
            }
        }
    }
    Ok(StreamRun { elapsed, outbox })
}

/// `n` sends, at most `senders` outstanding; the last sequence number.
async fn send_all(producer: &Producer<Tick>, n: u64, senders: usize) -> Result<u64, BenchError> {
    let mut last = 0;
    if senders == 1 {
        for i in 1..=n {
            last = producer.send(Tick(i)).await?;
        }
        return Ok(last);
    }
    // `Producer::send` is lazy (an async fn): the sends go when polled together.
    let mut pending = FuturesOrdered::new();
    for i in 1..=n {
        if pending.len() >= senders
            && let Some(seq) = pending.next().await
        {
            last = seq?;
        }
        pending.push_back(producer.send(Tick(i)));
    }
    while let Some(seq) = pending.next().await {
        last = seq?;
    }
    Ok(last)
}

/// A [`metrics`] recorder that counts ackor's counters whose names start with one of
/// [`COUNTED`] (the others, and every gauge and histogram, are dropped): to see what a
/// stream did (opens, resends, messages refused and why). Every counter call looks
/// its counter up under a read lock here, so runs with it installed are a little
/// slower: for diagnosis, not for the figures.
#[derive(Debug, Clone, Default)]
pub struct CounterRecorder {
    counters: Arc<std::sync::RwLock<HashMap<metrics::Key, Arc<AtomicU64>>>>,
}

/// The name prefixes of the counters a [`CounterRecorder`] keeps.
pub const COUNTED: [&str; 3] = ["ackor_stream_", "ackor_remote_undelivered", "ackor_important_"];

impl CounterRecorder {
    /// Installs a clone as the process's recorder; fails if one is installed already.
    pub fn install(&self) -> Result<(), BenchError> {
        metrics::set_global_recorder(self.clone()).map_err(|e| format!("metrics recorder: {e}").into())
    }

    /// Every counter so far, as `name{label=value,...}` → value, sorted.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let counters = self.counters.read().unwrap_or_else(|p| p.into_inner());
        counters
            .iter()
            .map(|(key, v)| {
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let name = if labels.is_empty() {
                    key.name().to_string()
                } else {
                    format!("{}{{{}}}", key.name(), labels.join(","))
                };
                (name, v.load(Ordering::Relaxed))
            })
            .collect()
    }
}

impl metrics::Recorder for CounterRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if !COUNTED.iter().any(|p| key.name().starts_with(p)) {
            return metrics::Counter::noop();
        }
        if let Some(c) = self.counters.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return metrics::Counter::from_arc(c.clone());
        }
        let mut counters = self.counters.write().unwrap_or_else(|p| p.into_inner());
        metrics::Counter::from_arc(counters.entry(key.clone()).or_default().clone())
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_end_to_end_operation_delivers_all() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let nodes = AckorNodes::start(2).await.unwrap();
            important(&nodes, 3000, 1024, Ack::OnArrival).await.unwrap();
            important(&nodes, 3000, 1024, Ack::AfterHandling).await.unwrap();
            let dir = std::env::temp_dir().join(format!("ackor-bench-stream-test-{}", std::process::id()));
            let mut setup = StreamSetup {
                outbox: OutboxKind::Memory,
                ledger: LedgerKind::Memory,
                window: 64,
                capacity: 256,
                senders: 1,
                consumer_mailbox: None,
                dir: dir.clone(),
            };
            let run = stream(&nodes, 2000, &setup).await.unwrap();
            assert_eq!(run.outbox.stored, 2000);
            setup.senders = 100;
            stream(&nodes, 2000, &setup).await.unwrap();
            setup.outbox = OutboxKind::File;
            let run = stream(&nodes, 300, &setup).await.unwrap();
            assert_eq!(run.outbox.stored, 300);
            assert!(run.outbox.stores <= 300);
            setup.senders = 1;
            setup.ledger = LedgerKind::File;
            stream(&nodes, 20, &setup).await.unwrap();
            nodes.shutdown().await;
            let _ = std::fs::remove_dir_all(&dir);
        })
        .unwrap();
    }
}
