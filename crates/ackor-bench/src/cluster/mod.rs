//! The cluster figures (`ackor-cluster`), run by the `cluster_probe` binary, all in one
//! process on loopback:
//!
//! - [`detect`]: time from a member's abrupt death to [`MemberEvent::Down`] on each
//!   surviving member, for given failure-detector settings.
//! - [`names`]: time from [`Cluster::register`] on one member until [`Cluster::whereis`]
//!   finds the name on every other member.
//! - [`traffic`]: gossip datagrams and bytes per member per second in a quiet cluster,
//!   counted by a `tcpdump` capture on `lo` (and, system-wide, `/proc/net/snmp`).
//! - [`grains`]: the first message to an inactive grain (activation) against a message
//!   to its running activation, on one node alone and across three members.
//!
//! [`MemberEvent::Down`]: ackor_cluster::MemberEvent::Down
//! [`Cluster::register`]: ackor_cluster::Cluster::register
//! [`Cluster::whereis`]: ackor_cluster::Cluster::whereis

pub mod detect;
pub mod grains;
pub mod names;
pub mod traffic;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ackor::Node;
use ackor_cluster::{Cluster, ClusterConfig};

use crate::BenchError;

/// The cookie (and so the gossip secret) of every probe node.
pub const COOKIE: &str = "cluster-probe";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A node name no other node of this process gets: `<prefix><n>@127.0.0.1:0`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}@127.0.0.1:0", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Starts a networked node named after `prefix`.
pub async fn start_node(prefix: &str) -> Result<Node, BenchError> {
    Ok(Node::builder()
        .name(unique_name(prefix))
        .cookie(COOKIE)
        .start()
        .await?)
}

/// A config for cluster `id` gossiping on a free loopback port every `gossip`.
pub fn config(id: &str, gossip: Duration) -> ClusterConfig {
    ClusterConfig::new(id, std::net::SocketAddr::from(([127, 0, 0, 1], 0))).gossip_interval(gossip)
}

/// Starts `n` nodes named after `prefix` and joins each to cluster `id` (gossip every
/// `gossip`), the first as the seed of the others; the nodes and their memberships, in
/// the same order.
pub async fn form_cluster(
    n: usize,
    prefix: &str,
    id: &str,
    gossip: Duration,
) -> Result<(Vec<Node>, Vec<Cluster>), BenchError> {
    let mut nodes = Vec::with_capacity(n);
    let mut clusters: Vec<Cluster> = Vec::with_capacity(n);
    for _ in 0..n {
        let node = start_node(prefix).await?;
        let seeds: Vec<String> = clusters
            .first()
            .map(|c| c.gossip_addr().to_string())
            .into_iter()
            .collect();
        clusters.push(Cluster::join(&node, config(id, gossip).seeds(seeds)).await?);
        nodes.push(node);
    }
    Ok((nodes, clusters))
}

/// Waits (polling every 5 ms) until every cluster of `clusters` lists `n` members.
/// Returns how long that took; fails after `timeout`.
pub async fn wait_for_members(
    clusters: &[Cluster],
    n: usize,
    timeout: Duration,
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    loop {
        if clusters.iter().all(|c| c.members().len() == n) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            let seen: Vec<usize> = clusters.iter().map(|c| c.members().len()).collect();
            return Err(format!("members did not converge to {n} in {timeout:?}: {seen:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Locks `m`, poisoned or not.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Order statistics of a set of durations. Quantiles are nearest-rank: the q-quantile
/// of n sorted samples is the sample of rank ⌈q·n⌉ (1-based), so p99 of 20 samples is
/// the largest and p50 of 20 is the 10th.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest.
    pub min: Duration,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// The summary of `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Some(Summary {
            n: sorted.len(),
            min: sorted[0],
            p50: quantile(&sorted, 0.50),
            p99: quantile(&sorted, 0.99),
            max: sorted[sorted.len() - 1],
            mean: total / u32::try_from(sorted.len()).unwrap_or(u32::MAX),
        })
    }

    /// `n=.. min .. p50 .. p99 .. max .. mean ..` in milliseconds.
    pub fn ms(&self) -> String {
        format!(
            "n={} min {:.1} p50 {:.1} p99 {:.1} max {:.1} mean {:.1} ms",
            self.n,
            ms(self.min),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            ms(self.mean)
        )
    }
}

/// The nearest-rank `q`-quantile (0 < q ≤ 1) of non-empty, sorted `sorted`.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let n = sorted.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        v.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn summary_counts_right() {
        // 100 samples, shuffled: 1..=100 ms.
        let mut v = millis((1..=100).rev());
        v.swap(3, 70);
        let s = Summary::of(&v).unwrap_or_else(|| panic!("non-empty"));
        assert_eq!(s.n, 100);
        assert_eq!(s.min, Duration::from_millis(1));
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.mean, Duration::from_micros(50_500));

        // 20 samples (two survivors × 10 rounds): p99 is the largest, p50 the 10th.
        let s = Summary::of(&millis(1..=20)).unwrap_or_else(|| panic!("non-empty"));
        assert_eq!(s.p50, Duration::from_millis(10));
        assert_eq!(s.p99, Duration::from_millis(20));

        // One sample: every statistic is that sample.
        let s = Summary::of(&millis([7])).unwrap_or_else(|| panic!("non-empty"));
        let seven = Duration::from_millis(7);
        assert_eq!(
            (s.min, s.p50, s.p99, s.max, s.mean),
            (seven, seven, seven, seven, seven)
        );

        assert_eq!(Summary::of(&[]), None);
    }
}
