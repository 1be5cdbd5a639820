//! How a node joins a cluster: [`ClusterConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings of a node's membership in a cluster.
///
/// ```
/// use std::time::Duration;
/// use ackor_cluster::ClusterConfig;
///
/// let config = ClusterConfig::new("shop", "127.0.0.1:0".parse().unwrap())
///     .seeds(["10.0.0.1:7946", "10.0.0.2:7946"])
///     .gossip_interval(Duration::from_millis(200))
///     .metadata("zone", "eu-1");
/// assert_eq!(config.cluster_id(), "shop");
/// ```
#[derive(Clone)]
pub struct ClusterConfig {
    pub(crate) cluster_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) gossip_addr: SocketAddr,
    pub(crate) seeds: Vec<String>,
    pub(crate) gossip_interval: Duration,
    pub(crate) phi_threshold: f64,
    pub(crate) initial_heartbeat_interval: Duration,
    pub(crate) dead_member_grace: Duration,
    pub(crate) leave_grace: Duration,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) in_memory: Option<chitchat::transport::ChannelTransport>,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("cluster_id", &self.cluster_id)
            .field("secret", &self.secret.as_ref().map(|_| "<secret>"))
            .field("gossip_addr", &self.gossip_addr)
            .field("seeds", &self.seeds)
            .field("gossip_interval", &self.gossip_interval)
            .field("phi_threshold", &self.phi_threshold)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// A member of cluster `cluster_id` gossiping on UDP `gossip_addr` (port 0 picks a
    /// free port; [`Cluster::gossip_addr`](crate::Cluster::gossip_addr) tells which).
    /// Defaults: no seeds (the first node of a cluster), gossip every 500 ms, a member
    /// judged dead at a phi of 8 (about 5 s of silence on a quiet network), the
    /// node's cookie as the gossip secret.
    pub fn new(cluster_id: impl Into<String>, gossip_addr: SocketAddr) -> Self {
        ClusterConfig {
            cluster_id: cluster_id.into(),
            secret: None,
            gossip_addr,
            seeds: Vec::new(),
            gossip_interval: Duration::from_millis(500),
            phi_threshold: 8.0,
            initial_heartbeat_interval: Duration::from_secs(1),
            dead_member_grace: Duration::from_secs(3600),
            leave_grace: Duration::from_secs(1),
            metadata: BTreeMap::new(),
            in_memory: None,
        }
    }

    /// Gossips over chitchat's in-memory transport instead of UDP, for tests that
    /// need to cut and heal links between members at will
    /// ([`ChannelTransport::remove_link`](crate::testing::ChannelTransport::remove_link)).
    /// Every member of such a cluster shares one transport and needs a distinct gossip
    /// address with a nonzero port (no socket is bound: it only names the member).
    /// Gossip in memory is not signed.
    pub fn in_memory(mut self, transport: crate::testing::ChannelTransport) -> Self {
        self.in_memory = Some(transport);
        self
    }

    /// The gossip addresses (`host:port`) of members to join through. Any live member
    /// will do; list several in case one is down.
    pub fn seeds<S: Into<String>>(mut self, seeds: impl IntoIterator<Item = S>) -> Self {
        self.seeds = seeds.into_iter().map(Into::into).collect();
        self
    }

    /// The secret gossip is signed with (see the crate docs). Default: the node's
    /// cookie.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// How often this node gossips with a few others.
    pub fn gossip_interval(mut self, interval: Duration) -> Self {
        self.gossip_interval = interval;
        self
    }

    /// The failure detector: a member is judged dead when the phi-accrual suspicion
    /// of it passes `phi_threshold` (higher: slower and surer); `initial_interval` is
    /// the heartbeat interval assumed before any is measured.
    pub fn failure_detection(mut self, phi_threshold: f64, initial_interval: Duration) -> Self {
        self.phi_threshold = phi_threshold;
        self.initial_heartbeat_interval = initial_interval;
        self
    }

    /// How long a member judged dead is remembered (so a late datagram of it is not
    /// taken for a new member).
    pub fn dead_member_grace(mut self, grace: Duration) -> Self {
        self.dead_member_grace = grace;
        self
    }

    /// How long [`Cluster::leave`](crate::Cluster::leave) keeps gossiping so the others
    /// learn of the leave before this node goes quiet.
    pub fn leave_grace(mut self, grace: Duration) -> Self {
        self.leave_grace = grace;
        self
    }

    /// A metadata entry every member sees (a zone, a role, a version).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }
}
