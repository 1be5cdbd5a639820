//! Bare tokio, the floor: a task owning a bounded `mpsc` receiver ([`MAILBOX`]) that
//! drains it with `recv_many`; tell is `send(..).await`, ask carries a `oneshot`
//! sender, stop is dropping the last sender and awaiting the task's `JoinHandle`.
//! No actor features: no panic isolation, no identity, no priorities.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::alloc_counter::{self, MemoryReport};
use crate::remote::Latencies;
use crate::{BenchError, MAILBOX, PAIRS, check_count};

/// The messages of the counter task.
#[derive(Debug)]
pub enum Msg {
    /// Adds one.
    Inc,
    /// Adds one and replies with the new count.
    IncAsk(oneshot::Sender<u64>),
    /// Replies with the count.
    Get(oneshot::Sender<u64>),
}

/// A counter task: its mailbox and its handle.
#[derive(Debug)]
pub struct CounterTask {
    /// The mailbox.
    pub tx: mpsc::Sender<Msg>,
    /// Resolves when the task ends (after the last sender is dropped).
    pub join: JoinHandle<u64>,
}

/// Spawns a counter task on the current runtime.
pub fn spawn() -> CounterTask {
    let (tx, mut rx) = mpsc::channel::<Msg>(MAILBOX);
    let join = tokio::spawn(async move {
        let mut n = 0;
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, MAILBOX).await > 0 {
            for msg in batch.drain(..) {
                match msg {
                    Msg::Inc => n += 1,
                    Msg::IncAsk(reply) => {
                        n += 1;
                        let _ = reply.send(n);
                    }
                    Msg::Get(reply) => {
                        let _ = reply.send(n);
                    }
                }
            }
        }
        n
    });
    CounterTask { tx, join }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("tokio: {e}").into()
}

async fn call(tx: &mpsc::Sender<Msg>, msg: fn(oneshot::Sender<u64>) -> Msg) -> Result<u64, BenchError> {
    let (reply, answer) = oneshot::channel();
    tx.send(msg(reply)).await.map_err(err)?;
    answer.await.map_err(err)
}

async fn spawn_started() -> Result<CounterTask, BenchError> {
    let task = spawn();
    call(&task.tx, Msg::Get).await?;
    Ok(task)
}

async fn stop(task: CounterTask) -> Result<u64, BenchError> {
    drop(task.tx);
    task.join.await.map_err(err)
}

async fn send_counted(tx: &mpsc::Sender<Msg>, n: u64) -> Result<u64, BenchError> {
    for _ in 0..n {
        tx.send(Msg::Inc).await.map_err(err)?;
    }
    call(tx, Msg::Get).await
}

/// One sender → one task: `n` messages, then a request returning the count.
pub async fn tell_1to1(n: u64) -> Result<Duration, BenchError> {
    let task = spawn_started().await?;
    let start = Instant::now();
    let got = send_counted(&task.tx, n).await?;
    let elapsed = start.elapsed();
    check_count("tokio", got, n)?;
    stop(task).await?;
    Ok(elapsed)
}

/// [`PAIRS`] senders, each to its own task, `n` messages each.
pub async fn tell_n_to_n(n: u64) -> Result<Duration, BenchError> {
    let mut tasks = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        tasks.push(spawn_started().await?);
    }
    let start = Instant::now();
    let senders: Vec<_> = tasks
        .iter()
        .map(|task| {
            let tx = task.tx.clone();
            tokio::spawn(async move { send_counted(&tx, n).await })
        })
        .collect();
    let mut counts = Vec::with_capacity(PAIRS);
    for sender in senders {
        counts.push(sender.await??);
    }
    let elapsed = start.elapsed();
    for got in counts {
        check_count("tokio", got, n)?;
    }
    for task in tasks {
        stop(task).await?;
    }
    Ok(elapsed)
}

/// `n` sequential requests; the last reply must be `n`.
pub async fn ask(n: u64) -> Result<Duration, BenchError> {
    let task = spawn_started().await?;
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        last = call(&task.tx, Msg::IncAsk).await?;
    }
    let elapsed = start.elapsed();
    check_count("tokio", last, n)?;
    stop(task).await?;
    Ok(elapsed)
}

/// [`ask`], timing each request: the spread (p50, p99) of the floor, for ackor's and
/// actix's `ask_latency`. (The clock reads add some tens of nanoseconds to each.)
pub async fn ask_latency(n: u64) -> Result<(Duration, Latencies), BenchError> {
    let task = spawn_started().await?;
    let (elapsed, latencies, last) = Latencies::time_each(n, || call(&task.tx, Msg::IncAsk)).await?;
    check_count("tokio", last.unwrap_or(0), n)?;
    stop(task).await?;
    Ok((elapsed, latencies))
}

/// Like [`ask`], but each wait for the reply is wrapped in `tokio::time::timeout(5 s)`,
/// as ackor's `call` waits under its default 5 s call timeout: what a per-request tokio
/// timer costs on its own.
pub async fn ask_with_timeout(n: u64) -> Result<Duration, BenchError> {
    let task = spawn_started().await?;
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..n {
        let (reply, answer) = oneshot::channel();
        task.tx.send(Msg::IncAsk(reply)).await.map_err(err)?;
        last = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .map_err(err)?
            .map_err(err)?;
    }
    let elapsed = start.elapsed();
    check_count("tokio", last, n)?;
    stop(task).await?;
    Ok(elapsed)
}

/// `n` times: spawn a counter task, drop its sender, await its end.
pub async fn spawn_stop(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for _ in 0..n {
        stop(spawn()).await?;
    }
    Ok(start.elapsed())
}

/// `n` counter tasks spawned, then all their senders dropped, then all awaited.
pub async fn spawn_all_stop_all(n: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut joins = Vec::with_capacity(usize::try_from(n)?);
    for _ in 0..n {
        joins.push(spawn().join);
    }
    for join in joins {
        join.await.map_err(err)?;
    }
    Ok(start.elapsed())
}

/// Live heap per idle counter task (see [`crate::ackor_impl::idle_memory`]).
pub async fn idle_memory(n: usize) -> Result<MemoryReport, BenchError> {
    stop(spawn_started().await?).await?;
    let mut tasks = Vec::with_capacity(n);
    let before = alloc_counter::snapshot();
    for _ in 0..n {
        tasks.push(spawn());
    }
    for task in &tasks {
        call(&task.tx, Msg::Get).await?;
    }
    let report = alloc_counter::snapshot().per_item_since(&before, n)?;
    for task in tasks {
        stop(task).await?;
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
            ask_with_timeout(500).await.unwrap();
            spawn_stop(100).await.unwrap();
            spawn_all_stop_all(300).await.unwrap();
        })
        .unwrap();
    }
}
