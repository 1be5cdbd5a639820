//! Reentrancy: non-blocking requests and their continuations, the three modes, the
//! in-flight cap, timeouts, cancellation, stop, call chains and cycles — on one node and
//! across two nodes on loopback.
//!
//! A `Requester` (spawned with the reentrancy under test) asks a `Worker`, which answers
//! at once, with an error, when released (so the test decides when a reply comes), or by
//! calling the requester back. The requester reports what it handles as `Ev`s, in order.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::VecDeque;
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Down, Error, ExitReason, Handler, Message, Node, Pid, ProcessId,
    Reentrancy, ReentrancyMode, RemoteActor, RemoteConfig, RemoteMessage, RemoteMessages, Reply, ReplyHandle,
    RequestCall, RequestOptions, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

mod common;
use common::{PROMPT, start_node};

// ------------------------------------------------------------------ the worker

/// Answers requests: at once, with an error, when released, or by calling back.
struct Worker {
    parked: VecDeque<ReplyHandle<u64>>,
}

impl Actor for Worker {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Worker {
            parked: VecDeque::new(),
        })
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Work>();
    }
}

/// What the worker is asked to do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Work {
    /// Answer `n` at once.
    Echo(u64),
    /// Answer with an error.
    Fail,
    /// Answer when released.
    Park,
    /// Call the sender back (blocking) with `Query`, answer its answer + `n`.
    CallBack(u64),
}
impl Message for Work {
    type Reply = u64;
}
impl RemoteMessage for Work {
    const TAG: &'static str = "test.reentrancy.work";
}
impl Handler<Work> for Worker {
    type Return = Reply<u64>;
    async fn handle(&mut self, msg: Work, ctx: &mut Context<Self>) -> Reply<u64> {
        match msg {
            Work::Echo(n) => Reply::Value(n),
            Work::Fail => Reply::Error(Error::rejected("no")),
            Work::Park => {
                if let Some(handle) = ctx.defer_reply() {
                    self.parked.push_back(handle);
                }
                Reply::Deferred
            }
            Work::CallBack(n) => {
                let Some(sender) = ctx.sender().cloned() else {
                    return Reply::Error(Error::rejected("no sender"));
                };
                let back = match ctx.node().actor_ref::<Requester>(&sender) {
                    Ok(back) => back,
                    Err(e) => return Reply::Error(e),
                };
                Reply::from_result(ctx.call(&back, Query).await.map(|v| v + n))
            }
        }
    }
}

/// Answers the oldest parked request with `n`, as an important response: the outcome
/// tells whether the requester still waited. Sent by the test on the worker's node.
#[derive(Debug)]
struct Release(u64);
impl Message for Release {
    type Reply = Result<(), Error>;
}
impl Handler<Release> for Worker {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: Release, _: &mut Context<Self>) -> Result<(), Error> {
        match self.parked.pop_front() {
            Some(handle) => handle.reply_important(msg.0).await,
            None => Err(Error::rejected("nothing parked")),
        }
    }
}

// ------------------------------------------------------------------ the requester

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    /// The continuation of request `label` ran with this outcome.
    Reply(u64, Result<u64, Error>),
    /// A user message was handled.
    Note(u64),
    /// A monitored process stopped.
    Down,
    /// `on_stop` ran.
    Stopped,
}

struct Requester {
    events: mpsc::UnboundedSender<Ev>,
    calls: Vec<RequestCall<Requester, u64>>,
    notes: Vec<u64>,
}

impl Actor for Requester {
    type Args = mpsc::UnboundedSender<Ev>;
    async fn init(events: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Requester {
            events,
            calls: Vec::new(),
            notes: Vec::new(),
        })
    }
    async fn on_down(&mut self, _: &mut Context<Self>, _: Down) {
        let _ = self.events.send(Ev::Down);
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        let _ = self.events.send(Ev::Stopped);
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Query>();
    }
}

impl Requester {
    /// The continuation of request `label`: report its outcome.
    fn report(label: u64) -> impl FnOnce(&mut Requester, &mut Context<Requester>, Result<u64, Error>) + Send {
        move |this, _ctx, outcome| {
            let _ = this.events.send(Ev::Reply(label, outcome));
        }
    }
}

/// Requests `work` from `to`; the continuation reports `label` (unless `then` is off:
/// the call is kept for a later `AttachThen`).
struct Ask {
    to: ActorRef<Worker>,
    work: Work,
    opts: RequestOptions,
    label: u64,
    then: bool,
}
impl Ask {
    fn new(to: &ActorRef<Worker>, work: Work, label: u64) -> Self {
        Ask {
            to: to.clone(),
            work,
            opts: RequestOptions::new(),
            label,
            then: true,
        }
    }
    fn opts(mut self, opts: RequestOptions) -> Self {
        self.opts = opts;
        self
    }
}
impl Message for Ask {
    type Reply = Result<(), Error>;
}
impl Handler<Ask> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: Ask, ctx: &mut Context<Self>) -> Result<(), Error> {
        let call = ctx.request(&msg.to, msg.work, msg.opts)?;
        if msg.then {
            call.then(Requester::report(msg.label));
        }
        self.calls.push(call);
        Ok(())
    }
}

/// Several requests from one handler (a stash-mode actor holds the next `Ask` while
/// the first is in flight).
struct AskAll(Vec<Ask>);
impl Message for AskAll {
    type Reply = Result<(), Error>;
}
impl Handler<AskAll> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: AskAll, ctx: &mut Context<Self>) -> Result<(), Error> {
        for ask in msg.0 {
            self.handle(ask, ctx).await?;
        }
        Ok(())
    }
}

/// `request_name` to a worker registered as `id`.
struct AskName(ProcessId, Work, u64);
impl Message for AskName {
    type Reply = Result<(), Error>;
}
impl Handler<AskName> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: AskName, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.request_name::<Worker, Work>(&msg.0, msg.1, RequestOptions::new())?
            .then(Requester::report(msg.2));
        Ok(())
    }
}

