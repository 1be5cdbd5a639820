//! Cluster-wide names as gossip keys: a member that registers `name` for one of its
//! processes publishes the key `name.<name>` with the pid and the time of the claim;
//! every member computes the same owner from the same keys.
//!
//! **The rule.** When members claim one name concurrently, the earliest claim wins
//! (by the claiming node's wall clock, in milliseconds); equal times go to the smaller
//! node name. Every member applies it to the same gossip, so all converge on one
//! owner; the losers drop their claim and are told
//! ([`MemberEvent::NameLost`](crate::MemberEvent::NameLost)). Clocks apart by more
//! than the gossip delay only shift who wins, never the agreement; but a member whose
//! clock is far behind, registering a name before gossip has told it of the owner, can
//! take the name from an owner of long standing (keep members' clocks in step, with
//! NTP, as for any wall-clock rule).

use std::collections::BTreeMap;

use ackor::{NodeName, Pid};
use chitchat::{ChitchatId, NodeState};

/// Gossip key prefix of a name claim.
pub(crate) const NAME: &str = "name.";

/// A member's claim on a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) pid: Pid,
    pub(crate) at_ms: u64,
}

impl Claim {
    /// The gossip value: `<pid id>.<pid creation>.<claim time>`.
    pub(crate) fn encode(&self) -> String {
        format!("{}.{}.{}", self.pid.id(), self.pid.creation(), self.at_ms)
    }

    /// A claim by a process of `node`; `None` for a malformed value (gossip is signed,
    /// but a member of another version could write something else).
    pub(crate) fn decode(node: &NodeName, value: &str) -> Option<Claim> {
        let mut parts = value.split('.');
        let id = parts.next()?.parse().ok()?;
        let creation = parts.next()?.parse().ok()?;
        let at_ms = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Claim {
            pid: Pid::new(node.clone(), id, creation),
            at_ms,
        })
    }

    /// Whether this claim beats `other` (see the rule above).
    pub(crate) fn beats(&self, other: &Claim) -> bool {
        (self.at_ms, self.pid.node().as_str()) < (other.at_ms, other.pid.node().as_str())
    }
}

/// The owner of every name claimed by the given members.
pub(crate) fn owners<'a>(
    members: impl IntoIterator<Item = (&'a ChitchatId, &'a NodeState)>,
) -> BTreeMap<String, Claim> {
    let mut owners: BTreeMap<String, Claim> = BTreeMap::new();
    for (id, state) in members {
        let node = NodeName::new(&*id.node_id);
        for (key, value) in state.key_values() {
            let Some(name) = key.strip_prefix(NAME) else {
                continue;
            };
            let Some(claim) = Claim::decode(&node, value) else {
                continue;
            };
            match owners.get(name) {
                Some(best) if !claim.beats(best) => {}
                _ => {
                    owners.insert(name.to_string(), claim);
                }
            }
        }
    }
    owners
}

/// Milliseconds since the Unix epoch, for claims.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claim(node: &str, at_ms: u64) -> Claim {
        Claim {
            pid: Pid::new(NodeName::new(node), 7, 3),
            at_ms,
        }
    }

    #[test]
    fn claims_round_trip_and_malformed_ones_are_refused() {
        let c = claim("a@h:1", 42);
        assert_eq!(Claim::decode(&NodeName::new("a@h:1"), &c.encode()), Some(c));
        for bad in ["", "1", "1.2", "1.2.x", "1.2.3.4", "-1.2.3"] {
            assert_eq!(Claim::decode(&NodeName::new("a@h:1"), bad), None, "{bad}");
        }
    }

    #[test]
    fn earliest_claim_wins_and_ties_go_to_the_smaller_node_name() {
        assert!(claim("b@h:1", 1).beats(&claim("a@h:1", 2)));
        assert!(claim("a@h:1", 5).beats(&claim("b@h:1", 5)));
        assert!(!claim("b@h:1", 5).beats(&claim("a@h:1", 5)));
        assert!(!claim("a@h:1", 5).beats(&claim("a@h:1", 5)));
    }
}
