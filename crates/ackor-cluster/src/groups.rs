//! Process groups, like Erlang's `pg`: any process can join any number of named
//! groups; every member of the cluster sees who is in each; a broadcast reaches every
//! member with one network message per node.
//!
//! A member's processes in a group are gossip keys `pg.<group>#<pid id>.<creation>` of
//! its node. A broadcast is encoded once ([`Encoded`]) and sent to each node's cluster
//! agent (see `agent.rs`), which hands it to the group's members on that node as they
//! are when it arrives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ackor::{Encoded, Error, Handler, Message, NodeName, Pid, ProcessId};
use chitchat::{ChitchatId, NodeState};

use crate::agent::{AGENT, ClusterAgent, Fanout};
use crate::cluster::{Cluster, Inner, lock};

/// Gossip key prefix of a group membership.
const GROUP: &str = "pg.";

fn key(group: &str, pid: &Pid) -> String {
    format!("{GROUP}{group}#{}.{}", pid.id(), pid.creation())
}

/// The members of every group, from the gossip state of the given members.
pub(crate) fn members<'a>(
    states: impl IntoIterator<Item = (&'a ChitchatId, &'a NodeState)>,
) -> BTreeMap<String, BTreeSet<Pid>> {
    let mut groups: BTreeMap<String, BTreeSet<Pid>> = BTreeMap::new();
    for (id, state) in states {
        let node = NodeName::new(&*id.node_id);
        for (k, _) in state.key_values() {
            let Some(rest) = k.strip_prefix(GROUP) else {
                continue;
            };
            let Some((group, pid)) = rest.rsplit_once('#') else {
                continue;
            };
            let Some((pid_id, creation)) = pid.split_once('.') else {
                continue;
            };
            let (Ok(pid_id), Ok(creation)) = (pid_id.parse(), creation.parse()) else {
                continue;
            };
            groups
                .entry(group.to_string())
                .or_default()
                .insert(Pid::new(node.clone(), pid_id, creation));
        }
    }
    groups
}

impl Cluster {
    /// Adds the local process `pid` to `group` (a process may be in many groups; a
    /// group needs no creating). It leaves when it stops, when its node leaves or dies,
    /// or with [`Cluster::leave_group`]. Fails with [`Error::ProcessUnknown`] for a pid
    /// that is not a live process of this node.
    pub async fn join_group(&self, group: &str, pid: &Pid) -> Result<(), Error> {
        let node = &self.inner.node;
        if pid.node() != node.name() || !node.is_alive(pid) {
            return Err(Error::ProcessUnknown);
        }
        let newly = lock(&self.inner.local_groups)
            .entry(group.to_string())
            .or_default()
            .insert(pid.clone());
        if self
            .with_own_state(|s| s.set(key(group, pid), ""))
            .await
            .is_none()
        {
            return Err(Error::NodeStopped);
        }
        lock(&self.inner.view)
            .groups
            .entry(group.to_string())
            .or_default()
            .insert(pid.clone());
        if newly {
            let (cluster, group, pid, node) = (
                Arc::downgrade(&self.inner),
                group.to_string(),
                pid.clone(),
                node.clone(),
            );
            tokio::spawn(async move {
                node.wait_for_exit(&pid).await;
                if let Some(inner) = cluster.upgrade() {
                    Cluster { inner }.leave_group(&group, &pid).await;
                }
            });
        }
        Ok(())
    }

    /// Takes the local process `pid` out of `group`; false if it was not in it.
    pub async fn leave_group(&self, group: &str, pid: &Pid) -> bool {
        let was = {
            let mut local = lock(&self.inner.local_groups);
            let was = local.get_mut(group).is_some_and(|members| members.remove(pid));
            if local.get(group).is_some_and(BTreeSet::is_empty) {
                local.remove(group);
            }
            was
        };
        let k = key(group, pid);
        self.with_own_state(|s| {
            if s.get(&k).is_some() {
                s.delete(&k);
            }
        })
        .await;
        if let Some(members) = lock(&self.inner.view).groups.get_mut(group) {
            members.remove(pid);
        }
        was
    }

    /// The members of `group` across the cluster, as far as gossip has told this node.
    pub fn group_members(&self, group: &str) -> Vec<Pid> {
        lock(&self.inner.view)
            .groups
            .get(group)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends `msg` to every member of `group`, as a plain send from no process: encoded
    /// once for actor type `A`, delivered here at once and sent once to each other
    /// node with members, whose fan-out hands it to the group's members there when it
    /// arrives. Returns how many nodes were sent to (this one not counted).
    ///
    /// Fails with [`Error::UnknownMessage`] if `A` does not accept `M` from other nodes.
    /// Members are expected to be of type `A` (or at least to take `M`'s tag): one that
    /// does not, or whose mailbox is full, misses the message (counted in
    /// `ackor_cluster_group_undelivered_total`), like any plain send.
    pub fn broadcast<A, M>(&self, group: &str, msg: &M) -> Result<usize, Error>
    where
        A: Handler<M>,
        M: Message,
    {
        let encoded = Encoded::new::<A, M>(msg)?;
        let node = &self.inner.node;
        let mut by_node: BTreeMap<NodeName, usize> = BTreeMap::new();
        for pid in self.group_members(group) {
            *by_node.entry(pid.node().clone()).or_default() += 1;
        }
        let mut sent = 0;
        for target in by_node.keys() {
            if target == node.name() {
                fan_out(&self.inner, group, &encoded, None);
                continue;
            }
            let agent = ProcessId::new(AGENT, target.clone());
            let frame = Fanout {
                group: group.to_string(),
                tag: encoded.tag().to_string(),
                payload: encoded.payload().to_vec(),
            };
            match node.send_name::<ClusterAgent, _>(&agent, frame) {
                Ok(()) => sent += 1,
                Err(e) => {
                    tracing::debug!(node = %target, error = %e, %group, "group broadcast not sent to a node")
                }
            }
        }
        metrics::counter!("ackor_cluster_group_broadcasts_total").increment(1);
        Ok(sent)
    }
}

/// Hands `msg` to this node's members of `group`.
pub(crate) fn fan_out(inner: &Inner, group: &str, msg: &Encoded, from: Option<&Pid>) {
    let members: Vec<Pid> = lock(&inner.local_groups)
        .get(group)
        .map(|m| m.iter().cloned().collect())
        .unwrap_or_default();
    for pid in members {
        if let Err(e) = inner.node.send_encoded(&pid, msg, from) {
            metrics::counter!("ackor_cluster_group_undelivered_total").increment(1);
            tracing::debug!(%pid, %group, error = %e, "group message not delivered");
        }
    }
}
