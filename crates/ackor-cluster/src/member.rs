//! Who is in the cluster: [`Member`], and what happens to members: [`MemberEvent`].
//! A member's gossip state is a set of keys; this file reads them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ackor::{Message, NodeName, Pid};
use chitchat::{ChitchatId, NodeState};

/// Gossip key prefix of a member's metadata entries.
pub(crate) const META: &str = "meta.";
/// Gossip key set by a member that leaves gracefully.
pub(crate) const LEAVING: &str = "ackor.leaving";

/// A node of the cluster, as gossip describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The ackor node name (`name@host:port`): pids and names of the member are on
    /// it, and ackor dials it by this name.
    pub node: NodeName,
    /// The node's incarnation ([`ackor::Node::creation`]): a member that restarts
    /// comes back as a new member with a new creation.
    pub creation: u32,
    /// Where it gossips.
    pub gossip_addr: SocketAddr,
    /// Its [`ClusterConfig::metadata`](crate::ClusterConfig::metadata).
    pub metadata: BTreeMap<String, String>,
}

impl Member {
    pub(crate) fn from_gossip(id: &ChitchatId, state: &NodeState) -> Self {
        let metadata = state
            .key_values()
            .filter_map(|(k, v)| k.strip_prefix(META).map(|k| (k.to_string(), v.to_string())))
            .collect();
        Member {
            node: NodeName::new(&*id.node_id),
            creation: u32::try_from(id.generation_id).unwrap_or(0),
            gossip_addr: id.gossip_advertise_addr,
            metadata,
        }
    }

    /// The member's identity: its node name and incarnation.
    pub(crate) fn key(&self) -> (NodeName, u32) {
        (self.node.clone(), self.creation)
    }
}

/// A change in the cluster, as this node sees it. Subscribe with
/// [`Cluster::events`](crate::Cluster::events) or
/// [`Cluster::subscribe`](crate::Cluster::subscribe) (for an actor).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberEvent {
    /// A member joined (or this node learned of it).
    Up(Member),
    /// A member left gracefully ([`Cluster::leave`](crate::Cluster::leave)).
    Left(Member),
    /// The failure detector judged a member dead. Its node's pending calls, important
    /// sends, monitors and links have been failed as for a lost connection.
    Down(Member),
    /// This node lost a cluster name it had registered: another member registered it
    /// concurrently and won by the rule of [`Cluster::register`](crate::Cluster::register).
    /// The name is no longer registered here.
    NameLost {
        /// The name.
        name: String,
        /// Its owner now.
        winner: Pid,
    },
}

impl Message for MemberEvent {
    type Reply = ();
}
