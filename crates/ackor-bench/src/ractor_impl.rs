//! ractor: the counter actor and the benchmarked operations.
//!
//! Configuration: default features (`tokio_runtime`, `message_span_propogation`);
//! ractor's mailbox is unbounded and has no bound to set, so tell (`cast`) never waits
//! and the sender can run ahead of the actor. Ask is `call(.., None)` (no timeout),
//! spawn is `Actor::spawn(None, ..)` (it returns once `pre_start` has run), stop is
//! `stop_and_wait(None, None)`.

use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::alloc_counter::{self, MemoryReport};
use crate::{BenchError, PAIRS, check_count};

/// Counts the messages it gets; the count is its state.
#[derive(Debug)]
pub struct Counter;

/// The messages of [`Counter`].
#[derive(Debug)]
pub enum Msg {
    /// Adds one.
    Inc,
    /// Adds one and replies with the new count.
    IncAsk(RpcReplyPort<u64>),
    /// Replies with the count.
    Get(RpcReplyPort<u64>),
}

// The bench crate also depends on `ractor_cluster`, which turns on ractor's `cluster`
// feature; with it ractor no longer implements `Message` for every type, and a
// local-only message says so with an empty impl (what `#[derive(RactorMessage)]` writes).
impl ractor::Message for Msg {}

impl Actor for Counter {
    type Msg = Msg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Msg>, _args: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(&self, _myself: ActorRef<Msg>, msg: Msg, n: &mut u64) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Inc => *n += 1,
            Msg::IncAsk(reply) => {
                *n += 1;
                let _ = reply.send(*n);
            }
            Msg::Get(reply) => {
                let _ = reply.send(*n);
            }
        }
        Ok(())
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("ractor: {e}").into()
}

async fn spawn() -> Result<ActorRef<Msg>, BenchError> {
    let (actor, _join) = Actor::spawn(None, Counter, ()).await.map_err(err)?;
    Ok(actor)
}

/// `n` actors spawned, then all told to stop, then all waited for.
pub async fn spawn_all_stop_all(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut actors = Vec::with_capacity(usize::try_from(n)?);
    for _ in 0..n {
        actors.push(Actor::spawn(None, Counter, ()).await.map_err(err)?);
    }
    for (actor, _) in &actors {
        actor.stop(None);
    }
    for (_, join) in actors {
        join.await.map_err(err)?;
    }
    Ok(start.elapsed())
}

async fn call(actor: &ActorRef<Msg>, msg: fn(RpcReplyPort<u64>) -> Msg) -> Result<u64, BenchError> {
    match actor.call(msg, None).await.map_err(err)? {
        CallResult::Success(v) => Ok(v),
        CallResult::Timeout => Err("ractor: call timed out".into()),
        CallResult::SenderError => Err("ractor: reply port dropped".into()),
    }
}

async fn stop(actor: &ActorRef<Msg>) -> Result<(), BenchError> {
    actor.stop_and_wait(None, None).await.map_err(err)
}

async fn send_counted(actor: &ActorRef<Msg>, n: u64) -> Result<u64, BenchError> {
    for _ in 0..n {
        actor.cast(Msg::Inc).map_err(err)?;
    }
    call(actor, Msg::Get).await
}

/// One sender → one actor: `n` messages, then a call returning the count.
pub async fn tell_1to1(n: u64) -> Result<Duration, BenchError> {
    let actor = spawn().await?;
    let start = Instant::now();
    let got = send_counted(&actor, n).await?;
    let elapsed = start.elapsed();
    check_count("ractor", got, n)?;
    stop(&actor).await?;
    Ok(elapsed)
}

/// [`PAIRS`] senders, each to its own actor, `n` messages each.
pub async fn tell_n_to_n(n: u64) -> Result<Duration, BenchError> {
    let mut actors = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        actors.push(spawn().await?);
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
        check_count("ractor", got, n)?;
    }
    for actor in &actors {
        stop(actor).await?;
    }
    Ok(elapsed)
}

/// `n` sequential calls; the last reply must be `n`.
pub async fn ask(n: u64) -> Result<Duration, BenchError> {
    let actor = spawn().await?;
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        last = call(&actor, Msg::IncAsk).await?;
    }
    let elapsed = start.elapsed();
    check_count("ractor", last, n)?;
    stop(&actor).await?;
    Ok(elapsed)
}

/// `n` times: spawn, stop, wait until stopped.
pub async fn spawn_stop(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for _ in 0..n {
        let actor = spawn().await?;
        stop(&actor).await?;
    }
    Ok(start.elapsed())
}

/// Live heap per idle actor (see [`crate::ackor_impl::idle_memory`]).
pub async fn idle_memory(n: usize) -> Result<MemoryReport, BenchError> {
    let warm = spawn().await?;
    call(&warm, Msg::Get).await?;
    stop(&warm).await?;
    let mut actors = Vec::with_capacity(n);
    let before = alloc_counter::snapshot();
    for _ in 0..n {
        actors.push(spawn().await?);
    }
    for actor in &actors {
        call(actor, Msg::Get).await?;
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