/// A plain user message.
struct Note(u64);
impl Message for Note {
    type Reply = ();
}
impl Handler<Note> for Requester {
    type Return = ();
    async fn handle(&mut self, msg: Note, _: &mut Context<Self>) {
        self.notes.push(msg.0);
        let _ = self.events.send(Ev::Note(msg.0));
    }
}

/// A read-only query marked to interleave: runs even while user messages are held.
struct Peek;
impl Message for Peek {
    type Reply = (Vec<u64>, usize);
    const INTERLEAVE: bool = true;
}
impl Handler<Peek> for Requester {
    type Return = (Vec<u64>, usize);
    async fn handle(&mut self, _: Peek, ctx: &mut Context<Self>) -> (Vec<u64>, usize) {
        (self.notes.clone(), ctx.requests_in_flight())
    }
}

/// What a worker calling back asks.
#[derive(Serialize, Deserialize)]
struct Query;
impl Message for Query {
    type Reply = u64;
}
impl RemoteMessage for Query {
    const TAG: &'static str = "test.reentrancy.query";
}
impl Handler<Query> for Requester {
    type Return = u64;
    async fn handle(&mut self, _: Query, _: &mut Context<Self>) -> u64 {
        100
    }
}

/// Cancels every kept request; says which calls canceled. A control message: it runs
/// while user messages are held.
struct CancelAll;
impl Message for CancelAll {
    type Reply = Vec<bool>;
    const INTERLEAVE: bool = true;
}
impl Handler<CancelAll> for Requester {
    type Return = Vec<bool>;
    async fn handle(&mut self, _: CancelAll, _: &mut Context<Self>) -> Vec<bool> {
        self.calls.iter().map(|c| c.cancel()).collect()
    }
}

/// Registers the continuation of the last kept request now; says whether it had
/// completed already.
struct AttachThen(u64);
impl Message for AttachThen {
    type Reply = bool;
}
impl Handler<AttachThen> for Requester {
    type Return = bool;
    async fn handle(&mut self, msg: AttachThen, _: &mut Context<Self>) -> bool {
        let call = self.calls.last().expect("a kept request");
        let done = call.is_complete();
        call.then(Requester::report(msg.0));
        done
    }
}

/// Holds the actor until the gate opens.
struct Gate(oneshot::Receiver<()>);
impl Message for Gate {
    type Reply = ();
}
impl Handler<Gate> for Requester {
    type Return = ();
    async fn handle(&mut self, msg: Gate, _: &mut Context<Self>) {
        let _ = msg.0.await;
    }
}

/// A blocking `call` to the worker.
struct BlockingCall(ActorRef<Worker>, Work);
impl Message for BlockingCall {
    type Reply = Result<u64, Error>;
}
impl Handler<BlockingCall> for Requester {
    type Return = Result<u64, Error>;
    async fn handle(&mut self, msg: BlockingCall, ctx: &mut Context<Self>) -> Result<u64, Error> {
        ctx.call(&msg.0, msg.1).await
    }
}

/// Pipes a future (resolving when the test sends on the channel) back as a continuation.
struct Pipe(oneshot::Receiver<u64>, u64);
impl Message for Pipe {
    type Reply = Result<(), Error>;
}
impl Handler<Pipe> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: Pipe, ctx: &mut Context<Self>) -> Result<(), Error> {
        let label = msg.1;
        let rx = msg.0;
        ctx.pipe_to(async move { rx.await.unwrap_or(0) }, Requester::report(label))?;
        Ok(())
    }
}

/// Requests with a continuation that panics.
struct AskThenPanic(ActorRef<Worker>);
impl Message for AskThenPanic {
    type Reply = Result<(), Error>;
}
impl Handler<AskThenPanic> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: AskThenPanic, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.request(&msg.0, Work::Echo(1), RequestOptions::new())?
            .then(|_, _, _| panic!("continuation fails"));
        Ok(())
    }
}

/// Monitors a process.
struct Watch(Pid);
impl Message for Watch {
    type Reply = ();
}
impl Handler<Watch> for Requester {
    type Return = ();
    async fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        ctx.monitor(&msg.0);
    }
}

// ------------------------------------------------------------------ helpers

async fn local_node() -> Node {
    Node::builder()
        .name(format!("reentrancy{}@local", common::unique()))
        .call_timeout(Duration::from_secs(30))
        .start()
        .await
        .unwrap()
}

fn config() -> RemoteConfig {
    RemoteConfig::new("reentrancy-cookie")
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(2000))
}

fn spawn_requester(
    node: &Node,
    reentrancy: Reentrancy,
) -> (ActorRef<Requester>, mpsc::UnboundedReceiver<Ev>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let opts = SpawnOptions::default().reentrancy(reentrancy);
    (node.spawn_with::<Requester>(tx, opts).unwrap(), rx)
}

/// The next event, failing the test if none comes promptly.
async fn next(events: &mut mpsc::UnboundedReceiver<Ev>) -> Ev {
    tokio::time::timeout(PROMPT, events.recv())
        .await
        .expect("an event in time")
        .expect("the requester is alive")
}

/// Waits until the worker has `n` requests parked (it handles them in order, so a call
/// behind them returns once they are).
async fn parked(worker: &ActorRef<Worker>) {
    // Echo is handled after every request queued before it.
    let _ = worker.call(Work::Echo(0)).await.unwrap();
}

