//! Placement: which member a key belongs on, by rendezvous (highest-random-weight)
//! hashing over the live members, and one actor per key in the cluster.
//!
//! Rendezvous hashing scores every (key, member) pair with a hash and picks the best
//! member. All members compute the same answer from the same member list, and when a
//! member joins or goes only the keys that it wins or held move.
//!
//! A keyed actor ([`Cluster::spawn_keyed`]) is named `<kind>/<key>` across the cluster:
//! the name finds the activation wherever it is, so a member that joins later does not
//! cause a second one. When its node dies or leaves, its name goes with it, and the
//! next `spawn_keyed` for the key starts it again where placement says now. Two
//! activations started concurrently from members with different views of the cluster
//! are resolved by the names' rule: the loser is stopped.

use ackor::{ActorRef, Error, ExitReason, NodeName, Pid, ProcessId, RemoteActor, SpawnOptions};
use sha2::{Digest, Sha256};

use crate::agent::{AGENT, ClaimKey, ClusterAgent};
use crate::cluster::{Cluster, lock};
use crate::member::Member;
use crate::names::Claim;

/// The rendezvous score of `key` on `node`.
fn score(key: &str, node: &NodeName) -> u64 {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key.as_bytes());
    h.update(node.as_str().as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The best of `members` for `key`.
pub(crate) fn pick<'a>(key: &str, members: impl IntoIterator<Item = &'a Member>) -> Option<&'a Member> {
    members
        .into_iter()
        .max_by_key(|m| (score(key, &m.node), m.node.as_str().to_string()))
}

