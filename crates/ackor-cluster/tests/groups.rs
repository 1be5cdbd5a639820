//! Process groups: join and leave, members seen cluster-wide, and a broadcast that
//! reaches every member with one network message per node. Every node binds
//! 127.0.0.1:0 (TCP and UDP).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{Actor, BoxError, Context, Handler, Message, Pid, RemoteMessage, RemoteMessages};
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
