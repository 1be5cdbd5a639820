//! Introspection: the `ackor.inspect` service every node answers, locally and across
//! the network, and what it tells: processes (handled counts, requests in flight,
//! stashes, restarts, last failures), one process's links and monitors and, while
//! followed, its messages' trace ids; the node's peers (links, bytes, round trips,
//! unacknowledged important sends) and its important-delivery outcomes.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::inspect::{ProcessDetail, ProcessInfo};
use ackor::supervision::{Backoff, ChildSpec, Strategy, Supervisor, SupervisorSpec};
use ackor::{
    Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, NodeName, Pid, ProcessState,
    Reentrancy, ReentrancyMode, RemoteConfig, RemoteMessage, RemoteMessages, ReplyHandle, RequestOptions,
    SpawnOptions,
};
use serde::{Deserialize, Serialize};

mod common;
use common::{PROMPT, start_node};

fn config() -> RemoteConfig {
    RemoteConfig::new("inspect-cookie").heartbeat_interval(Duration::from_millis(50))
}

/// Polls `check` every 10 ms until it returns `Some`, at most [`PROMPT`].
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {PROMPT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Counts what it is told; holds the reply of a `Hold` until told to `Release`.
#[derive(Default)]
struct Counter {
    held: Option<ReplyHandle<()>>,
}

impl Actor for Counter {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter::default())
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Bump>();
    }
}

#[derive(Serialize, Deserialize)]
struct Bump;
impl Message for Bump {
    type Reply = ();
}
impl RemoteMessage for Bump {
    const TAG: &'static str = "test.inspect.bump";
}
impl Handler<Bump> for Counter {
    type Return = ();
    async fn handle(&mut self, _: Bump, _: &mut Context<Self>) {}
}

struct Hold;
impl Message for Hold {
    type Reply = ();
}
impl Handler<Hold> for Counter {
    type Return = ackor::Reply<()>;
    async fn handle(&mut self, _: Hold, ctx: &mut Context<Self>) -> ackor::Reply<()> {
        self.held = ctx.defer_reply();
        ackor::Reply::Deferred
    }
}

struct Watch(Pid);
impl Message for Watch {
    type Reply = ();
}
impl Handler<Watch> for Counter {
    type Return = ();
    async fn handle(&mut self, Watch(pid): Watch, ctx: &mut Context<Self>) {
        ctx.monitor(&pid);
    }
}

struct Release;
impl Message for Release {
    type Reply = ();
}
impl Handler<Release> for Counter {
    type Return = ();
    async fn handle(&mut self, _: Release, _: &mut Context<Self>) {
        if let Some(held) = self.held.take() {
            held.reply(());
        }
    }
}

/// Asks `Counter` to `Hold` with a request, in stash mode: it holds user messages back
/// until the answer comes.
struct Asker {
    counter: ActorRef<Counter>,
}

impl Actor for Asker {
    type Args = ActorRef<Counter>;
    async fn init(counter: ActorRef<Counter>, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Asker { counter })
    }
}

struct Ask;
impl Message for Ask {
    type Reply = ();
}
impl Handler<Ask> for Asker {
    type Return = ();
    async fn handle(&mut self, _: Ask, ctx: &mut Context<Self>) {
        let counter = self.counter.clone();
        ctx.request(&counter, Hold, RequestOptions::new())
            .expect("request admitted")
            .then(|_, _, _| {});
    }
}

/// Panics at every start but the first.
struct Fragile;
impl Actor for Fragile {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Fragile)
    }
}

struct Crash;
impl Message for Crash {
    type Reply = ();
}
impl Handler<Crash> for Fragile {
    type Return = ();
    async fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crash on purpose");
    }
}

