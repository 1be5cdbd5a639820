//! Reentrancy: non-blocking requests with continuations
//! ([`Context::request`] + [`RequestCall::then`](ackor::RequestCall::then)) against
//! blocking calls ([`Context::call`]), and what an actor with requests in flight still
//! serves. Used by `benches/reentrancy.rs`.
//!
//! Two actors: a [`Callee`] that answers at once ([`Echo`]), never until told
//! ([`Park`]) or after a delay ([`Slow`]), and a [`Driver`], the actor under test.
//!
//! | function | what is timed |
//! |---|---|
//! | [`roundtrip`] | one call to the driver, which makes `n` sequential round trips to the callee ([`RoundTrip`]: `ctx.call(..).await` in a loop inside one handler, or a chain of requests where each continuation sends the next request) and then replies; every echo is checked, and the number of rounds must be `n` |
//! | [`LocalEnv::serve`] | the driver holds requests in flight ([`Serve`]) while one task floods it with `n` plain messages ([`Load`]); the driver's final count must be `n`, and the requests must still be in flight at the end |
//! | [`LocalEnv::hold_probe`] | not a throughput: how many plain messages an `AllowAll` and a `StashNonReentrant` driver handle while a request is parked, and how long the held ones take once it is answered |
//!
//! Local: one node (user lanes of [`MAILBOX`] messages) on the runtime. Remote
//! ([`RemoteEnv`]): two nodes on loopback in one process, the driver on A, the callee on
//! B, reached through A's remote handle. Both set a call timeout of [`CALL_TIMEOUT`],
//! which is also the default timeout of every request (kept by the actor's timer unless
//! its options say none, as in [`RoundTrip::RequestNoTimeout`]).

use std::time::{Duration, Instant};

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, ExitReason, Handler, Message, Node, Reentrancy, RemoteConfig,
    RemoteMessage, RemoteMessages, Reply, ReplyHandle, RequestOptions, SpawnOptions,
};
use serde::{Deserialize, Serialize};

use crate::remote::Latencies;
use crate::{BenchError, MAILBOX, check_count};

/// The nodes' call timeout, and so the default timeout of every request: far above any
/// sample, so that nothing parked times out.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The cookie of the two remote nodes.
const COOKIE: &str = "ackor-bench-reentrancy";

// ------------------------------------------------------------------ the callee

/// Answers the driver's requests and calls.
#[derive(Debug)]
pub struct Callee {
    parked: Vec<ReplyHandle<u64>>,
}

impl Actor for Callee {
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Callee { parked: Vec::new() })
    }

    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Echo>();
    }
}

/// Answers its number at once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Echo(pub u64);

impl Message for Echo {
    type Reply = u64;
}

impl RemoteMessage for Echo {
    const TAG: &'static str = "bench.reentrancy.echo";
}

impl Handler<Echo> for Callee {
    type Return = u64;

    async fn handle(&mut self, msg: Echo, _ctx: &mut Context<Self>) -> u64 {
        msg.0
    }
}

/// Answered (with 0) only by a later [`ReleaseAll`].
#[derive(Debug)]
pub struct Park;

impl Message for Park {
    type Reply = u64;
}

impl Handler<Park> for Callee {
    type Return = Reply<u64>;

    async fn handle(&mut self, _msg: Park, ctx: &mut Context<Self>) -> Reply<u64> {
        match ctx.defer_reply::<u64>() {
            Some(handle) => {
                self.parked.push(handle);
                Reply::Deferred
            }
            None => Reply::Error(Error::rejected("Park must be called or requested")),
        }
    }
}

/// Answered (with 1) after the delay, by a task of its own: the callee goes on.
#[derive(Debug)]
pub struct Slow(pub Duration);

impl Message for Slow {
    type Reply = u64;
}

impl Handler<Slow> for Callee {
    type Return = Reply<u64>;

    async fn handle(&mut self, msg: Slow, ctx: &mut Context<Self>) -> Reply<u64> {
        match ctx.defer_reply::<u64>() {
            Some(handle) => {
                tokio::spawn(async move {
                    tokio::time::sleep(msg.0).await;
                    handle.reply(1);
                });
                Reply::Deferred
            }
            None => Reply::Error(Error::rejected("Slow must be called or requested")),
        }
    }
}

