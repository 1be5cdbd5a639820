//! What the observer page shows, as the JSON it receives: one [`Snapshot`] of every
//! observed node (the target and the peers it reports), taken every
//! [`PERIOD`](super::PERIOD). Rates are computed here, from the `handled` counters of two
//! successive snapshots, so every browser sees the same figures.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;

/// Everything the page shows at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// The node doing the observing (a client node, or the target itself).
    pub observer: String,
    /// The node being observed.
    pub target: String,
    /// When the snapshot was taken, Unix milliseconds.
    pub at_unix_ms: u64,
    /// The target first, then the peers it reports, by name.
    pub nodes: Vec<NodeView>,
    /// The links each observed node reports, one per (node, peer).
    pub links: Vec<LinkView>,
    /// The processes of every observed node that answered, by node then pid.
    pub processes: Vec<ProcessView>,
}

/// One observed node: what it said about itself, or why it said nothing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeView {
    /// `name@host:port`.
    pub name: String,
    /// Why it could not be inspected (`None` when it answered).
    pub error: Option<String>,
    /// Its incarnation.
    pub creation: Option<u32>,
    /// How long it has been running.
    pub uptime_ms: Option<u64>,
    /// How many processes it has.
    pub process_count: Option<usize>,
    /// Requests (reentrant `request`s and calls) waiting for a reply on it.
    pub requests_in_flight: Option<u64>,
    /// Its important-delivery counters, as a sender (and deduplications as a receiver).
    pub important: Option<ImportantView>,
}

/// Important-delivery counters of one node since it started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportantView {
    /// Important messages sent.
    pub sent: u64,
    /// Acknowledged: in the recipient's mailbox.
    pub acked: u64,
    /// Refused, by reason (`MailboxFull`, `ProcessUnknown`, ...).
    pub nacked: BTreeMap<String, u64>,
    /// Sent again after a link flap.
    pub resent: u64,
    /// Received twice and dropped the second time.
    pub deduplicated: u64,
    /// Important responses whose caller was no longer waiting.
    pub responses_ignored: u64,
}

/// One node's view of its link to a peer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkView {
    /// The node reporting the link.
    pub from: String,
    /// The peer.
    pub to: String,
    /// `up`, `connecting`, `backoff` or `idle`.
    pub status: String,
    /// TCP connections to the peer.
    pub connections: usize,
    /// Round-trip time of the last heartbeat, microseconds.
    pub rtt_us: Option<u64>,
    /// Bytes sent to the peer.
    pub bytes_sent: u64,
    /// Bytes received from the peer.
    pub bytes_received: u64,
    /// Important messages to the peer not acknowledged yet.
    pub unacked_important: usize,
}

/// One process, as the page's table shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessView {
    /// The node it runs on.
    pub node: String,
    /// Its pid, as `Pid`'s `Display` writes it (`<node.id.creation>`).
    pub pid: String,
    /// Its registered name.
    pub name: Option<String>,
    /// The actor type.
    pub actor_type: String,
    /// User messages queued.
    pub mailbox_len: usize,
    /// The user lane's capacity.
    pub mailbox_capacity: usize,
    /// System messages queued.
    pub system_len: usize,
    /// `running`, `in-call`, `stashing`, ...
    pub state: String,
    /// Messages handled so far.
    pub handled: u64,
    /// Messages handled per second since the previous snapshot.
    pub rate: Option<f64>,
    /// Requests it is waiting on.
    pub requests_in_flight: usize,
    /// User messages it holds back while a request is in flight.
    pub stashed: usize,
    /// Why it failed last, if it did.
    pub last_failure: Option<String>,
}

/// Turns `handled` counters into rates between successive snapshots.
#[derive(Debug, Default)]
pub struct Rates {
    last: HashMap<String, (u64, Instant)>,
}

impl Rates {
    /// Sets `rate` on every process whose `handled` was seen in the previous round, if
    /// that was recent (a restarted counter gives no rate rather than a negative one);
    /// forgets processes that are gone.
    pub fn apply(&mut self, processes: &mut [ProcessView], now: Instant) {
        let mut next = HashMap::with_capacity(processes.len());
        for p in processes.iter_mut() {
            let handled = p.handled;
            if let Some(&(before, then)) = self.last.get(&p.pid) {
                let secs = now.duration_since(then).as_secs_f64();
                // After a rest of the sampler the figure would be an average over the
                // rest: none rather than a misleading one.
                let fresh = secs > 0.0 && secs < 4.0 * super::PERIOD.as_secs_f64();
                if handled >= before && fresh {
                    p.rate = Some((handled - before) as f64 / secs);
                }
            }
            next.insert(p.pid.clone(), (handled, now));
        }
        self.last = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn process(pid: &str, handled: u64) -> ProcessView {
        ProcessView {
            pid: pid.into(),
            handled,
            ..ProcessView::default()
        }
    }

    #[test]
    fn rate_is_messages_handled_per_second_between_two_rounds() {
        let mut rates = Rates::default();
        let t0 = Instant::now();
        let mut first = vec![process("<a.1.1>", 10)];
        rates.apply(&mut first, t0);
        assert_eq!(first[0].rate, None, "no rate from a single round");
        let mut second = vec![process("<a.1.1>", 60), process("<a.2.1>", 5)];
        rates.apply(&mut second, t0 + Duration::from_millis(500));
        assert_eq!(second[0].rate, Some(100.0));
        assert_eq!(second[1].rate, None, "a new process has no rate yet");
    }

    #[test]
    fn a_round_long_after_the_previous_gives_no_rate() {
        let mut rates = Rates::default();
        let t0 = Instant::now();
        rates.apply(&mut [process("<a.1.1>", 10)], t0);
        let mut after_rest = vec![process("<a.1.1>", 20)];
        rates.apply(&mut after_rest, t0 + Duration::from_secs(30));
        assert_eq!(after_rest[0].rate, None);
    }

    #[test]
    fn a_counter_that_went_back_gives_no_rate() {
        let mut rates = Rates::default();
        let t0 = Instant::now();
        rates.apply(&mut [process("<a.1.1>", 10)], t0);
        let mut after = vec![process("<a.1.1>", 3)];
        rates.apply(&mut after, t0 + Duration::from_secs(1));
        assert_eq!(after[0].rate, None);
    }
}
