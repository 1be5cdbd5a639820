//! What the network side counts for introspection (see `Node::inspect`), beside the
//! process-wide `metrics` counters: per peer, the bytes and frames each way and the
//! round-trip time its heartbeats measure ([`PeerStats`]); per node, the outcomes of
//! important delivery ([`ImportantCounters`]). Several nodes in one process each
//! count their own.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One peer of a node, as [`NodeInfo::peers`](crate::inspect::NodeInfo) lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The peer's node name.
    pub node: String,
    /// The peer's incarnation, once a handshake told it.
    pub creation: Option<u32>,
    /// `up`, `connecting`, `backoff` (waiting to dial again) or `idle` (never dialed).
    pub status: String,
    /// Links open with the peer, both directions.
    pub links: usize,
    /// Bytes this node wrote to the peer's links.
    pub bytes_sent: u64,
    /// Bytes this node read from the peer's links.
    pub bytes_received: u64,
    /// Frames this node wrote to the peer (heartbeats included).
    pub frames_sent: u64,
    /// Frames this node read from the peer.
    pub frames_received: u64,
    /// The last round trip a heartbeat measured, in microseconds (queueing on the
    /// link included); `None` before the first answer.
    pub rtt_us: Option<u64>,
    /// Important sends to the peer not yet acknowledged (their copies kept for resend).
    pub unacked_important: usize,
    /// Processes of the peer that processes of this node monitor.
    pub monitors: usize,
    /// Links between processes of this node and processes of the peer.
    pub linked: usize,
}

/// The outcomes of important delivery on one node, as
/// [`NodeInfo::important`](crate::inspect::NodeInfo) reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImportantStats {
    /// Important sends that left this node.
    pub sent: u64,
    /// Important messages this node put in a mailbox (or had handled) and acknowledged.
    pub acked: u64,
    /// Important sends of this node answered with an error, by reason
    /// (`mailbox_full`, `process_unknown`, `timeout`, ...).
    pub nacked: BTreeMap<String, u64>,
    /// Unacknowledged important messages sent again after a link came back.
    pub resent: u64,
    /// Important messages received again and not delivered twice.
    pub deduplicated: u64,
    /// Important responses whose caller no longer waited.
    pub responses_ignored: u64,
}

/// Byte, frame and round-trip counters of one peer, written by its links.
#[derive(Default)]
pub(crate) struct PeerStats {
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    /// Nanoseconds; 0 until measured.
    rtt_ns: AtomicU64,
}

impl PeerStats {
    /// A heartbeat answer came back for the ping stamped `stamp` (see [`ping_stamp`]).
    pub(crate) fn pong(&self, stamp: u64) {
        let now = ping_stamp();
        if stamp != 0 && stamp <= now {
            self.rtt_ns.store((now - stamp).max(1), Ordering::Relaxed);
        }
    }

    /// The last round trip in microseconds, if any was measured.
    pub(crate) fn rtt_us(&self) -> Option<u64> {
        match self.rtt_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(ns.div_ceil(1000)),
        }
    }
}

/// Now, as nanoseconds since a process-wide origin, plus one (never 0): what a ping
/// heartbeat carries and its answer echoes. Only the node that stamped it reads it.
pub(crate) fn ping_stamp() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The reasons a nack is counted under: [`Error::label`]'s words.
const REASONS: [&str; 14] = [
    "process_unknown",
    "mailbox_full",
    "process_terminated",
    "unknown_message",
    "codec",
    "call_cycle",
    "timeout",
    "no_connection",
    "connection_lost",
    "actor_failed",
    "node_stopped",
    "rejected",
    "storage",
    "other",
];

/// A node's important-delivery counters. Each count goes to the process-wide metric of
/// the same meaning too (`ackor_important_*`, see the crate docs' table): one call at
/// each place that counts.
#[derive(Default)]
pub(crate) struct ImportantCounters {
    sent: AtomicU64,
    acked: AtomicU64,
    resent: AtomicU64,
    deduplicated: AtomicU64,
    responses_ignored: AtomicU64,
    nacked: [AtomicU64; REASONS.len()],
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl ImportantCounters {
    /// An important send left this node.
    pub(crate) fn sent(&self) {
        metrics::counter!("ackor_important_sent_total").increment(1);
        add(&self.sent, 1);
    }

    /// This node put `n` important messages in a mailbox (or had them handled) and
    /// acknowledged them.
    pub(crate) fn acked(&self, n: u64) {
        metrics::counter!("ackor_important_acked_total").increment(n);
        add(&self.acked, n);
    }

    /// An important send of this node was answered with `error`.
    pub(crate) fn nacked(&self, error: &Error) {
        let label = error.label();
        metrics::counter!("ackor_important_nacked_total", "reason" => label).increment(1);
        let i = REASONS
            .iter()
            .position(|r| *r == label)
            .unwrap_or(REASONS.len() - 1);
        add(&self.nacked[i], 1);
    }

    /// `n` unacknowledged important messages were sent again after a link came back.
    pub(crate) fn resent(&self, n: u64) {
        metrics::counter!("ackor_important_resent_total").increment(n);
        add(&self.resent, n);
    }

    /// An important message came again and was not delivered twice.
    pub(crate) fn deduplicated(&self) {
        metrics::counter!("ackor_important_deduplicated_total").increment(1);
        add(&self.deduplicated, 1);
    }

    /// An important response found its caller no longer waiting.
    pub(crate) fn responses_ignored(&self) {
        add(&self.responses_ignored, 1);
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> ImportantStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ImportantStats {
            sent: get(&self.sent),
            acked: get(&self.acked),
            nacked: REASONS
                .iter()
                .zip(&self.nacked)
                .filter(|(_, n)| get(n) > 0)
                .map(|(r, n)| (r.to_string(), get(n)))
                .collect(),
            resent: get(&self.resent),
            deduplicated: get(&self.deduplicated),
            responses_ignored: get(&self.responses_ignored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_label_has_its_own_nack_counter() {
        let counters = ImportantCounters::default();
        counters.nacked(&Error::MailboxFull);
        counters.nacked(&Error::MailboxFull);
        counters.nacked(&Error::Timeout);
        counters.nacked(&Error::Storage("disk".into()));
        let s = counters.snapshot();
        assert_eq!(s.nacked.get("mailbox_full"), Some(&2));
        assert_eq!(s.nacked.get("timeout"), Some(&1));
        assert_eq!(s.nacked.get("storage"), Some(&1));
        assert_eq!(s.nacked.get("other"), None);
    }

    #[test]
    fn a_pong_measures_the_round_trip_since_its_ping() {
        let stats = PeerStats::default();
        assert_eq!(stats.rtt_us(), None);
        let stamp = ping_stamp();
        std::thread::sleep(std::time::Duration::from_millis(2));
        stats.pong(stamp);
        assert!(stats.rtt_us().is_some_and(|us| us >= 2000));
        stats.pong(0); // no stamp: ignored
        assert!(stats.rtt_us().is_some_and(|us| us >= 2000));
    }
}
