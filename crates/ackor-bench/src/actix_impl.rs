//! actix: the counter actor and the benchmarked operations.
//!
//! Configuration: an `actix_rt::System` (a current-thread tokio runtime plus a
//! `LocalSet`) made once by the bench; every function here runs inside its
//! `block_on`, so the sender and the actor share that one thread, as in a plain actix
//! program. Mailbox capacity is set to [`MAILBOX`] with `set_mailbox_capacity` when
//! the actor is created (actix's default is 16). actix has no waiting fire-and-forget
//! send (`do_send` ignores the bound), so tell is `try_send` and, while the mailbox is
//! full, `yield_now` to let the actor drain it: bounded like the others. Ask is
//! `send(..).await`; stop is a `Stop` message calling `ctx.stop()`, and the wait ends
//! when the actor's `stopped` hook fires a oneshot. `tell_n_to_n` spreads the pairs
//! over two extra `Arbiter` threads (actix's way of using more cores), each sender on
//! its actor's arbiter.

use std::time::{Duration, Instant};

use actix::dev::SendError;
use actix::{Actor, ActorContext, Addr, Context, Handler, Message};
use actix_rt::{Arbiter, ArbiterHandle};
use tokio::sync::oneshot;

use crate::alloc_counter::{self, MemoryReport};
use crate::remote::Latencies;
use crate::{BenchError, MAILBOX, PAIRS, check_count};

/// Counts the messages it gets.
#[derive(Debug)]
pub struct Counter {
    n: u64,
    on_stopped: Option<oneshot::Sender<()>>,
}

impl Actor for Counter {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(tx) = self.on_stopped.take() {
            let _ = tx.send(());
        }
    }
}

/// Adds one; the reply is the new count (dropped for a tell).
#[derive(Debug)]
pub struct Inc;

impl Message for Inc {
    type Result = u64;
}

/// Asks for the count.
#[derive(Debug)]
pub struct Get;

impl Message for Get {
    type Result = u64;
}

/// Stops the actor.
#[derive(Debug)]
pub struct Stop;

impl Message for Stop {
    type Result = ();
}

impl Handler<Inc> for Counter {
    type Result = u64;

    fn handle(&mut self, _msg: Inc, _ctx: &mut Context<Self>) -> u64 {
        self.n += 1;
        self.n
    }
}

impl Handler<Get> for Counter {
    type Result = u64;

    fn handle(&mut self, _msg: Get, _ctx: &mut Context<Self>) -> u64 {
        self.n
    }
}

impl Handler<Stop> for Counter {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("actix: {e}").into()
}

fn counter(ctx: &mut Context<Counter>, on_stopped: Option<oneshot::Sender<()>>) -> Counter {
    ctx.set_mailbox_capacity(MAILBOX);
    Counter { n: 0, on_stopped }
}

/// Starts a counter on the current arbiter.
fn spawn(on_stopped: Option<oneshot::Sender<()>>) -> Addr<Counter> {
    Counter::create(|ctx| counter(ctx, on_stopped))
}

async fn stop(actor: &Addr<Counter>, stopped: oneshot::Receiver<()>) -> Result<(), BenchError> {
    actor.do_send(Stop);
    stopped.await.map_err(err)
}

/// Sends `n` messages, yielding while the mailbox is full, then asks for the count.
async fn send_counted(actor: &Addr<Counter>, n: u64) -> Result<u64, BenchError> {
    let mut sent = 0;
    while sent < n {
        match actor.try_send(Inc) {
            Ok(()) => sent += 1,
            Err(SendError::Full(_)) => tokio::task::yield_now().await,
            Err(SendError::Closed(_)) => return Err("actix: mailbox closed".into()),
        }
    }
    actor.send(Get).await.map_err(err)
}

/// Makes the arbiters `tell_n_to_n` spreads its pairs over (call with a `System`
/// current on this thread).
pub fn arbiters() -> Vec<Arbiter> {
    (0..2).map(|_| Arbiter::new()).collect()
}

/// Stops the arbiters and joins their threads.
pub fn stop_arbiters(arbiters: Vec<Arbiter>) {
    for arbiter in arbiters {
        arbiter.stop();
        let _ = arbiter.join();
    }
}

/// One sender → one actor on the same thread: `n` messages, then a `send` returning
/// the count.
pub async fn tell_1to1(n: u64) -> Result<Duration, BenchError> {
    let (tx, stopped) = oneshot::channel();
    let actor = spawn(Some(tx));
    actor.send(Get).await.map_err(err)?;
    let start = Instant::now();
    let got = send_counted(&actor, n).await?;
    let elapsed = start.elapsed();
    check_count("actix", got, n)?;
    stop(&actor, stopped).await?;
    Ok(elapsed)
}

