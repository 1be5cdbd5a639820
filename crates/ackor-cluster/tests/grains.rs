//! Grains (virtual actors): activated by the first message where placement says,
//! passivated when idle (state saved in on_stop) and activated again, one activation
//! in the cluster when members race to activate, requests between grains on different
//! nodes with reentrancy. Every node binds 127.0.0.1:0 (TCP and UDP).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Error, ExitReason, Handler, Message, Pid, Reentrancy, RemoteActor,
    RemoteMessage, RemoteMessages, Reply, RequestOptions,
};
use ackor_cluster::{Cluster, Grain};
use serde::{Deserialize, Serialize};

mod common;
use common::*;

/// What grains saved when they passivated, and how many times each key was activated.
fn store() -> &'static Mutex<HashMap<String, u32>> {
    static STORE: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    STORE.get_or_init(Default::default)
}
fn activations() -> &'static Mutex<HashMap<String, u32>> {
    static ACTIVATIONS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    ACTIVATIONS.get_or_init(Default::default)
}

/// Counts items; loads its count when activated, saves it when passivated.
struct Counter {
    key: String,
    count: u32,
}

impl Actor for Counter {
    type Args = String;
    async fn init(key: String, _: &mut Context<Self>) -> Result<Self, BoxError> {
        *activations().lock().unwrap().entry(key.clone()).or_default() += 1;
        let count = store().lock().unwrap().get(&key).copied().unwrap_or(0);
        Ok(Counter { key, count })
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, reason: &ExitReason) {
        if reason == &ExitReason::Normal {
            store().lock().unwrap().insert(self.key.clone(), self.count);
        }
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Add>();
    }
}
impl RemoteActor for Counter {
    const KIND: &'static str = "test.grain.counter";
}
impl Grain for Counter {
    const IDLE_TIMEOUT: Duration = Duration::from_millis(300);
}

/// Adds one; answers the count and where it was counted.
#[derive(Clone, Serialize, Deserialize)]
struct Add;
impl Message for Add {
    type Reply = (u32, String);
}
impl RemoteMessage for Add {
    const TAG: &'static str = "test.grain.add.v1";
}
impl Handler<Add> for Counter {
    type Return = (u32, String);
    async fn handle(&mut self, _: Add, ctx: &mut Context<Self>) -> (u32, String) {
        self.count += 1;
        (self.count, ctx.pid().to_string())
    }
}

async fn three_members(cluster: &str) -> Vec<(ackor::Node, Cluster)> {
    let (a, ca) = member("a", cluster, &[]).await;
    let (b, cb) = member("b", cluster, &[&ca]).await;
    let (c, cc) = member("c", cluster, &[&ca]).await;
    let all = vec![(a, ca), (b, cb), (c, cc)];
    for (n, cl) in &all {
        n.allow_remote_spawn::<Echo>();
        cl.host_grains::<Counter>();
        cl.host_grains::<Hop>();
    }
    for (_, cl) in &all {
        until("three members", || cl.members().len() == 3).await;
    }
    all
}

