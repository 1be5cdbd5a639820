//! Time for a cluster name to be resolvable on every member.
//!
//! `nodes` members on the caller's runtime, all joined through the first one's gossip
//! address; the run starts once every member lists all `nodes`. A round: a fresh
//! actor is spawned on member `round % nodes` (the registrar) and registered under a
//! fresh name; the clock starts just before [`Cluster::register`] is called. Every
//! 5 ms one task checks [`Cluster::whereis`] on each other member that has not yet
//! returned the registrar's pid, and notes the instant it does. Samples: per member
//! (register → found there, `nodes − 1` per round) and per round (register → found on
//! the last member). Resolution: the 5 ms poll (a figure is late by up to 5 ms plus
//! the time to check the others in that pass).

use std::time::{Duration, Instant};

use ackor_cluster::Cluster;

use super::{form_cluster, unique_name, wait_for_members};
use crate::BenchError;
use crate::ackor_impl::Counter;

/// What a run measured.
#[derive(Debug, Default)]
pub struct NamesReport {
    /// Time from the last join until every member listed every member.
    pub convergence: Duration,
    /// Register → found on one other member, `nodes − 1` per round.
    pub per_member: Vec<Duration>,
    /// Register → found on every other member, one per round.
    pub all_members: Vec<Duration>,
}

/// Runs `rounds` rounds in a cluster of `nodes` members gossiping every `gossip`.
pub async fn run(nodes: usize, rounds: usize, gossip: Duration) -> Result<NamesReport, BenchError> {
    let id = format!("names-{}", unique_name("c"));
    let (members, clusters) = form_cluster(nodes, "name", &id, gossip).await?;
    let mut report = NamesReport {
        convergence: wait_for_members(&clusters, nodes, Duration::from_secs(120)).await?,
        ..NamesReport::default()
    };

    for round in 0..rounds {
        let at = round % nodes;
        let actor = members[at].spawn::<Counter>(())?;
        let pid = actor.pid().clone();
        let name = format!("probe-name-{round}");
        let start = Instant::now();
        clusters[at].register(&name, &pid).await?;
        let mut waiting: Vec<usize> = (0..nodes).filter(|&i| i != at).collect();
        let deadline = start + Duration::from_secs(60);
        while !waiting.is_empty() {
            waiting.retain(|&i| {
                if clusters[i].whereis(&name).as_ref() == Some(&pid) {
                    report.per_member.push(start.elapsed());
                    false
                } else {
                    true
                }
            });
            if waiting.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{name}: not found on {} members after 60 s", waiting.len()).into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        report.all_members.push(start.elapsed());
    }

    futures_util::future::join_all(clusters.iter().map(Cluster::leave)).await;
    drop(clusters);
    for node in &members {
        node.shutdown().await;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rounds_count_right() {
        let rt = crate::runtime().unwrap_or_else(|e| panic!("{e}"));
        let r = crate::run_on_worker(&rt, run(3, 4, Duration::from_millis(50)))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        // Each round: one sample per member other than the registrar, and one overall.
        assert_eq!(r.per_member.len(), 4 * 2);
        assert_eq!(r.all_members.len(), 4);
        let last = r.all_members.iter().max().copied().unwrap_or_default();
        assert!(r.per_member.iter().all(|s| *s <= last));
    }
}