/// Waits until `n` user messages wait in the requester's mailbox.
async fn queued(requester: &ActorRef<Requester>, n: usize) {
    tokio::time::timeout(PROMPT, async {
        while requester.mailbox_len() != Some(n) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the mailbox reaches the expected length");
}

// ------------------------------------------------------------------ modes

#[tokio::test]
async fn request_fails_with_reentrancy_disabled_when_off() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, _events) = spawn_requester(&node, Reentrancy::default());
    let asked = requester.call(Ask::new(&worker, Work::Echo(1), 1)).await.unwrap();
    assert_eq!(asked, Err(Error::ReentrancyDisabled));
    // A blocking call still works.
    assert_eq!(
        requester.call(BlockingCall(worker, Work::Echo(5))).await.unwrap(),
        Ok(5)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn per_call_mode_cannot_enable_when_actor_is_off() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (off, _e1) = spawn_requester(&node, Reentrancy::default());
    for mode in [ReentrancyMode::AllowAll, ReentrancyMode::StashNonReentrant] {
        let ask = Ask::new(&worker, Work::Echo(1), 1).opts(RequestOptions::new().with_reentrancy_mode(mode));
        assert_eq!(off.call(ask).await.unwrap(), Err(Error::ReentrancyDisabled));
    }
    // A per-call `Off` disables a request of an actor that has reentrancy on.
    let (on, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    let ask = Ask::new(&worker, Work::Echo(1), 1)
        .opts(RequestOptions::new().with_reentrancy_mode(ReentrancyMode::Off));
    assert_eq!(on.call(ask).await.unwrap(), Err(Error::ReentrancyDisabled));
    // ...and can switch between the two enabled modes.
    let ask = Ask::new(&worker, Work::Echo(2), 2)
        .opts(RequestOptions::new().with_reentrancy_mode(ReentrancyMode::StashNonReentrant));
    on.call(ask).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(2, Ok(2)));
    node.shutdown().await;
}

#[tokio::test]
async fn allow_all_processes_other_messages_while_waiting() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    for n in 1..=3 {
        requester.send(Note(n)).unwrap();
    }
    for n in 1..=3 {
        assert_eq!(next(&mut events).await, Ev::Note(n));
    }
    parked(&worker).await;
    worker.call(Release(42)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(42)));
    node.shutdown().await;
}

#[tokio::test]
async fn stash_holds_user_messages_and_replays_in_order() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    let asks = vec![Ask::new(&worker, Work::Park, 1), Ask::new(&worker, Work::Park, 2)];
    requester.call(AskAll(asks)).await.unwrap().unwrap();
    for n in 1..=5 {
        requester.send(Note(n)).unwrap();
    }
    // An interleaving query sent after the notes runs; the notes are held.
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 2));
    parked(&worker).await;
    worker.call(Release(10)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(10)));
    // One stash-mode request is still in flight: still held.
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 1));
    worker.call(Release(20)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(2, Ok(20)));
    for n in 1..=5 {
        assert_eq!(next(&mut events).await, Ev::Note(n));
    }
    node.shutdown().await;
}

#[tokio::test]
async fn stash_still_processes_system_messages() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let victim = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    requester.call(Watch(victim.pid().clone())).await.unwrap();
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    victim.kill();
    // The Down runs while the note is held.
    assert_eq!(next(&mut events).await, Ev::Down);
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 1));
    // So does a stop: the held note never runs, the continuation is canceled first.
    requester.stop().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Err(Error::RequestCanceled)));
    assert_eq!(next(&mut events).await, Ev::Stopped);
    assert_eq!(requester.wait_for_stop().await, ExitReason::Normal);
    node.shutdown().await;
}

#[tokio::test]
async fn stash_replies_arrive_even_when_the_user_lane_is_full() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let opts = SpawnOptions::default()
        .mailbox_capacity(2)
        .reentrancy(Reentrancy::stash_non_reentrant());
    let requester = node.spawn_with::<Requester>(tx, opts).unwrap();
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    requester.send(Note(2)).unwrap();
    assert_eq!(requester.send(Note(3)), Err(Error::MailboxFull));
    parked(&worker).await;
    worker.call(Release(7)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(7)));
    assert_eq!(next(&mut events).await, Ev::Note(1));
    assert_eq!(next(&mut events).await, Ev::Note(2));
    node.shutdown().await;
}

#[tokio::test]
async fn per_call_allow_all_request_of_a_stash_actor_does_not_hold() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    let ask = Ask::new(&worker, Work::Park, 1)
        .opts(RequestOptions::new().with_reentrancy_mode(ReentrancyMode::AllowAll));
    requester.call(ask).await.unwrap().unwrap();
    requester.send(Note(1)).unwrap();
    assert_eq!(next(&mut events).await, Ev::Note(1));
    parked(&worker).await;
    worker.call(Release(3)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(3)));
    node.shutdown().await;
}

// ------------------------------------------------------------------ limits, timeouts, cancel

#[tokio::test]
async fn max_in_flight_rejects_excess_requests() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all().max_in_flight(2));
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester
        .call(Ask::new(&worker, Work::Park, 2))
        .await
        .unwrap()
        .unwrap();
    let third = requester.call(Ask::new(&worker, Work::Echo(3), 3)).await.unwrap();
    assert_eq!(third, Err(Error::ReentrancyInFlightLimit));
    // A piped future counts too.
    let (_tx, rx) = oneshot::channel();
    assert_eq!(
        requester.call(Pipe(rx, 9)).await.unwrap(),
        Err(Error::ReentrancyInFlightLimit)
    );
    parked(&worker).await;
    worker.call(Release(1)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(1)));
    // One slot is free again.
    requester
        .call(Ask::new(&worker, Work::Echo(4), 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(4, Ok(4)));
    node.shutdown().await;
}

#[tokio::test]
async fn request_timeout_fires_continuation_with_request_timeout() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    let opts = RequestOptions::new().with_request_timeout(Duration::from_millis(50));
    requester
        .call(Ask::new(&worker, Work::Park, 1).opts(opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Err(Error::RequestTimeout)));
    // The late reply is discarded, and its important sender learns it was ignored.
    assert_eq!(
        worker.call(Release(5)).await.unwrap(),
        Err(Error::ResponseIgnored)
    );
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 0));
    node.shutdown().await;
}