/// Answers every parked request; the reply is how many there were.
#[derive(Debug)]
pub struct ReleaseAll;

impl Message for ReleaseAll {
    type Reply = u64;
}

impl Handler<ReleaseAll> for Callee {
    type Return = u64;

    async fn handle(&mut self, _msg: ReleaseAll, _ctx: &mut Context<Self>) -> u64 {
        let n = self.parked.len() as u64;
        for handle in self.parked.drain(..) {
            handle.reply(0);
        }
        n
    }
}

/// How many requests are parked.
#[derive(Debug)]
pub struct ParkedCount;

impl Message for ParkedCount {
    type Reply = u64;
}

impl Handler<ParkedCount> for Callee {
    type Return = u64;

    async fn handle(&mut self, _msg: ParkedCount, _ctx: &mut Context<Self>) -> u64 {
        self.parked.len() as u64
    }
}

// ------------------------------------------------------------------ the driver

/// The actor under test: makes round trips to a [`Callee`], keeps requests in flight,
/// counts the plain messages it serves.
#[derive(Debug)]
pub struct Driver {
    callee: ActorRef<Callee>,
    chain: Option<ChainState>,
    /// Plain [`Inc`]s handled.
    served: u64,
    /// Continuations of [`Fill`] requests that ran with a reply.
    completed: u64,
    /// Continuations of [`Fill`] requests that ran with an error, or requests that could
    /// not be sent again.
    failed: u64,
    /// Requests sent by [`Fill`] (first ones and churn).
    issued: u64,
    /// While set, each completed [`Slow`] request is sent again (with this delay and
    /// these options).
    churn: Option<(Duration, RequestOptions)>,
}

impl Actor for Driver {
    type Args = ActorRef<Callee>;

    async fn init(callee: ActorRef<Callee>, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Driver {
            callee,
            chain: None,
            served: 0,
            completed: 0,
            failed: 0,
            issued: 0,
            churn: None,
        })
    }
}

/// How the driver makes its `n` sequential round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundTrip {
    /// `ctx.call(&callee, Echo(i)).await` in a loop inside one handler.
    Call,
    /// `ctx.request(&callee, Echo(i), RequestOptions::new())`; the continuation sends
    /// the next request (the node's call timeout applies, kept by the actor's timer).
    Request,
    /// The same with [`RequestOptions::with_request_timeout`]`(Duration::ZERO)`: no
    /// timeout (nothing for the actor's timer to keep).
    RequestNoTimeout,
}

impl RoundTrip {
    /// Every variant, in the order the benches show them.
    pub const ALL: [RoundTrip; 3] = [RoundTrip::Call, RoundTrip::Request, RoundTrip::RequestNoTimeout];

    /// The bench function name.
    pub fn name(self) -> &'static str {
        match self {
            RoundTrip::Call => "call",
            RoundTrip::Request => "request",
            RoundTrip::RequestNoTimeout => "request_no_timeout",
        }
    }
}

/// What one run of round trips did.
#[derive(Debug, Clone)]
pub struct Run {
    /// Round trips completed with the right echo.
    pub rounds: u64,
    /// Each round trip's time (from just before the call or request to just after its
    /// reply or continuation), when asked for.
    pub latencies: Option<Latencies>,
}

/// Makes `n` sequential round trips to the callee as `how` says, then replies.
#[derive(Debug)]
pub struct Rounds {
    /// Round trips.
    pub n: u64,
    /// Call or request.
    pub how: RoundTrip,
    /// Record each round trip's time.
    pub record: bool,
}

impl Message for Rounds {
    type Reply = Run;
}

/// A chain of requests under way.
#[derive(Debug)]
struct ChainState {
    n: u64,
    done: u64,
    opts: RequestOptions,
    latencies: Option<Latencies>,
    sent: Instant,
    reply: ReplyHandle<Run>,
}

impl Handler<Rounds> for Driver {
    type Return = Reply<Run>;