impl Cluster {
    /// The member `key` belongs on: the same answer on every member that has the same
    /// view of the cluster. `None` only after [`Cluster::leave`].
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::Node;
    /// # use ackor_cluster::{Cluster, ClusterConfig};
    /// let node = Node::builder().name("a@127.0.0.1:0").cookie("c").start().await?;
    /// let cluster = Cluster::join(&node, ClusterConfig::new("doc", "127.0.0.1:0".parse().unwrap())).await?;
    /// // Alone in its cluster, every key is this node's.
    /// assert_eq!(cluster.place("cart:42"), Some(node.name().clone()));
    /// # cluster.leave().await;
    /// # node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn place(&self, key: &str) -> Option<NodeName> {
        self.place_where(key, |_| true)
    }

    /// [`Cluster::place`] among the members `eligible` accepts (by their metadata, say).
    pub fn place_where(&self, key: &str, eligible: impl Fn(&Member) -> bool) -> Option<NodeName> {
        let members = self.members();
        pick(key, members.iter().filter(|m| eligible(m))).map(|m| m.node.clone())
    }

    /// The one actor of kind `A` for `key` in the cluster: the running one if there is
    /// one (found by its cluster name `<KIND>/<key>`), otherwise started with `args`
    /// and `options` on the member [`Cluster::place`] picks (which must
    /// [allow](ackor::Node::allow_remote_spawn) `A`) and registered there.
    ///
    /// Fails as [`Node::spawn_remote`](ackor::Node::spawn_remote) does, with
    /// [`Error::NodeStopped`] after [`Cluster::leave`], and with [`Error::Timeout`] when
    /// the chosen member still sees the key's name held by a member this node knows is
    /// gone after the call timeout (members' failure detectors disagree that long).
    /// An actor this call started is stopped again when it does not become the key's
    /// actor.
    pub async fn spawn_keyed<A>(
        &self,
        key: &str,
        args: A::Args,
        options: SpawnOptions,
    ) -> Result<ActorRef<A>, Error>
    where
        A: RemoteActor,
    {
        let node = &self.inner.node;
        let name = format!("{}/{key}", A::KIND);
        if let Some(pid) = self.whereis(&name) {
            return node.actor_ref::<A>(&pid);
        }
        let target = self.place(key).ok_or(Error::NodeStopped)?;
        let (spawned, fresh) = match node
            .spawn_remote::<A>(&target, args, options.name(name.clone()))
            .await
        {
            Ok(actor) => (actor, true),
            // Started there meanwhile (from another member): that one is the actor.
            Err(Error::NameTaken(_)) => {
                let id = ProcessId::new(name.clone(), target.clone());
                (node.resolve::<A>(&id).await?, false)
            }
            Err(e) => return Err(e),
        };
        // What this call started goes again unless it is the key's actor in the end.
        let discard = |actor: &ActorRef<A>| {
            if fresh {
                let _ = actor.stop_with(ExitReason::Normal);
            }
        };
        let deadline = tokio::time::Instant::now() + node.config().call_timeout;
        loop {
            let owner = match self.claim_on(&target, &name, spawned.pid()).await {
                Ok(owner) => owner,
                Err(e) => {
                    discard(&spawned);
                    return Err(e);
                }
            };
            if &owner == spawned.pid() {
                self.hint_owner(&name, &owner);
                return Ok(spawned);
            }
            if self.is_member(owner.node()) {
                // Another member's activation won the name first: that one is the actor.
                discard(&spawned);
                self.hint_owner(&name, &owner);
                return node.actor_ref::<A>(&owner);
            }
            // The name is still held, in the target's view, by a member this node knows
            // is gone: the target has not learned it yet. Claim again shortly, for the
            // same actor on the same member.
            if tokio::time::Instant::now() >= deadline {
                discard(&spawned);
                return Err(Error::Timeout);
            }
            tokio::time::sleep(self.inner.config.gossip_interval).await;
        }
    }

    /// Has `target` claim `name` for its process `pid`; the owner afterwards.
    async fn claim_on(&self, target: &NodeName, name: &str, pid: &Pid) -> Result<Pid, Error> {
        let node = &self.inner.node;
        if target == node.name() {
            return self.claim_key(name, pid).await.map_err(Error::Config);
        }
        let agent = ProcessId::new(AGENT, target.clone());
        let claim = ClaimKey {
            name: name.to_string(),
            id: pid.id(),
            creation: pid.creation(),
        };
        let (owner_node, id, creation) = node
            .call_name::<ClusterAgent, _>(&agent, claim)
            .await?
            .map_err(Error::Config)?;
        Ok(Pid::new(NodeName::new(owner_node), id, creation))
    }

    /// Remembers the owner the claim answered until gossip brings the claim itself
    /// (the next change of the view replaces it): the next ask for the key goes straight
    /// to it instead of claiming again. It never wins a conflict: its time is the latest.
    fn hint_owner(&self, name: &str, owner: &Pid) {
        lock(&self.inner.view)
            .owners
            .entry(name.to_string())
            .or_insert(Claim {
                pid: owner.clone(),
                at_ms: u64::MAX,
            });
    }

    /// Whether `node` is a live member in this node's view.
    fn is_member(&self, node: &NodeName) -> bool {
        self.members().iter().any(|m| &m.node == node)
    }

    /// On the node of `pid`: registers `name` for it as a keyed actor; answers the
    /// owner of the name afterwards (another process when one holds it already; that
    /// one then stays, and `pid` should be stopped by the caller).
    pub(crate) async fn claim_key(&self, name: &str, pid: &Pid) -> Result<Pid, String> {
        match self.register(name, pid).await {
            Ok(()) => {
                lock(&self.inner.keyed).insert(name.to_string());
                Ok(pid.clone())
            }
            Err(Error::NameTaken(_)) => self
                .whereis(name)
                .ok_or_else(|| format!("{name}: taken, owner unknown")),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    fn member(name: &str) -> Member {
        Member {
            node: NodeName::new(name),
            creation: 1,
            gossip_addr: "127.0.0.1:1".parse().unwrap(),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn only_the_keys_of_a_member_that_goes_move() {
        let all: Vec<Member> = (0..5).map(|i| member(&format!("n{i}@h:1"))).collect();
        let without_n2: Vec<Member> = all
            .iter()
            .filter(|m| m.node.as_str() != "n2@h:1")
            .cloned()
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for k in 0..2000 {
            let key = format!("key-{k}");
            let before = pick(&key, &all).unwrap().node.clone();
            let after = pick(&key, &without_n2).unwrap().node.clone();
            if before.as_str() != "n2@h:1" {
                assert_eq!(before, after, "{key} moved though its member stayed");
            }
            *counts.entry(before.to_string()).or_default() += 1;
        }
        // Spread over every member, none starved (400 each on average).
        assert_eq!(counts.len(), 5);
        assert!(counts.values().all(|&c| c > 250), "{counts:?}");
    }

    #[test]
    fn placement_does_not_depend_on_the_order_of_the_member_list() {
        let mut all: Vec<Member> = (0..4).map(|i| member(&format!("n{i}@h:1"))).collect();
        let first = pick("k", &all).unwrap().node.clone();
        all.reverse();
        assert_eq!(pick("k", &all).unwrap().node, first);
    }
}
