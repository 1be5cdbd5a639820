//! Clusters of nodes in one process on loopback: joining through a seed, members and
//! their events, a graceful leave, a member judged dead, gossip from outsiders, and
//! cluster-wide names. Every node binds 127.0.0.1:0 (TCP and UDP).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{Actor, BoxError, Context, Down, Error, ExitReason, Handler, Message, Node, Pid, RemoteConfig};
use ackor_cluster::{Cluster, MemberEvent};
use tokio::sync::mpsc;

mod common;
use common::*;

// ------------------------------------------------------------------ membership

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_learned_by_gossip_can_be_called_without_their_address() {
    let (a, ca) = member("a", "c1", &[]).await;
    let b = node("b").await;
    let cb = Cluster::join(
        &b,
        config("c1")
            .seeds([ca.gossip_addr().to_string()])
            .metadata("zone", "z2"),
    )
    .await
    .unwrap();
    // c knows only a's gossip address, nothing of b.
    let (c, cc) = member("c", "c1", &[&ca]).await;
    for cluster in [&ca, &cb, &cc] {
        until("every member sees three", || cluster.members().len() == 3).await;
    }
    let mut expected = vec![a.name().to_string(), b.name().to_string(), c.name().to_string()];
    expected.sort();
    assert_eq!(names(&cc), expected);
    let seen_b = cc.members().into_iter().find(|m| &m.node == b.name()).unwrap();
    assert_eq!(seen_b.creation, b.creation());
    assert_eq!(seen_b.metadata.get("zone").map(String::as_str), Some("z2"));

    // A cluster name on b, called from c, which was never told b's address.
    let echo = b.spawn::<Echo>(()).unwrap();
    cb.register("echo", echo.pid()).await.unwrap();
    until("c sees the name", || cc.whereis("echo").is_some()).await;
    assert_eq!(cc.whereis("echo").as_ref(), Some(echo.pid()));
    let id = cc.process_id("echo").unwrap();
    let answer = c.call_name::<Echo, _>(&id, Say("hi".into(), 0)).await;
    assert_eq!(answer, Ok(format!("hi from {}", b.name())));
    c.send_important_name::<Echo, _>(&id, Say("x".into(), 0))
        .await
        .unwrap();
    assert_eq!(cc.process_id("nobody"), Err(Error::ProcessUnknown));

    for cl in [&cc, &cb, &ca] {
        cl.leave().await;
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_leave_is_seen_as_left_not_down() {
    let (a, ca) = member("a", "c2", &[]).await;
    let mut events = ca.events();
    let (b, cb) = member("b", "c2", &[&ca]).await;
    let up = next_event(&mut events, "up", |e| matches!(e, MemberEvent::Up(_))).await;
    assert!(matches!(up, MemberEvent::Up(m) if &m.node == b.name()));
    cb.leave().await;
    let left = next_event(&mut events, "left or down", |e| {
        matches!(e, MemberEvent::Left(_) | MemberEvent::Down(_))
    })
    .await;
    assert!(
        matches!(&left, MemberEvent::Left(m) if &m.node == b.name()),
        "{left:?}"
    );
    until("b is gone from a's list", || ca.members().len() == 1).await;
    // Long enough for the failure detector to have judged it, had it not left.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, MemberEvent::Down(_)),
            "a leave was taken for a death: {e:?}"
        );
    }
    ca.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_member_goes_through_the_peer_down_path() {
    let (a, ca) = member("a", "c3", &[]).await;
    let mut events = ca.events();
    let (b, cb) = member("b", "c3", &[&ca]).await;
    next_event(&mut events, "up", |e| matches!(e, MemberEvent::Up(_))).await;
    let echo = b.spawn::<Echo>(()).unwrap();
    let remote = a.actor_ref::<Echo>(echo.pid()).unwrap();
    // A call b will not answer for a minute, pending on a.
    let (watcher, downs) = mpsc::unbounded_channel();
    let watching = a.spawn::<Watcher>(watcher).unwrap();
    watching.call(Watch(echo.pid().clone())).await.unwrap();
    let pending = tokio::spawn(async move { remote.call(Say("slow".into(), 60_000)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // b's gossip stops without a leave: to the others, b is silent, then dead. (Its
    // TCP links stay up, so only the cluster's failure detector can tell.)
    let started = tokio::time::Instant::now();
    drop(cb);
    let down = next_event(&mut events, "down", |e| matches!(e, MemberEvent::Down(_))).await;
    assert!(
        matches!(&down, MemberEvent::Down(m) if &m.node == b.name()),
        "{down:?}"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Err(Error::ConnectionLost));
    let mut downs = downs;
    let (pid, reason) = tokio::time::timeout(Duration::from_secs(5), downs.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&pid, reason), (echo.pid(), ExitReason::NoConnection));
    assert!(started.elapsed() < Duration::from_secs(15));
    ca.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_from_another_cluster_secret_or_junk_is_ignored() {
    let (a, ca) = member("a", "c4", &[]).await;
    let (b, cb) = member("b", "c4", &[&ca]).await;
    until("a and b see each other", || ca.members().len() == 2).await;
    // Same cluster id, another secret; and another cluster id, same secret.
    let x = node("x").await;
    let cx = Cluster::join(
        &x,
        config("c4").secret("wrong").seeds([ca.gossip_addr().to_string()]),
    )
    .await
    .unwrap();
    let y = node("y").await;
    let cy = Cluster::join(&y, config("c5").seeds([ca.gossip_addr().to_string()]))
        .await
        .unwrap();
    // Junk and truncated datagrams at a's gossip port.
    let junk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for datagram in [
        &b""[..],
        b"AKG1",
        b"AKG1aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        &[0xff; 1500],
    ] {
        junk.send_to(datagram, ca.gossip_addr()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ca.members().len(), 2, "{:?}", names(&ca));
    assert_eq!(cx.members().len(), 1);
    assert_eq!(cy.members().len(), 1);
    // a still gossips with b: a new name still travels.
    let echo = a.spawn::<Echo>(()).unwrap();
    ca.register("still", echo.pid()).await.unwrap();
    until("b sees the name", || cb.whereis("still").is_some()).await;
    for cl in [&cx, &cy, &cb, &ca] {
        cl.leave().await;
    }
    for n in [a, b, x, y] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_restarts_is_a_new_incarnation() {
    let (a, ca) = member("a", "c8", &[]).await;
    let mut events = ca.events();
    let (b, cb) = member("b", "c8", &[&ca]).await;
    next_event(&mut events, "up", |e| matches!(e, MemberEvent::Up(_))).await;
    let (name, old_creation) = (b.name().clone(), b.creation());
    // b dies (no leave) and comes back under the same name.
    drop(cb);
    b.shutdown().await;
    let b2 = Node::builder()
        .name(name.as_str())
        .remote(RemoteConfig::new(COOKIE))
        .start()
        .await
        .unwrap();
    assert_ne!(b2.creation(), old_creation);
    let cb2 = Cluster::join(&b2, config("c8").seeds([ca.gossip_addr().to_string()]))
        .await
        .unwrap();
    let mut saw_new_up = false;
    let mut saw_old_down = false;
    while !(saw_new_up && saw_old_down) {
        let e = next_event(&mut events, "the new incarnation up and the old one down", |_| {
            true
        })
        .await;
        match e {
            MemberEvent::Up(m) if m.node == name && m.creation == b2.creation() => saw_new_up = true,
            MemberEvent::Down(m) if m.node == name && m.creation == old_creation => saw_old_down = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    until("a lists only the new incarnation", || {
        ca.members()
            .iter()
            .filter(|m| m.node == name)
            .map(|m| m.creation)
            .collect::<Vec<_>>()
            == vec![b2.creation()]
    })
    .await;
    cb2.leave().await;
    ca.leave().await;
    a.shutdown().await;
    b2.shutdown().await;
}

/// Monitors a pid and reports its `Down`.
struct Watcher(mpsc::UnboundedSender<(Pid, ExitReason)>);
impl Actor for Watcher {
    type Args = mpsc::UnboundedSender<(Pid, ExitReason)>;
    async fn init(tx: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Watcher(tx))
    }
    async fn on_down(&mut self, _: &mut Context<Self>, down: Down) {
        let _ = self.0.send((down.pid, down.reason));
    }
}
struct Watch(Pid);
impl Message for Watch {
    type Reply = ();
}
impl Handler<Watch> for Watcher {
    type Return = ();
    async fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        ctx.monitor(&msg.0);
    }
}
