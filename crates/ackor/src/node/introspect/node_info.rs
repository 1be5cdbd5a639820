//! [`NodeInfo`]: a node, its peers and its important-delivery outcomes, as
//! [`Node::info`] sees them.

use serde::{Deserialize, Serialize};

use crate::node::Node;
pub use crate::remote::{ImportantStats, PeerInfo};

/// A node as [`Node::info`] (or [`Inspector::node`](super::Inspector::node) from
/// another node) sees it: a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Its name, `name@host:port`.
    pub name: String,
    /// Its incarnation.
    pub creation: u32,
    /// The address it listens on, for a networked node.
    pub listen_addr: Option<String>,
    /// Milliseconds since it started.
    pub uptime_ms: u64,
    /// Its live processes.
    pub process_count: usize,
    /// The outcomes of important delivery it saw (zero for a node without a network
    /// side).
    pub important: ImportantStats,
    /// Requests and piped futures in flight, all its processes together.
    pub requests_in_flight: u64,
    /// The peers it knows: linked to now, being dialed, or known from before.
    pub peers: Vec<PeerInfo>,
}

impl Node {
    /// A snapshot of this node: name, incarnation, uptime, its processes' count and
    /// requests in flight, the outcomes of its important sends, and its peers with
    /// their links, bytes, round-trip time and unacknowledged important sends.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// let node = ackor::Node::builder().name("a@local").start().await?;
    /// let info = node.info();
    /// assert_eq!(info.name, "a@local");
    /// assert!(info.peers.is_empty());
    /// assert_eq!(info.important.sent, 0);
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn info(&self) -> NodeInfo {
        let processes = self.registry().all();
        let requests_in_flight = processes
            .iter()
            .map(|p| u64::from(p.core().stats().snapshot().requests))
            .sum();
        let remote = self.remote();
        NodeInfo {
            name: self.name().to_string(),
            creation: self.creation(),
            listen_addr: self.local_addr().map(|a| a.to_string()),
            uptime_ms: u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            process_count: processes.len(),
            important: remote.map(|r| r.important().snapshot()).unwrap_or_default(),
            requests_in_flight,
            peers: remote.map(|r| r.peers_info()).unwrap_or_default(),
        }
    }

    /// An important response of one of this node's actors found its caller gone:
    /// counted in the process-wide metric, and in the node's counters when it has a
    /// network side.
    pub(crate) fn count_ignored_response(&self) {
        metrics::counter!("ackor_important_responses_ignored_total").increment(1);
        if let Some(remote) = self.remote() {
            remote.important().responses_ignored();
        }
    }
}
