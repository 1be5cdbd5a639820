//! ackor: the counter actor and the benchmarked operations.
//!
//! Configuration: one [`Node`] per runtime, user-lane capacity [`MAILBOX`]; tell is
//! [`ActorRef::send_wait`] (waits for space: back-pressure), ask is
//! [`ActorRef::call`] with the node's default 5 s timeout, stop is
//! [`ActorRef::stop`] + [`ActorRef::wait_for_stop`].

use std::time::{Duration, Instant};

use ackor::{Actor, ActorRef, BoxError, Context, ExitReason, Message, Node};

use crate::alloc_counter::{self, MemoryReport};
use crate::remote::Latencies;
use crate::{BenchError, MAILBOX, PAIRS, check_count};

/// Counts the messages it gets. Its handlers never wait, so they are written as
/// plain `fn`s under `#[ackor::actor]`, as a user would: each message is handled at
/// once, with no future made for it (`Handler::handle_now`).
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
#[derive(Debug)]
pub struct Inc;

impl Message for Inc {
    type Reply = u64;
}

/// Asks for the count.
#[derive(Debug)]
pub struct Get;

impl Message for Get {
    type Reply = u64;
}

/// Starts the node the benches use (call inside the runtime).
pub async fn start_node() -> Result<Node, BenchError> {
    start_node_with(false).await
}

/// [`start_node`], with ackor's detailed metrics (sampled every second) if `detailed`:
/// the telemetry probe measures what they cost.
pub async fn start_node_with(detailed: bool) -> Result<Node, BenchError> {
    let builder = Node::builder().name("bench@local").mailbox_capacity(MAILBOX);
    let builder = if detailed {
        builder.detailed_metrics(Duration::from_secs(1))
    } else {
        builder
    };
    Ok(builder.start().await?)
}

/// Spawns a counter and waits until it has started.
async fn spawn_started(node: &Node) -> Result<ActorRef<Counter>, BenchError> {
    let actor = node.spawn::<Counter>(())?;
    actor.call(Get).await?;
    Ok(actor)
}

async fn stop(actor: &ActorRef<Counter>) -> Result<(), BenchError> {
    actor.stop()?;
    match actor.wait_for_stop().await {
        ExitReason::Normal => Ok(()),
        other => Err(format!("ackor: actor stopped with {other}").into()),
    }
}

/// Sends `n` messages with back-pressure, then asks for the count.
async fn send_counted(actor: &ActorRef<Counter>, n: u64) -> Result<u64, BenchError> {
    for _ in 0..n {
        actor.send_wait(Inc).await?;
    }
    get_when_space(actor).await
}

/// Calls `Get`, retrying while the user lane is full: `call` does not wait for space
/// (it fails at once with `MailboxFull`), and right after a burst of `send_wait` the
/// lane is usually full. ackor has no waiting call; this yield-and-retry loop stands
/// in for one (it runs once per measurement, not per message).
async fn get_when_space(actor: &ActorRef<Counter>) -> Result<u64, BenchError> {
    loop {
        match actor.call(Get).await {
            Err(ackor::Error::MailboxFull) => tokio::task::yield_now().await,
            other => return Ok(other?),
        }
    }
}

/// One sender → one actor: `n` messages, then a call returning the count.
pub async fn tell_1to1(node: &Node, n: u64) -> Result<Duration, BenchError> {
    let actor = spawn_started(node).await?;
    let start = Instant::now();
    let got = send_counted(&actor, n).await?;
    let elapsed = start.elapsed();
    check_count("ackor", got, n)?;
    stop(&actor).await?;
    Ok(elapsed)
}

