//! The macros (`#[derive(Message)]`, `#[derive(RemoteMessage)]`, `#[ackor::actor]`):
//! what they generate answers locally and across two nodes on loopback, with no
//! `remote_messages` written by hand.

#![cfg(feature = "macros")]
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use ackor::{
    Actor, ActorRef, BoxError, Codec, Context, Error, Handler, Message, Node, RemoteConfig, RemoteMessage,
    RemoteMessages, Reply,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod common;
use common::{PROMPT, start_node};

const COOKIE: &str = "test-cookie";

async fn node(prefix: &str) -> Node {
    start_node(prefix, RemoteConfig::new(COOKIE)).await
}

/// A reference on `from` to the actor `local` (which lives on another node).
fn remote<A: Actor>(from: &Node, local: &ActorRef<A>) -> ActorRef<A> {
    let there = from.actor_ref::<A>(local.pid()).unwrap();
    assert!(there.is_remote());
    there
}

// ------------------------------------------------------------------ messages

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = String)]
#[remote(tag = "test.macros.ping.v1")]
struct Ping(String);

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = u64)]
#[remote(tag = "test.macros.add.v1")]
struct Add(u64);

/// Reply `()`: for `send_important`.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = "test.macros.note.v1")]
struct Note(String);

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = Vec<String>)]
#[remote(tag = "test.macros.notes.v1")]
struct Notes;

/// Registered with the `Named` codec.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = u64)]
#[remote(tag = "test.macros.total.v1")]
struct Total;

/// Handled, but not a `RemoteMessage`: local only.
#[derive(Message)]
#[message(reply = u64)]
struct Peek;

#[derive(Message)]
#[message(reply = bool, interleave)]
struct Health;

/// MessagePack with field names: a codec other than the default.
struct Named;
impl Codec for Named {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
        rmp_serde::to_vec_named(value).map_err(|e| Error::Codec(e.to_string()))
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
        rmp_serde::from_slice(bytes).map_err(|e| Error::Codec(e.to_string()))
    }
}

// ------------------------------------------------------------------ an actor built with the macro

struct Echo {
    total: u64,
    notes: Vec<String>,
}

#[ackor::actor]
impl Actor for Echo {
    type Args = u64;

    async fn init(total: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo {
            total,
            notes: Vec::new(),
        })
    }

    /// Async, with the context.
    #[handler]
    async fn ping(&mut self, Ping(text): Ping, ctx: &mut Context<Self>) -> String {
        tokio::task::yield_now().await;
        format!("{text} from {}", ctx.pid())
    }

    /// Rejects an overflow.
    #[handler]
    fn add(&mut self, msg: Add) -> Reply<u64> {
        match self.total.checked_add(msg.0) {
            Some(total) => {
                self.total = total;
                Reply::Value(total)
            }
            None => Reply::Error(Error::rejected("overflow")),
        }
    }

    /// No return type: reply `()`.
    #[handler]
    fn note(&mut self, msg: Note) {
        self.notes.push(msg.0);
    }

    #[handler]
    fn notes(&mut self, _: Notes) -> Vec<String> {
        self.notes.clone()
    }

    #[handler(codec = Named)]
    fn total(&mut self, _: Total) -> u64 {
        self.total
    }

    #[handler]
    fn peek(&mut self, _: Peek) -> u64 {
        self.total
    }

    #[handler]
    fn health(&mut self, _: Health) -> bool {
        true
    }
}

// ------------------------------------------------------------------ derives

#[test]
fn derive_message_sets_the_reply_type_unit_by_default_and_interleave() {
    fn reply_of<M: Message>() -> &'static str {
        std::any::type_name::<M::Reply>()
    }
    assert_eq!(reply_of::<Add>(), "u64");
    assert_eq!(reply_of::<Note>(), "()");
    fn interleaves<M: Message>() -> bool {
        M::INTERLEAVE
    }
    assert!(interleaves::<Health>());
    assert!(!interleaves::<Peek>());
}

#[test]
fn derive_remote_message_sets_the_tag() {
    assert_eq!(<Ping as RemoteMessage>::TAG, "test.macros.ping.v1");
    assert_eq!(<Total as RemoteMessage>::TAG, "test.macros.total.v1");
}

// ------------------------------------------------------------------ local

