//! ackor across two nodes: the counter actor and the benchmarked operations.
//!
//! Configuration: nodes `a@127.0.0.1:0` and `b@127.0.0.1:0` (port 0: the real port is
//! in the node's name), both with [`RemoteConfig::new`] defaults (plain TCP, 2 links per
//! peer unless told otherwise, 1 s heartbeat) and a 60 s call timeout. The counter is
//! spawned on B with a user lane of [`RECEIVER_MAILBOX`] messages; the sender is a task
//! on the runtime using A's remote handle ([`Node::actor_ref`]). Tell is
//! [`ActorRef::send_wait`] (encoded into the link's buffer at once; waits while the link
//! holds [`RemoteConfig::link_buffer`] bytes, 1 MiB by default, as the local benches
//! wait for mailbox space), call is [`ActorRef::call`]. A message that B cannot queue
//! (full mailbox) is dropped there, which the final count check turns into an error.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use ackor::{
    Actor, ActorRef, BoxError, Context, ExitReason, Message, Node, RemoteConfig, RemoteMessage, SpawnOptions,
};
use serde::{Deserialize, Serialize};

use super::{Latencies, PAIRS};
use crate::{BenchError, check_count};

/// The cookie both nodes share.
const COOKIE: &str = "ackor-bench";

/// User-lane capacity of the receiving counter: far above any `n` a bench sends in one
/// go, since remote sends wait for room on the link, not in B's mailbox (more would be
/// dropped on B, and the count check would fail the run).
pub const RECEIVER_MAILBOX: usize = 1 << 26;

/// One timed operation of [`AckorNodes::op_latency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyOp {
    /// [`ActorRef::send_important`], awaited (until B acknowledges the enqueue).
    SendImportant,
    /// [`ActorRef::call`], awaited (until the handler's reply is back).
    Call,
    /// [`ActorRef::call_important`], awaited.
    CallImportant,
    /// [`ActorRef::send_important`] acknowledged after handling
    /// ([`SendImportant::after_handling`](ackor::SendImportant::after_handling)),
    /// awaited.
    SendImportantHandled,
}

/// Counts the messages it gets. Its handlers never wait: plain `fn`s under
/// `#[ackor::actor]` (handled at once, no future per message), which also registers
/// both messages for remote senders.
#[derive(Debug)]
pub struct Counter {
    n: u64,
}

#[ackor::actor]
impl Actor for Counter {
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter { n: 0 })
    }

    #[handler]
    fn inc(&mut self, _: Inc) -> u64 {
        self.n += 1;
        self.n
    }

    #[handler]
    fn get(&mut self, _: Get) -> u64 {
        self.n
    }
}

/// Adds one; the reply is the new count (dropped for a tell).
#[derive(Debug, Serialize, Deserialize)]
pub struct Inc;

impl Message for Inc {
    type Reply = u64;
}

impl RemoteMessage for Inc {
    const TAG: &'static str = "bench.inc";
}

/// Asks for the count.
#[derive(Debug, Serialize, Deserialize)]
pub struct Get;

impl Message for Get {
    type Reply = u64;
}

impl RemoteMessage for Get {
    const TAG: &'static str = "bench.get";
}

/// Two connected nodes on the current runtime.
#[derive(Debug, Clone)]
pub struct AckorNodes {
    a: Node,
    b: Node,
    receiver_mailbox: usize,
}

/// A counter on B: the local handle (to stop it) and A's remote handle (to use it).
struct RemoteCounter {
    local: ActorRef<Counter>,
    there: ActorRef<Counter>,
}

impl AckorNodes {
    /// Starts both nodes (call inside the runtime) with `links_per_peer` TCP links each
    /// way, and connects them (one call from A to B and back).
    pub async fn start(links_per_peer: usize) -> Result<AckorNodes, BenchError> {
        Self::start_with(links_per_peer, false).await
    }

    /// [`AckorNodes::start`], with ackor's detailed metrics (sampled every second) if
    /// `detailed`: the telemetry probe measures what they cost.
    pub async fn start_with(links_per_peer: usize, detailed: bool) -> Result<AckorNodes, BenchError> {
        let config = || RemoteConfig::new(COOKIE).links_per_peer(links_per_peer);
        let builder = |name: &str| {
            let builder = Node::builder()
                .name(name)
                .remote(config())
                .call_timeout(Duration::from_secs(60));
            if detailed {
                builder.detailed_metrics(Duration::from_secs(1))
            } else {
                builder
            }
        };
        let a = builder("a@127.0.0.1:0").start().await?;
        let b = builder("b@127.0.0.1:0").start().await?;
        let nodes = AckorNodes {
            a,
            b,
            receiver_mailbox: RECEIVER_MAILBOX,
        };
        // Dials A→B (the call) and B→A (its reply): every link is up afterwards.
        let c = nodes.counter().await?;
        c.there.call(Get).await?;
        c.stop().await?;
        Ok(nodes)
    }