/// [`PAIRS`] senders, each to its own actor on the same arbiter, `n` messages each;
/// the pairs are spread over `arbiters`.
pub async fn tell_n_to_n(arbiters: &[ArbiterHandle], n: u64) -> Result<Duration, BenchError> {
    if arbiters.is_empty() {
        return Err("actix: no arbiter".into());
    }
    let mut actors = Vec::with_capacity(PAIRS);
    for i in 0..PAIRS {
        let (tx, stopped) = oneshot::channel();
        let actor = Counter::start_in_arbiter(&arbiters[i % arbiters.len()], |ctx| counter(ctx, Some(tx)));
        actor.send(Get).await.map_err(err)?;
        actors.push((actor, stopped));
    }
    let start = Instant::now();
    let mut done = Vec::with_capacity(PAIRS);
    for (i, (actor, _)) in actors.iter().enumerate() {
        let (tx, rx) = oneshot::channel();
        let actor = actor.clone();
        let spawned = arbiters[i % arbiters.len()].spawn(async move {
            let _ = tx.send(send_counted(&actor, n).await);
        });
        if !spawned {
            return Err("actix: arbiter stopped".into());
        }
        done.push(rx);
    }
    let mut counts = Vec::with_capacity(PAIRS);
    for rx in done {
        counts.push(rx.await.map_err(err)??);
    }
    let elapsed = start.elapsed();
    for got in counts {
        check_count("actix", got, n)?;
    }
    for (actor, stopped) in actors {
        stop(&actor, stopped).await?;
    }
    Ok(elapsed)
}

/// `n` sequential `send(..).await`; the last reply must be `n`.
pub async fn ask(n: u64) -> Result<Duration, BenchError> {
    let (tx, stopped) = oneshot::channel();
    let actor = spawn(Some(tx));
    actor.send(Get).await.map_err(err)?;
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        last = actor.send(Inc).await.map_err(err)?;
    }
    let elapsed = start.elapsed();
    check_count("actix", last, n)?;
    stop(&actor, stopped).await?;
    Ok(elapsed)
}

/// [`ask`], timing each request (see `ackor_impl::ask_latency`).
pub async fn ask_latency(n: u64) -> Result<(Duration, Latencies), BenchError> {
    let (tx, stopped) = oneshot::channel();
    let actor = spawn(Some(tx));
    actor.send(Get).await.map_err(err)?;
    let (elapsed, latencies, last) =
        Latencies::time_each(n, || async { actor.send(Inc).await.map_err(err) }).await?;
    check_count("actix", last.unwrap_or(0), n)?;
    stop(&actor, stopped).await?;
    Ok((elapsed, latencies))
}

/// `n` times: start, stop, wait until `stopped` ran.
pub async fn spawn_stop(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for _ in 0..n {
        let (tx, stopped) = oneshot::channel();
        let actor = spawn(Some(tx));
        stop(&actor, stopped).await?;
    }
    Ok(start.elapsed())
}

/// `n` actors spawned, then all told to stop, then all waited for.
pub async fn spawn_all_stop_all(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut actors = Vec::with_capacity(usize::try_from(n)?);
    for _ in 0..n {
        let (tx, stopped) = oneshot::channel();
        actors.push((spawn(Some(tx)), stopped));
    }
    for (actor, _) in &actors {
        actor.do_send(Stop);
    }
    for (_, stopped) in actors {
        stopped.await.map_err(err)?;
    }
    Ok(start.elapsed())
}

/// Live heap per idle actor (see [`crate::ackor_impl::idle_memory`]). The actors
/// carry no stop signal here; the function waits until every address is
/// disconnected instead.
pub async fn idle_memory(n: usize) -> Result<MemoryReport, BenchError> {
    let (tx, stopped) = oneshot::channel();
    let warm = spawn(Some(tx));
    warm.send(Get).await.map_err(err)?;
    stop(&warm, stopped).await?;
    let mut actors = Vec::with_capacity(n);
    let before = alloc_counter::snapshot();
    for _ in 0..n {
        actors.push(spawn(None));
    }
    for actor in &actors {
        actor.send(Get).await.map_err(err)?;
    }
    let report = alloc_counter::snapshot().per_item_since(&before, n)?;
    for actor in &actors {
        actor.do_send(Stop);
    }
    while actors.iter().any(|a| a.connected()) {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_operation_counts_right() {
        let system = actix_rt::System::new();
        let arbiters = arbiters();
        let handles: Vec<_> = arbiters.iter().map(|a| a.handle()).collect();
        system.block_on(async {
            tell_1to1(20_000).await.unwrap();
            tell_n_to_n(&handles, 3000).await.unwrap();
            ask(500).await.unwrap();
            spawn_stop(100).await.unwrap();
            spawn_all_stop_all(300).await.unwrap();
        });
        stop_arbiters(arbiters);
    }
}
