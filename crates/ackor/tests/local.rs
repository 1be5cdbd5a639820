//! Local actors: lifecycle, mailbox lanes, calls, deferred replies, names, monitors,
//! links and crash isolation, on one node.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Down, Error, Exit, ExitReason, Handler, Message, Node, Pid,
    ProcessId, Reply, ReplyHandle, SpawnOptions,
};
use tokio::sync::{mpsc, oneshot};

/// Far longer than any test should take: proves an answer came early, not at expiry.
const LONG: Duration = Duration::from_secs(60);
/// A bound on "at once" answers, well under `LONG`.
const PROMPT: Duration = Duration::from_secs(5);

static NODE_SEQ: AtomicU64 = AtomicU64::new(0);

async fn node() -> Node {
    let n = NODE_SEQ.fetch_add(1, Ordering::Relaxed);
    Node::builder()
        .name(format!("test{n}@local"))
        .call_timeout(LONG)
        .start()
        .await
        .expect("node starts")
}

/// What a [`Probe`] saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Started,
    Got(u64),
    From(Option<Pid>, u64),
    Continued(u64),
    Down(Pid, ExitReason),
    Exit(Pid, ExitReason),
    Stopped(ExitReason),
}

/// A test actor that reports everything it sees on a channel.
struct Probe {
    events: mpsc::UnboundedSender<Event>,
    pending: Vec<ReplyHandle<u64>>,
    trap: bool,
}

struct ProbeArgs {
    events: mpsc::UnboundedSender<Event>,
    trap: bool,
}

impl Actor for Probe {
    type Args = ProbeArgs;
    async fn init(args: ProbeArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.trap_exits(args.trap);
        let _ = args.events.send(Event::Started);
        Ok(Probe {
            events: args.events,
            pending: Vec::new(),
            trap: args.trap,
        })
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, reason: &ExitReason) {
        let _ = self.events.send(Event::Stopped(reason.clone()));
    }
    async fn on_down(&mut self, _ctx: &mut Context<Self>, down: Down) {
        let _ = self.events.send(Event::Down(down.pid, down.reason));
    }
    async fn on_exit(&mut self, _ctx: &mut Context<Self>, exit: Exit) {
        assert!(self.trap);
        let _ = self.events.send(Event::Exit(exit.pid, exit.reason));
    }
}

fn probe(node: &Node) -> (ActorRef<Probe>, mpsc::UnboundedReceiver<Event>) {
    probe_with(node, SpawnOptions::default(), false)
}

fn probe_with(
    node: &Node,
    opts: SpawnOptions,
    trap: bool,
) -> (ActorRef<Probe>, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let actor = node
        .spawn_with::<Probe>(ProbeArgs { events: tx, trap }, opts)
        .expect("spawn");
    (actor, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(PROMPT, rx.recv())
        .await
        .expect("an event in time")
        .expect("probe alive")
}

/// Records a number.
struct Note(u64);
impl Message for Note {
    type Reply = u64;
}
impl Handler<Note> for Probe {
    type Return = u64;
    async fn handle(&mut self, msg: Note, ctx: &mut Context<Self>) -> u64 {
        let _ = self.events.send(Event::From(ctx.sender().cloned(), msg.0));
        msg.0
    }
}

/// Records a number (without the sender).
struct Record(u64);
impl Message for Record {
    type Reply = ();
}
impl Handler<Record> for Probe {
    type Return = ();
    async fn handle(&mut self, msg: Record, _ctx: &mut Context<Self>) {
        let _ = self.events.send(Event::Got(msg.0));
    }
}

/// Blocks the actor until the gate opens (or its sender is dropped).
struct Block(oneshot::Receiver<()>);
impl Message for Block {
    type Reply = ();
}
impl Handler<Block> for Probe {
    type Return = ();
    async fn handle(&mut self, msg: Block, _ctx: &mut Context<Self>) {
        let _ = msg.0.await;
    }
}

/// Answers after a delay.
struct SlowEcho(u64, Duration);
impl Message for SlowEcho {
    type Reply = u64;
}
impl Handler<SlowEcho> for Probe {
    type Return = u64;
    async fn handle(&mut self, msg: SlowEcho, _ctx: &mut Context<Self>) -> u64 {
        tokio::time::sleep(msg.1).await;
        msg.0
    }
}

/// Panics.
struct Boom;
impl Message for Boom {
    type Reply = ();
}
impl Handler<Boom> for Probe {
    type Return = ();
    async fn handle(&mut self, _: Boom, _ctx: &mut Context<Self>) {
        panic!("boom");
    }
}

/// How a deferred call is to be answered.
enum Defer {
    Keep,
    DropIt,
    ForgetToTake,
    FromTask(u64),
}
impl Message for Defer {
    type Reply = u64;
}
impl Handler<Defer> for Probe {
    type Return = Reply<u64>;
    async fn handle(&mut self, msg: Defer, ctx: &mut Context<Self>) -> Reply<u64> {
        match msg {
            Defer::Keep => {
                if let Some(h) = ctx.defer_reply() {
                    self.pending.push(h);
                }
            }
            Defer::DropIt => drop(ctx.defer_reply::<u64>()),
            Defer::ForgetToTake => {}
            Defer::FromTask(v) => {
                if let Some(h) = ctx.defer_reply::<u64>() {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        h.reply(v);
                    });
                }
            }
        }
        Reply::Deferred
    }
}