    async fn handle(&mut self, msg: Rounds, ctx: &mut Context<Self>) -> Reply<Run> {
        let mut latencies = msg.record.then(Latencies::new);
        let opts = match msg.how {
            RoundTrip::Call => {
                for i in 0..msg.n {
                    let t = Instant::now();
                    match ctx.call(&self.callee, Echo(i)).await {
                        Ok(v) if v == i => {}
                        Ok(v) => return Reply::Error(Error::rejected(format!("echo {i} came back as {v}"))),
                        Err(e) => return Reply::Error(e),
                    }
                    if let Some(l) = latencies.as_mut() {
                        l.record(t.elapsed());
                    }
                }
                return Reply::Value(Run {
                    rounds: msg.n,
                    latencies,
                });
            }
            RoundTrip::Request => RequestOptions::new(),
            RoundTrip::RequestNoTimeout => RequestOptions::new().with_request_timeout(Duration::ZERO),
        };
        if self.chain.is_some() {
            return Reply::Error(Error::rejected("a chain is already under way"));
        }
        let Some(reply) = ctx.defer_reply::<Run>() else {
            return Reply::Error(Error::rejected("Rounds must be called"));
        };
        self.chain = Some(ChainState {
            n: msg.n,
            done: 0,
            opts,
            latencies,
            sent: Instant::now(),
            reply,
        });
        next_round(self, ctx);
        Reply::Deferred
    }
}

/// Sends the chain's next request, whose continuation calls this again; replies to
/// [`Rounds`] when all are done.
fn next_round(this: &mut Driver, ctx: &mut Context<Driver>) {
    let Some(chain) = this.chain.as_mut() else {
        return;
    };
    if chain.done == chain.n {
        if let Some(chain) = this.chain.take() {
            chain.reply.reply(Run {
                rounds: chain.done,
                latencies: chain.latencies,
            });
        }
        return;
    }
    let i = chain.done;
    let opts = chain.opts;
    if chain.latencies.is_some() {
        chain.sent = Instant::now();
    }
    match ctx.request(&this.callee, Echo(i), opts) {
        Ok(call) => call.then(move |this, ctx, outcome| round_done(this, ctx, i, outcome)),
        Err(e) => fail_chain(this, e),
    }
}

/// The continuation of round `i`.
fn round_done(this: &mut Driver, ctx: &mut Context<Driver>, i: u64, outcome: Result<u64, Error>) {
    let Some(chain) = this.chain.as_mut() else {
        return;
    };
    match outcome {
        Ok(v) if v == i => {
            if let Some(l) = chain.latencies.as_mut() {
                l.record(chain.sent.elapsed());
            }
            chain.done += 1;
            next_round(this, ctx);
        }
        Ok(v) => fail_chain(this, Error::rejected(format!("echo {i} came back as {v}"))),
        Err(e) => fail_chain(this, e),
    }
}

fn fail_chain(this: &mut Driver, e: Error) {
    if let Some(chain) = this.chain.take() {
        chain.reply.fail(e);
    }
}

/// A plain message: the driver counts it; the reply is the new count.
#[derive(Debug)]
pub struct Inc;

impl Message for Inc {
    type Reply = u64;
}

impl Handler<Inc> for Driver {
    type Return = u64;

    async fn handle(&mut self, _msg: Inc, _ctx: &mut Context<Self>) -> u64 {
        self.served += 1;
        self.served
    }
}

/// The driver's counters; an interleaving message, so it runs even while a
/// `StashNonReentrant` driver holds its user messages.
#[derive(Debug)]
pub struct GetStatus;

/// The answer to [`GetStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Plain messages handled.
    pub served: u64,
    /// Requests in flight ([`Context::requests_in_flight`]).
    pub in_flight: u64,
    /// Requests sent by [`Fill`], churn included.
    pub issued: u64,
    /// Their continuations that ran with a reply.
    pub completed: u64,
    /// Their continuations that ran with an error (or a churn request that failed).
    pub failed: u64,
}

impl Message for GetStatus {
    type Reply = Status;
    const INTERLEAVE: bool = true;
}

impl Handler<GetStatus> for Driver {
    type Return = Status;

    async fn handle(&mut self, _msg: GetStatus, ctx: &mut Context<Self>) -> Status {
        Status {
            served: self.served,
            in_flight: ctx.requests_in_flight() as u64,
            issued: self.issued,
            completed: self.completed,
            failed: self.failed,
        }
    }
}

