//! Handlers that take their message at once (`Handler::handle_now`): a plain `fn`
//! under `#[ackor::actor]`, or a hand-written `handle_now` that answers some messages
//! at once and gives the others to `handle`. They run with no future made for the
//! message; to everyone else they behave as `async fn` handlers do: replies, order,
//! a panic's exit reason and what its caller is told. (What they allocate is guarded
//! in `tests/handler_allocations.rs`.)

#![cfg(feature = "macros")]
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;

use ackor::supervision::{ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, ExitReason, Handler, Message, Node, RemoteConfig,
    RemoteMessage,
};
use serde::{Deserialize, Serialize};

mod common;
use common::{PROMPT, start_node, unique};

async fn node() -> Node {
    Node::builder()
        .name(format!("handle-now{}@local", unique()))
        .start()
        .await
        .unwrap()
}

/// A node whose handlers are timed (detailed metrics): every message is handled on the
/// decorated path, in one future that tries `handle_now` first.
async fn timed_node() -> Node {
    Node::builder()
        .name(format!("handle-now-timed{}@local", unique()))
        .detailed_metrics(std::time::Duration::from_secs(60))
        .start()
        .await
        .unwrap()
}

// ------------------------------------------------------------------ a panic, at once or later

#[derive(Message)]
struct Boom;

#[derive(Message)]
struct BoomLater;

#[derive(Message)]
#[message(reply = u64)]
struct Count;

struct Fragile(u64);

#[ackor::actor]
impl Actor for Fragile {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Fragile(0))
    }

    #[handler]
    fn count(&mut self, _: Count) -> u64 {
        self.0 += 1;
        self.0
    }

    #[handler]
    fn boom(&mut self, _: Boom) {
        panic!("boom");
    }

    #[handler]
    async fn boom_later(&mut self, _: BoomLater) {
        tokio::task::yield_now().await;
        panic!("boom");
    }
}

