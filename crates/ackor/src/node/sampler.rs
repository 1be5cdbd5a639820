//! The sampled gauges of detailed metrics (see `NodeBuilder::detailed_metrics`): what
//! would cost a write per message to keep exact is read from the node's tables every
//! interval instead: mailbox depth per actor type and lane, stash size per actor type,
//! and per peer the round-trip time, bytes each way and unacknowledged important
//! sends. A label set that disappears (the last actor of a type stopped, a peer is
//! gone) is set to zero once, so a scrape does not keep reporting its last value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Node, NodeInner};

/// Starts sampling `node` every `every`, on its runtime, until it stops.
pub(super) fn start(node: &Node, every: Duration) {
    let weak: Weak<NodeInner> = Arc::downgrade(&node.inner);
    let every = every.max(Duration::from_millis(10));
    node.inner.runtime.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = Seen::default();
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            let node = Node { inner };
            if node.is_stopping() {
                return;
            }
            seen = sample(&node, seen);
        }
    });
}

/// The label sets the last sample set.
#[derive(Default)]
struct Seen {
    actors: BTreeSet<String>,
    peers: BTreeSet<String>,
}

/// Per actor type: (user lane, system lane, stashed).
type Depths = BTreeMap<String, (usize, usize, usize)>;

fn sample(node: &Node, before: Seen) -> Seen {
    let mut depths = Depths::new();
    for p in node.processes() {
        let d = depths.entry(p.actor_type).or_default();
        d.0 += p.mailbox_len;
        d.1 += p.system_len;
        d.2 += p.stashed;
    }
    for (actor, (user, system, stashed)) in &depths {
        set_actor(actor, *user, *system, *stashed);
    }
    for gone in before.actors.iter().filter(|a| !depths.contains_key(*a)) {
        set_actor(gone, 0, 0, 0);
    }
    let peers = node.remote().map(|r| r.peers_info()).unwrap_or_default();
    let mut now_peers = BTreeSet::new();
    for p in &peers {
        let peer = p.node.clone();
        let rtt = p.rtt_us.map_or(0.0, |us| us as f64 / 1e6);
        metrics::gauge!("ackor_peer_rtt_seconds", "peer" => peer.clone()).set(rtt);
        metrics::gauge!("ackor_peer_unacked_important", "peer" => peer.clone())
            .set(p.unacked_important as f64);
        metrics::counter!("ackor_peer_bytes_sent_total", "peer" => peer.clone()).absolute(p.bytes_sent);
        metrics::counter!("ackor_peer_bytes_received_total", "peer" => peer.clone())
            .absolute(p.bytes_received);
        now_peers.insert(peer);
    }
    for gone in before.peers.iter().filter(|p| !now_peers.contains(*p)) {
        metrics::gauge!("ackor_peer_rtt_seconds", "peer" => gone.clone()).set(0.0);
        metrics::gauge!("ackor_peer_unacked_important", "peer" => gone.clone()).set(0.0);
    }
    Seen {
        actors: depths.into_keys().collect(),
        peers: now_peers,
    }
}

fn set_actor(actor: &str, user: usize, system: usize, stashed: usize) {
    let actor = actor.to_string();
    metrics::gauge!("ackor_mailbox_depth", "lane" => "user", "actor" => actor.clone()).set(user as f64);
    metrics::gauge!("ackor_mailbox_depth", "lane" => "system", "actor" => actor.clone()).set(system as f64);
    metrics::gauge!("ackor_stash_size", "actor" => actor).set(stashed as f64);
}
