//! Verbs that address an actor by its registered name (resolved on the receiving node
//! when the message arrives), `Context::send_wait`, and what a remote handle does not
//! know. Nodes bind 127.0.0.1:0.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, Pid, ProcessId, RemoteConfig,
    RemoteMessage, RemoteMessages, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

mod common;
use common::{PROMPT, start_node};

fn config() -> RemoteConfig {
    RemoteConfig::new("by-name-cookie")
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(1000))
        .reconnect_backoff(Duration::from_millis(50))
}

/// Records what it gets, with the sender, on a channel; answers calls with its label.
struct Recorder {
    label: &'static str,
    seen: mpsc::UnboundedSender<(&'static str, u32, Option<Pid>)>,
}

type Seen = mpsc::UnboundedSender<(&'static str, u32, Option<Pid>)>;

impl Actor for Recorder {
    type Args = (&'static str, Seen);
    async fn init((label, seen): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Recorder { label, seen })
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Note>().add::<Who>();
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Note(u32);
impl Message for Note {
    type Reply = ();
}
impl RemoteMessage for Note {
    const TAG: &'static str = "test.by_name.note.v1";
}
impl Handler<Note> for Recorder {
    type Return = ();
    async fn handle(&mut self, msg: Note, ctx: &mut Context<Self>) {
        let _ = self.seen.send((self.label, msg.0, ctx.sender().cloned()));
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Who;
impl Message for Who {
    type Reply = String;
}
impl RemoteMessage for Who {
    const TAG: &'static str = "test.by_name.who.v1";
}
impl Handler<Who> for Recorder {
    type Return = String;
    async fn handle(&mut self, _: Who, _: &mut Context<Self>) -> String {
        self.label.to_string()
    }
}

async fn pair() -> (Node, Node) {
    let a = start_node("byname-a", config()).await;
    let b = start_node("byname-b", config()).await;
    (a, b)
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<(&'static str, u32, Option<Pid>)>,
) -> (&'static str, u32, Option<Pid>) {
    tokio::time::timeout(PROMPT, rx.recv())
        .await
        .expect("in time")
        .expect("open")
}

#[tokio::test]
async fn send_important_by_name_resolves_at_the_receiving_node() {
    let (a, b) = pair().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let first = b
        .spawn_with::<Recorder>(("first", tx.clone()), SpawnOptions::default().name("svc"))
        .unwrap();
    let svc = ProcessId::new("svc", b.name().clone());
    a.send_important_name::<Recorder, _>(&svc, Note(1)).await.unwrap();
    assert_eq!(next(&mut rx).await.0, "first");

    // The name moves to another actor: the next send finds the new owner, with no
    // lookup on the sending side to go stale.
    first.stop().unwrap();
    first.wait_for_stop().await;
    b.spawn_with::<Recorder>(("second", tx), SpawnOptions::default().name("svc"))
        .unwrap();
    a.send_important_name::<Recorder, _>(&svc, Note(2)).await.unwrap();
    assert_eq!(next(&mut rx).await, ("second", 2, None));

    // No owner at all: the acknowledgement says so.
    let nobody = ProcessId::new("nobody", b.name().clone());
    let outcome = tokio::time::timeout(PROMPT, a.send_important_name::<Recorder, _>(&nobody, Note(3))).await;
    assert_eq!(outcome, Ok(Err(Error::ProcessUnknown)));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn call_important_by_name_fails_with_the_call_not_the_lookup() {
    let (a, b) = pair().await;
    let (tx, _rx) = mpsc::unbounded_channel();
    b.spawn_with::<Recorder>(("svc", tx), SpawnOptions::default().name("svc"))
        .unwrap();
    let svc = ProcessId::new("svc", b.name().clone());
    assert_eq!(
        a.call_important_name::<Recorder, _>(&svc, Who).await,
        Ok("svc".into())
    );
    assert_eq!(a.call_name::<Recorder, _>(&svc, Who).await, Ok("svc".into()));

    // The error is the call's own: ProcessUnknown at once from the receiving node (no
    // lookup first, no timeout).
    let nobody = ProcessId::new("nobody", b.name().clone());
    let call = a.call_important_name::<Recorder, _>(&nobody, Who);
    assert_eq!(
        tokio::time::timeout(PROMPT, call).await,
        Ok(Err(Error::ProcessUnknown))
    );
    // On this node the same.
    let local = ProcessId::new("nobody", a.name().clone());
    assert_eq!(
        a.call_name::<Recorder, _>(&local, Who).await,
        Err(Error::ProcessUnknown)
    );
    // A node that is not there: NoConnection, from the call.
    let ghost = ProcessId::new("svc", ackor::NodeName::new("ghost@127.0.0.1:1"));
    let call = a
        .call_name::<Recorder, _>(&ghost, Who)
        .timeout(Duration::from_secs(2));
    assert_eq!(
        tokio::time::timeout(PROMPT, call).await,
        Ok(Err(Error::NoConnection))
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// Calls `svc` by name from inside an actor.
struct Asker;
impl Actor for Asker {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Asker)
    }
}
struct AskByName(ProcessId);
impl Message for AskByName {
    type Reply = Result<String, Error>;
}
impl Handler<AskByName> for Asker {
    type Return = Result<String, Error>;
    async fn handle(&mut self, msg: AskByName, ctx: &mut Context<Self>) -> Result<String, Error> {
        ctx.send_important_name::<Recorder, _>(&msg.0, Note(9)).await?;
        ctx.call_name::<Recorder, _>(&msg.0, Who).await
    }
}

#[tokio::test]
async fn context_calls_and_important_sends_by_name_carry_the_actor_as_sender() {
    let (a, b) = pair().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    b.spawn_with::<Recorder>(("svc", tx), SpawnOptions::default().name("svc"))
        .unwrap();
    let asker = a.spawn::<Asker>(()).unwrap();
    let svc = ProcessId::new("svc", b.name().clone());
    assert_eq!(asker.call(AskByName(svc)).await, Ok(Ok("svc".into())));
    assert_eq!(next(&mut rx).await, ("svc", 9, Some(asker.pid().clone())));
    let nobody = ProcessId::new("nobody", b.name().clone());
    assert_eq!(
        asker.call(AskByName(nobody)).await,
        Ok(Err(Error::ProcessUnknown))
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// Sends `n` notes to its target, alternating plain sends and waiting sends.
struct Producer(ActorRef<Recorder>);
impl Actor for Producer {
    type Args = ActorRef<Recorder>;
    async fn init(to: ActorRef<Recorder>, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Producer(to))
    }
}
struct Produce(u32);
impl Message for Produce {
    type Reply = Result<(), Error>;
}
impl Handler<Produce> for Producer {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: Produce, ctx: &mut Context<Self>) -> Result<(), Error> {
        for i in 0..msg.0 {
            if i % 2 == 0 && !self.0.is_remote() {
                ctx.send_wait(&self.0, Note(i)).await?;
            } else if i % 2 == 0 {
                // A remote link has room here: a plain send interleaved with waiting ones.
                ctx.send(&self.0, Note(i))?;
            } else {
                ctx.send_wait(&self.0, Note(i)).await?;
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn ctx_send_wait_waits_for_room_and_keeps_order_and_sender() {
    let node = Node::builder().name("sendwait@local").start().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    // One slot: almost every send has to wait for the consumer.
    let consumer = node
        .spawn_with::<Recorder>(("c", tx), SpawnOptions::default().mailbox_capacity(1))
        .unwrap();
    let producer = node.spawn::<Producer>(consumer).unwrap();
    assert_eq!(producer.call(Produce(200)).await, Ok(Ok(())));
    for i in 0..200 {
        assert_eq!(next(&mut rx).await, ("c", i, Some(producer.pid().clone())));
    }
    node.shutdown().await;
}

#[tokio::test]
async fn ctx_send_wait_to_a_remote_actor_keeps_order_with_plain_sends() {
    let (a, b) = pair().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let there = b.spawn::<Recorder>(("r", tx)).unwrap();
    let to = a.actor_ref::<Recorder>(there.pid()).unwrap();
    let producer = a.spawn::<Producer>(to).unwrap();
    assert_eq!(producer.call(Produce(500)).await, Ok(Ok(())));
    for i in 0..500 {
        assert_eq!(next(&mut rx).await, ("r", i, Some(producer.pid().clone())));
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn remote_handle_does_not_claim_to_know_the_mailbox() {
    let (a, b) = pair().await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let there = b
        .spawn_with::<Recorder>(("r", tx), SpawnOptions::default().mailbox_capacity(7))
        .unwrap();
    assert_eq!(there.mailbox_len(), Some(0));
    assert_eq!(there.mailbox_capacity(), Some(7));
    let remote = a.actor_ref::<Recorder>(there.pid()).unwrap();
    assert_eq!(remote.mailbox_len(), None);
    assert_eq!(remote.mailbox_capacity(), None);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn node_with_a_port_but_no_cookie_is_refused_at_start() {
    let refused = Node::builder().name("lonely@127.0.0.1:0").start().await;
    match refused {
        Err(Error::Config(why)) => assert!(why.contains("no cookie"), "{why}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    // Without a port it is a local-only node, as before.
    let local = Node::builder().name("lonely@127.0.0.1").start().await.unwrap();
    local.shutdown().await;
}

#[tokio::test]
async fn encoded_message_is_decoded_by_each_receiver_here_and_on_another_node() {
    let (a, b) = pair().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let here = a.spawn::<Recorder>(("here", tx.clone())).unwrap();
    let there = b.spawn::<Recorder>(("there", tx)).unwrap();
    let note = ackor::Encoded::new::<Recorder, _>(&Note(5)).unwrap();
    a.send_encoded(here.pid(), &note, None).unwrap();
    a.send_encoded(there.pid(), &note, Some(here.pid())).unwrap();
    let mut got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort_by_key(|g| g.0);
    assert_eq!(
        got,
        vec![("here", 5, None), ("there", 5, Some(here.pid().clone()))]
    );
    // What the receiver cannot take is refused precisely, here at once.
    let unknown = ackor::Encoded::from_parts("no.such.tag", vec![]);
    assert_eq!(
        a.send_encoded(here.pid(), &unknown, None),
        Err(Error::UnknownMessage("no.such.tag".into()))
    );
    let garbage = ackor::Encoded::from_parts(note.tag(), vec![0xc1]);
    assert!(matches!(
        a.send_encoded(here.pid(), &garbage, None),
        Err(Error::Codec(_))
    ));
    let gone = Pid::new(a.name().clone(), 999_999, a.creation());
    assert_eq!(a.send_encoded(&gone, &note, None), Err(Error::ProcessUnknown));
    assert!(matches!(
        ackor::Encoded::new::<Asker, _>(&AskByName(ProcessId::new("x", a.name().clone()))),
        Err(Error::UnknownMessage(_))
    ));
    a.shutdown().await;
    b.shutdown().await;
}