#[tokio::test]
async fn request_without_timeout_of_its_own_uses_the_node_call_timeout() {
    let node = Node::builder()
        .name(format!("short{}@local", common::unique()))
        .call_timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Err(Error::RequestTimeout)));
    // The held message runs once the timed-out request no longer holds it.
    assert_eq!(next(&mut events).await, Ev::Note(1));
    node.shutdown().await;
}

#[tokio::test]
async fn cancel_is_idempotent_and_late_reply_is_discarded() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    assert_eq!(requester.call(CancelAll).await.unwrap(), vec![true]);
    assert_eq!(requester.call(CancelAll).await.unwrap(), vec![false]);
    assert_eq!(next(&mut events).await, Ev::Reply(1, Err(Error::RequestCanceled)));
    assert_eq!(next(&mut events).await, Ev::Note(1));
    parked(&worker).await;
    assert_eq!(
        worker.call(Release(5)).await.unwrap(),
        Err(Error::ResponseIgnored)
    );
    // Nothing else reached the requester.
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![1], 0));
    assert!(events.try_recv().is_err());
    node.shutdown().await;
}

#[tokio::test]
async fn then_after_completion_runs_before_next_message() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    let mut ask = Ask::new(&worker, Work::Echo(8), 1);
    ask.then = false;
    requester.call(ask).await.unwrap().unwrap();
    // Let the reply arrive and complete the request (no continuation yet).
    parked(&worker).await;
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 0));
    // Queue AttachThen and a note behind a gate, so both wait in the mailbox.
    let (open, gate) = oneshot::channel();
    requester.send(Gate(gate)).unwrap();
    queued(&requester, 0).await; // the gate is taken: the actor waits on it
    let attached = tokio::spawn({
        let requester = requester.clone();
        async move { requester.call(AttachThen(1)).await }
    });
    queued(&requester, 1).await;
    requester.send(Note(2)).unwrap();
    open.send(()).unwrap();
    assert!(attached.await.unwrap().unwrap(), "the request had completed");
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(8)));
    assert_eq!(next(&mut events).await, Ev::Note(2));
    node.shutdown().await;
}

#[tokio::test]
async fn callee_error_reaches_continuation() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    requester
        .call(Ask::new(&worker, Work::Fail, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Ev::Reply(1, Err(Error::Rejected("no".into())))
    );
    // A callee that stops without answering: the continuation learns it at once.
    requester
        .call(Ask::new(&worker, Work::Park, 2))
        .await
        .unwrap()
        .unwrap();
    parked(&worker).await;
    worker.stop().unwrap();
    assert_eq!(
        next(&mut events).await,
        Ev::Reply(2, Err(Error::ProcessTerminated))
    );
    // And one that is gone already fails the request itself.
    worker.wait_for_stop().await;
    let gone = requester.call(Ask::new(&worker, Work::Echo(1), 3)).await.unwrap();
    assert_eq!(gone, Err(Error::ProcessTerminated));
    node.shutdown().await;
}

#[tokio::test]
async fn piped_future_holds_user_messages_in_stash_mode() {
    let node = local_node().await;
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    let (tx, rx) = oneshot::channel();
    requester.call(Pipe(rx, 1)).await.unwrap().unwrap();
    requester.send(Note(1)).unwrap();
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 1));
    tx.send(77).unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(77)));
    assert_eq!(next(&mut events).await, Ev::Note(1));
    node.shutdown().await;
}

#[tokio::test]
async fn panicking_continuation_fails_only_its_actor() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    requester
        .call(AskThenPanic(worker.clone()))
        .await
        .unwrap()
        .unwrap();
    let reason = tokio::time::timeout(PROMPT, requester.wait_for_stop())
        .await
        .unwrap();
    assert!(
        matches!(reason, ExitReason::Panic(ref m) if m.contains("continuation fails")),
        "{reason:?}"
    );
    assert_eq!(next(&mut events).await, Ev::Stopped);
    // The worker and the node carry on.
    assert_eq!(worker.call(Work::Echo(3)).await, Ok(3));
    let (other, _e) = spawn_requester(&node, Reentrancy::allow_all());
    assert_eq!(other.call(Peek).await.unwrap(), (vec![], 0));
    node.shutdown().await;
}

// ------------------------------------------------------------------ stop

#[tokio::test]
async fn stop_while_in_flight_cancels_pending_continuations() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    let asks = vec![Ask::new(&worker, Work::Park, 1), Ask::new(&worker, Work::Park, 2)];
    requester.call(AskAll(asks)).await.unwrap().unwrap();
    requester.send(Note(1)).unwrap();
    requester.stop().unwrap();
    let mut canceled = Vec::new();
    for _ in 0..2 {
        match next(&mut events).await {
            Ev::Reply(label, Err(Error::RequestCanceled)) => canceled.push(label),
            other => panic!("expected a canceled continuation, got {other:?}"),
        }
    }
    canceled.sort_unstable();
    assert_eq!(canceled, vec![1, 2]);
    assert_eq!(next(&mut events).await, Ev::Stopped);
    assert!(events.recv().await.is_none(), "the held note never ran");
    // The parked requests' late replies are ignored.
    parked(&worker).await;
    assert_eq!(
        worker.call(Release(1)).await.unwrap(),
        Err(Error::ResponseIgnored)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn stop_cancels_a_piped_future_and_runs_its_continuation() {
    let node = local_node().await;
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    let (mut keep, rx) = oneshot::channel::<u64>();
    requester.call(Pipe(rx, 1)).await.unwrap().unwrap();
    requester.stop().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Err(Error::RequestCanceled)));
    assert_eq!(next(&mut events).await, Ev::Stopped);
    // The future was dropped with its request.
    tokio::time::timeout(PROMPT, keep.closed()).await.unwrap();
    node.shutdown().await;
}