    /// Sets the user-lane capacity of the counters spawned from now on (default
    /// [`RECEIVER_MAILBOX`]); a smaller one shows what happens to remote sends that
    /// find the mailbox full (they are dropped on B, and the count check fails).
    pub fn with_receiver_mailbox(mut self, capacity: usize) -> Self {
        self.receiver_mailbox = capacity;
        self
    }

    /// Spawns a counter on B and returns it with A's handle to it.
    async fn counter(&self) -> Result<RemoteCounter, BenchError> {
        let options = SpawnOptions::default().mailbox_capacity(self.receiver_mailbox);
        let local = self.b.spawn_with::<Counter>((), options)?;
        let there = self.a.actor_ref::<Counter>(local.pid())?;
        if !there.is_remote() {
            return Err("ackor: the handle on A is not remote".into());
        }
        // Started and reachable before any clock starts.
        there.call(Get).await?;
        Ok(RemoteCounter { local, there })
    }

    /// One sender task → one counter on B: `n` sends, then a call returning the count.
    pub async fn tell_1to1(&self, n: u64) -> Result<Duration, BenchError> {
        let c = self.counter().await?;
        let start = Instant::now();
        let got = send_counted(&c.there, n).await?;
        let elapsed = start.elapsed();
        check_count("ackor remote", got, n)?;
        c.stop().await?;
        Ok(elapsed)
    }

    /// [`PAIRS`] sender tasks, each to its own counter on B, `n` messages each.
    pub async fn tell_n_to_n(&self, n: u64) -> Result<Duration, BenchError> {
        let mut counters = Vec::with_capacity(PAIRS);
        for _ in 0..PAIRS {
            counters.push(self.counter().await?);
        }
        let start = Instant::now();
        let senders: Vec<_> = counters
            .iter()
            .map(|c| {
                let there = c.there.clone();
                tokio::spawn(async move { send_counted(&there, n).await })
            })
            .collect();
        let mut counts = Vec::with_capacity(PAIRS);
        for sender in senders {
            counts.push(sender.await??);
        }
        let elapsed = start.elapsed();
        for got in counts {
            check_count("ackor remote", got, n)?;
        }
        for c in &counters {
            c.stop().await?;
        }
        Ok(elapsed)
    }

    /// `n` sequential calls from A to a counter on B; returns the total time and each
    /// call's time. The last reply must be `n`.
    pub async fn call_latency(&self, n: u64) -> Result<(Duration, Latencies), BenchError> {
        let c = self.counter().await?;
        let there = &c.there;
        let (elapsed, lat, last) =
            Latencies::time_each(n, move || async move { Ok(there.call(Inc).await?) }).await?;
        check_count("ackor remote", last.unwrap_or(0), n)?;
        c.stop().await?;
        Ok((elapsed, lat))
    }

    /// Important-delivery throughput: one sender task, `n` [`ActorRef::send_important`]s
    /// to one counter on B with at most `window` unacknowledged at a time (each send
    /// leaves when turned into a future; the oldest is awaited once `window` are out),
    /// then every remaining acknowledgement, then a call returning the count (must be
    /// `n`). `window == 1` is the sequential case: each send awaited before the next.
    pub async fn important_window(&self, n: u64, window: usize) -> Result<Duration, BenchError> {
        let c = self.counter().await?;
        let start = Instant::now();
        pipelined(n, window, |_| c.there.send_important(Inc).into_future()).await?;
        let got = c.there.call(Get).await?;
        let elapsed = start.elapsed();
        check_count("ackor remote important", got, n)?;
        c.stop().await?;
        Ok(elapsed)
    }

    /// [`AckorNodes::important_window`] awaited the usual Rust way: at most `window`
    /// important sends in a `FuturesUnordered`, each acknowledgement taken as it comes
    /// (polled eagerly), a new send started for each one taken.
    pub async fn important_unordered(&self, n: u64, window: usize) -> Result<Duration, BenchError> {
        let c = self.counter().await?;
        let start = Instant::now();
        let mut pending = FuturesUnordered::new();
        for _ in 0..n {
            if pending.len() >= window
                && let Some(acked) = pending.next().await
            {
                acked?;
            }
            pending.push(c.there.send_important(Inc).into_future());
        }
        while let Some(acked) = pending.next().await {
            acked?;
        }
        let got = c.there.call(Get).await?;
        let elapsed = start.elapsed();
        check_count("ackor remote important (unordered)", got, n)?;
        c.stop().await?;
        Ok(elapsed)
    }

