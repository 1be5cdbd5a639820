//! Important delivery across real nodes on loopback: confirmed sends, calls and
//! responses, each failure its own precise error.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::future::IntoFuture;
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, ExitReason, Handler, Message, Node, RemoteConfig,
    RemoteMessage, RemoteMessages, Reply, ReplyHandle, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

mod common;
use common::{PROMPT, start_node};

const COOKIE: &str = "important";

fn config() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(50))
}

async fn node_with(remote: RemoteConfig) -> Node {
    start_node("imp", remote).await
}

async fn node() -> Node {
    node_with(config()).await
}

/// Records what it receives; can be held busy, and can answer calls importantly.
struct Store {
    items: Vec<u64>,
    held: Option<oneshot::Receiver<()>>,
    outcome: Option<oneshot::Sender<Result<(), Error>>>,
}

impl Actor for Store {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Store {
            items: Vec::new(),
            held: None,
            outcome: None,
        })
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Put>().add::<Items>().add::<Slow>().add::<Commit>();
    }
}

#[derive(Serialize, Deserialize)]
struct Put(u64);
impl Message for Put {
    type Reply = ();
}
impl RemoteMessage for Put {
    const TAG: &'static str = "imp.put";
}
impl Handler<Put> for Store {
    type Return = ();
    async fn handle(&mut self, msg: Put, _: &mut Context<Self>) {
        if let Some(gate) = self.held.take() {
            let _ = gate.await;
        }
        self.items.push(msg.0);
    }
}

#[derive(Serialize, Deserialize)]
struct Items;
impl Message for Items {
    type Reply = Vec<u64>;
}
impl RemoteMessage for Items {
    const TAG: &'static str = "imp.items";
}
impl Handler<Items> for Store {
    type Return = Vec<u64>;
    async fn handle(&mut self, _: Items, _: &mut Context<Self>) -> Vec<u64> {
        self.items.clone()
    }
}

/// Answers after a delay.
#[derive(Serialize, Deserialize)]
struct Slow(u64);
impl Message for Slow {
    type Reply = u64;
}
impl RemoteMessage for Slow {
    const TAG: &'static str = "imp.slow";
}
impl Handler<Slow> for Store {
    type Return = u64;
    async fn handle(&mut self, msg: Slow, _: &mut Context<Self>) -> u64 {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
        msg.0
    }
}

/// Answers importantly after `delay` ms and reports the outcome of that answer.
#[derive(Serialize, Deserialize)]
struct Commit(u64);
impl Message for Commit {
    type Reply = String;
}
impl RemoteMessage for Commit {
    const TAG: &'static str = "imp.commit";
}
impl Handler<Commit> for Store {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: Commit, ctx: &mut Context<Self>) -> Reply<String> {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
        let handle: Option<ReplyHandle<String>> = ctx.defer_reply();
        if let Some(handle) = handle {
            let outcome = handle.reply_important("committed".to_string()).await;
            if let Some(tx) = self.outcome.take() {
                let _ = tx.send(outcome);
            }
        }
        Reply::Deferred
    }
}

/// Local-only control messages.
struct Hold(oneshot::Receiver<()>);
impl Message for Hold {
    type Reply = ();
}
impl Handler<Hold> for Store {
    type Return = ();
    async fn handle(&mut self, msg: Hold, _: &mut Context<Self>) {
        self.held = Some(msg.0);
    }
}
struct ReportOutcome(oneshot::Sender<Result<(), Error>>);
impl Message for ReportOutcome {
    type Reply = ();
}
impl Handler<ReportOutcome> for Store {
    type Return = ();
    async fn handle(&mut self, msg: ReportOutcome, _: &mut Context<Self>) {
        self.outcome = Some(msg.0);
    }
}

fn remote(a: &Node, store: &ActorRef<Store>) -> ActorRef<Store> {
    a.actor_ref::<Store>(store.pid()).unwrap()
}

/// A `Store` on a peer that takes frames and never answers (nor sends heartbeats), and
/// the task that plays the peer.
async fn mute_store(a: &Node) -> (ActorRef<Store>, tokio::task::JoinHandle<()>) {
    let (mute, task) = ackor::testing::mute_peer("mute", COOKIE).await.unwrap();
    let pid = ackor::Pid::new(ackor::NodeName::new(&mute), 1, 1);
    (a.actor_ref::<Store>(&pid).unwrap(), task)
}

