//! First-message latency of an inactive grain against a message to an active one.
//!
//! The grain is [`Probe`]: its handler answers the number it is sent, nothing else; its
//! idle timeout (10 min) is longer than a run, so no activation passivates during one.
//! Every sample is one awaited call, timed from just before the call to its reply.
//!
//! - **Local** (one node alone, [`Cluster::join`] with no seeds): per fresh key,
//!   `grain(key).call` (activation on this node: a spawn and a name claim) then a
//!   second `grain(key).call` (the name is in this node's view at once, so that is
//!   a lookup and a local call), then the floor: [`ActorRef::call`] on the activation's
//!   `ActorRef` (got beforehand from [`GrainRef::activation`]).
//! - **Remote** (three members, joined through the first; the rounds start when every
//!   member lists all three; the caller is the first member): fresh keys whose
//!   [`Cluster::place`] is another member. Per key: the first `grain(key).call`
//!   (a remote spawn on the placed member, a name claim through its agent, the call);
//!   at once a second call, **before** gossip has brought the name to the caller
//!   (`whereis` still empty on the caller, so `spawn_keyed` tries the remote spawn
//!   again, gets `NameTaken`, resolves the name there and claims it again: the path of
//!   any caller that asks during that window); then the caller polls `whereis` every
//!   1 ms until the name is there ("name visible", from the first call's reply); then
//!   an [`ActorRef::call`] on the activation's `ActorRef` (from
//!   [`GrainRef::activation`], no network), recorded apart as "after idle": the caller
//!   was idle for the wait, and the first message after an idle spell pays for waking
//!   the tasks and threads on both sides; then the **steady state**, `grain(key).call`
//!   (the name found in this node's view, one remote call to the running activation);
//!   then the floor: [`ActorRef::call`] on the same `ActorRef` again. The activation's
//!   node is checked against placement.
//!
//! Before the counted keys, [`WARM_UP_KEYS`] keys go through the same steps uncounted
//! (connections between the members are set up then).

use std::time::{Duration, Instant};

use ackor::{
    Actor, ActorRef, BoxError, Context, Handler, Message, RemoteActor, RemoteMessage, RemoteMessages,
};
use ackor_cluster::{Cluster, Grain};

#[cfg(doc)]
use ackor_cluster::GrainRef;
use serde::{Deserialize, Serialize};

use super::{config, form_cluster, start_node, unique_name, wait_for_members};
use crate::BenchError;

/// Keys per phase that go through every step before the counted ones, uncounted.
pub const WARM_UP_KEYS: usize = 5;

/// The probe grain: answers the number it is sent.
#[derive(Debug)]
pub struct Probe;

impl Actor for Probe {
    type Args = String;

    async fn init(_key: String, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Probe)
    }

    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Ping>();
    }
}

impl RemoteActor for Probe {
    const KIND: &'static str = "bench.grain.probe";
}

impl Grain for Probe {
    const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
}

/// Answered with its number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ping(pub u64);

impl Message for Ping {
    type Reply = u64;
}

impl RemoteMessage for Ping {
    const TAG: &'static str = "bench.grain.ping.v1";
}

impl Handler<Ping> for Probe {
    type Return = u64;

    async fn handle(&mut self, msg: Ping, _: &mut Context<Self>) -> u64 {
        msg.0
    }
}

/// What a run measured; one sample per counted key in every list.
#[derive(Debug, Default)]
pub struct GrainsReport {
    /// One node alone: first call to a fresh key (activation here).
    pub local_first: Vec<Duration>,
    /// One node alone: second call to the same key.
    pub local_second: Vec<Duration>,
    /// One node alone: `ActorRef::call` on the activation.
    pub local_floor: Vec<Duration>,
    /// Three members: time from the last join until every member listed all three.
    pub convergence: Duration,
    /// Three members: first call to a fresh key placed on another member.
    pub remote_first: Vec<Duration>,
    /// Second call at once, while the caller's `whereis` does not have the name yet.
    pub remote_early: Vec<Duration>,
    /// How many of the `remote_early` calls found the name already in the caller's view
    /// (then the call took the steady-state path; expected 0).
    pub early_with_name: usize,
    /// From the first call's reply until the caller's `whereis` has the name.
    pub name_visible: Vec<Duration>,
    /// Call once the caller's view has the name (the running activation, remote).
    pub remote_steady: Vec<Duration>,
    /// `ActorRef::call` on the resolved remote activation.
    pub remote_floor: Vec<Duration>,
    /// `ActorRef::call` on the resolved remote activation, the first call after the
    /// wait for the name (the caller idle for ≈ 100–200 ms before it).
    pub floor_after_idle: Vec<Duration>,
}

fn name_of(key: &str) -> String {
    format!("{}/{key}", Probe::KIND)
}

/// Times `fut`, failing with `what` when it fails or answers other than `expect`.
async fn timed(
    what: &str,
    expect: u64,
    fut: impl IntoFuture<Output = Result<u64, ackor::Error>>,
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let got = fut.await.map_err(|e| format!("{what}: {e}"))?;
    let took = start.elapsed();
    if got != expect {
        return Err(format!("{what}: answered {got}, expected {expect}").into());
    }
    Ok(took)
}