/// What the caller of a panicking message gets, and how the actor ends.
async fn call_that_panics<M>(node: &Node, msg: M) -> (Result<(), Error>, ExitReason)
where
    M: Message<Reply = ()>,
    Fragile: Handler<M>,
{
    let actor = node.spawn::<Fragile>(()).unwrap();
    assert_eq!(actor.call::<Count>(Count).await, Ok(1));
    let answer = tokio::time::timeout(PROMPT, actor.call(msg))
        .await
        .expect("answered in time");
    let reason = tokio::time::timeout(PROMPT, actor.wait_for_stop())
        .await
        .expect("stopped in time");
    (answer, reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_fn_handler_that_panics_ends_its_actor_as_an_async_one_does() {
    for node in [node().await, timed_node().await] {
        let (now, now_reason) = call_that_panics(&node, Boom).await;
        let (later, later_reason) = call_that_panics(&node, BoomLater).await;
        assert_eq!(now_reason, ExitReason::Panic("boom".into()));
        assert_eq!(now_reason, later_reason);
        // What the caller is told, the same either way. (That the mailbox closes before
        // the reply is dropped is what makes it `ProcessTerminated`, not `ReplyDropped`;
        // the caller also looks at the mailbox when it is polled, so this does not pin
        // the order down on its own.)
        assert_eq!(now, Err(Error::ProcessTerminated));
        assert_eq!(
            now, later,
            "the same answer whether the handler panicked at once or later"
        );
        // The node goes on.
        let fresh = node.spawn::<Fragile>(()).unwrap();
        assert_eq!(fresh.call(Count).await, Ok(1));
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_plain_fn_handler_that_panics_answers_its_caller_actor_failed() {
    let node = node().await;
    let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::new::<Fragile>("f", || ()));
    let sup = node.spawn::<Supervisor>(spec).unwrap();
    let pid = sup.call(WhichChildren).await.unwrap()[0]
        .pid
        .clone()
        .expect("started");
    let child = node.actor_ref::<Fragile>(&pid).unwrap();
    assert_eq!(child.call(Count).await, Ok(1));
    match tokio::time::timeout(PROMPT, child.call(Boom))
        .await
        .expect("answered in time")
    {
        Err(Error::ActorFailed(why)) => assert!(why.contains("boom"), "{why}"),
        other => panic!("expected ActorFailed, got {other:?}"),
    }
    // Restarted in place: same pid, a fresh instance.
    assert_eq!(child.call(Count).await, Ok(1));
    node.shutdown().await;
}

// ------------------------------------------------------------------ some at once, some later

/// Looks a key up: from its cache at once, or "fetched" (after an await) and cached.
#[derive(Message)]
#[message(reply = (u32, &'static str))]
struct Lookup(u32);

#[derive(Default)]
struct Cache {
    cached: HashMap<u32, u32>,
    /// Every lookup in the order handled, with how.
    log: Vec<(u32, &'static str)>,
}

impl Actor for Cache {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Cache::default())
    }
}

impl Handler<Lookup> for Cache {
    type Return = (u32, &'static str);

    async fn handle(&mut self, Lookup(key): Lookup, _: &mut Context<Self>) -> (u32, &'static str) {
        tokio::task::yield_now().await; // the fetch
        self.cached.insert(key, key * 10);
        self.log.push((key, "fetched"));
        (key * 10, "fetched")
    }

    fn handle_now(&mut self, msg: Lookup, _: &mut Context<Self>) -> Result<(u32, &'static str), Lookup> {
        match self.cached.get(&msg.0) {
            Some(&value) => {
                self.log.push((msg.0, "cached"));
                Ok((value, "cached"))
            }
            None => Err(msg),
        }
    }
}

#[derive(Message)]
#[message(reply = Vec<(u32, &'static str)>)]
struct Log;

impl Handler<Log> for Cache {
    type Return = Vec<(u32, &'static str)>;
    async fn handle(&mut self, _: Log, _: &mut Context<Self>) -> Self::Return {
        self.log.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_now_answers_some_messages_at_once_and_gives_the_others_to_handle() {
    for node in [node().await, timed_node().await] {
        handled_at_once_or_later(&node).await;
        node.shutdown().await;
    }
}

async fn handled_at_once_or_later(node: &Node) {
    let cache = node.spawn::<Cache>(()).unwrap();
    assert_eq!(cache.call(Lookup(1)).await, Ok((10, "fetched")));
    assert_eq!(cache.call(Lookup(1)).await, Ok((10, "cached")));
    // Sent together: each is handled in its turn, those given back included.
    for key in [2, 1, 2, 3, 1] {
        cache.send(Lookup(key)).unwrap();
    }
    assert_eq!(
        cache.call(Log).await.unwrap(),
        vec![
            (1, "fetched"),
            (1, "cached"),
            (2, "fetched"),
            (1, "cached"),
            (2, "cached"),
            (3, "fetched"),
            (1, "cached"),
        ]
    );
}

// ------------------------------------------------------------------ important replies, at once

/// Answers `n + 1`, at once.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = u64)]
#[remote(tag = "test.handle_now.ask.v1")]
struct Ask(u64);

/// Keeps the actor busy for this many milliseconds (an `async fn`).
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = "test.handle_now.hold.v1")]
struct Hold(u64);

/// Every reply it sends is important: confirmed by the caller's node.
struct Confirming;

#[ackor::actor]
impl Actor for Confirming {
    type Args = ();
    async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.set_important_delivery(true);
        Ok(Confirming)
    }

    #[handler]
    fn ask(&mut self, Ask(n): Ask) -> u64 {
        n + 1
    }

    #[handler]
    async fn hold(&mut self, Hold(ms): Hold) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn responses_ignored(node: &Node) -> u64 {
    node.inspect(node.name())
        .node()
        .await
        .unwrap()
        .important
        .responses_ignored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_important_reply_from_a_plain_fn_handler_is_confirmed_or_counted_ignored() {
    let config = || RemoteConfig::new("handle-now-cookie");
    let (a, b) = (
        start_node("hn-a", config()).await,
        start_node("hn-b", config()).await,
    );
    let here = b.spawn::<Confirming>(()).unwrap();
    let there: ActorRef<Confirming> = a.actor_ref(here.pid()).unwrap();
    // Answered at once, the reply confirmed by A's node.
    assert_eq!(there.call(Ask(1)).await, Ok(2));
    assert_eq!(responses_ignored(&b).await, 0);
    // A caller that gave up before the reply: B learns its reply was not taken.
    there.send(Hold(300)).unwrap();
    let late = there.call(Ask(2)).timeout(Duration::from_millis(50)).await;
    assert_eq!(late, Err(Error::Timeout));
    let waited = tokio::time::Instant::now();
    while responses_ignored(&b).await == 0 {
        assert!(waited.elapsed() < PROMPT, "the ignored reply is counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(there.call(Ask(3)).await, Ok(4), "the actor goes on");
    a.shutdown().await;
    b.shutdown().await;
}