/// Answers every kept deferred call: with `Ok(v)` or with a rejection.
struct AnswerPending(Result<u64, String>);
impl Message for AnswerPending {
    type Reply = usize;
}
impl Handler<AnswerPending> for Probe {
    type Return = usize;
    async fn handle(&mut self, msg: AnswerPending, _ctx: &mut Context<Self>) -> usize {
        let n = self.pending.len();
        for h in self.pending.drain(..) {
            match &msg.0 {
                Ok(v) => h.reply(*v),
                Err(e) => h.fail(Error::rejected(e)),
            }
        }
        n
    }
}

/// Monitors or links to a pid.
enum Watch {
    Monitor(Pid),
    Link(Pid),
    Unlink(Pid),
}
impl Message for Watch {
    type Reply = ();
}
impl Handler<Watch> for Probe {
    type Return = ();
    async fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        match msg {
            Watch::Monitor(p) => {
                ctx.monitor(&p);
            }
            Watch::Link(p) => ctx.link(&p),
            Watch::Unlink(p) => ctx.unlink(&p),
        }
    }
}

/// Calls another probe from inside the actor, with this actor as the sender.
struct CallOther(ActorRef<Probe>, u64);
impl Message for CallOther {
    type Reply = Result<u64, Error>;
}
impl Handler<CallOther> for Probe {
    type Return = Result<u64, Error>;
    async fn handle(&mut self, msg: CallOther, ctx: &mut Context<Self>) -> Result<u64, Error> {
        ctx.call(&msg.0, Note(msg.1)).await
    }
}

/// Pipes a future's output back as a continuation.
struct PipeAfter(oneshot::Receiver<u64>);
impl Message for PipeAfter {
    type Reply = ();
}
impl Handler<PipeAfter> for Probe {
    type Return = ();
    async fn handle(&mut self, msg: PipeAfter, ctx: &mut Context<Self>) {
        let piped = ctx.pipe_to(async move { msg.0.await.unwrap_or(0) }, |this, _ctx, v| {
            let _ = this.events.send(Event::Continued(v.unwrap_or(u64::MAX)));
        });
        assert!(piped.is_ok(), "pipe_to refused: {piped:?}");
    }
}

/// Stops the actor from inside.
struct StopSelf;
impl Message for StopSelf {
    type Reply = ();
}
impl Handler<StopSelf> for Probe {
    type Return = ();
    async fn handle(&mut self, _: StopSelf, ctx: &mut Context<Self>) {
        ctx.stop_with(ExitReason::Error("done".into()));
    }
}

/// Spawns a linked or monitored child probe that reports to the same channel.
enum SpawnChild {
    Linked,
    Monitored,
}
impl Message for SpawnChild {
    type Reply = Result<ActorRef<Probe>, Error>;
}
impl Handler<SpawnChild> for Probe {
    type Return = Result<ActorRef<Probe>, Error>;
    async fn handle(&mut self, msg: SpawnChild, ctx: &mut Context<Self>) -> Result<ActorRef<Probe>, Error> {
        let args = ProbeArgs {
            events: self.events.clone(),
            trap: false,
        };
        match msg {
            SpawnChild::Linked => ctx.spawn_link::<Probe>(args),
            SpawnChild::Monitored => ctx.spawn_monitor::<Probe>(args).map(|(c, _)| c),
        }
    }
}

fn gate() -> (oneshot::Sender<()>, Block) {
    let (tx, rx) = oneshot::channel();
    (tx, Block(rx))
}