fn find<'a>(ps: &'a [ProcessInfo], pid: &Pid) -> &'a ProcessInfo {
    ps.iter().find(|p| &p.pid == pid).expect("the process is listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_answers_locally_and_from_another_node_with_the_same_processes() {
    let a = start_node("ia", config()).await;
    let b = start_node("ib", config()).await;
    let counter = b
        .spawn_with::<Counter>((), SpawnOptions::default().name("counter"))
        .unwrap();
    for _ in 0..5 {
        counter.call(Bump).await.unwrap();
    }
    let local = b.inspect(b.name()).processes().await.unwrap();
    let remote = a.inspect(b.name()).processes().await.unwrap();
    assert_eq!(local.len(), remote.len());
    for ps in [&local, &remote] {
        let p = find(ps, counter.pid());
        assert_eq!(p.name.as_deref(), Some("counter"));
        assert!(p.actor_type.ends_with("Counter"), "{}", p.actor_type);
        assert_eq!(p.handled, 5);
        assert_eq!(p.state, ProcessState::Running);
    }
    let info = a.inspect(b.name()).node().await.unwrap();
    assert_eq!(info.name, b.name().as_str());
    assert_eq!(info.creation, b.creation());
    assert_eq!(info.process_count, local.len());
    assert!(info.listen_addr.is_some());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_from_a_node_without_the_cookie_is_refused_like_any_remote_message() {
    let b = start_node("ib", config()).await;
    let intruder = start_node("ix", RemoteConfig::new("wrong-cookie")).await;
    let refused = tokio::time::timeout(PROMPT * 2, intruder.inspect(b.name()).processes())
        .await
        .expect("refused promptly, not at a timeout");
    assert!(
        matches!(refused, Err(Error::NoConnection | Error::ConnectionLost)),
        "{refused:?}"
    );
    // b keeps working for callers with the cookie.
    let a = start_node("ia", config()).await;
    assert!(a.inspect(b.name()).node().await.is_ok());
    for n in [a, b, intruder] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_inspect_request_gets_a_precise_error_and_the_service_keeps_answering() {
    let a = start_node("ia", config()).await;
    let b = start_node("ib", config()).await;
    let unknown = ackor::testing::call_named_raw(
        &a,
        b.name(),
        ackor::inspect::INSPECT,
        "ackor.inspect.nope.v1",
        vec![],
    )
    .await;
    assert!(matches!(unknown, Err(Error::UnknownMessage(_))), "{unknown:?}");
    let garbage = ackor::testing::call_named_raw(
        &a,
        b.name(),
        ackor::inspect::INSPECT,
        "ackor.inspect.process.v1",
        vec![0xc1, 0xff, 0x00],
    )
    .await;
    assert!(matches!(garbage, Err(Error::Codec(_))), "{garbage:?}");
    assert!(a.inspect(b.name()).processes().await.is_ok());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_show_links_bytes_round_trips_and_important_outcomes() {
    let a = start_node("ia", config()).await;
    let b = start_node("ib", config()).await;
    b.spawn_with::<Counter>((), SpawnOptions::default().name("counter"))
        .unwrap();
    let counter = ackor::ProcessId::new("counter", b.name().clone());
    for _ in 0..20 {
        a.send_important_name::<Counter, _>(&counter, Bump).await.unwrap();
    }
    let missing = ackor::ProcessId::new("nobody", b.name().clone());
    let refused = a.send_important_name::<Counter, _>(&missing, Bump).await;
    assert!(matches!(refused, Err(Error::ProcessUnknown)), "{refused:?}");

    let a_info = a.inspect(a.name()).node().await.unwrap();
    assert_eq!(a_info.important.sent, 21);
    assert_eq!(a_info.important.nacked.get("process_unknown"), Some(&1));
    let b_info = a.inspect(b.name()).node().await.unwrap();
    assert_eq!(b_info.important.acked, 20);

    // The heartbeats measure the round trip (every 50 ms here).
    let peer = eventually(|| {
        let a = a.clone();
        let b_name = b.name().clone();
        async move {
            let info = a.info();
            info.peers
                .into_iter()
                .find(|p| p.node == b_name.as_str() && p.rtt_us.is_some())
        }
    })
    .await;
    assert_eq!(peer.status, "up");
    assert_eq!(peer.creation, Some(b.creation()));
    assert!(peer.links >= 1);
    assert!(peer.bytes_sent > 0 && peer.bytes_received > 0);
    assert!(peer.frames_sent >= 21 && peer.frames_received >= 21);
    assert_eq!(peer.unacked_important, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stashing_process_shows_its_request_in_flight_and_the_messages_it_holds_back() {
    let node = Node::builder().name("stash@local").start().await.unwrap();
    let counter = node.spawn::<Counter>(()).unwrap();
    let asker = node
        .spawn_with::<Asker>(
            counter.clone(),
            SpawnOptions::default().reentrancy(Reentrancy::new(ReentrancyMode::StashNonReentrant)),
        )
        .unwrap();
    asker.send(Ask).unwrap();
    asker.send(Ask).unwrap();
    asker.send(Ask).unwrap();
    let p = eventually(|| {
        let node = node.clone();
        let pid = asker.pid().clone();
        async move {
            let ps = node.processes();
            let p = find(&ps, &pid).clone();
            (p.state == ProcessState::Stashing && p.stashed == 2).then_some(p)
        }
    })
    .await;
    assert_eq!(p.requests_in_flight, 1);
    assert_eq!(node.info().requests_in_flight, 1);
    counter.send(Release).unwrap();
    // The next `Ask` goes in as soon as the first is answered, and holds again.
    eventually(|| {
        let node = node.clone();
        let pid = asker.pid().clone();
        async move { (find(&node.processes(), &pid).handled >= 2).then_some(()) }
    })
    .await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarting_process_says_so_and_keeps_its_last_failure() {
    let node = Node::builder().name("restart@local").start().await.unwrap();
    let spec = SupervisorSpec::new(Strategy::OneForOne).child(
        ChildSpec::new::<Fragile>("f", || ())
            .name("fragile")
            .backoff(Backoff::exponential(
                Duration::from_millis(500),
                Duration::from_millis(500),
            )),
    );
    let _sup = node.spawn::<Supervisor>(spec).unwrap();
    let fragile = eventually(|| {
        let node = node.clone();
        async move { node.whereis("fragile") }
    })
    .await;
    let f = node.actor_ref::<Fragile>(&fragile).unwrap();
    let _ = f.call(Crash).await;
    eventually(|| {
        let node = node.clone();
        let pid = fragile.clone();
        async move { (find(&node.processes(), &pid).state == ProcessState::Restarting).then_some(()) }
    })
    .await;
    let after = eventually(|| {
        let node = node.clone();
        let pid = fragile.clone();
        async move {
            let p = find(&node.processes(), &pid).clone();
            (p.state == ProcessState::Running).then_some(p)
        }
    })
    .await;
    let failure = after.last_failure.expect("the failure is kept");
    assert!(failure.contains("crash on purpose"), "{failure}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_process_shows_its_messages_trace_ids_links_and_monitors() {
    let a = start_node("ia", config()).await;
    let b = start_node("ib", config()).await;
    let counter = b.spawn::<Counter>(()).unwrap();
    let watcher = b.spawn::<Counter>(()).unwrap();
    watcher.call(Watch(counter.pid().clone())).await.unwrap();

    let before: ProcessDetail = a.inspect(b.name()).process(counter.pid()).await.unwrap().unwrap();
    assert!(before.recent.is_empty());
    assert_eq!(before.monitored_by, vec![watcher.pid().clone()]);
    let watching: ProcessDetail = a.inspect(b.name()).process(watcher.pid()).await.unwrap().unwrap();
    assert_eq!(watching.monitors, vec![counter.pid().clone()]);

    let remote_counter = a.actor_ref::<Counter>(counter.pid()).unwrap();
    for _ in 0..3 {
        remote_counter.call(Bump).await.unwrap();
    }
    // Recorded once each handler's future is done, just after its reply left.
    let after = eventually(|| {
        let inspector = a.inspect(b.name());
        let pid = counter.pid().clone();
        async move {
            let detail = inspector.process(&pid).await.unwrap().unwrap();
            (detail.recent.len() == 3).then_some(detail)
        }
    })
    .await;
    for m in &after.recent {
        assert!(m.message.ends_with("Bump"), "{}", m.message);
        assert_eq!(m.trace_id.len(), 32);
        assert_eq!(m.span_id.len(), 16);
        assert!(m.trace_id.chars().all(|c| c.is_ascii_hexdigit()));
    }
    // The name is the node's own: no actor can take it.
    let taken = b.spawn_with::<Counter>((), SpawnOptions::default().name(ackor::inspect::INSPECT));
    assert!(matches!(taken, Err(Error::NameTaken(_))), "{taken:?}");
    let gone = Pid::new(NodeName::new(b.name().as_str()), 999_999, b.creation());
    assert!(a.inspect(b.name()).process(&gone).await.unwrap().is_none());
    a.shutdown().await;
    b.shutdown().await;
}
