//! Important sends acknowledged after handling (`SendImportant::after_handling`):
//! `Ok` means the handler finished with the message; a panic, a stop or a dead node
//! before that is an error, never `Ok`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, RemoteConfig, RemoteMessage,
    RemoteMessages,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

mod common;
use common::{PROMPT, mortal_node, peer_info, start_node};

const COOKIE: &str = "after-handling";

fn config() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(1))
        .reconnect_backoff(Duration::from_millis(50))
}

/// What the test shares with a worker: how many jobs it finished, and a gate each job
/// takes a permit from before it finishes (closed until the test adds permits).
#[derive(Clone)]
struct Shared {
    done: Arc<AtomicU64>,
    gate: Arc<Semaphore>,
}

impl Shared {
    fn new(open: bool) -> Self {
        let permits = if open { Semaphore::MAX_PERMITS } else { 0 };
        Shared {
            done: Arc::new(AtomicU64::new(0)),
            gate: Arc::new(Semaphore::new(permits)),
        }
    }
}

struct Worker(Shared);

impl Actor for Worker {
    type Args = Shared;
    async fn init(shared: Shared, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Worker(shared))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Job>().add::<Panic>().add::<Quit>().add::<HandOff>();
    }
}

/// Waits at the gate, then counts itself done.
#[derive(Serialize, Deserialize)]
struct Job;
impl Message for Job {
    type Reply = ();
}
impl RemoteMessage for Job {
    const TAG: &'static str = "test.after.job";
}
impl Handler<Job> for Worker {
    type Return = ();
    async fn handle(&mut self, _: Job, _: &mut Context<Self>) {
        self.0.gate.acquire().await.unwrap().forget();
        self.0.done.fetch_add(1, Ordering::SeqCst);
    }
}

/// The handler panics.
#[derive(Serialize, Deserialize)]
struct Panic;
impl Message for Panic {
    type Reply = ();
}
impl RemoteMessage for Panic {
    const TAG: &'static str = "test.after.panic";
}
impl Handler<Panic> for Worker {
    type Return = ();
    async fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("the handler fails on this message");
    }
}

/// Waits at the gate, then stops the actor.
#[derive(Serialize, Deserialize)]
struct Quit;
impl Message for Quit {
    type Reply = ();
}
impl RemoteMessage for Quit {
    const TAG: &'static str = "test.after.quit";
}
impl Handler<Quit> for Worker {
    type Return = ();
    async fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
        self.0.gate.acquire().await.unwrap().forget();
        ctx.stop();
    }
}

/// Hands the work to a task, which confirms when it is done.
#[derive(Serialize, Deserialize)]
struct HandOff;
impl Message for HandOff {
    type Reply = ();
}
impl RemoteMessage for HandOff {
    const TAG: &'static str = "test.after.handoff";
}
impl Handler<HandOff> for Worker {
    type Return = ();
    async fn handle(&mut self, _: HandOff, ctx: &mut Context<Self>) {
        let confirm = ctx.defer_reply::<()>().expect("an acknowledgement to defer");
        let shared = self.0.clone();
        tokio::spawn(async move {
            shared.gate.acquire().await.unwrap().forget();
            shared.done.fetch_add(1, Ordering::SeqCst);
            confirm.reply(());
        });
    }
}

/// A receiving node with a worker, the sending node, and the worker's handle there.
async fn pair(shared: Shared) -> (Node, Node, ActorRef<Worker>) {
    let b = start_node("ah-b", config()).await;
    let worker = b.spawn::<Worker>(shared).unwrap();
    let a = start_node("ah-a", config()).await;
    let remote = a.actor_ref::<Worker>(worker.pid()).unwrap();
    (a, b, remote)
}

/// Polls `fut` for `wait`: `None` if it is still pending then.
async fn within<F: IntoFuture>(wait: Duration, fut: F) -> Option<F::Output> {
    tokio::time::timeout(wait, fut.into_future()).await.ok()
}

