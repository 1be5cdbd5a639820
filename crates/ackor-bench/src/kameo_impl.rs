//! kameo: the counter actor and the benchmarked operations.
//!
//! Configuration: default features; every actor is spawned with
//! `spawn_with_mailbox(.., mailbox::bounded(MAILBOX))` (kameo's own default bound is
//! 64); tell is `tell(..).await` (waits for space: back-pressure), ask is
//! `ask(..).await` (no reply timeout: kameo's default), stop is `stop_gracefully` +
//! `wait_for_shutdown`.

use std::time::{Duration, Instant};

use kameo::actor::{ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::mailbox;
use kameo::message::{Context, Message};

use crate::alloc_counter::{self, MemoryReport};
use crate::{BenchError, MAILBOX, PAIRS, check_count};

/// Counts the messages it gets.
#[derive(Debug)]
pub struct Counter {
    n: u64,
}

impl kameo::Actor for Counter {
    type Args = ();
    type Error = Infallible;

    async fn on_start(_args: (), _actor_ref: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Counter { n: 0 })
    }
}

/// Adds one; the reply is the new count (dropped for a tell).
#[derive(Debug)]
pub struct Inc;

/// Asks for the count.
#[derive(Debug)]
pub struct Get;

impl Message<Inc> for Counter {
    type Reply = u64;

    async fn handle(&mut self, _msg: Inc, _ctx: &mut Context<Self, u64>) -> u64 {
        self.n += 1;
        self.n
    }
}

impl Message<Get> for Counter {
    type Reply = u64;

    async fn handle(&mut self, _msg: Get, _ctx: &mut Context<Self, u64>) -> u64 {
        self.n
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("kameo: {e}").into()
}

fn spawn() -> ActorRef<Counter> {
    Counter::spawn_with_mailbox((), mailbox::bounded(MAILBOX))
}

async fn spawn_started() -> Result<ActorRef<Counter>, BenchError> {
    let actor = spawn();
    actor.ask(Get).await.map_err(err)?;
    Ok(actor)
}

async fn stop(actor: &ActorRef<Counter>) -> Result<(), BenchError> {
    actor.stop_gracefully().await.map_err(err)?;
    actor.wait_for_shutdown().await;
    Ok(())
}

async fn send_counted(actor: &ActorRef<Counter>, n: u64) -> Result<u64, BenchError> {
    for _ in 0..n {
        actor.tell(Inc).await.map_err(err)?;
    }
    actor.ask(Get).await.map_err(err)
}

/// One sender → one actor: `n` messages, then an ask returning the count.
pub async fn tell_1to1(n: u64) -> Result<Duration, BenchError> {
    let actor = spawn_started().await?;
    let start = Instant::now();
    let got = send_counted(&actor, n).await?;
    let elapsed = start.elapsed();
    check_count("kameo", got, n)?;
    stop(&actor).await?;
    Ok(elapsed)
}

/// [`PAIRS`] senders, each to its own actor, `n` messages each.
pub async fn tell_n_to_n(n: u64) -> Result<Duration, BenchError> {
    let mut actors = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        actors.push(spawn_started().await?);
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
        check_count("kameo", got, n)?;
    }
    for actor in &actors {
        stop(actor).await?;
    }
    Ok(elapsed)
}

/// `n` sequential asks; the last reply must be `n`.
pub async fn ask(n: u64) -> Result<Duration, BenchError> {
    let actor = spawn_started().await?;
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        last = actor.ask(Inc).await.map_err(err)?;
    }
    let elapsed = start.elapsed();
    check_count("kameo", last, n)?;
    stop(&actor).await?;
    Ok(elapsed)
}

/// `n` times: spawn, stop, wait until stopped.
pub async fn spawn_stop(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for _ in 0..n {
        let actor = spawn();
        stop(&actor).await?;
    }
    Ok(start.elapsed())
}

/// `n` actors spawned, then all told to stop, then all waited for.
pub async fn spawn_all_stop_all(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut actors = Vec::with_capacity(usize::try_from(n)?);
    for _ in 0..n {
        actors.push(spawn());
    }
    for actor in &actors {
        actor.stop_gracefully().await.map_err(err)?;
    }
    for actor in &actors {
        actor.wait_for_shutdown().await;
    }
    Ok(start.elapsed())
}

/// Live heap per idle actor (see [`crate::ackor_impl::idle_memory`]).
pub async fn idle_memory(n: usize) -> Result<MemoryReport, BenchError> {
    let warm = spawn_started().await?;
    stop(&warm).await?;
    let mut actors = Vec::with_capacity(n);
    let before = alloc_counter::snapshot();
    for _ in 0..n {
        actors.push(spawn());
    }
    for actor in &actors {
        actor.ask(Get).await.map_err(err)?;
    }
    let report = alloc_counter::snapshot().per_item_since(&before, n)?;
    for actor in &actors {
        stop(actor).await?;
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
            tell_1to1(20_000).await.unwrap();
            tell_n_to_n(3000).await.unwrap();
            ask(500).await.unwrap();
            spawn_stop(100).await.unwrap();
            spawn_all_stop_all(300).await.unwrap();
        })
        .unwrap();
    }
}