/// Runs `keys` counted keys per phase (after [`WARM_UP_KEYS`]), gossiping every `gossip`.
pub async fn run(keys: usize, gossip: Duration) -> Result<GrainsReport, BenchError> {
    let mut report = GrainsReport::default();
    local(keys, gossip, &mut report).await?;
    remote(keys, gossip, &mut report).await?;
    Ok(report)
}

async fn local(keys: usize, gossip: Duration, report: &mut GrainsReport) -> Result<(), BenchError> {
    let id = format!("grains-local-{}", unique_name("c"));
    let node = start_node("grain-alone").await?;
    let cluster = Cluster::join(&node, config(&id, gossip)).await?;
    cluster.host_grains::<Probe>();
    wait_for_members(std::slice::from_ref(&cluster), 1, Duration::from_secs(30)).await?;

    for i in 0..WARM_UP_KEYS + keys {
        let key = format!("local-{i}");
        let n = i as u64;
        let grain = cluster.grain::<Probe>(key.as_str());
        let first = timed(&key, n, grain.call(Ping(n))).await?;
        let second = timed(&key, n + 1, grain.call(Ping(n + 1))).await?;
        let activation: ActorRef<Probe> = grain.activation().await?;
        if activation.pid().node() != node.name() {
            return Err(format!("{key}: activated on {}, alone", activation.pid().node()).into());
        }
        let floor = timed(&key, n + 2, activation.call(Ping(n + 2))).await?;
        if i >= WARM_UP_KEYS {
            report.local_first.push(first);
            report.local_second.push(second);
            report.local_floor.push(floor);
        }
    }

    cluster.leave().await;
    drop(cluster);
    node.shutdown().await;
    Ok(())
}

async fn remote(keys: usize, gossip: Duration, report: &mut GrainsReport) -> Result<(), BenchError> {
    const NODES: usize = 3;
    let id = format!("grains-{}", unique_name("c"));
    let (members, clusters) = form_cluster(NODES, "grain", &id, gossip).await?;
    for cluster in &clusters {
        cluster.host_grains::<Probe>();
    }
    report.convergence = wait_for_members(&clusters, NODES, Duration::from_secs(60)).await?;

    let caller = &clusters[0];
    let me = members[0].name().clone();
    let mut counted = 0;
    let mut i = 0u64;
    while counted < WARM_UP_KEYS + keys {
        let key = format!("remote-{i}");
        i += 1;
        let target = caller.place(&key).ok_or("placement: no member")?;
        if target == me {
            continue;
        }
        let name = name_of(&key);
        let grain = caller.grain::<Probe>(key.as_str());
        let n = i * 8;

        let first = timed(&key, n, grain.call(Ping(n))).await?;
        let replied = Instant::now();
        let had_name = caller.whereis(&name).is_some();
        let early = timed(&key, n + 1, grain.call(Ping(n + 1))).await?;

        let deadline = replied + Duration::from_secs(30);
        let visible = loop {
            if caller.whereis(&name).is_some() {
                break replied.elapsed();
            }
            if Instant::now() > deadline {
                return Err(format!("{name}: not in the caller's view 30 s after activation").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };

        // The caller was idle through the wait: one uncounted-as-steady call first, so
        // the steady and floor calls below are both made on a busy path.
        let activation: ActorRef<Probe> = grain.activation().await?;
        if *activation.pid().node() != target {
            return Err(format!(
                "{key}: activated on {}, placement said {target}",
                activation.pid().node()
            )
            .into());
        }
        let after_idle = timed(&key, n + 2, activation.call(Ping(n + 2))).await?;
        let steady = timed(&key, n + 3, grain.call(Ping(n + 3))).await?;
        let floor = timed(&key, n + 4, activation.call(Ping(n + 4))).await?;

        if counted >= WARM_UP_KEYS {
            report.remote_first.push(first);
            report.remote_early.push(early);
            report.early_with_name += usize::from(had_name);
            report.name_visible.push(visible);
            report.remote_steady.push(steady);
            report.remote_floor.push(floor);
            report.floor_after_idle.push(after_idle);
        }
        counted += 1;
    }

    futures_util::future::join_all(clusters.iter().map(Cluster::leave)).await;
    drop(clusters);
    for node in &members {
        node.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grain_rounds_count_right() {
        let rt = crate::runtime().unwrap_or_else(|e| panic!("{e}"));
        let r = crate::run_on_worker(&rt, run(3, Duration::from_millis(50)))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        // One sample per counted key in every list; warm-up keys not counted.
        for list in [
            &r.local_first,
            &r.local_second,
            &r.local_floor,
            &r.remote_first,
            &r.remote_early,
            &r.name_visible,
            &r.remote_steady,
            &r.remote_floor,
            &r.floor_after_idle,
        ] {
            assert_eq!(list.len(), 3);
        }
        assert!(r.early_with_name <= 3);
    }
}