// ------------------------------------------------------------------ cycles

#[tokio::test]
async fn cycle_a_b_a_completes_under_allow_all() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    requester
        .call(Ask::new(&worker, Work::CallBack(5), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(105)));
    node.shutdown().await;
}

#[tokio::test]
async fn cycle_a_b_a_completes_under_stash_through_the_call_chain() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    let (open, gate) = oneshot::channel();
    requester.send(Gate(gate)).unwrap();
    queued(&requester, 0).await; // the gate is taken: the actor waits on it
    // Queued before the call-back arrives: held while the request is in flight.
    let asked = tokio::spawn({
        let (requester, worker) = (requester.clone(), worker.clone());
        async move { requester.call(Ask::new(&worker, Work::CallBack(5), 1)).await }
    });
    queued(&requester, 1).await;
    requester.send(Note(1)).unwrap();
    open.send(()).unwrap();
    asked.await.unwrap().unwrap().unwrap();
    // The worker's call back belongs to the chain the requester waits on: it is let
    // in past the held note, and the request completes.
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(105)));
    assert_eq!(next(&mut events).await, Ev::Note(1));
    node.shutdown().await;
}

#[tokio::test]
async fn blocking_call_cycle_is_detected() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, _events) = spawn_requester(&node, Reentrancy::default());
    let started = std::time::Instant::now();
    let outcome = requester
        .call(BlockingCall(worker.clone(), Work::CallBack(5)))
        .await
        .unwrap();
    assert_eq!(outcome, Err(Error::CallCycle));
    assert!(
        started.elapsed() < PROMPT,
        "detected at once, not at the 30 s timeout"
    );
    // Both actors carry on.
    assert_eq!(
        requester.call(BlockingCall(worker, Work::Echo(2))).await.unwrap(),
        Ok(2)
    );
    node.shutdown().await;
}

/// An actor other nodes may spawn; it reports the reentrancy it was spawned with.
struct Probe;
impl Actor for Probe {
    type Args = u32;
    async fn init(_: u32, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Probe)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Mode>();
    }
}
impl RemoteActor for Probe {
    const KIND: &'static str = "test.reentrancy.probe";
}
#[derive(Serialize, Deserialize)]
struct Mode;
impl Message for Mode {
    type Reply = String;
}
impl RemoteMessage for Mode {
    const TAG: &'static str = "test.reentrancy.mode";
}
impl Handler<Mode> for Probe {
    type Return = String;
    async fn handle(&mut self, _: Mode, ctx: &mut Context<Self>) -> String {
        format!("{:?}", ctx.reentrancy_mode())
    }
}

