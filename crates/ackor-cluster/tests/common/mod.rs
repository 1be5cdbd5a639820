//! What the cluster test files share: nodes and members on loopback, waits bounded
//! by a convergence deadline, an echo actor.

#![allow(dead_code)] // each test file uses the part it needs
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Handler, Message, Node, RemoteActor, RemoteConfig, RemoteMessage,
    RemoteMessages,
};
use ackor_cluster::{Cluster, ClusterConfig, MemberEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub const COOKIE: &str = "cluster-test";
/// Bounds every wait for gossip to converge.
pub const CONVERGE: Duration = Duration::from_secs(15);

static SEQ: AtomicU64 = AtomicU64::new(0);

pub async fn node(prefix: &str) -> Node {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    Node::builder()
        .name(format!("{prefix}{n}@127.0.0.1:0"))
        .call_timeout(Duration::from_secs(30))
        // ackor's own heartbeat is slow here: a member found dead is the cluster's doing.
        .remote(RemoteConfig::new(COOKIE).heartbeat_timeout(Duration::from_secs(60)))
        .start()
        .await
        .unwrap()
}

pub fn config(cluster: &str) -> ClusterConfig {
    ClusterConfig::new(cluster, "127.0.0.1:0".parse().unwrap())
        .gossip_interval(Duration::from_millis(50))
        .failure_detection(6.0, Duration::from_millis(100))
        .leave_grace(Duration::from_millis(300))
}

pub async fn member(prefix: &str, cluster: &str, seeds: &[&Cluster]) -> (Node, Cluster) {
    let node = node(prefix).await;
    let seeds: Vec<String> = seeds.iter().map(|c| c.gossip_addr().to_string()).collect();
    let cluster = Cluster::join(&node, config(cluster).seeds(seeds)).await.unwrap();
    (node, cluster)
}

pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn next_event(
    events: &mut broadcast::Receiver<MemberEvent>,
    what: &str,
    pick: impl Fn(&MemberEvent) -> bool,
) -> MemberEvent {
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(e)) if pick(&e) => return e,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!("no event {what}"),
        }
    }
}

pub fn names(c: &Cluster) -> Vec<String> {
    c.members().into_iter().map(|m| m.node.to_string()).collect()
}

// ------------------------------------------------------------------ an echo service

pub struct Echo;
impl Actor for Echo {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Say>();
    }
}

#[derive(Serialize, Deserialize)]
pub struct Say(pub String, pub u64);
impl Message for Say {
    type Reply = String;
}
impl RemoteMessage for Say {
    const TAG: &'static str = "test.cluster.say.v1";
}
impl Handler<Say> for Echo {
    type Return = String;
    async fn handle(&mut self, msg: Say, ctx: &mut Context<Self>) -> String {
        tokio::time::sleep(Duration::from_millis(msg.1)).await;
        format!("{} from {}", msg.0, ctx.node().name())
    }
}

impl RemoteActor for Echo {
    const KIND: &'static str = "test.cluster.echo";
}