    /// `senders` tasks on A, each sending `n / senders` important messages one at a
    /// time (each awaited before the next) to one counter on B.
    pub async fn important_senders(&self, n: u64, senders: u64) -> Result<Duration, BenchError> {
        let c = self.counter().await?;
        let each = n / senders;
        let start = Instant::now();
        let tasks: Vec<_> = (0..senders)
            .map(|_| {
                let there = c.there.clone();
                tokio::spawn(async move {
                    for _ in 0..each {
                        there.send_important(Inc).await?;
                    }
                    Ok::<(), ackor::Error>(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let got = c.there.call(Get).await?;
        let elapsed = start.elapsed();
        check_count("ackor remote important (senders)", got, each * senders)?;
        c.stop().await?;
        Ok(elapsed)
    }

    /// Pipelined plain calls, the same shape as [`AckorNodes::important_window`]: at
    /// most `window` [`ActorRef::call`]s outstanding, each reply (the new count) awaited
    /// in order; the last must be `n`, and a final call must return `n`.
    pub async fn call_window(&self, n: u64, window: usize) -> Result<Duration, BenchError> {
        let c = self.counter().await?;
        let start = Instant::now();
        let last = pipelined(n, window, |_| c.there.call(Inc).into_future())
            .await?
            .unwrap_or(0);
        let got = c.there.call(Get).await?;
        let elapsed = start.elapsed();
        check_count("ackor remote pipelined call (last reply)", last, n)?;
        check_count("ackor remote pipelined call", got, n)?;
        c.stop().await?;
        Ok(elapsed)
    }

    /// `n` sequential operations of one [`LatencyOp`] from A to a counter on B; returns
    /// the total time and each operation's time. A final call must return `n`.
    pub async fn op_latency(&self, op: LatencyOp, n: u64) -> Result<(Duration, Latencies), BenchError> {
        let c = self.counter().await?;
        let there = &c.there;
        let (elapsed, lat, _) = Latencies::time_each(n, move || async move {
            match op {
                LatencyOp::SendImportant => there.send_important(Inc).await?,
                LatencyOp::Call => {
                    there.call(Inc).await?;
                }
                LatencyOp::CallImportant => {
                    there.call_important(Inc).await?;
                }
                LatencyOp::SendImportantHandled => there.send_important(Inc).after_handling().await?,
            }
            Ok(())
        })
        .await?;
        let got = c.there.call(Get).await?;
        check_count("ackor remote latency", got, n)?;
        c.stop().await?;
        Ok((elapsed, lat))
    }

    /// Node A (the sending side in every operation here).
    pub fn a(&self) -> &Node {
        &self.a
    }

    /// Node B (the receiving side).
    pub fn b(&self) -> &Node {
        &self.b
    }

    /// Shuts both nodes down.
    pub async fn shutdown(&self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

impl RemoteCounter {
    async fn stop(&self) -> Result<(), BenchError> {
        self.local.stop()?;
        match self.local.wait_for_stop().await {
            ExitReason::Normal => Ok(()),
            other => Err(format!("ackor remote: counter stopped with {other}").into()),
        }
    }
}

/// Runs `n` operations with at most `window` outstanding, awaiting the oldest once
/// `window` are out, then the rest in order; returns the last one's output (`None` for
/// `n == 0`). `start(i)` must set operation `i` going before it returns its future, as
/// [`IntoFuture::into_future`] of an ackor call or important send does (the message
/// leaves then); a lazy future would run one at a time.
pub async fn pipelined<T, E, F>(
    n: u64,
    window: usize,
    mut start: impl FnMut(u64) -> F,
) -> Result<Option<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut pending = VecDeque::with_capacity(window);
    let mut last = None;
    for i in 0..n {
        if pending.len() >= window
            && let Some(oldest) = pending.pop_front()
        {
            last = Some(oldest.await?);
        }
        pending.push_back(start(i));
    }
    while let Some(f) = pending.pop_front() {
        last = Some(f.await?);
    }
    Ok(last)
}

/// `n` remote sends (each waits only while the link is full), then a call for the
/// count, which travels on the same link behind them.
async fn send_counted(there: &ActorRef<Counter>, n: u64) -> Result<u64, BenchError> {
    for _ in 0..n {
        there.send_wait(Inc).await?;
    }
    Ok(there.call(Get).await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_remote_operation_counts_right() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let nodes = AckorNodes::start(2).await.unwrap();
            nodes.tell_1to1(20_000).await.unwrap();
            nodes.tell_n_to_n(3000).await.unwrap();
            let (_, lat) = nodes.call_latency(200).await.unwrap();
            assert_eq!(lat.count(), 200);
            // Sends that find the receiver's mailbox full are lost on B: the run must
            // fail (count mismatch, or the final call refused with MailboxFull).
            nodes.important_window(5000, 1024).await.unwrap();
            nodes.important_window(200, 1).await.unwrap();
            nodes.important_unordered(3000, 64).await.unwrap();
            nodes.important_senders(640, 64).await.unwrap();
            nodes.call_window(5000, 1024).await.unwrap();
            for op in [
                LatencyOp::SendImportant,
                LatencyOp::Call,
                LatencyOp::CallImportant,
            ] {
                let (_, lat) = nodes.op_latency(op, 100).await.unwrap();
                assert_eq!(lat.count(), 100);
            }
            let small = nodes.clone().with_receiver_mailbox(16);
            assert!(small.tell_1to1(20_000).await.is_err());
            nodes.shutdown().await;
        })
        .unwrap();
    }
}