/// Puts `k` requests in flight to the callee.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    /// Requests.
    pub k: u64,
    /// [`Park`] (with or without the default timeout) or [`Slow`] with churn.
    pub kind: Serve,
}

impl Message for Fill {
    type Reply = Result<(), Error>;
}

impl Handler<Fill> for Driver {
    type Return = Result<(), Error>;

    async fn handle(&mut self, msg: Fill, ctx: &mut Context<Self>) -> Result<(), Error> {
        match msg.kind {
            Serve::Off | Serve::Idle => Ok(()),
            Serve::AfterRequest => {
                ctx.request(&self.callee, Echo(7), RequestOptions::new())?
                    .then(fill_done);
                self.issued += 1;
                Ok(())
            }
            Serve::Parked { timeout, .. } => {
                let opts = request_options(timeout);
                for _ in 0..msg.k {
                    ctx.request(&self.callee, Park, opts)?.then(fill_done);
                    self.issued += 1;
                }
                Ok(())
            }
            Serve::Churn { delay, timeout, .. } => {
                let opts = request_options(timeout);
                self.churn = Some((delay, opts));
                for _ in 0..msg.k {
                    send_slow(self, ctx, delay, opts)?;
                }
                Ok(())
            }
        }
    }
}

/// The node's call timeout (`timeout`), or none.
fn request_options(timeout: bool) -> RequestOptions {
    if timeout {
        RequestOptions::new()
    } else {
        RequestOptions::new().with_request_timeout(Duration::ZERO)
    }
}

/// The continuation of a parked request.
fn fill_done(this: &mut Driver, _ctx: &mut Context<Driver>, outcome: Result<u64, Error>) {
    match outcome {
        Ok(_) => this.completed += 1,
        Err(_) => this.failed += 1,
    }
}

fn send_slow(
    this: &mut Driver,
    ctx: &mut Context<Driver>,
    delay: Duration,
    opts: RequestOptions,
) -> Result<(), Error> {
    ctx.request(&this.callee, Slow(delay), opts)?.then(churn_done);
    this.issued += 1;
    Ok(())
}

/// The continuation of a churning request: sends it again while churn is on.
fn churn_done(this: &mut Driver, ctx: &mut Context<Driver>, outcome: Result<u64, Error>) {
    match outcome {
        Ok(_) => this.completed += 1,
        Err(_) => this.failed += 1,
    }
    if let Some((delay, opts)) = this.churn
        && send_slow(this, ctx, delay, opts).is_err()
    {
        this.failed += 1;
    }
}

/// Stops sending churning requests again (those in flight still complete).
#[derive(Debug)]
pub struct EndChurn;

impl Message for EndChurn {
    type Reply = ();
}

impl Handler<EndChurn> for Driver {
    type Return = ();

    async fn handle(&mut self, _msg: EndChurn, _ctx: &mut Context<Self>) {
        self.churn = None;
    }
}

// ------------------------------------------------------------------ operations

/// One driver set-up for [`LocalEnv::serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// Spawned without reentrancy (the default): the reference.
    Off,
    /// `AllowAll`, nothing in flight.
    Idle,
    /// `AllowAll`, nothing in flight, but one request (with the default timeout)
    /// completed just before the flood: whatever it leaves behind (a timer still armed)
    /// is measured.
    AfterRequest,
    /// `AllowAll`, `k` [`Park`] requests in flight for the whole run; `timeout`: with
    /// the node's call timeout (the actor's timer armed) or none.
    Parked {
        /// Requests in flight.
        k: u64,
        /// Default timeout (true) or none.
        timeout: bool,
    },
    /// `AllowAll`, `k` [`Slow`] requests in flight, each sent again by its continuation
    /// when its reply comes after `delay`: continuations run during the flood.
    Churn {
        /// Requests in flight.
        k: u64,
        /// The callee's delay.
        delay: Duration,
        /// Default timeout (true) or none.
        timeout: bool,
    },
}

impl Serve {
    fn k(self) -> u64 {
        match self {
            Serve::Off | Serve::Idle | Serve::AfterRequest => 0,
            Serve::Parked { k, .. } | Serve::Churn { k, .. } => k,
        }
    }

    fn reentrancy(self) -> Reentrancy {
        match self {
            Serve::Off => Reentrancy::default(),
            _ => Reentrancy::allow_all(),
        }
    }

