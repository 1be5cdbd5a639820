//! Fan-out and gather with reentrancy: one aggregator asks 20 workers, stays
//! responsive while their answers come in, and answers its own caller once every
//! continuation has run.
//!
//! - The aggregator is spawned with `Reentrancy::allow_all().max_in_flight(8)`: at most
//!   8 workers are busy on its behalf at once. It starts as many requests as the cap
//!   allows (`ctx.request` says `ReentrancyInFlightLimit` beyond it), and each
//!   continuation, having freed a slot, starts the next worker in the queue.
//! - The workers have varied simulated latencies (10–59 ms); worker 5 fails, and
//!   worker 2 takes 400 ms, too slow for the 150 ms per-request timeout.
//! - While the requests are in flight, the aggregator answers `Status` queries.
//! - The caller's `Gather` is answered with a deferred reply (`ctx.defer_reply()` and a
//!   `ReplyHandle`) once every request has completed: results, errors and timeouts
//!   counted separately.
//!
//! Run with `cargo run -p ackor --example fan_out`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, Reentrancy, Reply, ReplyHandle,
    RequestOptions, SpawnOptions,
};

/// How many workers the aggregator asks.
const WORKERS: usize = 20;
/// The most requests the aggregator has in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// The worker that answers with an error.
const FAILING: usize = 5;
/// The worker that answers too late.
const SLOW: usize = 2;
/// The slow worker's latency.
const SLOW_LATENCY: Duration = Duration::from_millis(400);
/// How long the aggregator waits for each worker.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(150);

// ------------------------------------------------------------------ workers

/// A worker: squares its input after a simulated latency, or fails.
struct Worker {
    id: usize,
    latency: Duration,
    fails: bool,
}

impl Actor for Worker {
    type Args = usize;
    async fn init(id: usize, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let latency = if id == SLOW {
            SLOW_LATENCY
        } else {
            Duration::from_millis(10 + (id as u64 * 37) % 50)
        };
        Ok(Worker {
            id,
            latency,
            fails: id == FAILING,
        })
    }
}

/// Asks a worker to square its input.
struct Compute(u64);
impl Message for Compute {
    type Reply = u64;
}

impl Handler<Compute> for Worker {
    type Return = Reply<u64>;
    async fn handle(&mut self, msg: Compute, _ctx: &mut Context<Self>) -> Reply<u64> {
        tokio::time::sleep(self.latency).await;
        if self.fails {
            Reply::Error(Error::rejected(format!("worker {} lost its disk", self.id)))
        } else {
            Reply::Value(msg.0 * msg.0)
        }
    }
}

// ------------------------------------------------------------------ the aggregator

/// Asks every worker, aggregates their answers in continuations.
struct Aggregator {
    workers: Vec<ActorRef<Worker>>,
    job: Option<Job>,
}

/// One gathering in progress.
struct Job {
    /// The caller of `Gather`, answered when everything is in.
    caller: ReplyHandle<Summary>,
    /// Workers not asked yet (waiting for a free slot).
    queue: VecDeque<usize>,
    summary: Summary,
    started: Instant,
}

/// What a gathering found.
#[derive(Debug, Clone, Default)]
struct Summary {
    /// Workers that answered, with their answer.
    results: Vec<(usize, u64)>,
    /// Workers that answered with an error (or could not be asked).
    errors: Vec<(usize, Error)>,
    /// Workers that did not answer within the request timeout.
    timed_out: Vec<usize>,
    /// The most requests in flight at once.
    peak_in_flight: usize,
    /// From `Gather` to the last continuation.
    elapsed: Duration,
}

impl Summary {
    /// Workers accounted for so far.
    fn done(&self) -> usize {
        self.results.len() + self.errors.len() + self.timed_out.len()
    }
}

impl Actor for Aggregator {
    type Args = Vec<ActorRef<Worker>>;
    async fn init(workers: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Aggregator { workers, job: None })
    }
}

impl Aggregator {
    /// Asks queued workers until the queue is empty or the in-flight cap is reached.
    fn launch(&mut self, ctx: &mut Context<Self>) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let opts = RequestOptions::new().with_request_timeout(REQUEST_TIMEOUT);
        while let Some(id) = job.queue.pop_front() {
            match ctx.request(&self.workers[id], Compute(id as u64), opts) {
                Ok(call) => call.then(move |this, ctx, outcome| this.completed(ctx, id, outcome)),
                Err(Error::ReentrancyInFlightLimit) => {
                    // Every slot is taken: a continuation will start this one.
                    job.queue.push_front(id);
                    break;
                }
                Err(e) => job.summary.errors.push((id, e)),
            }
            job.summary.peak_in_flight = job.summary.peak_in_flight.max(ctx.requests_in_flight());
        }
    }

    /// The continuation of the request to worker `id`.
    fn completed(&mut self, ctx: &mut Context<Self>, id: usize, outcome: Result<u64, Error>) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        match outcome {
            Ok(value) => job.summary.results.push((id, value)),
            Err(Error::RequestTimeout) => job.summary.timed_out.push(id),
            Err(e) => job.summary.errors.push((id, e)),
        }
        self.launch(ctx);
        self.finish_if_done();
    }

    /// Answers the caller once every worker is accounted for.
    fn finish_if_done(&mut self) {
        if self
            .job
            .as_ref()
            .is_some_and(|job| job.summary.done() == self.workers.len())
            && let Some(mut job) = self.job.take()
        {
            job.summary.elapsed = job.started.elapsed();
            job.caller.reply(job.summary);
        }
    }
}

