//! Cluster-wide names: registered on one member, resolved from every member, one
//! owner when members register a name concurrently (the loser is told), names gone
//! with their process and with their member. Every node binds 127.0.0.1:0, except the
//! partition test, which gossips in memory to cut and heal a link at will.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::Error;
use ackor_cluster::testing::ChannelTransport;
use ackor_cluster::{Cluster, ClusterConfig, MemberEvent};

mod common;
use common::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_registered_on_one_member_resolves_from_every_member() {
    let (a, ca) = member("a", "n1", &[]).await;
    let (b, cb) = member("b", "n1", &[&ca]).await;
    let (c, cc) = member("c", "n1", &[&ca]).await;
    let echo = c.spawn::<Echo>(()).unwrap();
    cc.register("svc", echo.pid()).await.unwrap();
    for (node, cluster) in [(&a, &ca), (&b, &cb), (&c, &cc)] {
        until("every member resolves it", || cluster.whereis("svc").is_some()).await;
        let id = cluster.process_id("svc").unwrap();
        assert_eq!(&id.node, c.name());
        let answer = node.call_name::<Echo, _>(&id, Say("hi".into(), 0)).await;
        assert_eq!(answer, Ok(format!("hi from {}", c.name())));
    }
    for cl in [&cc, &cb, &ca] {
        cl.leave().await;
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_a_dead_member_are_removed_everywhere() {
    let (a, ca) = member("a", "n2", &[]).await;
    let (b, cb) = member("b", "n2", &[&ca]).await;
    let echo = b.spawn::<Echo>(()).unwrap();
    cb.register("doomed", echo.pid()).await.unwrap();
    until("a sees the name", || ca.whereis("doomed").is_some()).await;
    drop(cb); // b's gossip stops: judged dead
    until("a forgets the name of the dead member", || {
        ca.whereis("doomed").is_none()
    })
    .await;
    assert_eq!(ca.process_id("doomed"), Err(Error::ProcessUnknown));
    ca.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_on_both_sides_of_a_partition_converge_when_it_heals() {
    let channels = ChannelTransport::default();
    let addr = |port: u16| -> std::net::SocketAddr { ([127, 0, 0, 1], port).into() };
    let in_memory = |port: u16, seeds: Vec<String>| {
        ClusterConfig::new("n3", addr(port))
            .in_memory(channels.clone())
            .seeds(seeds)
            .gossip_interval(Duration::from_millis(50))
            .failure_detection(6.0, Duration::from_millis(100))
    };
    let a = node("a").await;
    let b = node("b").await;
    let ca = Cluster::join(&a, in_memory(1, vec![])).await.unwrap();
    let cb = Cluster::join(&b, in_memory(2, vec![addr(1).to_string()]))
        .await
        .unwrap();
    until("a and b see each other", || {
        ca.members().len() == 2 && cb.members().len() == 2
    })
    .await;
    let (mut ea, mut eb) = (ca.events(), cb.events());

    channels.remove_link(addr(1), addr(2)).await;
    until("each judges the other dead", || {
        ca.members().len() == 1 && cb.members().len() == 1
    })
    .await;
    let on_a = a.spawn::<Echo>(()).unwrap();
    let on_b = b.spawn::<Echo>(()).unwrap();
    ca.register("leader", on_a.pid()).await.unwrap();
    cb.register("leader", on_b.pid()).await.unwrap();
    assert_eq!(ca.whereis("leader").as_ref(), Some(on_a.pid()));
    assert_eq!(cb.whereis("leader").as_ref(), Some(on_b.pid()));

    channels.add_link(addr(1), addr(2)).await;
    until("one owner on both sides", || {
        let (wa, wb) = (ca.whereis("leader"), cb.whereis("leader"));
        wa.is_some() && wa == wb
    })
    .await;
    let winner = ca.whereis("leader").unwrap();
    let loser_events = if &winner == on_a.pid() { &mut eb } else { &mut ea };
    let lost = next_event(loser_events, "name lost", |e| {
        matches!(e, MemberEvent::NameLost { .. })
    })
    .await;
    assert_eq!(
        lost,
        MemberEvent::NameLost {
            name: "leader".into(),
            winner
        }
    );
    ca.leave().await;
    cb.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_larger_than_a_datagram_reaches_a_new_member() {
    // A state of a few hundred kB reaches a new member, round after round. (Whether one
    // of chitchat's messages comes near the UDP maximum here depends on its deltas and
    // their compression; the chunking of one that does not fit is tested in gossip.rs.)
    let (a, ca) = member("a", "n4", &[]).await;
    // Names that do not compress away (chitchat compresses its deltas).
    let names: Vec<String> = (0u64..2500)
        .map(|i| {
            let mixed = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            format!("svc-{mixed:016x}-{:016x}", mixed.rotate_left(29) ^ 0x5bd1_e995)
        })
        .collect();
    for name in &names {
        let pid = a.spawn::<Echo>(()).unwrap().pid().clone();
        ca.register(name, &pid).await.unwrap();
    }
    let (b, cb) = member("b", "n4", &[&ca]).await;
    until("the new member knows every name", || {
        names.iter().all(|n| cb.whereis(n).is_some())
    })
    .await;
    cb.leave().await;
    ca.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}