    /// The bench function name.
    pub fn name(self) -> String {
        match self {
            Serve::Off => "off_idle".into(),
            Serve::Idle => "allow_all_idle".into(),
            Serve::AfterRequest => "allow_all_after_request".into(),
            Serve::Parked { k, timeout: true } => format!("allow_all_parked_{k}"),
            Serve::Parked { k, timeout: false } => format!("allow_all_parked_{k}_no_timeout"),
            Serve::Churn { k, delay, timeout } => format!(
                "allow_all_churn_{k}x{}ms{}",
                delay.as_millis(),
                if timeout { "" } else { "_no_timeout" }
            ),
        }
    }
}

/// What the flood of [`LocalEnv::serve`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `n` × `driver.send_wait(Inc)` (back-pressure), then a call for the count.
    Send,
    /// `n` sequential `driver.call(Inc)`; the last reply must be `n`.
    Call,
}

/// What one [`LocalEnv::serve`] run measured.
#[derive(Debug, Clone, Copy)]
pub struct ServeRun {
    /// The flood, up to the final count.
    pub elapsed: Duration,
    /// Continuations that ran during it (churn only).
    pub continuations: u64,
}

/// What [`LocalEnv::hold_probe`] saw.
#[derive(Debug, Clone, Copy)]
pub struct HoldReport {
    /// Plain messages sent while the request was parked.
    pub sent: u64,
    /// How many of them the driver had handled after the hold.
    pub served_while_parked: u64,
    /// From the release of the request to the reply of a call queued behind the
    /// messages (all of them handled by then).
    pub after_release: Duration,
}

/// One node, for the local benches.
#[derive(Debug, Clone)]
pub struct LocalEnv {
    node: Node,
}

impl LocalEnv {
    /// Starts the node (call inside the runtime).
    pub async fn start() -> Result<LocalEnv, BenchError> {
        let node = Node::builder()
            .name("bench-reentrancy@local")
            .mailbox_capacity(MAILBOX)
            .call_timeout(CALL_TIMEOUT)
            .start()
            .await?;
        Ok(LocalEnv { node })
    }

    /// `n` sequential round trips between two actors of this node.
    pub async fn roundtrip(
        &self,
        how: RoundTrip,
        n: u64,
        record: bool,
    ) -> Result<(Duration, Run), BenchError> {
        let callee = spawn_started(&self.node).await?;
        let out = roundtrip(&self.node, &callee, how, n, record).await;
        stop(&callee).await?;
        out
    }

    /// Sets up a driver as `serve` says, then floods it with `n` plain messages as
    /// `load` says; checks the count and that the requests stayed in flight.
    pub async fn serve(&self, serve: Serve, load: Load, n: u64) -> Result<ServeRun, BenchError> {
        let callee = spawn_started(&self.node).await?;
        let driver = self.node.spawn_with::<Driver>(
            callee.clone(),
            SpawnOptions::default().reentrancy(serve.reentrancy()),
        )?;
        let k = serve.k();
        driver.call(Fill { k, kind: serve }).await??;
        if let Serve::Parked { .. } = serve {
            check_count(
                "parked requests at the callee",
                callee.call(ParkedCount).await?,
                k,
            )?;
        }
        let mut before = driver.call(GetStatus).await?;
        while serve == Serve::AfterRequest && before.completed < before.issued {
            tokio::task::yield_now().await;
            before = driver.call(GetStatus).await?;
        }
        check_count("requests in flight before the flood", before.in_flight, k)?;

        let start = Instant::now();
        match load {
            Load::Send => {
                for _ in 0..n {
                    driver.send_wait(Inc).await?;
                }
                let got = call_when_space(&driver).await?;
                let elapsed = start.elapsed();
                check_count("driver (sends)", got.served, n)?;
                finish_serve(&driver, &callee, serve, before, got, elapsed).await
            }
            Load::Call => {
                let mut last = 0;
                for _ in 0..n {
                    last = driver.call(Inc).await?;
                }
                let elapsed = start.elapsed();
                check_count("driver (calls, last reply)", last, n)?;
                let got = driver.call(GetStatus).await?;
                check_count("driver (calls)", got.served, n)?;
                finish_serve(&driver, &callee, serve, before, got, elapsed).await
            }
        }
    }