#[tokio::test]
async fn unknown_wire_mode_decodes_as_off() {
    for code in [3, 7, -1, i32::MAX, i32::MIN] {
        assert_eq!(ReentrancyMode::from_wire(code), ReentrancyMode::Off);
    }
    // End to end: a spawn request whose options carry a mode this node does not know
    // (as a newer node could send) starts the actor with reentrancy off.
    let a = start_node("ma", config()).await;
    let b = start_node("mb", config()).await;
    b.allow_remote_spawn::<Probe>();
    let args = rmp_serde::to_vec(&0u32).unwrap();
    let pid = ackor::testing::spawn_remote_with_mode_code(&a, b.name(), Probe::KIND, args, 99)
        .await
        .unwrap();
    let probe = a.actor_ref::<Probe>(&pid).unwrap();
    assert_eq!(probe.call(Mode).await.unwrap(), "Off");
    // Known modes travel as they are.
    for (reentrancy, name) in [
        (Reentrancy::allow_all(), "AllowAll"),
        (
            Reentrancy::stash_non_reentrant().max_in_flight(4),
            "StashNonReentrant",
        ),
        (Reentrancy::default(), "Off"),
    ] {
        let opts = SpawnOptions::default().reentrancy(reentrancy);
        let probe = a.spawn_remote::<Probe>(b.name(), 0, opts).await.unwrap();
        assert_eq!(probe.call(Mode).await.unwrap(), name);
    }
    a.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ across two nodes

/// Two networked nodes: a worker registered as "worker" on `b`, as `a` sees it and as
/// `b` does.
async fn two_nodes() -> (Node, Node, ActorRef<Worker>, ActorRef<Worker>) {
    let a = start_node("ra", config()).await;
    let b = start_node("rb", config()).await;
    let worker = b
        .spawn_with::<Worker>((), SpawnOptions::default().name("worker"))
        .unwrap();
    let remote_worker = a.actor_ref::<Worker>(worker.pid()).unwrap();
    (a, b, remote_worker, worker)
}

#[tokio::test]
async fn remote_request_name_resolves_on_other_node() {
    let (a, b, _worker, _) = two_nodes().await;
    let (requester, mut events) = spawn_requester(&a, Reentrancy::allow_all());
    let id = ProcessId::new("worker", b.name().clone());
    requester
        .call(AskName(id, Work::Echo(9), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(9)));
    // An unknown name fails the continuation, promptly.
    let missing = ProcessId::new("nobody", b.name().clone());
    requester
        .call(AskName(missing, Work::Echo(9), 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(2, Err(Error::ProcessUnknown)));
    // A local name works the same way; a missing local one fails the request itself.
    let here = a
        .spawn_with::<Worker>((), SpawnOptions::default().name("local-worker"))
        .unwrap();
    requester
        .call(AskName(
            ProcessId::new("local-worker", a.name().clone()),
            Work::Echo(4),
            3,
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(3, Ok(4)));
    let nowhere = requester
        .call(AskName(
            ProcessId::new("nowhere", a.name().clone()),
            Work::Echo(4),
            4,
        ))
        .await
        .unwrap();
    assert_eq!(nowhere, Err(Error::ProcessUnknown));
    drop(here);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn remote_request_stash_timeout_cancel_and_error() {
    let (a, b, worker, at_b) = two_nodes().await;
    let (requester, mut events) = spawn_requester(&a, Reentrancy::stash_non_reentrant());
    // Held across the network round trip, released in order.
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    parked(&worker).await;
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 1));
    at_b.call(Release(11)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(11)));
    assert_eq!(next(&mut events).await, Ev::Note(1));
    // The callee's error.
    requester
        .call(Ask::new(&worker, Work::Fail, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Ev::Reply(2, Err(Error::Rejected("no".into())))
    );
    // A timeout, then the late important response is ignored.
    let opts = RequestOptions::new().with_request_timeout(Duration::from_millis(100));
    requester
        .call(Ask::new(&worker, Work::Park, 3).opts(opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(3, Err(Error::RequestTimeout)));
    assert_eq!(at_b.call(Release(5)).await.unwrap(), Err(Error::ResponseIgnored));
    // Cancel, likewise.
    requester
        .call(Ask::new(&worker, Work::Park, 4))
        .await
        .unwrap()
        .unwrap();
    parked(&worker).await;
    let canceled = requester.call(CancelAll).await.unwrap();
    assert_eq!(canceled.last(), Some(&true));
    assert_eq!(next(&mut events).await, Ev::Reply(4, Err(Error::RequestCanceled)));
    assert_eq!(at_b.call(Release(6)).await.unwrap(), Err(Error::ResponseIgnored));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn remote_cycle_a_b_a_completes_and_blocking_remote_cycle_is_detected() {
    let (a, b, worker, _) = two_nodes().await;
    let (requester, mut events) = spawn_requester(&a, Reentrancy::stash_non_reentrant());
    requester
        .call(Ask::new(&worker, Work::CallBack(1), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(101)));
    let blocking = requester
        .call(BlockingCall(worker.clone(), Work::CallBack(1)))
        .await
        .unwrap();
    assert_eq!(blocking, Err(Error::CallCycle));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn lost_connection_fails_remote_requests_at_once() {
    let a = start_node("la", config()).await;
    let (pid, die, thread) = common::mortal_node("lb", config(), |node| {
        node.spawn::<Worker>(()).unwrap().pid().clone()
    });
    let worker = a.actor_ref::<Worker>(&pid).unwrap();
    let (requester, mut events) = spawn_requester(&a, Reentrancy::allow_all());
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    parked(&worker).await;
    die.send(()).unwrap();
    thread.join().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Err(Error::ConnectionLost)));
    a.shutdown().await;
}

// ------------------------------------------------------------------ edge cases found in review

/// A user message that keeps the actor busy for 2 ms, then reports `Note(n)`.
struct Busy(u64);
impl Message for Busy {
    type Reply = ();
}
impl Handler<Busy> for Requester {
    type Return = ();
    async fn handle(&mut self, msg: Busy, _: &mut Context<Self>) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let _ = self.events.send(Ev::Note(msg.0));
    }
}

/// A backlog of user messages does not hold back a request's timeout: expired timers
/// are looked at before the next mailbox item.
#[tokio::test]
async fn request_timeout_fires_even_while_the_mailbox_stays_busy() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    let ask = Ask::new(&worker, Work::Park, 1)
        .opts(RequestOptions::new().with_request_timeout(Duration::from_millis(50)));
    requester.call(ask).await.unwrap().unwrap();
    for n in 0..300 {
        requester.send(Busy(n)).unwrap();
    }
    // 300 × 2 ms ≥ 600 ms of work; the 50 ms timeout should fire early on.
    let mut notes_before_timeout = 0;
    loop {
        match next(&mut events).await {
            Ev::Note(_) => notes_before_timeout += 1,
            Ev::Reply(1, Err(Error::RequestTimeout)) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        notes_before_timeout < 100,
        "the 50 ms timeout fired only after {notes_before_timeout} busy messages (~{} ms)",
        notes_before_timeout * 2
    );
    node.shutdown().await;
}

/// A request timeout (or node call timeout) longer than a timer can hold (about two
/// years) means no timeout, not a panic.
#[tokio::test]
async fn request_timeout_longer_than_a_timer_can_hold_means_no_timeout() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    for timeout in [Duration::from_secs(3 * 365 * 24 * 3600), Duration::MAX] {
        let (requester, _events) = spawn_requester(&node, Reentrancy::allow_all());
        let ask =
            Ask::new(&worker, Work::Echo(1), 1).opts(RequestOptions::new().with_request_timeout(timeout));
        let outcome = requester.call(ask).await;
        assert_eq!(outcome, Ok(Ok(())), "timeout {timeout:?}: requester is {:?}", {
            tokio::time::timeout(Duration::from_millis(200), requester.wait_for_stop()).await
        });
    }
    node.shutdown().await;
}

/// Requests the sender (a Requester) with `Query`, answers at once whether the request
/// was accepted. A reentrant actor that notifies its caller without waiting.
struct Notifier;
impl Actor for Notifier {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Notifier)
    }
}
struct Notify;
impl Message for Notify {
    type Reply = Result<(), Error>;
}
impl Handler<Notify> for Notifier {
    type Return = Result<(), Error>;
    async fn handle(&mut self, _: Notify, ctx: &mut Context<Self>) -> Result<(), Error> {
        let back = ctx
            .node()
            .actor_ref::<Requester>(&ctx.sender().cloned().unwrap())?;
        let _unanswered = ctx.request(&back, Query, RequestOptions::new())?;
        Ok(())
    }
}
struct CallNotifier(ActorRef<Notifier>);
impl Message for CallNotifier {
    type Reply = Result<(), Error>;
}
impl Handler<CallNotifier> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: CallNotifier, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.call(&msg.0, Notify).await?
    }
}