/// [`PAIRS`] senders, each to its own actor, `n` messages each.
pub async fn tell_n_to_n(node: &Node, n: u64) -> Result<Duration, BenchError> {
    let mut actors = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        actors.push(spawn_started(node).await?);
    }
    let start = Instant::now();
    let senders: Vec<_> = actors
        .iter()
        .map(|actor| {
            let actor = actor.clone();
            tokio::spawn(async move { send_counted(&actor, n).await })
        })
        .collect();
    let mut counts = Vec::with_capacity(PAIRS);
    for sender in senders {
        counts.push(sender.await??);
    }
    let elapsed = start.elapsed();
    for got in counts {
        check_count("ackor", got, n)?;
    }
    for actor in &actors {
        stop(actor).await?;
    }
    Ok(elapsed)
}

/// `n` sequential calls; the last reply must be `n`.
pub async fn ask(node: &Node, n: u64) -> Result<Duration, BenchError> {
    let actor = spawn_started(node).await?;
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        last = actor.call(Inc).await?;
    }
    let elapsed = start.elapsed();
    check_count("ackor", last, n)?;
    stop(&actor).await?;
    Ok(elapsed)
}

/// [`ask`], timing each call: the spread (p50, p99) as well as the mean. (The clock
/// reads add some tens of nanoseconds to each.)
pub async fn ask_latency(node: &Node, n: u64) -> Result<(Duration, Latencies), BenchError> {
    let actor = spawn_started(node).await?;
    let to = &actor;
    let (elapsed, latencies, last) =
        Latencies::time_each(n, move || async move { Ok(to.call(Inc).await?) }).await?;
    check_count("ackor", last.unwrap_or(0), n)?;
    stop(&actor).await?;
    Ok((elapsed, latencies))
}

/// `n` times: spawn, stop, wait until stopped.
pub async fn spawn_stop(node: &Node, n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for _ in 0..n {
        let actor = node.spawn::<Counter>(())?;
        stop(&actor).await?;
    }
    let elapsed = start.elapsed();
    if node.process_count() != 0 {
        return Err(format!("ackor: {} processes left after spawn_stop", node.process_count()).into());
    }
    Ok(elapsed)
}

/// `n` actors spawned, then all told to stop, then all waited for (the time is per
/// actor).
pub async fn spawn_all_stop_all(node: &Node, n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut actors = Vec::with_capacity(usize::try_from(n)?);
    for _ in 0..n {
        actors.push(node.spawn::<Counter>(())?);
    }
    for actor in &actors {
        actor.stop()?;
    }
    for actor in &actors {
        match actor.wait_for_stop().await {
            ExitReason::Normal => {}
            other => return Err(format!("ackor: actor stopped with {other}").into()),
        }
    }
    let elapsed = start.elapsed();
    if node.process_count() != 0 {
        return Err(format!(
            "ackor: {} processes left after spawn_all_stop_all",
            node.process_count()
        )
        .into());
    }
    Ok(elapsed)
}

/// Live heap per idle actor: spawns `n` counters, waits until each has started,
/// measures, stops them.
pub async fn idle_memory(node: &Node, n: usize) -> Result<MemoryReport, BenchError> {
    // Warm-up: lazily allocated parts of the runtime, node and timer.
    let warm = spawn_started(node).await?;
    stop(&warm).await?;
    let mut actors = Vec::with_capacity(n);
    let before = alloc_counter::snapshot();
    for _ in 0..n {
        actors.push(node.spawn::<Counter>(())?);
    }
    for actor in &actors {
        actor.call(Get).await?;
    }
    let report = alloc_counter::snapshot().per_item_since(&before, n)?;
    for actor in &actors {
        actor.stop()?;
    }
    for actor in &actors {
        actor.wait_for_stop().await;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_operation_counts_right() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let node = start_node().await.unwrap();
            tell_1to1(&node, 20_000).await.unwrap();
            tell_n_to_n(&node, 3000).await.unwrap();
            ask(&node, 500).await.unwrap();
            spawn_stop(&node, 100).await.unwrap();
            spawn_all_stop_all(&node, 300).await.unwrap();
            node.shutdown().await;
        })
        .unwrap();
    }
}