    /// Parks one request of a driver in `mode`, sends it `n` plain messages (at most
    /// [`MAILBOX`]), waits `hold`, counts what it handled, then answers the request and
    /// times how long until a call queued behind the messages is answered.
    pub async fn hold_probe(
        &self,
        reentrancy: Reentrancy,
        n: u64,
        hold: Duration,
    ) -> Result<HoldReport, BenchError> {
        if n > MAILBOX as u64 {
            return Err(format!("hold_probe: at most {MAILBOX} messages").into());
        }
        let callee = spawn_started(&self.node).await?;
        let driver = self
            .node
            .spawn_with::<Driver>(callee.clone(), SpawnOptions::default().reentrancy(reentrancy))?;
        let kind = Serve::Parked { k: 1, timeout: true };
        driver.call(Fill { k: 1, kind }).await??;
        check_count(
            "parked requests at the callee",
            callee.call(ParkedCount).await?,
            1,
        )?;
        for _ in 0..n {
            driver.send(Inc)?;
        }
        tokio::time::sleep(hold).await;
        let during = driver.call(GetStatus).await?;
        check_count("requests in flight after the hold", during.in_flight, 1)?;
        let start = Instant::now();
        check_count("released", callee.call(ReleaseAll).await?, 1)?;
        let got = driver.call(Inc).await?;
        let after_release = start.elapsed();
        check_count("driver (held messages + 1)", got, n + 1)?;
        let end = driver.call(GetStatus).await?;
        check_count("parked request completed", end.completed, 1)?;
        stop(&driver).await?;
        stop(&callee).await?;
        Ok(HoldReport {
            sent: n,
            served_while_parked: during.served,
            after_release,
        })
    }

    /// Shuts the node down.
    pub async fn shutdown(&self) {
        self.node.shutdown().await;
    }
}

