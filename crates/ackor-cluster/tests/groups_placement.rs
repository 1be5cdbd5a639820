//! Process groups (join, leave, members cluster-wide, a broadcast with one network
//! message per node) and placement (rendezvous, one keyed actor per key, started again
//! elsewhere when its member goes). Every node binds 127.0.0.1:0 (TCP and UDP).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Handler, Message, Pid, RemoteActor, RemoteMessage, RemoteMessages, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

mod common;
use common::*;

/// Tells the test every bulletin it gets.
struct Reader(mpsc::UnboundedSender<(Pid, String)>);

impl Actor for Reader {
    type Args = mpsc::UnboundedSender<(Pid, String)>;
    async fn init(tx: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Reader(tx))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Bulletin>();
    }
}

#[derive(Serialize, Deserialize)]
struct Bulletin(String);
impl Message for Bulletin {
    type Reply = ();
}
impl RemoteMessage for Bulletin {
    const TAG: &'static str = "test.cluster.bulletin.v1";
}
impl Handler<Bulletin> for Reader {
    type Return = ();
    async fn handle(&mut self, msg: Bulletin, ctx: &mut Context<Self>) {
        let _ = self.0.send((ctx.pid().clone(), msg.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_broadcast_reaches_every_member_with_one_message_per_node() {
    let (a, ca) = member("a", "g1", &[]).await;
    let (b, cb) = member("b", "g1", &[&ca]).await;
    let (c, cc) = member("c", "g1", &[&ca]).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    for (node, cluster, n) in [(&a, &ca, 1), (&b, &cb, 2), (&c, &cc, 1)] {
        for _ in 0..n {
            let r = node.spawn::<Reader>(tx.clone()).unwrap();
            cluster.join_group("news", r.pid()).await.unwrap();
            readers.push(r);
        }
    }
    // Not in the group: gets nothing.
    let outsider = b.spawn::<Reader>(tx).unwrap();
    until("a sees all four members", || ca.group_members("news").len() == 4).await;
    let sent = ca
        .broadcast::<Reader, _>("news", &Bulletin("hello".into()))
        .unwrap();
    assert_eq!(sent, 2, "one network message per other node with members");
    let mut got: Vec<Pid> = Vec::new();
    for _ in 0..4 {
        let (pid, text) = tokio::time::timeout(CONVERGE, rx.recv()).await.unwrap().unwrap();
        assert_eq!(text, "hello");
        got.push(pid);
    }
    got.sort();
    let mut expected: Vec<Pid> = readers.iter().map(|r| r.pid().clone()).collect();
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err()
    );
    drop(outsider);

    // Leaving a group, and a stopped member, take effect everywhere.
    assert!(cb.leave_group("news", readers[1].pid()).await);
    readers[3].stop().unwrap();
    until("a sees two members", || ca.group_members("news").len() == 2).await;
    for cl in [&cc, &cb, &ca] {
        cl.leave().await;
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_actor_is_one_per_key_and_starts_again_where_placement_says_when_its_member_goes() {
    let (a, ca) = member("a", "k1", &[]).await;
    let (b, cb) = member("b", "k1", &[&ca]).await;
    let (c, cc) = member("c", "k1", &[&ca]).await;
    for n in [&a, &b, &c] {
        n.allow_remote_spawn::<Echo>();
    }
    for cl in [&ca, &cb, &cc] {
        until("three members", || cl.members().len() == 3).await;
    }
    // A key that does not belong on a (the member that will ask for it).
    let key = (0..)
        .map(|i| format!("cart-{i}"))
        .find(|k| ca.place(k).as_ref() != Some(a.name()))
        .unwrap();
    let home = ca.place(&key).unwrap();
    assert_eq!(cb.place(&key).as_ref(), Some(&home), "every member places alike");
    let first = ca
        .spawn_keyed::<Echo>(&key, (), SpawnOptions::default())
        .await
        .unwrap();
    assert_eq!(first.pid().node(), &home);
    // The same actor, asked for again from anywhere.
    let asker = if &home == b.name() { &cc } else { &cb };
    until("the name travels", || {
        asker.whereis(&format!("{}/{key}", Echo::KIND)).is_some()
    })
    .await;
    let again = asker
        .spawn_keyed::<Echo>(&key, (), SpawnOptions::default())
        .await
        .unwrap();
    assert_eq!(again.pid(), first.pid());
    let answer = again.call(Say("hi".into(), 0)).await.unwrap();
    assert_eq!(answer, format!("hi from {home}"));

    // Its member leaves: the next ask starts it on the member placement picks now.
    let home_cluster = [&ca, &cb, &cc]
        .into_iter()
        .find(|cl| cl.node().name() == &home)
        .unwrap()
        .clone();
    home_cluster.leave().await;
    home_cluster.node().shutdown().await;
    until("the asker no longer sees the old home", || {
        asker.members().iter().all(|m| m.node != home)
    })
    .await;
    let moved = asker
        .spawn_keyed::<Echo>(&key, (), SpawnOptions::default())
        .await
        .unwrap();
    assert_ne!(moved.pid().node(), &home);
    assert_eq!(Some(moved.pid().node().clone()), asker.place(&key));
    let answer = moved.call(Say("again".into(), 0)).await.unwrap();
    assert!(answer.starts_with("again from"));
    for cl in [&ca, &cb, &cc] {
        cl.leave().await;
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
}