// ---------------------------------------------------------------- lifecycle

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_actor_runs_init_and_handles_messages() {
    let node = node().await;
    let (a, mut ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    a.send(Record(1)).expect("send");
    assert_eq!(a.call(Note(2)).await, Ok(2));
    assert_eq!(next(&mut ev).await, Event::Got(1));
    assert_eq!(next(&mut ev).await, Event::From(None, 2));
    assert_eq!(a.pid().node(), node.name());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_actor_and_runs_on_stop() {
    let node = node().await;
    let mut probes = Vec::new();
    for _ in 0..5 {
        probes.push(probe(&node));
    }
    for (_, ev) in &mut probes {
        assert_eq!(next(ev).await, Event::Started);
    }
    node.shutdown().await;
    assert_eq!(node.process_count(), 0);
    for (a, ev) in &mut probes {
        assert_eq!(next(ev).await, Event::Stopped(ExitReason::Shutdown));
        assert!(!a.is_alive());
    }
    let late = node.spawn::<Probe>(ProbeArgs {
        events: mpsc::unbounded_channel().0,
        trap: false,
    });
    assert_eq!(late.err(), Some(Error::NodeStopped));
}

struct Stubborn;
impl Actor for Stubborn {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Stubborn)
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        std::future::pending::<()>().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_actors_whose_on_stop_hangs() {
    let node = Node::builder()
        .name("stubborn@local")
        .shutdown_timeout(Duration::from_millis(100))
        .start()
        .await
        .expect("node");
    let s = node.spawn::<Stubborn>(()).expect("spawn");
    let exit = s.wait_for_stop();
    tokio::time::timeout(PROMPT, node.shutdown())
        .await
        .expect("shutdown ends");
    assert_eq!(exit.await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_runs_on_stop_with_reason_and_kill_skips_it() {
    let node = node().await;
    let (a, mut ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    a.stop().expect("stop");
    assert_eq!(a.wait_for_stop().await, ExitReason::Normal);
    assert_eq!(next(&mut ev).await, Event::Stopped(ExitReason::Normal));

    let (b, mut ev) = probe(&node);
    let (_open, block) = gate();
    b.send(block).expect("send");
    assert_eq!(next(&mut ev).await, Event::Started);
    // Killed in the middle of a handler that would never finish.
    b.kill();
    assert_eq!(b.wait_for_stop().await, ExitReason::Killed);
    assert!(ev.recv().await.is_none(), "no on_stop after kill");

    let (c, mut ev) = probe(&node);
    c.send(StopSelf).expect("send");
    assert_eq!(c.wait_for_stop().await, ExitReason::Error("done".into()));
    assert_eq!(next(&mut ev).await, Event::Started);
    assert_eq!(
        next(&mut ev).await,
        Event::Stopped(ExitReason::Error("done".into()))
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_waiter_gets_the_exit_reason_however_it_waits() {
    let node = node().await;
    let (a, mut ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    // Tasks waiting from the start, and one that waits again and again with a short
    // timeout (each wait of that task must not be kept as one more waiter).
    let waiting: Vec<_> = (0..8).map(|_| tokio::spawn(a.wait_for_stop())).collect();
    let patient = tokio::spawn({
        let a = a.clone();
        async move {
            loop {
                if let Ok(reason) = tokio::time::timeout(Duration::from_millis(1), a.wait_for_stop()).await {
                    return reason;
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let done = ExitReason::Error("done".into());
    a.send(StopSelf).expect("send");
    for w in waiting {
        assert_eq!(tokio::time::timeout(PROMPT, w).await.unwrap().unwrap(), done);
    }
    assert_eq!(
        tokio::time::timeout(PROMPT, patient).await.unwrap().unwrap(),
        done
    );
    // A wait that starts after the end answers at once, with the same reason.
    assert_eq!(
        tokio::time::timeout(PROMPT, a.wait_for_stop()).await.unwrap(),
        done
    );
    assert_eq!(
        tokio::time::timeout(PROMPT, node.wait_for_exit(a.pid()))
            .await
            .unwrap(),
        ExitReason::NoProcess
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_a_wait_for_stop_returns_the_actor_is_gone_and_its_name_free() {
    let node = node().await;
    // Many actors told to stop at once end on both workers while this task waits for
    // each in turn: some waits start while their actor is half-way through its end.
    // Each must still return only once the end is complete.
    for round in 0..4 {
        let actors: Vec<_> = (0..500)
            .map(|i| {
                let name = format!("gone{round}-{i}");
                let (a, ev) = probe_with(&node, SpawnOptions::default().name(&name), false);
                (a, ev, name)
            })
            .collect();
        for (a, _, _) in &actors {
            a.stop().expect("stop");
        }
        for (a, _, name) in &actors {
            assert_eq!(a.wait_for_stop().await, ExitReason::Normal);
            assert!(!node.is_alive(a.pid()), "{name}: still in the process table");
            assert_eq!(node.whereis(name), None, "{name}: its name is still taken");
        }
        assert_eq!(node.process_count(), 0, "round {round}");
    }
    node.shutdown().await;
}

// ---------------------------------------------------------------- send and call

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_full_mailbox_fails_with_mailbox_full() {
    let node = node().await;
    // Capacity 4: the blocking message the actor is handling counts, three more fit.
    let (a, _ev) = probe_with(&node, SpawnOptions::default().mailbox_capacity(4), false);
    let (open, block) = gate();
    a.call(Note(0)).await.expect("started");
    a.send(block).expect("send");
    // Wait until the actor has taken the blocking message out of its mailbox.
    while a.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    for i in 0..3 {
        a.send(Record(i)).expect("room for three");
    }
    assert_eq!(a.send(Record(3)), Err(Error::MailboxFull));
    assert_eq!(a.call(Note(4)).await, Err(Error::MailboxFull));
    assert_eq!(a.mailbox_len(), Some(3));
    open.send(()).expect("open");
    // Space frees as the actor works; the node keeps serving it.
    while a.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    assert_eq!(a.call(Note(5)).await, Ok(5));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_wait_waits_for_capacity_instead_of_failing() {
    let node = node().await;
    let (a, mut ev) = probe_with(&node, SpawnOptions::default().mailbox_capacity(1), false);
    assert_eq!(next(&mut ev).await, Event::Started);
    for i in 0..200 {
        a.send_wait(Record(i)).await.expect("send_wait");
    }
    for i in 0..200 {
        assert_eq!(next(&mut ev).await, Event::Got(i));
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_wait_to_actor_that_stops_fails_with_process_terminated() {
    let node = node().await;
    // Capacity 2: the blocking message in hand and one more.
    let (a, _ev) = probe_with(&node, SpawnOptions::default().mailbox_capacity(2), false);
    let (_open, block) = gate();
    a.send(block).expect("send");
    while a.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    a.send(Record(1)).expect("fills the mailbox");
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.send_wait(Record(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.kill();
    let outcome = tokio::time::timeout(PROMPT, waiting)
        .await
        .expect("prompt")
        .expect("join");
    assert_eq!(outcome, Err(Error::ProcessTerminated));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_stopped_actor_fails_with_process_terminated() {
    let node = node().await;
    let (a, _ev) = probe(&node);
    let pid = a.pid().clone();
    a.stop().expect("stop");
    a.wait_for_stop().await;
    assert_eq!(a.send(Record(1)), Err(Error::ProcessTerminated));
    assert_eq!(a.call(Note(1)).await, Err(Error::ProcessTerminated));
    assert_eq!(a.stop(), Err(Error::ProcessTerminated));
    // By pid, a stopped process is unknown: its mailbox is released.
    assert_eq!(node.actor_ref::<Probe>(&pid).err(), Some(Error::ProcessUnknown));
    assert!(!node.is_alive(&pid));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_uses_node_default_timeout_unless_overridden() {
    let node = Node::builder()
        .name("timeouts@local")
        .call_timeout(Duration::from_millis(50))
        .start()
        .await
        .expect("node");
    let (a, _ev) = probe(&node);
    let slow = Duration::from_millis(300);
    assert_eq!(a.call(SlowEcho(1, slow)).await, Err(Error::Timeout));
    assert_eq!(a.call(SlowEcho(2, slow)).timeout(LONG).await, Ok(2));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_times_out_and_late_reply_is_discarded() {
    let node = node().await;
    let (a, _ev) = probe(&node);
    let started = tokio::time::Instant::now();
    let late = a
        .call(SlowEcho(1, Duration::from_millis(200)))
        .timeout(Duration::from_millis(20))
        .await;
    assert_eq!(late, Err(Error::Timeout));
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "gave up at the timeout"
    );
    // The next call gets its own answer, not the late one, once the slow handler ends.
    assert_eq!(a.call(Note(2)).await, Ok(2));
    assert_eq!(a.call(SlowEcho(3, Duration::ZERO)).await, Ok(3));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_to_actor_that_stops_fails_fast() {
    let node = node().await;

    // The callee is killed while handling the call.
    let (a, _ev) = probe(&node);
    let (_open, block) = gate();
    a.send(block).expect("send");
    let queued = tokio::spawn({
        let a = a.clone();
        async move { a.call(Note(1)).await }
    });
    let running = tokio::spawn({
        let a = a.clone();
        async move { a.call(SlowEcho(2, LONG)).timeout(LONG).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.kill();
    let queued = tokio::time::timeout(PROMPT, queued)
        .await
        .expect("prompt")
        .expect("join");
    assert_eq!(queued, Err(Error::ProcessTerminated));
    let running = tokio::time::timeout(PROMPT, running)
        .await
        .expect("prompt")
        .expect("join");
    assert_eq!(running, Err(Error::ProcessTerminated));

    // The callee holds the reply (deferred) and stops.
    let (b, _ev) = probe(&node);
    let pending = tokio::spawn({
        let b = b.clone();
        async move { b.call(Defer::Keep).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.stop().expect("stop");
    let pending = tokio::time::timeout(PROMPT, pending)
        .await
        .expect("prompt")
        .expect("join");
    assert_eq!(pending, Err(Error::ProcessTerminated));

    // The callee panics while handling the call.
    let (c, _ev) = probe(&node);
    struct PanicOnCall;
    impl Message for PanicOnCall {
        type Reply = u64;
    }
    impl Handler<PanicOnCall> for Probe {
        type Return = u64;
        async fn handle(&mut self, _: PanicOnCall, _: &mut Context<Self>) -> u64 {
            panic!("no answer");
        }
    }
    let crashed = tokio::time::timeout(PROMPT, c.call(PanicOnCall))
        .await
        .expect("prompt");
    assert_eq!(crashed, Err(Error::ProcessTerminated));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_send_and_call_carry_the_sender_pid() {
    let node = node().await;
    let (a, _ea) = probe(&node);
    let (b, mut eb) = probe(&node);
    assert_eq!(next(&mut eb).await, Event::Started);
    assert_eq!(a.call(CallOther(b.clone(), 7)).await, Ok(Ok(7)));
    assert_eq!(next(&mut eb).await, Event::From(Some(a.pid().clone()), 7));
    node.shutdown().await;
}

// ---------------------------------------------------------------- mailbox lanes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_delivered_when_user_lane_is_full() {
    let node = node().await;
    // Capacity 3: the blocking message in hand and two more.
    let (a, mut ev) = probe_with(&node, SpawnOptions::default().mailbox_capacity(3), false);
    assert_eq!(next(&mut ev).await, Event::Started);

    // A continuation (response lane) arrives while the user lane is full.
    let (value_tx, value_rx) = oneshot::channel();
    a.call(PipeAfter(value_rx)).await.expect("piped");
    let (open, block) = gate();
    a.send(block).expect("block");
    while a.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    a.send(Record(1)).expect("1");
    a.send(Record(2)).expect("2");
    assert_eq!(a.send(Record(3)), Err(Error::MailboxFull));
    value_tx.send(42).expect("value");
    tokio::time::sleep(Duration::from_millis(20)).await;
    open.send(()).expect("open");
    // The reply overtakes the user messages queued before it.
    assert_eq!(next(&mut ev).await, Event::Continued(42));
    assert_eq!(next(&mut ev).await, Event::Got(1));
    assert_eq!(next(&mut ev).await, Event::Got(2));

    // A call reply reaches an actor whose own user lane is full.
    let (b, _eb) = probe(&node);
    let (open, block) = gate();
    a.send(block).expect("block");
    while a.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    let caller = tokio::spawn({
        let (a, b) = (a.clone(), b.clone());
        async move {
            // Queued behind the gate; once it runs, it calls b while a's lane is full.
            a.call(CallOther(b, 9)).await
        }
    });
    while a.mailbox_len() < Some(1) {
        tokio::task::yield_now().await;
    }
    a.send(Record(10)).expect("fills the lane");
    assert_eq!(a.send(Record(11)), Err(Error::MailboxFull));
    open.send(()).expect("open");
    let answer = tokio::time::timeout(PROMPT, caller)
        .await
        .expect("prompt")
        .expect("join");
    assert_eq!(answer, Ok(Ok(9)));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_messages_overtake_user_messages() {
    let node = node().await;

    // A Down notification is handled before user messages queued earlier.
    let (watcher, mut ev) = probe(&node);
    let (victim, _ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    watcher
        .call(Watch::Monitor(victim.pid().clone()))
        .await
        .expect("monitor");
    let (open, block) = gate();
    watcher.send(block).expect("block");
    for i in 0..5 {
        watcher.send(Record(i)).expect("queue");
    }
    victim.kill();
    victim.wait_for_stop().await;
    open.send(()).expect("open");
    assert_eq!(
        next(&mut ev).await,
        Event::Down(victim.pid().clone(), ExitReason::Killed)
    );
    for i in 0..5 {
        assert_eq!(next(&mut ev).await, Event::Got(i));
    }

    // A stop overtakes queued user messages: they are not handled, their callers are
    // told the process terminated.
    let (a, mut ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    let (open, block) = gate();
    a.send(block).expect("block");
    // Blocked with nothing else taken: the actor takes its lane in batches, and one
    // taken with records in it would never let the lane below reach 6.
    while a.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    for i in 0..5 {
        a.send(Record(i)).expect("queue");
    }
    let queued_call = tokio::spawn({
        let a = a.clone();
        async move { a.call(Note(99)).await }
    });
    while a.mailbox_len() < Some(6) {
        tokio::task::yield_now().await;
    }
    a.stop().expect("stop");
    open.send(()).expect("open");
    assert_eq!(next(&mut ev).await, Event::Stopped(ExitReason::Normal));
    let queued_call = tokio::time::timeout(PROMPT, queued_call)
        .await
        .expect("prompt")
        .expect("join");
    assert_eq!(queued_call, Err(Error::ProcessTerminated));
    node.shutdown().await;
}

/// Counts messages per sender and checks each sender's sequence numbers increase.
struct OrderCheck {
    last: std::collections::HashMap<u64, u64>,
    received: u64,
    out_of_order: u64,
}
impl Actor for OrderCheck {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(OrderCheck {
            last: Default::default(),
            received: 0,
            out_of_order: 0,
        })
    }
}
struct Seq {
    sender: u64,
    n: u64,
}
impl Message for Seq {
    type Reply = ();
}
impl Handler<Seq> for OrderCheck {
    type Return = ();
    async fn handle(&mut self, msg: Seq, _: &mut Context<Self>) {
        self.received += 1;
        let last = self.last.entry(msg.sender).or_insert(0);
        if msg.n != *last + 1 {
            self.out_of_order += 1;
        }
        *last = msg.n;
    }
}
struct Tally;
impl Message for Tally {
    type Reply = (u64, u64);
}
impl Handler<Tally> for OrderCheck {
    type Return = (u64, u64);
    async fn handle(&mut self, _: Tally, _: &mut Context<Self>) -> (u64, u64) {
        (self.received, self.out_of_order)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_one_sender_arrive_in_order() {
    let node = node().await;
    let checker = node
        .spawn_with::<OrderCheck>((), SpawnOptions::default().mailbox_capacity(64))
        .expect("spawn");
    const SENDERS: u64 = 4;
    const EACH: u64 = 20_000;
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let checker = checker.clone();
        tasks.push(tokio::spawn(async move {
            for n in 1..=EACH {
                // Mix the waiting and the non-waiting send.
                let msg = Seq { sender, n };
                if n % 2 == 0 {
                    checker.send_wait(msg).await.expect("send_wait");
                } else if let Err((Error::MailboxFull, msg)) =
                    checker.send(msg).map_err(|e| (e, Seq { sender, n }))
                {
                    checker.send_wait(msg).await.expect("send_wait");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    // `call` does not wait for room: the 64-message lane may still be full here.
    let tally = loop {
        match checker.call(Tally).await {
            Err(Error::MailboxFull) => tokio::task::yield_now().await,
            other => break other,
        }
    };
    assert_eq!(tally, Ok((SENDERS * EACH, 0)));
    node.shutdown().await;
}

// ---------------------------------------------------------------- deferred replies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_reply_is_answered_from_a_later_message() {
    let node = node().await;
    let (a, _ev) = probe(&node);
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.call(Defer::Keep).await }
    });
    let second = tokio::spawn({
        let a = a.clone();
        async move { a.call(Defer::Keep).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The actor stays responsive while the calls wait.
    assert_eq!(a.call(Note(1)).await, Ok(1));
    assert_eq!(a.call(AnswerPending(Ok(7))).await, Ok(2));
    assert_eq!(first.await.expect("join"), Ok(7));
    assert_eq!(second.await.expect("join"), Ok(7));

    let rejected = tokio::spawn({
        let a = a.clone();
        async move { a.call(Defer::Keep).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(a.call(AnswerPending(Err("no funds".into()))).await, Ok(1));
    assert_eq!(
        rejected.await.expect("join"),
        Err(Error::Rejected("no funds".into()))
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_reply_is_answered_from_a_spawned_task() {
    let node = node().await;
    let (a, _ev) = probe(&node);
    assert_eq!(a.call(Defer::FromTask(11)).await, Ok(11));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_reply_dropped_answers_with_error() {
    let node = node().await;
    let (a, _ev) = probe(&node);
    let dropped = tokio::time::timeout(PROMPT, a.call(Defer::DropIt))
        .await
        .expect("prompt");
    assert_eq!(dropped, Err(Error::ReplyDropped));
    let never_taken = tokio::time::timeout(PROMPT, a.call(Defer::ForgetToTake))
        .await
        .expect("prompt");
    assert_eq!(never_taken, Err(Error::ReplyDropped));
    // The actor is fine.
    assert_eq!(a.call(Note(3)).await, Ok(3));
    node.shutdown().await;
}

// ---------------------------------------------------------------- names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_and_freed_on_stop() {
    let node = node().await;
    let (bank, _ev) = probe_with(&node, SpawnOptions::default().name("bank"), false);
    assert_eq!(node.whereis("bank"), Some(bank.pid().clone()));
    let id = ProcessId::new("bank", node.name().clone());
    assert_eq!(node.lookup::<Probe>(&id), Ok(bank.clone()));
    assert_eq!(node.lookup::<OrderCheck>(&id).err(), Some(Error::ProcessUnknown));
    let elsewhere = ProcessId::new("bank", ackor::NodeName::new("other@local"));
    assert_eq!(
        node.lookup::<Probe>(&elsewhere).err(),
        Some(Error::ProcessUnknown)
    );

    // Unique per node.
    let (tx, _rx) = mpsc::unbounded_channel();
    let twin = node.spawn_with::<Probe>(
        ProbeArgs {
            events: tx,
            trap: false,
        },
        SpawnOptions::default().name("bank"),
    );
    assert_eq!(twin.err(), Some(Error::NameTaken("bank".into())));
    let (other, _eo) = probe(&node);
    assert_eq!(
        node.register("bank", other.pid()),
        Err(Error::NameTaken("bank".into()))
    );
    // One name per process.
    assert_eq!(
        node.register("vault", bank.pid()),
        Err(Error::AlreadyRegistered("bank".into()))
    );
    // Unregister and register again.
    assert!(node.register("teller", other.pid()).is_ok());
    assert!(node.unregister("teller"));
    assert!(!node.unregister("teller"));
    assert_eq!(node.whereis("teller"), None);
    assert!(node.register("teller", other.pid()).is_ok());

    // Freed when the actor stops.
    bank.stop().expect("stop");
    bank.wait_for_stop().await;
    assert_eq!(node.whereis("bank"), None);
    assert_eq!(node.lookup::<Probe>(&id).err(), Some(Error::ProcessUnknown));
    let (again, _ea) = probe_with(&node, SpawnOptions::default().name("bank"), false);
    assert_eq!(node.whereis("bank"), Some(again.pid().clone()));
    assert_ne!(again.pid(), bank.pid());

    // Registering a stopped process fails.
    let pid = other.pid().clone();
    other.stop().expect("stop");
    other.wait_for_stop().await;
    assert_eq!(node.register("late", &pid), Err(Error::ProcessUnknown));
    node.shutdown().await;
}

// ---------------------------------------------------------------- monitors and links

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_delivers_down_with_the_reason() {
    let node = node().await;
    let (watcher, mut ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    let (victim, _ev) = probe(&node);
    watcher
        .call(Watch::Monitor(victim.pid().clone()))
        .await
        .expect("monitor");
    victim
        .stop_with(ExitReason::Error("bad state".into()))
        .expect("stop");
    assert_eq!(
        next(&mut ev).await,
        Event::Down(victim.pid().clone(), ExitReason::Error("bad state".into()))
    );
    // Monitoring a process that is gone reports NoProcess at once.
    watcher
        .call(Watch::Monitor(victim.pid().clone()))
        .await
        .expect("monitor");
    assert_eq!(
        next(&mut ev).await,
        Event::Down(victim.pid().clone(), ExitReason::NoProcess)
    );
    // A child spawned monitored is seen too.
    let child = watcher
        .call(SpawnChild::Monitored)
        .await
        .expect("call")
        .expect("spawn");
    assert_eq!(next(&mut ev).await, Event::Started);
    child.stop().expect("stop");
    assert_eq!(next(&mut ev).await, Event::Stopped(ExitReason::Normal));
    assert_eq!(
        next(&mut ev).await,
        Event::Down(child.pid().clone(), ExitReason::Normal)
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_propagates_abnormal_exits_both_ways() {
    let node = node().await;

    // b crashes: a, linked, stops with the same reason.
    let (a, mut ea) = probe(&node);
    let (b, _eb) = probe(&node);
    a.call(Watch::Link(b.pid().clone())).await.expect("link");
    let _ = b.send(Boom);
    assert_eq!(a.wait_for_stop().await, ExitReason::Panic("boom".into()));
    assert_eq!(next(&mut ea).await, Event::Started);
    assert_eq!(
        next(&mut ea).await,
        Event::Stopped(ExitReason::Panic("boom".into()))
    );

    // The other way round: the process that linked crashes, the linked one follows.
    let (c, _ec) = probe(&node);
    let (d, _ed) = probe(&node);
    c.call(Watch::Link(d.pid().clone())).await.expect("link");
    let _ = c.send(Boom);
    assert_eq!(d.wait_for_stop().await, ExitReason::Panic("boom".into()));

    // A normal exit does not propagate.
    let (e, _ee) = probe(&node);
    let (f, _ef) = probe(&node);
    e.call(Watch::Link(f.pid().clone())).await.expect("link");
    f.stop().expect("stop");
    f.wait_for_stop().await;
    assert_eq!(e.call(Note(1)).await, Ok(1));

    // Unlinked processes do not follow.
    let (g, _eg) = probe(&node);
    let (h, _eh) = probe(&node);
    g.call(Watch::Link(h.pid().clone())).await.expect("link");
    g.call(Watch::Unlink(h.pid().clone())).await.expect("unlink");
    h.kill();
    h.wait_for_stop().await;
    assert_eq!(g.call(Note(2)).await, Ok(2));

    // A child spawned linked dies with its crashing parent.
    let (parent, _ep) = probe(&node);
    let child = parent
        .call(SpawnChild::Linked)
        .await
        .expect("call")
        .expect("spawn");
    let _ = parent.send(Boom);
    assert_eq!(child.wait_for_stop().await, ExitReason::Panic("boom".into()));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapping_exits_turns_exit_signals_into_messages() {
    let node = node().await;
    let (a, mut ea) = probe_with(&node, SpawnOptions::default(), true);
    assert_eq!(next(&mut ea).await, Event::Started);
    let (b, _eb) = probe(&node);
    a.call(Watch::Link(b.pid().clone())).await.expect("link");
    let _ = b.send(Boom);
    assert_eq!(
        next(&mut ea).await,
        Event::Exit(b.pid().clone(), ExitReason::Panic("boom".into()))
    );
    assert_eq!(a.call(Note(1)).await, Ok(1), "still alive");
    // Linking to a process that does not exist: an exit signal with NoProcess.
    a.call(Watch::Link(b.pid().clone())).await.expect("link");
    assert_eq!(next(&mut ea).await, Event::From(None, 1));
    assert_eq!(
        next(&mut ea).await,
        Event::Exit(b.pid().clone(), ExitReason::NoProcess)
    );
    node.shutdown().await;
}

// ---------------------------------------------------------------- crashes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_handler_notifies_monitor_and_node_survives() {
    let node = node().await;
    let (watcher, mut ev) = probe(&node);
    assert_eq!(next(&mut ev).await, Event::Started);
    let (victim, _v) = probe(&node);
    let (bystander, _b) = probe(&node);
    watcher
        .call(Watch::Monitor(victim.pid().clone()))
        .await
        .expect("monitor");
    victim.send(Boom).expect("send");
    assert_eq!(
        next(&mut ev).await,
        Event::Down(victim.pid().clone(), ExitReason::Panic("boom".into()))
    );
    assert!(!victim.is_alive());
    // Everyone else keeps working, and the node still spawns.
    assert_eq!(bystander.call(Note(1)).await, Ok(1));
    assert_eq!(watcher.call(Note(2)).await, Ok(2));
    let (fresh, _f) = probe(&node);
    assert_eq!(fresh.call(Note(3)).await, Ok(3));
    node.shutdown().await;
}

struct CrashInInit;
impl Actor for CrashInInit {
    type Args = bool;
    async fn init(panic: bool, _: &mut Context<Self>) -> Result<Self, BoxError> {
        if panic {
            panic!("init exploded");
        }
        Err("no config".into())
    }
}

struct CrashInStop;
impl Actor for CrashInStop {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(CrashInStop)
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        panic!("stop exploded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_or_error_in_init_and_on_stop_is_the_exit_reason() {
    let node = node().await;
    let panicked = node.spawn::<CrashInInit>(true).expect("spawn");
    assert_eq!(
        panicked.wait_for_stop().await,
        ExitReason::Panic("init exploded".into())
    );
    let failed = node.spawn::<CrashInInit>(false).expect("spawn");
    assert_eq!(
        failed.wait_for_stop().await,
        ExitReason::Error("init failed: no config".into())
    );
    let stopper = node.spawn::<CrashInStop>(()).expect("spawn");
    stopper.stop().expect("stop");
    assert_eq!(
        stopper.wait_for_stop().await,
        ExitReason::Panic("stop exploded".into())
    );
    assert_eq!(node.wait_for_exit(stopper.pid()).await, ExitReason::NoProcess);
    // The node is unharmed.
    let (p, _e) = probe(&node);
    assert_eq!(p.call(Note(1)).await, Ok(1));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actor_killed_before_it_ever_ran_is_reported_killed() {
    let node = node().await;
    for _ in 0..200 {
        let (a, _ev) = probe(&node);
        a.kill();
        let reason = tokio::time::timeout(PROMPT, a.wait_for_stop())
            .await
            .expect("prompt");
        assert_eq!(reason, ExitReason::Killed);
        assert!(!node.is_alive(a.pid()));
    }
    node.shutdown().await;
}

/// Counts what it handles, slowly, and records the most messages it ever held: those
/// whose send returned `Ok`, minus those it finished.
struct Holder {
    accepted: std::sync::Arc<AtomicU64>,
    handled: u64,
    most_held: std::sync::Arc<AtomicU64>,
}

impl Actor for Holder {
    type Args = (std::sync::Arc<AtomicU64>, std::sync::Arc<AtomicU64>);
    async fn init((accepted, most_held): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Holder {
            accepted,
            handled: 0,
            most_held,
        })
    }
}

struct Hold;
impl Message for Hold {
    type Reply = ();
}

impl Handler<Hold> for Holder {
    type Return = ();
    async fn handle(&mut self, _: Hold, _: &mut Context<Self>) {
        // This one is held too, until it is handled.
        let held = self.accepted.load(Ordering::SeqCst) - self.handled;
        self.most_held.fetch_max(held, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_micros(200)).await;
        self.handled += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_never_holds_more_than_its_capacity() {
    const CAPACITY: usize = 64;
    let node = node().await;
    let accepted = std::sync::Arc::new(AtomicU64::new(0));
    let most_held = std::sync::Arc::new(AtomicU64::new(0));
    let holder = node
        .spawn_with::<Holder>(
            (accepted.clone(), most_held.clone()),
            SpawnOptions::default().mailbox_capacity(CAPACITY),
        )
        .unwrap();
    // Four senders keep the mailbox full for a while: each counts a send once it is Ok
    // (so the count never runs ahead of what the actor was given).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (holder, accepted) = (holder.clone(), accepted.clone());
        senders.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                match holder.send(Hold) {
                    Ok(()) => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(Error::MailboxFull) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    holder.stop().unwrap();
    holder.wait_for_stop().await;
    let most = most_held.load(Ordering::SeqCst);
    // The mailbox was full: the bound was reached, and never passed.
    assert!(most >= CAPACITY as u64 / 2, "the mailbox never filled up: {most}");
    assert!(
        most <= CAPACITY as u64,
        "held {most} messages with a capacity of {CAPACITY}"
    );
}

// ------------------------------------------------------------------ introspection

/// Handles each message by waiting until the test lets it go.
struct Gated {
    started: mpsc::UnboundedSender<()>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Actor for Gated {
    type Args = (mpsc::UnboundedSender<()>, std::sync::Arc<tokio::sync::Semaphore>);
    async fn init((started, gate): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Gated { started, gate })
    }
}

struct Job;
impl Message for Job {
    type Reply = ();
}
impl Handler<Job> for Gated {
    type Return = ();
    async fn handle(&mut self, _: Job, _: &mut Context<Self>) {
        let _ = self.started.send(());
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
    }
}

#[tokio::test]
async fn processes_lists_names_types_mailboxes_and_states() {
    let node = Node::builder().name("introspect@local").start().await.unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let gated = node
        .spawn_with::<Gated>(
            (started_tx, gate.clone()),
            ackor::SpawnOptions::default().name("gated").mailbox_capacity(4),
        )
        .unwrap();
    gated.send(Job).unwrap();
    started.recv().await.unwrap();
    // The first job is being handled; two more wait in the user lane.
    gated.send(Job).unwrap();
    gated.send(Job).unwrap();

    let ps = node.processes();
    assert_eq!(ps.len(), 1);
    let p = &ps[0];
    assert_eq!(&p.pid, gated.pid());
    assert_eq!(p.name.as_deref(), Some("gated"));
    assert!(p.actor_type.ends_with("::Gated"), "{}", p.actor_type);
    assert_eq!((p.mailbox_len, p.mailbox_capacity, p.system_len), (2, 4, 0));
    assert_eq!(p.state, ackor::ProcessState::Running);
    // It travels: serde both ways.
    let bytes = rmp_serde::to_vec(&ps).unwrap();
    let back: Vec<ackor::ProcessInfo> = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, ps);

    gate.add_permits(3);
    gated.stop().unwrap();
    gated.wait_for_stop().await;
    assert!(node.processes().is_empty());
    node.shutdown().await;
}
