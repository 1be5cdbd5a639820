//! Process aliases: extra pids an actor creates and deletes at run time, targets of
//! plain and important sends and calls here and from another node; a deleted alias
//! answers `ProcessUnknown`. Nodes bind 127.0.0.1:0.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Error, Handler, Message, Pid, RemoteConfig, RemoteMessage, RemoteMessages,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

mod common;
use common::{PROMPT, start_node};

fn config() -> RemoteConfig {
    RemoteConfig::new("alias-cookie")
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(1000))
}

/// Opens and closes conversations (aliases); tells the test each message it gets.
struct Desk(mpsc::UnboundedSender<u64>);

impl Actor for Desk {
    type Args = mpsc::UnboundedSender<u64>;
    async fn init(tx: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Desk(tx))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Say>().add::<Ask>();
    }
}

struct Open;
impl Message for Open {
    type Reply = Result<Pid, Error>;
}
impl Handler<Open> for Desk {
    type Return = Result<Pid, Error>;
    async fn handle(&mut self, _: Open, ctx: &mut Context<Self>) -> Result<Pid, Error> {
        Ok(ctx.create_alias()?.pid().clone())
    }
}

struct Close(Pid);
impl Message for Close {
    type Reply = bool;
}
impl Handler<Close> for Desk {
    type Return = bool;
    async fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) -> bool {
        ctx.delete_alias(&msg.0)
    }
}

#[derive(Serialize, Deserialize)]
struct Say(u64);
impl Message for Say {
    type Reply = ();
}
impl RemoteMessage for Say {
    const TAG: &'static str = "test.alias.say.v1";
}
impl Handler<Say> for Desk {
    type Return = ();
    async fn handle(&mut self, msg: Say, _: &mut Context<Self>) {
        let _ = self.0.send(msg.0);
    }
}

#[derive(Serialize, Deserialize)]
struct Ask(u64);
impl Message for Ask {
    type Reply = u64;
}
impl RemoteMessage for Ask {
    const TAG: &'static str = "test.alias.ask.v1";
}
impl Handler<Ask> for Desk {
    type Return = u64;
    async fn handle(&mut self, msg: Ask, _: &mut Context<Self>) -> u64 {
        msg.0 * 2
    }
}

async fn said(rx: &mut mpsc::UnboundedReceiver<u64>) -> u64 {
    tokio::time::timeout(PROMPT, rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn important_send_and_call_to_an_alias() {
    let a = start_node("alias-a", config()).await;
    let b = start_node("alias-b", config()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let desk = b.spawn::<Desk>(tx).unwrap();
    let alias = desk.call(Open).await.unwrap().unwrap();
    assert_ne!(&alias, desk.pid());
    assert_eq!(alias.node(), b.name());

    // Here, through a handle to the alias.
    let here = b.actor_ref::<Desk>(&alias).unwrap();
    assert_eq!(here.pid(), &alias);
    here.send(Say(1)).unwrap();
    assert_eq!(said(&mut rx).await, 1);
    here.send_important(Say(2)).await.unwrap();
    assert_eq!(said(&mut rx).await, 2);
    assert_eq!(here.call_important(Ask(3)).await, Ok(6));

    // From another node, by the alias pid.
    let there = a.actor_ref::<Desk>(&alias).unwrap();
    there.send(Say(4)).unwrap();
    assert_eq!(said(&mut rx).await, 4);
    there.send_important(Say(5)).await.unwrap();
    assert_eq!(said(&mut rx).await, 5);
    assert_eq!(there.call(Ask(6)).await, Ok(12));
    assert_eq!(there.call_important(Ask(7)).await, Ok(14));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn deleted_alias_answers_process_unknown() {
    let a = start_node("alias-a", config()).await;
    let b = start_node("alias-b", config()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let desk = b.spawn::<Desk>(tx).unwrap();
    let alias = desk.call(Open).await.unwrap().unwrap();
    let other = desk.call(Open).await.unwrap().unwrap();
    let here = b.actor_ref::<Desk>(&alias).unwrap();
    let there = a.actor_ref::<Desk>(&alias).unwrap();
    assert_eq!(there.call(Ask(1)).await, Ok(2));

    assert!(desk.call(Close(alias.clone())).await.unwrap());
    assert!(!desk.call(Close(alias.clone())).await.unwrap(), "deleted twice");
    // Handles made before the delete refuse too, here and there.
    assert_eq!(here.send(Say(1)), Err(Error::ProcessUnknown));
    assert_eq!(here.send_important(Say(1)).await, Err(Error::ProcessUnknown));
    assert_eq!(here.call(Ask(1)).await, Err(Error::ProcessUnknown));
    assert_eq!(here.mailbox_len(), None);
    assert!(!here.is_alive());
    assert_eq!(b.actor_ref::<Desk>(&alias).err(), Some(Error::ProcessUnknown));
    let outcome = tokio::time::timeout(PROMPT, there.send_important(Say(1)))
        .await
        .unwrap();
    assert_eq!(outcome, Err(Error::ProcessUnknown));
    assert_eq!(
        tokio::time::timeout(PROMPT, there.call(Ask(1))).await.unwrap(),
        Err(Error::ProcessUnknown)
    );
    // The actor and its other alias are untouched.
    assert_eq!(desk.call(Ask(5)).await, Ok(10));
    assert_eq!(a.actor_ref::<Desk>(&other).unwrap().call(Ask(6)).await, Ok(12));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), rx.recv())
            .await
            .is_err(),
        "a refused message arrived"
    );

    // Aliases go with their actor.
    desk.stop().unwrap();
    desk.wait_for_stop().await;
    assert_eq!(b.actor_ref::<Desk>(&other).err(), Some(Error::ProcessUnknown));
    a.shutdown().await;
    b.shutdown().await;
}