/// Asks every worker; answered with what they said once all have answered or timed out.
struct Gather;
impl Message for Gather {
    type Reply = Summary;
}

impl Handler<Gather> for Aggregator {
    type Return = Reply<Summary>;
    async fn handle(&mut self, _: Gather, ctx: &mut Context<Self>) -> Reply<Summary> {
        if self.job.is_some() {
            return Reply::Error(Error::rejected("a gathering is already running"));
        }
        let Some(caller) = ctx.defer_reply::<Summary>() else {
            return Reply::Error(Error::rejected("Gather must be called, not sent"));
        };
        self.job = Some(Job {
            caller,
            queue: (0..self.workers.len()).collect(),
            summary: Summary::default(),
            started: Instant::now(),
        });
        self.launch(ctx);
        self.finish_if_done();
        Reply::Deferred
    }
}

/// How the aggregator is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    /// Whether a gathering is running.
    gathering: bool,
    /// Requests in flight.
    in_flight: usize,
    /// Workers accounted for.
    done: usize,
    /// Workers waiting for a free slot.
    queued: usize,
}

/// Asks for the aggregator's [`Status`].
struct GetStatus;
impl Message for GetStatus {
    type Reply = Status;
}

impl Handler<GetStatus> for Aggregator {
    type Return = Status;
    async fn handle(&mut self, _: GetStatus, ctx: &mut Context<Self>) -> Status {
        Status {
            gathering: self.job.is_some(),
            in_flight: ctx.requests_in_flight(),
            done: self.job.as_ref().map_or(0, |j| j.summary.done()),
            queued: self.job.as_ref().map_or(0, |j| j.queue.len()),
        }
    }
}

// ------------------------------------------------------------------ the story

/// Fails the example unless `cond` holds.
fn check(cond: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if cond {
        Ok(())
    } else {
        Err(format!("expected: {what}").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::builder().name("fanout@local").start().await?;
    let workers = (0..WORKERS)
        .map(|id| node.spawn::<Worker>(id))
        .collect::<Result<Vec<_>, _>>()?;
    let aggregator = node.spawn_with::<Aggregator>(
        workers,
        SpawnOptions::default().reentrancy(Reentrancy::allow_all().max_in_flight(MAX_IN_FLIGHT)),
    )?;
    println!(
        "{WORKERS} workers; worker {FAILING} fails, worker {SLOW} takes {SLOW_LATENCY:?} \
         (timeout {REQUEST_TIMEOUT:?}); at most {MAX_IN_FLIGHT} requests in flight."
    );

    let mut gather = tokio::spawn({
        let aggregator = aggregator.clone();
        async move { aggregator.call(Gather).await }
    });

    // The aggregator answers status queries while its requests are in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut busy_answers = 0;
    let summary = loop {
        let asked = Instant::now();
        let status = aggregator.call(GetStatus).await?;
        if status.gathering {
            println!(
                "   status (answered in {:?}): {} in flight, {} done, {} queued",
                asked.elapsed(),
                status.in_flight,
                status.done,
                status.queued
            );
            check(status.in_flight <= MAX_IN_FLIGHT, "at most 8 requests in flight")?;
            if status.in_flight > 0 {
                busy_answers += 1;
            }
        }
        tokio::select! {
            joined = &mut gather => break joined??,
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
            _ = tokio::time::sleep_until(deadline) => return Err("no summary within 5 s".into()),
        }
    };

    println!("Gather answered after {:?}:", summary.elapsed);
    let mut ok: Vec<usize> = summary.results.iter().map(|(id, _)| *id).collect();
    ok.sort_unstable();
    let sum: u64 = summary.results.iter().map(|(_, v)| v).sum();
    println!("   results:   {} (sum of squares {sum})", ok.len());
    for (id, e) in &summary.errors {
        println!("   error:     worker {id}: {e}");
    }
    for id in &summary.timed_out {
        println!("   timed out: worker {id}");
    }
    println!("   peak in flight: {}", summary.peak_in_flight);

    let expected_ok: Vec<usize> = (0..WORKERS).filter(|id| ![FAILING, SLOW].contains(id)).collect();
    let expected_sum: u64 = expected_ok.iter().map(|&id| (id * id) as u64).sum();
    check(busy_answers > 0, "a status answer while requests were in flight")?;
    check(
        ok == expected_ok,
        "a result from every worker but the failing and slow ones",
    )?;
    check(sum == expected_sum, "the squares of their ids")?;
    check(
        matches!(summary.errors.as_slice(), [(FAILING, Error::Rejected(_))]),
        "one error, from the failing worker",
    )?;
    check(summary.timed_out == [SLOW], "one timeout, of the slow worker")?;
    check(
        summary.peak_in_flight == MAX_IN_FLIGHT,
        "the in-flight cap to be reached and never exceeded",
    )?;
    let after = aggregator.call(GetStatus).await?;
    check(
        after.in_flight == 0 && !after.gathering,
        "nothing in flight after the reply",
    )?;

    node.shutdown().await;
    println!("Every worker accounted for: 18 results, 1 error, 1 timeout.");
    Ok(())
}