async fn stop_all(all: Vec<(ackor::Node, Cluster)>) {
    for (_, cl) in &all {
        cl.leave().await;
    }
    for (n, _) in all {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grain_activates_on_first_message() {
    let all = three_members("gr1").await;
    let ca = &all[0].1;
    let name = format!("{}/cart-1", Counter::KIND);
    assert_eq!(ca.whereis(&name), None, "nothing before the first message");
    let cart = ca.grain::<Counter>("cart-1");
    let (count, pid) = cart.call(Add).await.unwrap();
    assert_eq!(count, 1);
    let home = ca.place("cart-1").unwrap();
    assert!(
        pid.contains(home.as_str()),
        "activated on {pid}, placement says {home}"
    );
    assert_eq!(activations().lock().unwrap().get("cart-1"), Some(&1));
    // From another member: the same activation.
    let cb = &all[1].1;
    assert_eq!(cb.grain::<Counter>("cart-1").call(Add).await.unwrap(), (2, pid));
    stop_all(all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grain_passivates_when_idle_and_reactivates() {
    let all = three_members("gr2").await;
    let ca = &all[0].1;
    let cart = ca.grain::<Counter>("cart-2");
    let (_, first) = cart.call(Add).await.unwrap();
    let (count, _) = cart.call(Add).await.unwrap();
    assert_eq!(count, 2);
    let name = format!("{}/cart-2", Counter::KIND);
    // Idle past its timeout: passivated (on_stop saved 2), its name gone everywhere.
    until("the grain is passivated and its state saved", || {
        store().lock().unwrap().get("cart-2") == Some(&2)
    })
    .await;
    until("the cluster forgets the activation", || {
        ca.whereis(&name).is_none()
    })
    .await;
    // The next message activates it again, with its state.
    let (count, second) = cart.call(Add).await.unwrap();
    assert_eq!(count, 3);
    assert_ne!(first, second, "a new activation");
    assert_eq!(activations().lock().unwrap().get("cart-2"), Some(&2));
    stop_all(all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grain_has_one_activation_in_the_cluster_under_concurrent_activation() {
    let all = three_members("gr3").await;
    let mut calls = Vec::new();
    for (_, cl) in &all {
        for _ in 0..10 {
            let grain = cl.grain::<Counter>("cart-3");
            calls.push(tokio::spawn(async move { grain.call(Add).await }));
        }
    }
    let mut counts = BTreeSet::new();
    let mut pids = BTreeSet::new();
    for call in calls {
        let (count, pid) = call.await.unwrap().unwrap();
        counts.insert(count);
        pids.insert(pid);
    }
    assert_eq!(pids.len(), 1, "one activation: {pids:?}");
    assert_eq!(
        counts,
        (1..=30).collect(),
        "every message counted once, by one activation"
    );
    assert_eq!(activations().lock().unwrap().get("cart-3"), Some(&1));
    stop_all(all).await;
}

// ------------------------------------------------------------------ reentrancy

/// Passes a question along a path of grains with requests; answers the number of hops.
struct Hop;
impl Actor for Hop {
    type Args = String;
    async fn init(_: String, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Hop)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Ask>();
    }
}
impl RemoteActor for Hop {
    const KIND: &'static str = "test.grain.hop";
}
impl Grain for Hop {
    fn reentrancy() -> Reentrancy {
        Reentrancy::allow_all().max_in_flight(8)
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Ask(Vec<String>);
impl Message for Ask {
    type Reply = u32;
}
impl RemoteMessage for Ask {
    const TAG: &'static str = "test.grain.ask.v1";
}
impl Handler<Ask> for Hop {
    type Return = Reply<u32>;
    async fn handle(&mut self, msg: Ask, ctx: &mut Context<Self>) -> Reply<u32> {
        let Some((next, rest)) = msg.0.split_first() else {
            return Reply::Value(0);
        };
        let Some(cluster) = Cluster::of(ctx.node()) else {
            return Reply::Error(Error::rejected("no cluster"));
        };
        let next = match cluster.grain::<Hop>(next.clone()).activation().await {
            Ok(next) => next,
            Err(e) => return Reply::Error(e),
        };
        let Some(reply) = ctx.defer_reply() else {
            return Reply::Error(Error::rejected("no caller"));
        };
        match ctx.request(&next, Ask(rest.to_vec()), RequestOptions::new()) {
            Ok(call) => {
                call.then(move |_, _, outcome| match outcome {
                    Ok(hops) => reply.reply(hops + 1),
                    Err(e) => reply.fail(e),
                });
                Reply::Deferred
            }
            Err(e) => {
                reply.fail(e);
                Reply::Deferred
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grain_requests_across_nodes_with_reentrancy() {
    let all = three_members("gr4").await;
    let ca = &all[0].1;
    // Two keys placed on different members.
    let x = "hop-0".to_string();
    let y = (1..)
        .map(|i| format!("hop-{i}"))
        .find(|k| ca.place(k) != ca.place(&x))
        .unwrap();
    // x → y → x → y → x: each grain is asked again while its own request is out; with
    // reentrancy they go on answering, and every continuation runs.
    let path = vec![y.clone(), x.clone(), y.clone(), x.clone()];
    let hops = tokio::time::timeout(CONVERGE, ca.grain::<Hop>(x.clone()).call(Ask(path)))
        .await
        .expect("the cycle completes")
        .unwrap();
    assert_eq!(hops, 4);
    let (nx, ny) = (format!("{}/{x}", Hop::KIND), format!("{}/{y}", Hop::KIND));
    until("a sees both activations", || {
        ca.whereis(&nx).is_some() && ca.whereis(&ny).is_some()
    })
    .await;
    let (px, py): (Pid, Pid) = (ca.whereis(&nx).unwrap(), ca.whereis(&ny).unwrap());
    assert_ne!(px.node(), py.node(), "the grains live on different members");
    stop_all(all).await;
}