#[tokio::test]
async fn remote_send_after_handling_is_acknowledged_only_once_the_handler_finished() {
    let shared = Shared::new(false);
    let (a, b, worker) = pair(shared.clone()).await;
    // Queued at once, handled only when the gate opens.
    let mut acked = worker.send_important(Job).after_handling().into_future();
    assert!(
        within(Duration::from_millis(300), &mut acked).await.is_none(),
        "acknowledged before handling"
    );
    assert_eq!(shared.done.load(Ordering::SeqCst), 0);
    shared.gate.add_permits(1);
    assert_eq!(within(PROMPT, acked).await, Some(Ok(())));
    assert_eq!(
        shared.done.load(Ordering::SeqCst),
        1,
        "Ok came before the handler finished"
    );
    // A plain important send is acknowledged on arrival, for contrast.
    let queued = within(PROMPT, worker.send_important(Job)).await;
    assert_eq!(queued, Some(Ok(())));
    assert_eq!(shared.done.load(Ordering::SeqCst), 1);
    shared.gate.add_permits(1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn remote_send_after_handling_to_a_receiver_that_panics_gets_an_error_not_ok() {
    let shared = Shared::new(true);
    let (a, b, worker) = pair(shared.clone()).await;
    let outcome = within(PROMPT, worker.send_important(Panic).after_handling()).await;
    // Unsupervised, the actor ends with the panic (a supervised one that restarts
    // answers `ActorFailed` with the panic's text instead).
    assert_eq!(outcome, Some(Err(Error::ProcessTerminated)));
    // The node goes on: another worker is acknowledged as usual.
    let again = b.spawn::<Worker>(shared.clone()).unwrap();
    let again = a.actor_ref::<Worker>(again.pid()).unwrap();
    assert_eq!(
        within(PROMPT, again.send_important(Job).after_handling()).await,
        Some(Ok(()))
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_send_after_handling_to_a_receiver_that_panics_gets_an_error_not_ok() {
    let node = Node::builder().name("ah-local@local").start().await.unwrap();
    let shared = Shared::new(true);
    let worker = node.spawn::<Worker>(shared.clone()).unwrap();
    assert_eq!(worker.send_important(Job).after_handling().await, Ok(()));
    assert_eq!(shared.done.load(Ordering::SeqCst), 1);
    let outcome = worker.send_important(Panic).after_handling().await;
    assert_eq!(outcome, Err(Error::ProcessTerminated));
    node.shutdown().await;
}

#[tokio::test]
async fn messages_still_queued_when_the_receiver_stops_are_not_acknowledged() {
    let shared = Shared::new(false);
    let (a, b, worker) = pair(shared.clone()).await;
    let quit = worker.send_important(Quit).after_handling().into_future();
    let queued = worker.send_important(Job).after_handling().into_future();
    // Both are in the mailbox before the gate opens: the first stops the actor.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shared.gate.add_permits(1);
    let (quit, queued) = tokio::join!(within(PROMPT, quit), within(PROMPT, queued));
    assert_eq!(quit, Some(Ok(())));
    match queued {
        Some(Err(Error::ProcessTerminated | Error::ReplyDropped)) => {}
        other => panic!("a message never handled was answered {other:?}"),
    }
    assert_eq!(shared.done.load(Ordering::SeqCst), 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_handler_that_hands_off_confirms_when_the_work_is_done() {
    let shared = Shared::new(false);
    let (a, b, worker) = pair(shared.clone()).await;
    let mut acked = worker.send_important(HandOff).after_handling().into_future();
    assert!(
        within(Duration::from_millis(300), &mut acked).await.is_none(),
        "acknowledged before the work"
    );
    shared.gate.add_permits(1);
    assert_eq!(within(PROMPT, acked).await, Some(Ok(())));
    assert_eq!(shared.done.load(Ordering::SeqCst), 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_receiving_node_that_dies_mid_handling_never_acknowledges() {
    let shared = Shared::new(false);
    let setup_shared = shared.clone();
    let (pid, die, thread) = mortal_node("ah-dies", config(), move |node| {
        node.spawn::<Worker>(setup_shared).unwrap().pid().clone()
    });
    let a = start_node("ah-a", config()).await;
    let worker = a.actor_ref::<Worker>(&pid).unwrap();
    let mut acked = worker
        .send_important(Job)
        .after_handling()
        .timeout(Duration::from_secs(3))
        .into_future();
    assert!(within(Duration::from_millis(300), &mut acked).await.is_none());
    die.send(()).unwrap();
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap()
        .unwrap();
    // The sender keeps the copy for the same incarnation coming back, until the
    // timeout: a dead node never says "handled".
    match within(Duration::from_secs(10), acked).await {
        Some(Err(Error::ConnectionLost | Error::NoConnection | Error::Timeout)) => {}
        other => panic!("a message never handled was answered {other:?}"),
    }
    assert_eq!(shared.done.load(Ordering::SeqCst), 0);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_after_handling_goes_back_on_the_sends_link_and_outlives_it() {
    let one = || config().links_per_peer(1);
    let b = start_node("ah-b", one()).await;
    let shared = Shared::new(false);
    let worker = b.spawn::<Worker>(shared.clone()).unwrap();
    let a = start_node("ah-a", one()).await;
    let there = a.actor_ref::<Worker>(worker.pid()).unwrap();
    // Each acknowledgement comes back on the link its send came in on: b needs no link
    // of its own to a.
    shared.gate.add_permits(3);
    for _ in 0..3 {
        let acked = within(PROMPT, there.send_important(Job).after_handling()).await;
        assert_eq!(acked, Some(Ok(())));
    }
    let sender = peer_info(&b, &a);
    assert_eq!(sender.links, 1, "only the link a dialed: {sender:?}");
    // A send held at the gate while its link is cut: a resends it on a new link (b
    // delivers it once); when the handler finishes, the link it came in on is gone, and
    // the acknowledgement goes on b's own link instead of being lost.
    let mut acked = there.send_important(Job).after_handling().into_future();
    assert!(within(Duration::from_millis(200), &mut acked).await.is_none());
    ackor::testing::sever_links(&a, b.name());
    tokio::time::sleep(Duration::from_millis(300)).await;
    shared.gate.add_permits(1);
    assert_eq!(within(PROMPT, acked).await, Some(Ok(())));
    assert_eq!(shared.done.load(Ordering::SeqCst), 4, "handled once");
    a.shutdown().await;
    b.shutdown().await;
}