async fn prompt<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(PROMPT, f.into_future())
        .await
        .expect("an answer well before the timeout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_means_the_message_is_in_the_mailbox() {
    let (a, b) = (node().await, node().await);
    let store = b.spawn::<Store>(()).unwrap();
    let (open, gate) = oneshot::channel();
    store.call(Hold(gate)).await.unwrap();
    let there = remote(&a, &store);
    // The first Put blocks the store; the second is acknowledged while it waits in
    // the mailbox, unread.
    there.send(Put(1)).unwrap();
    // Acknowledged while the store is still blocked in Put(1): it cannot have read
    // Put(2) yet; it reads it once released.
    assert_eq!(prompt(there.send_important(Put(2))).await, Ok(()));
    open.send(()).unwrap();
    assert_eq!(there.call(Items).await, Ok(vec![1, 2]));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_process_that_stopped_after_messages_reached_it_is_unknown() {
    // The same handle (so the same link, whose reader remembers where its last
    // message went) before and after the stop.
    let (a, b) = (node().await, node().await);
    let store = b.spawn::<Store>(()).unwrap();
    let there = a.actor_ref::<Store>(store.pid()).unwrap();
    for i in 0..3 {
        assert_eq!(prompt(there.send_important(Put(i))).await, Ok(()));
    }
    store.stop().unwrap();
    store.wait_for_stop().await;
    assert_eq!(
        prompt(there.send_important(Put(3))).await,
        Err(Error::ProcessUnknown)
    );
    assert_eq!(
        prompt(there.call_important(Items)).await,
        Err(Error::ProcessUnknown)
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_important_to_unknown_remote_process_fails_fast() {
    let (a, b) = (node().await, node().await);
    let store = b.spawn::<Store>(()).unwrap();
    let pid = store.pid().clone();
    store.stop().unwrap();
    store.wait_for_stop().await;
    let gone = a.actor_ref::<Store>(&pid).unwrap();
    assert_eq!(
        prompt(gone.send_important(Put(1))).await,
        Err(Error::ProcessUnknown)
    );
    assert_eq!(
        prompt(gone.call_important(Items)).await,
        Err(Error::ProcessUnknown)
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_important_to_full_mailbox_fails_with_mailbox_full() {
    let (a, b) = (node().await, node().await);
    // Capacity 2 counts the message being handled too.
    let store = b
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(2))
        .unwrap();
    let (open, gate) = oneshot::channel();
    store.call(Hold(gate)).await.unwrap();
    let there = remote(&a, &store);
    assert_eq!(prompt(there.send_important(Put(1))).await, Ok(()));
    // Put(1) is taken (waits on the gate, and counts); Put(2) fills the mailbox; Put(3)
    // does not fit.
    while store.mailbox_len() > Some(0) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(prompt(there.send_important(Put(2))).await, Ok(()));
    assert_eq!(
        prompt(there.send_important(Put(3))).await,
        Err(Error::MailboxFull)
    );
    assert_eq!(prompt(there.call_important(Items)).await, Err(Error::MailboxFull));
    open.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(there.call(Items).await, Ok(vec![1, 2]));
    a.shutdown().await;
    b.shutdown().await;
}

/// Stops slowly: its mailbox is closed while `on_stop` runs.
struct Closing;
impl Actor for Closing {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Closing)
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Ping>();
    }
}
#[derive(Serialize, Deserialize)]
struct Ping;
impl Message for Ping {
    type Reply = ();
}
impl RemoteMessage for Ping {
    const TAG: &'static str = "imp.ping";
}
impl Handler<Ping> for Closing {
    type Return = ();
    async fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_important_to_terminating_process_fails_with_process_terminated() {
    let (a, b) = (node().await, node().await);
    let closing = b.spawn::<Closing>(()).unwrap();
    closing.stop().unwrap();
    while closing.is_alive() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let there = a.actor_ref::<Closing>(closing.pid()).unwrap();
    assert_eq!(
        prompt(there.send_important(Ping)).await,
        Err(Error::ProcessTerminated)
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_important_to_unreachable_node_fails_with_no_connection() {
    let a = node().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pid = ackor::Pid::new(ackor::NodeName::new(format!("ghost@127.0.0.1:{port}")), 1, 1);
    let ghost = a.actor_ref::<Store>(&pid).unwrap();
    assert_eq!(
        prompt(ghost.send_important(Put(1))).await,
        Err(Error::NoConnection)
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_never_acknowledges_gives_timeout_at_the_configured_value() {
    // The mute peer sends no heartbeats either: give the link a long silence budget so
    // only the acknowledgement timeout is at play.
    let a = node_with(
        config()
            .important_timeout(Duration::from_millis(300))
            .heartbeat_timeout(Duration::from_secs(30)),
    )
    .await;
    let (there, task) = mute_store(&a).await;
    let started = tokio::time::Instant::now();
    assert_eq!(prompt(there.send_important(Put(1))).await, Err(Error::Timeout));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    // A per-send timeout overrides the node's.
    let started = tokio::time::Instant::now();
    let quick = there.send_important(Put(2)).timeout(Duration::from_millis(50));
    assert_eq!(prompt(quick).await, Err(Error::Timeout));
    assert!(started.elapsed() < Duration::from_millis(300));
    // The timeout runs from each send, not from when its future is first polled:
    // pipelined sends awaited one after another all end at about the same time.
    let started = tokio::time::Instant::now();
    let sends: Vec<_> = (0..3)
        .map(|i| {
            there
                .send_important(Put(10 + i))
                .timeout(Duration::from_millis(200))
                .into_future()
        })
        .collect();
    for outcome in await_all(sends).await {
        assert_eq!(outcome, Err(Error::Timeout));
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(590),
        "three sequential full timeouts: {waited:?}"
    );
    task.abort();
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_important_send_times_out_at_its_own_deadline_whatever_waits_before_it() {
    // The deadlines of a peer's important sends are swept by one task, which sleeps
    // until the soonest: a send with a short timeout behind many with the node's long
    // one must still end at its own, and so must a later one with a shorter timeout
    // still, and the sends given up free their place in the window.
    let a = node_with(
        config()
            .important_timeout(Duration::from_secs(60))
            .important_window(64)
            .heartbeat_timeout(Duration::from_secs(60)),
    )
    .await;
    let (there, task) = mute_store(&a).await;
    let waiting: Vec<_> = (0..32)
        .map(|i| there.send_important(Put(i)).into_future())
        .collect();
    let started = tokio::time::Instant::now();
    let quick = there.send_important(Put(100)).timeout(Duration::from_millis(300));
    let quicker = there.send_important(Put(101)).timeout(Duration::from_millis(100));
    let (quick, quicker) = tokio::join!(
        async {
            let outcome = prompt(quick).await;
            (outcome, started.elapsed())
        },
        async {
            let outcome = prompt(quicker).await;
            (outcome, started.elapsed())
        }
    );
    assert_eq!(quicker.0, Err(Error::Timeout));
    assert!(
        quicker.1 >= Duration::from_millis(100) && quicker.1 < Duration::from_millis(290),
        "100 ms send ended after {:?}",
        quicker.1
    );
    assert_eq!(quick.0, Err(Error::Timeout));
    assert!(
        quick.1 >= Duration::from_millis(300),
        "300 ms send ended after {:?}",
        quick.1
    );
    // The 32 long sends still wait; given up, they leave the window.
    assert_eq!(waiting.len(), 32);
    drop(waiting);
    let again: Vec<_> = (0..64).map(|i| there.send_important(Put(200 + i))).collect();
    let outcomes = await_all(
        again
            .into_iter()
            .map(|s| s.timeout(Duration::from_millis(50)).into_future())
            .collect(),
    )
    .await;
    assert!(
        outcomes.iter().all(|o| *o == Err(Error::Timeout)),
        "a window freed by the sends given up: {outcomes:?}"
    );
    task.abort();
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_important_returns_the_reply_without_an_extra_round_trip() {
    let (a, b) = (node().await, node().await);
    let store = b.spawn::<Store>(()).unwrap();
    let there = remote(&a, &store);
    there.send(Put(7)).unwrap();
    assert_eq!(there.call_important(Items).await, Ok(vec![7]));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn important_response_is_confirmed_when_the_caller_got_it() {
    let (a, b) = (node().await, node().await);
    let store = b.spawn::<Store>(()).unwrap();
    let (tx, outcome) = oneshot::channel();
    store.call(ReportOutcome(tx)).await.unwrap();
    let there = remote(&a, &store);
    // RR-2PC (plain call) and FR-2PC (important call) alike.
    assert_eq!(there.call(Commit(0)).await, Ok("committed".to_string()));
    assert_eq!(prompt(outcome).await.unwrap(), Ok(()));
    let (tx, outcome) = oneshot::channel();
    store.call(ReportOutcome(tx)).await.unwrap();
    assert_eq!(there.call_important(Commit(0)).await, Ok("committed".to_string()));
    assert_eq!(prompt(outcome).await.unwrap(), Ok(()));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn important_response_to_a_caller_that_timed_out_is_response_ignored() {
    let (a, b) = (node().await, node().await);
    let store = b.spawn::<Store>(()).unwrap();
    let (tx, outcome) = oneshot::channel();
    store.call(ReportOutcome(tx)).await.unwrap();
    let there = remote(&a, &store);
    let late = there.call(Commit(300)).timeout(Duration::from_millis(50)).await;
    assert_eq!(late, Err(Error::Timeout));
    assert_eq!(prompt(outcome).await.unwrap(), Err(Error::ResponseIgnored));
    // Locally too.
    let (tx, outcome) = oneshot::channel();
    store.call(ReportOutcome(tx)).await.unwrap();
    let late = store.call(Commit(300)).timeout(Duration::from_millis(50)).await;
    assert_eq!(late, Err(Error::Timeout));
    assert_eq!(prompt(outcome).await.unwrap(), Err(Error::ResponseIgnored));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_important_sends_behave_exactly_like_local_sends() {
    let a = node().await;
    let store = a
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(2))
        .unwrap();
    let (open, gate) = oneshot::channel();
    store.call(Hold(gate)).await.unwrap();
    assert_eq!(store.send_important(Put(1)).await, Ok(()));
    while store.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    assert_eq!(store.send_important(Put(2)).await, Ok(()));
    assert_eq!(store.send_important(Put(3)).await, Err(Error::MailboxFull));
    assert_eq!(store.send(Put(3)), Err(Error::MailboxFull));
    open.send(()).unwrap();
    a.shutdown().await;
}

/// Sends `count` messages to `to`, alternating plain and important, then reports.
struct Sender;
impl Actor for Sender {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sender)
    }
}
struct Burst {
    to: ActorRef<Store>,
    count: u64,
    mixed: bool,
}
impl Message for Burst {
    type Reply = (u64, Vec<Error>);
}
impl Handler<Burst> for Sender {
    type Return = (u64, Vec<Error>);
    async fn handle(&mut self, msg: Burst, ctx: &mut Context<Self>) -> (u64, Vec<Error>) {
        let mut pending = Vec::new();
        for i in 0..msg.count {
            if msg.mixed && i % 2 == 0 {
                ctx.send(&msg.to, Put(i)).unwrap();
            } else {
                pending.push(ctx.send_important(&msg.to, Put(i)).into_future());
            }
        }
        // All in flight at once (each left when turned into a future): pipelined.
        let outcomes = await_all(pending).await;
        let oks = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
        let errors = outcomes.into_iter().filter_map(Result::err).collect();
        (oks, errors)
    }
}

async fn await_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_important_messages_from_one_sender_arrive_in_send_order() {
    let (a, b) = (node().await, node().await);
    // Room for the whole burst: with the default 1024, the later half is (truly)
    // refused with MailboxFull.
    let store = b
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(4_096))
        .unwrap();
    let sender = a.spawn::<Sender>(()).unwrap();
    let (oks, errors) = sender
        .call(Burst {
            to: remote(&a, &store),
            count: 2_000,
            mixed: true,
        })
        .await
        .unwrap();
    assert_eq!((oks, errors), (1_000, vec![]));
    let items = remote(&a, &store).call(Items).await.unwrap();
    assert_eq!(items, (0..2_000).collect::<Vec<_>>());
    a.shutdown().await;
    b.shutdown().await;
}

/// A thousand important sends written at once, so that the receiving node reads far
/// more of them at a time than its reader hands on before letting their
/// acknowledgements out: it goes on with the rest of what it read (not with the
/// socket, which holds nothing more), acknowledges each send once and in order, and
/// puts every message in the mailbox in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_thousand_important_sends_acknowledges_each_once_in_order() {
    use ackor::Codec as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SENDS: u64 = 1_000;
    // The reader checks for silence every quarter of this: were it to wait for the
    // socket with frames still in its buffer, that would be well past `prompt`'s bound.
    let b = node_with(config().heartbeat_timeout(Duration::from_secs(60))).await;
    let store = b
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(4_096))
        .unwrap();
    let raw = format!("raw{}@127.0.0.1:1", common::unique());
    let addr = b.local_addr().unwrap().to_string();
    let mut link = ackor::testing::handshaken_stream(&addr, &raw, COOKIE, b.name().as_str())
        .await
        .expect("handshake");
    let mut burst = Vec::new();
    for i in 0..SENDS {
        let payload = ackor::MessagePack::encode(&Put(i)).unwrap();
        burst.extend(ackor::testing::important_send_frame(
            store.pid(),
            Put::TAG,
            &payload,
            i + 1,
        ));
    }
    assert!(burst.len() > 16 * 1024, "a burst of {} bytes", burst.len());
    link.write_all(&burst).await.unwrap();
    let mut acked = Vec::new();
    let mut unread = Vec::new();
    prompt(async {
        while (acked.len() as u64) < SENDS {
            let mut chunk = [0u8; 4096];
            let n = link.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "the node closed the link after {} acknowledgements",
                acked.len()
            );
            unread.extend_from_slice(&chunk[..n]);
            let (ids, used) = ackor::testing::acknowledgements(&unread);
            acked.extend(ids);
            unread.drain(..used);
        }
    })
    .await;
    assert_eq!(acked, (1..=SENDS).collect::<Vec<_>>());
    assert_eq!(
        prompt(store.call(Items)).await.unwrap(),
        (0..SENDS).collect::<Vec<_>>()
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_senders_get_exactly_64000_oks_and_no_false_errors() {
    let (a, b) = (node().await, node().await);
    let mut pairs = Vec::new();
    for _ in 0..64 {
        let store = b
            .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(2_000))
            .unwrap();
        let sender = a.spawn::<Sender>(()).unwrap();
        pairs.push((sender, remote(&a, &store), store));
    }
    let mut runs = Vec::new();
    for (sender, there, _) in &pairs {
        let (sender, there) = (sender.clone(), there.clone());
        runs.push(tokio::spawn(async move {
            sender
                .call(Burst {
                    to: there,
                    count: 1_000,
                    mixed: false,
                })
                .await
        }));
    }
    let mut total_ok = 0;
    for run in runs {
        let (oks, errors) = run.await.unwrap().unwrap();
        assert!(
            errors.is_empty(),
            "false errors: {:?}",
            &errors[..errors.len().min(5)]
        );
        total_ok += oks;
    }
    assert_eq!(total_ok, 64_000);
    let mut held = 0;
    for (_, there, _) in &pairs {
        held += there.call(Items).await.unwrap().len();
    }
    assert_eq!(held, 64_000);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_flap_with_important_messages_in_flight_delivers_each_exactly_once() {
    let (a, b) = (node().await, node().await);
    let store = b
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(100_000))
        .unwrap();
    let there = remote(&a, &store);
    assert_eq!(there.send_important(Put(0)).await, Ok(()));
    // Many in flight; the links are cut in the middle of them.
    let mut pending = Vec::new();
    for i in 1..5_000u64 {
        pending.push(there.send_important(Put(i)).into_future());
        if i == 2_500 {
            ackor::testing::sever_links(&a, b.name());
        }
    }
    let outcomes = await_all(pending).await;
    let errors: Vec<_> = outcomes.iter().filter_map(|o| o.clone().err()).collect();
    assert!(
        errors.is_empty(),
        "every sender answered Ok, got {:?}",
        &errors[..errors.len().min(5)]
    );
    // Each exactly once, in send order: what was in flight on the old links and is
    // resent cannot be overtaken by what is sent later.
    let items = there.call(Items).await.unwrap();
    assert_eq!(items, (0..5_000).collect::<Vec<_>>());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_important_messages_keep_send_order_across_a_link_flap() {
    let (a, b) = (node().await, node().await);
    let store = b
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(100_000))
        .unwrap();
    let there = remote(&a, &store);
    assert_eq!(there.send_important(Put(0)).await, Ok(()));
    // Odd numbers plain, even ones important; the links are cut in the middle.
    let mut pending = Vec::new();
    for i in 1..5_000u64 {
        if i % 2 == 1 {
            there.send(Put(i)).unwrap();
        } else {
            pending.push(there.send_important(Put(i)).into_future());
        }
        if i == 2_500 {
            ackor::testing::sever_links(&a, b.name());
        }
    }
    let outcomes = await_all(pending).await;
    assert!(
        outcomes.iter().all(Result::is_ok),
        "every important send answered Ok"
    );
    // Plain messages in flight on the cut links may be lost; nothing arrives twice or
    // out of order, and every important message is there.
    let items = there.call(Items).await.unwrap();
    assert!(
        items.windows(2).all(|w| w[0] < w[1]),
        "out of send order: {:?}",
        items.windows(2).find(|w| w[0] >= w[1])
    );
    let important: Vec<u64> = items.iter().copied().filter(|i| i % 2 == 0).collect();
    assert_eq!(important, (0..5_000).step_by(2).collect::<Vec<_>>());
    a.shutdown().await;
    b.shutdown().await;
}

/// Records every number it receives into a list shared with the test.
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<u64>>>);
impl Actor for Recorder {
    type Args = std::sync::Arc<std::sync::Mutex<Vec<u64>>>;
    async fn init(list: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Recorder(list))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Rec>();
    }
}
#[derive(Serialize, Deserialize)]
struct Rec(u64);
impl Message for Rec {
    type Reply = ();
}
impl RemoteMessage for Rec {
    const TAG: &'static str = "imp.rec";
}
impl Handler<Rec> for Recorder {
    type Return = ();
    async fn handle(&mut self, msg: Rec, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_restart_with_important_messages_in_flight_is_never_a_silent_success() {
    let a = node().await;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    // b runs on a runtime of its own, so it can die abruptly (the runtime is dropped).
    let list = received.clone();
    let ((b_name, pid), die_tx, thread) = common::mortal_node("imp", config(), move |b| {
        let rec = b
            .spawn_with::<Recorder>(list, SpawnOptions::default().mailbox_capacity(100_000))
            .unwrap();
        (b.name().clone(), rec.pid().clone())
    });
    let there = a.actor_ref::<Recorder>(&pid).unwrap();
    assert_eq!(there.send_important(Rec(0)).await, Ok(()));

    let mut pending = Vec::new();
    for i in 1..3_000u64 {
        pending.push(there.send_important(Rec(i)).into_future());
        if i == 1_500 {
            die_tx.send(()).unwrap();
        }
    }
    thread.join().unwrap();
    // The node comes back at the same address: a new incarnation, which must not take
    // over the old one's messages.
    let b2 = Node::builder()
        .name(b_name.as_str())
        .remote(config())
        .start()
        .await
        .unwrap();
    let outcomes = await_all(pending).await;
    let received: std::collections::HashSet<u64> = received.lock().unwrap().iter().copied().collect();
    // Ok means "in the mailbox": the old incarnation may have died with acknowledged
    // messages still queued, behind the last one it handled (the mailbox is FIFO).
    let last_handled = received.iter().copied().max().unwrap_or(0);
    for (i, outcome) in (1..3_000u64).zip(&outcomes) {
        match outcome {
            Ok(()) => assert!(
                received.contains(&i) || i > last_handled,
                "message {i} acknowledged but neither handled nor queued behind the last handled"
            ),
            // "Not delivered" must be true.
            Err(Error::NoConnection) => assert!(
                !received.contains(&i),
                "message {i} answered NoConnection but was handled"
            ),
            Err(Error::ConnectionLost | Error::ProcessUnknown | Error::Timeout) => {}
            Err(other) => panic!("message {i}: unexpected {other:?}"),
        }
    }
    a.shutdown().await;
    b2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_window_of_unacknowledged_sends_fails_at_once_with_mailbox_full() {
    let a = node_with(
        config()
            .important_window(4)
            .important_timeout(Duration::from_millis(500))
            .heartbeat_timeout(Duration::from_secs(30)),
    )
    .await;
    let (there, task) = mute_store(&a).await;
    let in_flight: Vec<_> = (0..4)
        .map(|i| there.send_important(Put(i)).into_future())
        .collect();
    assert_eq!(
        prompt(there.send_important(Put(4))).await,
        Err(Error::MailboxFull)
    );
    for outcome in await_all(in_flight).await {
        assert_eq!(outcome, Err(Error::Timeout));
    }
    // The window frees as the waits end.
    let again = there.send_important(Put(5)).timeout(Duration::from_millis(50));
    assert_eq!(prompt(again).await, Err(Error::Timeout));
    task.abort();
    a.shutdown().await;
}

// ------------------------------------------------------------------ the process flag

/// Sends and calls with important delivery switched on for the whole actor.
struct Flagged {
    events: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Actor for Flagged {
    type Args = tokio::sync::mpsc::UnboundedSender<String>;
    async fn init(events: Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.set_important_delivery(true);
        Ok(Flagged { events })
    }
    async fn on_undelivered(&mut self, _: &mut Context<Self>, failure: ackor::DeliveryFailure) {
        let event = match failure.to {
            ackor::Recipient::Name(id) => format!("undelivered to {}: {}", id.name, failure.error),
            ackor::Recipient::Pid(_) => format!("undelivered: {}", failure.error),
        };
        let _ = self.events.send(event);
    }
}

struct FlagSend(ActorRef<Store>, u64);
impl Message for FlagSend {
    type Reply = Result<(), Error>;
}
impl Handler<FlagSend> for Flagged {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: FlagSend, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.send(&msg.0, Put(msg.1))
    }
}

struct FlagSendName(ackor::ProcessId, u64);
impl Message for FlagSendName {
    type Reply = Result<(), Error>;
}
impl Handler<FlagSendName> for Flagged {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: FlagSendName, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.send_name::<Store, Put>(&msg.0, Put(msg.1))
    }
}

struct FlagCall(ActorRef<Store>);
impl Message for FlagCall {
    type Reply = Result<Vec<u64>, Error>;
}
impl Handler<FlagCall> for Flagged {
    type Return = Result<Vec<u64>, Error>;
    async fn handle(&mut self, msg: FlagCall, ctx: &mut Context<Self>) -> Result<Vec<u64>, Error> {
        ctx.call(&msg.0, Items).await
    }
}

/// Handled only after the sends of the previous message are settled.
struct FlagPing;
impl Message for FlagPing {
    type Reply = ();
}
impl Handler<FlagPing> for Flagged {
    type Return = ();
    async fn handle(&mut self, _: FlagPing, _: &mut Context<Self>) {
        let _ = self.events.send("ping".into());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_flag_makes_plain_send_call_and_responses_important() {
    let a = node_with(
        config()
            .important_timeout(Duration::from_millis(300))
            .heartbeat_timeout(Duration::from_secs(30)),
    )
    .await;
    let b = node().await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let flagged = a.spawn::<Flagged>(tx).unwrap();
    let mut next = async || prompt(events.recv()).await.unwrap();

    // Delivered: confirmed before the actor handles its next message.
    let store = b.spawn::<Store>(()).unwrap();
    flagged
        .call(FlagSend(remote(&a, &store), 1))
        .await
        .unwrap()
        .unwrap();
    flagged.call(FlagPing).await.unwrap();
    assert_eq!(next().await, "ping");
    assert_eq!(store.call(Items).await, Ok(vec![1]));

    // Unknown process: reported, then the next message runs.
    let ghost = ackor::Pid::new(b.name().clone(), 999_999, b.creation());
    let ghost = a.actor_ref::<Store>(&ghost).unwrap();
    flagged.call(FlagSend(ghost.clone(), 2)).await.unwrap().unwrap();
    flagged.send(FlagPing).unwrap();
    assert_eq!(next().await, format!("undelivered: {}", Error::ProcessUnknown));
    assert_eq!(next().await, "ping");

    // By name: resolved on the other node, acknowledged from there.
    let named = b
        .spawn_with::<Store>((), SpawnOptions::default().name("named-store"))
        .unwrap();
    let id = ackor::ProcessId::new("named-store", b.name().clone());
    flagged.call(FlagSendName(id, 5)).await.unwrap().unwrap();
    flagged.call(FlagPing).await.unwrap();
    assert_eq!(next().await, "ping");
    assert_eq!(named.call(Items).await, Ok(vec![5]));
    let nobody = ackor::ProcessId::new("nobody", b.name().clone());
    flagged.call(FlagSendName(nobody, 6)).await.unwrap().unwrap();
    flagged.send(FlagPing).unwrap();
    assert_eq!(
        next().await,
        format!("undelivered to nobody: {}", Error::ProcessUnknown)
    );
    assert_eq!(next().await, "ping");
    // A local name that is not registered fails at once.
    let missing = ackor::ProcessId::new("nobody", a.name().clone());
    assert_eq!(
        flagged.call(FlagSendName(missing, 7)).await.unwrap(),
        Err(Error::ProcessUnknown)
    );

    // Full mailbox on the other node (capacity 2: the message taken counts).
    let small = b
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(2))
        .unwrap();
    let (open, gate) = oneshot::channel();
    small.call(Hold(gate)).await.unwrap();
    small.send(Put(100)).unwrap(); // taken: waits on the gate
    while small.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    small.send(Put(101)).unwrap(); // fills the mailbox
    flagged
        .call(FlagSend(remote(&a, &small), 102))
        .await
        .unwrap()
        .unwrap();
    flagged.send(FlagPing).unwrap();
    assert_eq!(next().await, format!("undelivered: {}", Error::MailboxFull));
    assert_eq!(next().await, "ping");
    open.send(()).unwrap();

    // A peer that never acknowledges: Timeout, and the actor waited for it.
    let (silent, task) = mute_store(&a).await;
    flagged.call(FlagSend(silent, 3)).await.unwrap().unwrap();
    flagged.send(FlagPing).unwrap();
    assert_eq!(next().await, format!("undelivered: {}", Error::Timeout));
    assert_eq!(next().await, "ping");
    task.abort();

    // A call is an important call: delivery errors at once.
    assert_eq!(
        flagged.call(FlagCall(ghost)).await.unwrap(),
        Err(Error::ProcessUnknown)
    );
    assert_eq!(
        flagged.call(FlagCall(remote(&a, &store))).await.unwrap(),
        Ok(vec![1])
    );

    // To a local actor the flag changes nothing: errors come back at once.
    let local = a
        .spawn_with::<Store>((), SpawnOptions::default().mailbox_capacity(2))
        .unwrap();
    let (keep, gate) = oneshot::channel::<()>();
    local.call(Hold(gate)).await.unwrap();
    local.send(Put(1)).unwrap();
    while local.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    local.send(Put(2)).unwrap();
    assert_eq!(
        flagged.call(FlagSend(local, 3)).await.unwrap(),
        Err(Error::MailboxFull)
    );
    assert!(events.try_recv().is_err(), "no failure reported twice");

    drop(keep); // lets the held store finish, so shutdown is quick
    a.shutdown().await;
    b.shutdown().await;
}

/// Answers every call with important responses switched on.
struct Responder;
impl Actor for Responder {
    type Args = ();
    async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.set_important_delivery(true);
        Ok(Responder)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Slow>();
    }
}
impl Handler<Slow> for Responder {
    type Return = u64;
    async fn handle(&mut self, msg: Slow, _: &mut Context<Self>) -> u64 {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
        msg.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_flag_responses_reach_callers_and_an_ignored_one_does_not_stall_the_actor() {
    let (a, b) = (node().await, node().await);
    let responder = b.spawn::<Responder>(()).unwrap();
    let there = a.actor_ref::<Responder>(responder.pid()).unwrap();
    assert_eq!(there.call(Slow(0)).await, Ok(0));
    // A caller that gave up: the response is ignored (and counted); the actor goes on.
    let late = there.call(Slow(200)).timeout(Duration::from_millis(20)).await;
    assert_eq!(late, Err(Error::Timeout));
    assert_eq!(prompt(there.call(Slow(1))).await, Ok(1));
    a.shutdown().await;
    b.shutdown().await;
}