/// After a flood: checks that the requests stayed in flight, ends them, checks that
/// each completed once, stops both actors.
async fn finish_serve(
    driver: &ActorRef<Driver>,
    callee: &ActorRef<Callee>,
    serve: Serve,
    before: Status,
    got: Status,
    elapsed: Duration,
) -> Result<ServeRun, BenchError> {
    let k = serve.k();
    check_count("requests in flight after the flood", got.in_flight, k)?;
    match serve {
        Serve::Off | Serve::Idle | Serve::AfterRequest => {}
        Serve::Parked { .. } => {
            check_count("released", callee.call(ReleaseAll).await?, k)?;
        }
        Serve::Churn { .. } => driver.call(EndChurn).await?,
    }
    let end = loop {
        let s = driver.call(GetStatus).await?;
        if s.in_flight == 0 {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    check_count("failed requests", end.failed, 0)?;
    check_count("completed requests", end.completed, end.issued)?;
    stop(driver).await?;
    stop(callee).await?;
    Ok(ServeRun {
        elapsed,
        continuations: got.completed - before.completed,
    })
}

/// Asks for the driver's status, retrying while its user lane is full (right after a
/// burst of `send_wait`; `call` does not wait for space). Once per run.
async fn call_when_space(driver: &ActorRef<Driver>) -> Result<Status, BenchError> {
    loop {
        match driver.call(GetStatus).await {
            Err(Error::MailboxFull) => tokio::task::yield_now().await,
            other => return Ok(other?),
        }
    }
}

/// Spawns a callee and waits until it has started.
async fn spawn_started(node: &Node) -> Result<ActorRef<Callee>, BenchError> {
    let callee = node.spawn::<Callee>(())?;
    callee.call(ParkedCount).await?;
    Ok(callee)
}

async fn stop<A: Actor>(actor: &ActorRef<A>) -> Result<(), BenchError> {
    actor.stop()?;
    match actor.wait_for_stop().await {
        ExitReason::Normal => Ok(()),
        other => Err(format!("reentrancy bench: actor stopped with {other}").into()),
    }
}

/// Spawns an `AllowAll` driver on `node` for `callee` (local or remote), times one
/// [`Rounds`] call of `n` round trips, checks it, stops the driver.
pub async fn roundtrip(
    node: &Node,
    callee: &ActorRef<Callee>,
    how: RoundTrip,
    n: u64,
    record: bool,
) -> Result<(Duration, Run), BenchError> {
    let driver = node.spawn_with::<Driver>(
        callee.clone(),
        SpawnOptions::default().reentrancy(Reentrancy::allow_all()),
    )?;
    driver.call(GetStatus).await?;
    let start = Instant::now();
    let run = driver.call(Rounds { n, how, record }).await?;
    let elapsed = start.elapsed();
    check_count(how.name(), run.rounds, n)?;
    if let Some(l) = &run.latencies {
        check_count("recorded round trips", l.count(), n)?;
    }
    stop(&driver).await?;
    Ok((elapsed, run))
}

/// Two connected nodes on loopback: drivers on A, the callee on B.
#[derive(Debug, Clone)]
pub struct RemoteEnv {
    a: Node,
    b: Node,
}

impl RemoteEnv {
    /// Starts both nodes (call inside the runtime) with [`RemoteConfig::new`] defaults
    /// and connects them.
    pub async fn start() -> Result<RemoteEnv, BenchError> {
        let mut nodes = Vec::with_capacity(2);
        for name in ["ra@127.0.0.1:0", "rb@127.0.0.1:0"] {
            nodes.push(
                Node::builder()
                    .name(name)
                    .remote(RemoteConfig::new(COOKIE))
                    .call_timeout(CALL_TIMEOUT)
                    .start()
                    .await?,
            );
        }
        let (Some(b), Some(a)) = (nodes.pop(), nodes.pop()) else {
            return Err("two nodes".into());
        };
        let env = RemoteEnv { a, b };
        // Dials A→B and B→A before any clock starts.
        let (local, there) = env.callee().await?;
        there.call(Echo(0)).await?;
        stop(&local).await?;
        Ok(env)
    }

    /// A callee on B: its local handle and A's remote handle.
    async fn callee(&self) -> Result<(ActorRef<Callee>, ActorRef<Callee>), BenchError> {
        let local = spawn_started(&self.b).await?;
        let there = self.a.actor_ref::<Callee>(local.pid())?;
        if !there.is_remote() {
            return Err("the callee's handle on A is not remote".into());
        }
        there.call(Echo(0)).await?;
        Ok((local, there))
    }

    /// `n` sequential round trips from a driver on A to a callee on B.
    pub async fn roundtrip(
        &self,
        how: RoundTrip,
        n: u64,
        record: bool,
    ) -> Result<(Duration, Run), BenchError> {
        let (local, there) = self.callee().await?;
        let out = roundtrip(&self.a, &there, how, n, record).await;
        stop(&local).await?;
        out
    }

    /// Shuts both nodes down.
    pub async fn shutdown(&self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_reentrancy_operation_checks_out() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let local = LocalEnv::start().await.unwrap();
            for how in RoundTrip::ALL {
                let (_, run) = local.roundtrip(how, 300, true).await.unwrap();
                assert_eq!(run.latencies.unwrap().count(), 300);
                local.roundtrip(how, 0, false).await.unwrap();
            }
            let churn = |timeout| Serve::Churn {
                k: 8,
                delay: Duration::from_millis(1),
                timeout,
            };
            for serve in [
                Serve::Off,
                Serve::Idle,
                Serve::AfterRequest,
                Serve::Parked { k: 16, timeout: true },
                Serve::Parked {
                    k: 16,
                    timeout: false,
                },
                churn(true),
                churn(false),
            ] {
                for load in [Load::Send, Load::Call] {
                    local.serve(serve, load, 3000).await.unwrap();
                }
            }
            let hold = Duration::from_millis(20);
            let allow = local
                .hold_probe(Reentrancy::allow_all(), 100, hold)
                .await
                .unwrap();
            assert_eq!(allow.served_while_parked, 100);
            let stash = local
                .hold_probe(Reentrancy::stash_non_reentrant(), 100, hold)
                .await
                .unwrap();
            assert_eq!(stash.served_while_parked, 0);
            local.shutdown().await;

            let remote = RemoteEnv::start().await.unwrap();
            for how in RoundTrip::ALL {
                let (_, run) = remote.roundtrip(how, 100, true).await.unwrap();
                assert_eq!(run.latencies.unwrap().count(), 100);
            }
            remote.shutdown().await;
        })
        .unwrap();
    }
}