#[tokio::test]
async fn handler_methods_answer_local_calls() {
    let node = Node::builder()
        .name("macros-local@localhost")
        .start()
        .await
        .unwrap();
    let echo = node.spawn::<Echo>(1).unwrap();
    let pong = echo.call(Ping("hi".into())).await.unwrap();
    assert_eq!(pong, format!("hi from {}", echo.pid()));
    assert_eq!(echo.call(Add(2)).await, Ok(3));
    assert!(matches!(echo.call(Add(u64::MAX)).await, Err(Error::Rejected(_))));
    echo.send(Note("a".into())).unwrap();
    assert_eq!(echo.call(Notes).await.unwrap(), vec!["a".to_string()]);
    assert_eq!(echo.call(Total).await, Ok(3));
    assert_eq!(echo.call(Peek).await, Ok(3));
    assert_eq!(echo.call(Health).await, Ok(true));
    node.shutdown().await;
}

// ------------------------------------------------------------------ remote

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actor_macro_registers_every_remote_message_it_handles() {
    let (a, b) = (node("a").await, node("b").await);
    let echo = b.spawn::<Echo>(0).unwrap();
    let there = remote(&a, &echo);

    let pong = tokio::time::timeout(PROMPT, there.call(Ping("hi".into())))
        .await
        .expect("prompt");
    assert_eq!(pong.unwrap(), format!("hi from {}", echo.pid()));
    assert_eq!(there.call(Add(5)).await, Ok(5));
    assert!(matches!(there.call(Add(u64::MAX)).await, Err(Error::Rejected(_))));
    tokio::time::timeout(PROMPT, there.send_important(Note("important".into())))
        .await
        .expect("prompt")
        .unwrap();
    assert_eq!(there.call(Notes).await.unwrap(), vec!["important".to_string()]);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_with_codec_registers_the_message_with_that_codec() {
    let (a, b) = (node("a").await, node("b").await);
    let echo = b.spawn::<Echo>(42).unwrap();
    let there = remote(&a, &echo);
    let total = tokio::time::timeout(PROMPT, there.call(Total))
        .await
        .expect("prompt");
    assert_eq!(total, Ok(42));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_message_that_is_not_remote_works_locally_and_is_refused_remotely() {
    let (a, b) = (node("a").await, node("b").await);
    let echo = b.spawn::<Echo>(7).unwrap();
    assert_eq!(echo.call(Peek).await, Ok(7));
    let there = remote(&a, &echo);
    assert!(matches!(there.send(Peek), Err(Error::UnknownMessage(_))));
    let outcome = tokio::time::timeout(PROMPT, there.call(Peek))
        .await
        .expect("prompt");
    assert!(matches!(outcome, Err(Error::UnknownMessage(_))), "{outcome:?}");
    a.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ a remote_messages written by hand

/// Handled by an impl written by hand, registered by hand.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = String)]
#[remote(tag = "test.macros.by-hand.v1")]
struct ByHand;

struct Mixed;

#[ackor::actor]
impl Actor for Mixed {
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Mixed)
    }

    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<ByHand>();
    }

    #[handler]
    fn ping(&mut self, msg: Ping) -> String {
        msg.0
    }
}

impl Handler<ByHand> for Mixed {
    type Return = String;
    async fn handle(&mut self, _: ByHand, _: &mut Context<Self>) -> String {
        "by hand".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_messages_written_by_hand_is_kept_beside_the_generated_registrations() {
    let (a, b) = (node("a").await, node("b").await);
    let mixed = b.spawn::<Mixed>(()).unwrap();
    let there = remote(&a, &mixed);
    let by_hand = tokio::time::timeout(PROMPT, there.call(ByHand))
        .await
        .expect("prompt");
    assert_eq!(by_hand.as_deref(), Ok("by hand"));
    assert_eq!(
        there.call(Ping("generated".into())).await.as_deref(),
        Ok("generated")
    );
    a.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ generics

#[derive(Message)]
#[message(reply = usize)]
struct Len;

/// Generic over what it stores, with a where-clause.
struct Store<T> {
    items: Vec<T>,
}

#[derive(Message)]
struct Push<T: Send + 'static>(T);

#[ackor::actor]
impl<T> Actor for Store<T>
where
    T: Send + 'static,
{
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Store { items: Vec::new() })
    }

    #[handler]
    fn push(&mut self, Push(item): Push<T>) {
        self.items.push(item);
    }

    #[handler]
    fn len(&mut self, _: Len) -> usize {
        self.items.len()
    }
}

#[tokio::test]
async fn actor_macro_passes_the_impl_generics_to_each_handler() {
    let node = Node::builder()
        .name("macros-generic@localhost")
        .start()
        .await
        .unwrap();
    let store = node.spawn::<Store<String>>(()).unwrap();
    store.send(Push("x".to_string())).unwrap();
    store.send(Push("y".to_string())).unwrap();
    assert_eq!(store.call(Len).await, Ok(2));
    node.shutdown().await;
}
