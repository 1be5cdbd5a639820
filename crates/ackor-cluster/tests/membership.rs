//! Clusters of nodes in one process on loopback: joining through a seed, members and
//! their events, a graceful leave, a member judged dead, gossip from outsiders, and
//! cluster-wide names. Every node binds 127.0.0.1:0 (TCP and UDP).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::Error;
use ackor_cluster::{Cluster, MemberEvent};

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

// ------------------------------------------------------------------ names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_converge_on_one_owner_and_the_loser_is_told() {
    let (a, ca) = member("a", "c6", &[]).await;
    let (b, cb) = member("b", "c6", &[&ca]).await;
    until("a and b see each other", || {
        ca.members().len() == 2 && cb.members().len() == 2
    })
    .await;
    let (mut ea, mut eb) = (ca.events(), cb.events());
    let on_a = a.spawn::<Echo>(()).unwrap();
    let on_b = b.spawn::<Echo>(()).unwrap();
    // Both claim before either hears of the other's claim.
    let (ra, rb) = tokio::join!(
        ca.register("leader", on_a.pid()),
        cb.register("leader", on_b.pid())
    );
    assert_eq!((ra, rb), (Ok(()), Ok(())));
    until("both agree on one owner", || {
        let (wa, wb) = (ca.whereis("leader"), cb.whereis("leader"));
        wa.is_some() && wa == wb
    })
    .await;
    let winner = ca.whereis("leader").unwrap();
    let a_won = &winner == on_a.pid();
    let (loser_node, loser_cluster, loser_pid, loser_events) = if a_won {
        (&b, &cb, on_b.pid(), &mut eb)
    } else {
        (&a, &ca, on_a.pid(), &mut ea)
    };
    let lost = next_event(loser_events, "name lost", |e| {
        matches!(e, MemberEvent::NameLost { .. })
    })
    .await;
    assert_eq!(
        lost,
        MemberEvent::NameLost {
            name: "leader".into(),
            winner: winner.clone()
        }
    );
    assert_eq!(
        loser_node.whereis("leader"),
        None,
        "the loser keeps the local name"
    );
    // Another registration is refused while the owner lives.
    assert_eq!(
        loser_cluster.register("leader", loser_pid).await,
        Err(Error::NameTaken("leader".into()))
    );
    ca.leave().await;
    cb.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_go_with_their_process_and_with_a_member_that_leaves() {
    let (a, ca) = member("a", "c7", &[]).await;
    let (b, cb) = member("b", "c7", &[&ca]).await;
    let first = b.spawn::<Echo>(()).unwrap();
    let second = b.spawn::<Echo>(()).unwrap();
    cb.register("one", first.pid()).await.unwrap();
    cb.register("two", second.pid()).await.unwrap();
    until("a sees both names", || {
        ca.whereis("one").is_some() && ca.whereis("two").is_some()
    })
    .await;
    first.stop().unwrap();
    until("a forgets the stopped process's name", || {
        ca.whereis("one").is_none()
    })
    .await;
    assert_eq!(ca.whereis("two").as_ref(), Some(second.pid()));
    cb.leave().await;
    until("a forgets the names of the member that left", || {
        ca.whereis("two").is_none()
    })
    .await;
    ca.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}
