//! Placement: the same key goes to the same member on every member, one keyed actor
//! per key, started again where placement says when its member leaves or dies. Every
//! node binds 127.0.0.1:0 (TCP and UDP).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use ackor::{RemoteActor, SpawnOptions};

mod common;
use common::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_places_every_key_alike_and_a_dead_members_keys_move() {
    let (a, ca) = member("a", "k2", &[]).await;
    let (b, cb) = member("b", "k2", &[&ca]).await;
    let (c, cc) = member("c", "k2", &[&ca]).await;
    for n in [&a, &b, &c] {
        n.allow_remote_spawn::<Echo>();
    }
    for cl in [&ca, &cb, &cc] {
        until("three members", || cl.members().len() == 3).await;
    }
    let keys: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    for k in &keys {
        let home = ca.place(k);
        assert_eq!(cb.place(k), home, "{k}");
        assert_eq!(cc.place(k), home, "{k}");
    }
    // A key of c's; c dies (its gossip stops, no leave).
    let key = keys
        .iter()
        .find(|k| ca.place(k).as_ref() == Some(c.name()))
        .unwrap()
        .clone();
    let first = ca
        .spawn_keyed::<Echo>(&key, (), SpawnOptions::default())
        .await
        .unwrap();
    assert_eq!(first.pid().node(), c.name());
    drop(cc);
    c.shutdown().await;
    until("a no longer lists c", || {
        ca.members().iter().all(|m| &m.node != c.name())
    })
    .await;
    // Only c's keys moved.
    for k in &keys {
        let now = ca.place(k).unwrap();
        assert_ne!(&now, c.name());
    }
    let moved = ca
        .spawn_keyed::<Echo>(&key, (), SpawnOptions::default())
        .await
        .unwrap();
    assert_ne!(moved.pid().node(), c.name());
    assert_eq!(
        moved.call(Say("x".into(), 0)).await.unwrap(),
        format!("x from {}", moved.pid().node())
    );
    ca.leave().await;
    cb.leave().await;
    a.shutdown().await;
    b.shutdown().await;
}