/// A non-blocking request to an actor blocked in a call is no cycle (nothing waits on
/// it): it is handled after the call returns.
#[tokio::test]
async fn request_to_a_caller_blocked_in_a_call_is_not_a_cycle() {
    let node = local_node().await;
    let notifier = node
        .spawn_with::<Notifier>((), SpawnOptions::default().reentrancy(Reentrancy::allow_all()))
        .unwrap();
    let (requester, _events) = spawn_requester(&node, Reentrancy::default());
    assert_eq!(requester.call(CallNotifier(notifier)).await.unwrap(), Ok(()));
    node.shutdown().await;
}

/// A requests B (which calls A back) and then blocks in a call to D.
struct AskThenBlock {
    b: ActorRef<Worker>,
    d: ActorRef<Worker>,
}
impl Message for AskThenBlock {
    type Reply = Result<u64, Error>;
}
impl Handler<AskThenBlock> for Requester {
    type Return = Result<u64, Error>;
    async fn handle(&mut self, msg: AskThenBlock, ctx: &mut Context<Self>) -> Result<u64, Error> {
        ctx.request(&msg.b, Work::CallBack(5), RequestOptions::new())?
            .then(Requester::report(1));
        ctx.call(&msg.d, Work::Park).await
    }
}

/// B's call back to A is no cycle while A waits on D (not on B): it completes once D
/// answers.
#[tokio::test]
async fn call_back_to_an_actor_blocked_on_another_is_not_a_cycle() {
    let node = local_node().await;
    let b = node.spawn::<Worker>(()).unwrap();
    let d = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    let asked = tokio::spawn({
        let (requester, b, d) = (requester.clone(), b.clone(), d.clone());
        async move { requester.call(AskThenBlock { b, d }).await }
    });
    parked(&d).await;
    // Give B time to call back while A is blocked on D.
    tokio::time::sleep(Duration::from_millis(100)).await;
    d.call(Release(1)).await.unwrap().unwrap();
    assert_eq!(asked.await.unwrap().unwrap(), Ok(1));
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(105)));
    node.shutdown().await;
}

/// Requests a parked job with a continuation that panics.
struct ParkThenPanic(ActorRef<Worker>);
impl Message for ParkThenPanic {
    type Reply = Result<(), Error>;
}
impl Handler<ParkThenPanic> for Requester {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: ParkThenPanic, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.request(&msg.0, Work::Park, RequestOptions::new())?
            .then(|_, _, _| panic!("continuation fails at stop"));
        Ok(())
    }
}

/// A continuation that panics while the actor stops fails the actor: its exit reason is
/// the panic, as for a panicking handler.
#[tokio::test]
async fn continuation_panicking_at_stop_fails_the_actor() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, _events) = spawn_requester(&node, Reentrancy::allow_all());
    requester
        .call(ParkThenPanic(worker.clone()))
        .await
        .unwrap()
        .unwrap();
    requester.stop().unwrap();
    let reason = requester.wait_for_stop().await;
    assert!(matches!(reason, ExitReason::Panic(_)), "exit reason {reason:?}");
    node.shutdown().await;
}

/// Holds the worker until the gate opens.
struct Hold(oneshot::Receiver<()>);
impl Message for Hold {
    type Reply = ();
}
impl Handler<Hold> for Worker {
    type Return = ();
    async fn handle(&mut self, msg: Hold, _: &mut Context<Self>) {
        let _ = msg.0.await;
    }
}

/// Under StashNonReentrant, a call back of the chain the actor waits on gets in even when
/// held messages fill the bounded user lane: A → B → A completes.
#[tokio::test]
async fn stash_cycle_call_back_gets_in_when_held_messages_fill_the_mailbox() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let opts = SpawnOptions::default()
        .mailbox_capacity(2)
        .reentrancy(Reentrancy::stash_non_reentrant());
    let requester = node.spawn_with::<Requester>(tx, opts).unwrap();
    let (open, gate) = oneshot::channel();
    worker.send(Hold(gate)).unwrap();
    requester
        .call(Ask::new(&worker, Work::CallBack(5), 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    requester.send(Note(2)).unwrap();
    open.send(()).unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(105)));
    node.shutdown().await;
}

/// `Context` and `RequestCall` stay `Send + Sync` (handler futures hold them).
#[test]
fn context_and_request_call_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Context<Requester>>();
    check::<RequestCall<Requester, u64>>();
}

/// Continuations attached after completion in one handler run in the order attached.
struct AttachAll;
impl Message for AttachAll {
    type Reply = ();
}
impl Handler<AttachAll> for Requester {
    type Return = ();
    async fn handle(&mut self, _: AttachAll, _: &mut Context<Self>) {
        for (i, call) in self.calls.iter().enumerate() {
            call.then(Requester::report(i as u64 + 1));
        }
    }
}

#[tokio::test]
async fn continuations_attached_after_completion_run_in_attach_order() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::allow_all());
    for n in 1..=2 {
        let mut ask = Ask::new(&worker, Work::Echo(n), n);
        ask.then = false;
        requester.call(ask).await.unwrap().unwrap();
    }
    parked(&worker).await;
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 0));
    requester.call(AttachAll).await.unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(1)));
    assert_eq!(next(&mut events).await, Ev::Reply(2, Ok(2)));
    node.shutdown().await;
}

/// With important delivery on, reports what it handles and what was not delivered.
struct Flag {
    events: mpsc::UnboundedSender<String>,
    ghost: ActorRef<Worker>,
}
impl Actor for Flag {
    type Args = (mpsc::UnboundedSender<String>, ActorRef<Worker>);
    async fn init((events, ghost): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.set_important_delivery(true);
        Ok(Flag { events, ghost })
    }
    async fn on_undelivered(&mut self, _: &mut Context<Self>, failure: ackor::DeliveryFailure) {
        let _ = self.events.send(format!("undelivered: {}", failure.error));
    }
}
struct TimeoutThenSend(ActorRef<Worker>);
impl Message for TimeoutThenSend {
    type Reply = Result<(), Error>;
}
impl Handler<TimeoutThenSend> for Flag {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: TimeoutThenSend, ctx: &mut Context<Self>) -> Result<(), Error> {
        let opts = RequestOptions::new().with_request_timeout(Duration::from_millis(50));
        ctx.request(&msg.0, Work::Park, opts)?.then(|this, ctx, outcome| {
            let _ = this.events.send(format!("continuation: {outcome:?}"));
            let ghost = this.ghost.clone();
            let _ = ctx.send(&ghost, Work::Echo(1));
        });
        Ok(())
    }
}
struct FlagNote;
impl Message for FlagNote {
    type Reply = ();
}
impl Handler<FlagNote> for Flag {
    type Return = ();
    async fn handle(&mut self, _: FlagNote, _: &mut Context<Self>) {
        let _ = self.events.send("note".into());
    }
}

/// Important sends made by a timeout continuation are settled (and failures reported)
/// before the next message runs.
#[tokio::test]
async fn important_sends_of_a_timeout_continuation_settle_before_the_next_message() {
    let (a, b, remote_worker, worker) = two_nodes().await;
    let gone = b.spawn::<Worker>(()).unwrap();
    gone.stop().unwrap();
    gone.wait_for_stop().await;
    let ghost = a.actor_ref::<Worker>(gone.pid()).unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let flag = a
        .spawn_with::<Flag>(
            (tx, ghost),
            SpawnOptions::default().reentrancy(Reentrancy::allow_all()),
        )
        .unwrap();
    flag.call(TimeoutThenSend(remote_worker)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    flag.send(FlagNote).unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            tokio::time::timeout(PROMPT, events.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(seen[0], "continuation: Err(RequestTimeout)");
    assert!(seen[1].starts_with("undelivered"), "{seen:?}");
    assert_eq!(seen[2], "note");
    drop(worker);
    a.shutdown().await;
    b.shutdown().await;
}

/// Calls itself (blocking).
struct CallSelf;
impl Message for CallSelf {
    type Reply = Result<u64, Error>;
}
impl Handler<CallSelf> for Requester {
    type Return = Result<u64, Error>;
    async fn handle(&mut self, _: CallSelf, ctx: &mut Context<Self>) -> Result<u64, Error> {
        let me = ctx.actor_ref();
        ctx.call(&me, Query).timeout(Duration::from_secs(2)).await
    }
}

/// The simplest blocking cycle, a call to oneself, fails at once with `CallCycle`.
#[tokio::test]
async fn blocking_call_to_itself_is_a_cycle() {
    let node = local_node().await;
    let (requester, _events) = spawn_requester(&node, Reentrancy::default());
    let started = std::time::Instant::now();
    let outcome = requester.call(CallSelf).await.unwrap();
    assert_eq!(outcome, Err(Error::CallCycle), "after {:?}", started.elapsed());
    node.shutdown().await;
}

// ------------------------------------------------------------------ switched at run time

/// Switches the requester's reentrancy mode; interleaves, so it also runs while a
/// stash-mode request holds user messages.
struct SetMode(ReentrancyMode);
impl Message for SetMode {
    type Reply = ReentrancyMode;
    const INTERLEAVE: bool = true;
}
impl Handler<SetMode> for Requester {
    type Return = ReentrancyMode;
    async fn handle(&mut self, msg: SetMode, ctx: &mut Context<Self>) -> ReentrancyMode {
        ctx.set_reentrancy_mode(msg.0);
        ctx.reentrancy_mode()
    }
}

#[tokio::test]
async fn reentrancy_enabled_at_run_time() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    // Spawned with reentrancy off: requests are refused...
    let (requester, mut events) = spawn_requester(&node, Reentrancy::default());
    let refused = requester.call(Ask::new(&worker, Work::Echo(1), 1)).await.unwrap();
    assert_eq!(refused, Err(Error::ReentrancyDisabled));
    // ...until the actor turns it on.
    let mode = requester.call(SetMode(ReentrancyMode::AllowAll)).await.unwrap();
    assert_eq!(mode, ReentrancyMode::AllowAll);
    requester
        .call(Ask::new(&worker, Work::Park, 2))
        .await
        .unwrap()
        .unwrap();
    // AllowAll: the actor handles other messages while the request is out.
    requester.send(Note(7)).unwrap();
    assert_eq!(next(&mut events).await, Ev::Note(7));
    parked(&worker).await;
    worker.call(Release(42)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(2, Ok(42)));
    node.shutdown().await;
}

#[tokio::test]
async fn reentrancy_disabled_at_run_time_keeps_in_flight_requests() {
    let node = local_node().await;
    let worker = node.spawn::<Worker>(()).unwrap();
    let (requester, mut events) = spawn_requester(&node, Reentrancy::stash_non_reentrant());
    requester
        .call(Ask::new(&worker, Work::Park, 1))
        .await
        .unwrap()
        .unwrap();
    requester.send(Note(1)).unwrap();
    // Off, while a stash-mode request is in flight: it still holds user messages...
    assert_eq!(
        requester.call(SetMode(ReentrancyMode::Off)).await.unwrap(),
        ReentrancyMode::Off
    );
    assert_eq!(requester.call(Peek).await.unwrap(), (vec![], 1));
    parked(&worker).await;
    // ...and completes, its continuation runs, then the held note.
    worker.call(Release(42)).await.unwrap().unwrap();
    assert_eq!(next(&mut events).await, Ev::Reply(1, Ok(42)));
    assert_eq!(next(&mut events).await, Ev::Note(1));
    // New requests are refused now.
    let refused = requester.call(Ask::new(&worker, Work::Echo(2), 2)).await.unwrap();
    assert_eq!(refused, Err(Error::ReentrancyDisabled));
    node.shutdown().await;
}
