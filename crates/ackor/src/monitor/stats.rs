//! What a process publishes about itself for introspection (see `Node::inspect`): how
//! many messages it handled, its requests in flight, whether it holds messages back
//! or is being restarted, its last failure, and, while someone follows it, the trace
//! ids of the messages it handles.
//!
//! The actor's own task is the only writer of the counters (plain loads and stores,
//! no read-modify-write); readers take a snapshot at any time. What is rare (a failure,
//! a follower) sits behind one lazily allocated box, so an idle actor pays a few words.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A message a followed process handled, with the trace it was handled in (see
/// [`Inspector::process`](crate::inspect::Inspector::process)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HandledMessage {
    /// The message's type (`std::any::type_name`).
    pub message: String,
    /// The trace id, 32 lowercase hex digits (W3C `traceparent`).
    pub trace_id: String,
    /// The span id of its handling, 16 lowercase hex digits.
    pub span_id: String,
    /// When it was handled, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

/// How many handled messages a followed process keeps.
pub(crate) const RECENT: usize = 32;
/// How long a process stays followed after the last request to follow it.
pub(crate) const FOLLOW_FOR: Duration = Duration::from_secs(60);

const HOLDING: u8 = 1;
const RESTARTING: u8 = 2;
const FOLLOWED: u8 = 4;

/// The introspection counters of one process (in its `ProcessCore`).
#[derive(Default)]
pub(crate) struct ProcessStats {
    handled: AtomicU64,
    requests: AtomicU32,
    /// User messages the actor took from its lane in a batch and has not handled yet.
    batched: AtomicU32,
    flags: AtomicU8,
    rare: Mutex<Option<Box<Rare>>>,
}

#[derive(Default)]
struct Rare {
    last_failure: Option<String>,
    follow_until: Option<Instant>,
    recent: VecDeque<HandledMessage>,
}

/// A snapshot of [`ProcessStats`].
pub(crate) struct StatsSnapshot {
    pub(crate) handled: u64,
    pub(crate) requests: u32,
    pub(crate) batched: u32,
    pub(crate) holding: bool,
    pub(crate) restarting: bool,
    pub(crate) last_failure: Option<String>,
}

impl ProcessStats {
    /// One more user message handled (called by the actor's task only).
    #[inline]
    pub(crate) fn handled_one(&self) {
        let n = self.handled.load(Ordering::Relaxed);
        self.handled.store(n + 1, Ordering::Relaxed);
    }

    /// Publishes, before each item, the requests in flight, whether user messages are
    /// held back, and how many the actor took from its lane and has not handled yet
    /// (called by the actor's task only; stores only what changed).
    #[inline]
    pub(crate) fn set_loop(&self, in_flight: usize, holding: bool, batched: usize) {
        let store = |cell: &AtomicU32, n: usize| {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if cell.load(Ordering::Relaxed) != n {
                cell.store(n, Ordering::Relaxed);
            }
        };
        store(&self.requests, in_flight);
        store(&self.batched, batched);
        self.set_flag(HOLDING, holding);
    }

    /// Marks the process as being restarted by its supervisor (or not any more).
    pub(crate) fn set_restarting(&self, on: bool) {
        self.set_flag(RESTARTING, on);
    }

    #[inline]
    fn set_flag(&self, flag: u8, on: bool) {
        let was = self.flags.load(Ordering::Relaxed) & flag != 0;
        if was != on {
            if on {
                self.flags.fetch_or(flag, Ordering::Relaxed);
            } else {
                self.flags.fetch_and(!flag, Ordering::Relaxed);
            }
        }
    }

    /// Records why an instance failed.
    pub(crate) fn failed(&self, why: String) {
        self.rare().get_or_insert_with(Box::default).last_failure = Some(why);
    }

    /// True while someone follows the process: its messages are traced and recorded.
    #[inline]
    pub(crate) fn followed(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & FOLLOWED != 0
    }

    /// Follows the process for [`FOLLOW_FOR`] from now.
    pub(crate) fn follow(&self) {
        self.rare().get_or_insert_with(Box::default).follow_until = Some(Instant::now() + FOLLOW_FOR);
        self.set_flag(FOLLOWED, true);
    }

    /// Records a message handled while followed (stops following once the time is up).
    pub(crate) fn record(&self, message: &str, trace_id: u128, span_id: u64) {
        let mut rare = self.rare();
        let Some(rare) = rare.as_mut() else { return };
        if rare.follow_until.is_none_or(|until| Instant::now() > until) {
            rare.follow_until = None;
            rare.recent.clear();
            self.set_flag(FOLLOWED, false);
            return;
        }
        if rare.recent.len() == RECENT {
            rare.recent.pop_front();
        }
        let at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        rare.recent.push_back(HandledMessage {
            message: message.to_string(),
            trace_id: format!("{trace_id:032x}"),
            span_id: format!("{span_id:016x}"),
            at_unix_ms,
        });
    }

    /// The messages recorded while followed, oldest first.
    pub(crate) fn recent(&self) -> Vec<HandledMessage> {
        self.rare()
            .as_ref()
            .map(|r| r.recent.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let flags = self.flags.load(Ordering::Relaxed);
        StatsSnapshot {
            handled: self.handled.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            batched: self.batched.load(Ordering::Relaxed),
            holding: flags & HOLDING != 0,
            restarting: flags & RESTARTING != 0,
            last_failure: self.rare().as_ref().and_then(|r| r.last_failure.clone()),
        }
    }

    fn rare(&self) -> std::sync::MutexGuard<'_, Option<Box<Rare>>> {
        self.rare.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_followed_process_keeps_its_last_messages_and_an_unfollowed_one_none() {
        let stats = ProcessStats::default();
        stats.record("m", 1, 2);
        assert!(stats.recent().is_empty());
        stats.follow();
        assert!(stats.followed());
        for i in 0..(RECENT as u64 + 5) {
            stats.record("m", u128::from(i), i);
        }
        let recent = stats.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].span_id, format!("{:016x}", 5));
        assert_eq!(recent[0].trace_id.len(), 32);
    }

    #[test]
    fn counters_and_flags_show_in_the_snapshot() {
        let stats = ProcessStats::default();
        stats.handled_one();
        stats.handled_one();
        stats.set_loop(3, true, 4);
        stats.set_restarting(true);
        stats.failed("boom".into());
        let s = stats.snapshot();
        assert_eq!(
            (s.handled, s.requests, s.batched, s.holding, s.restarting),
            (2, 3, 4, true, true)
        );
        assert_eq!(s.last_failure.as_deref(), Some("boom"));
        stats.set_loop(0, false, 0);
        stats.set_restarting(false);
        let s = stats.snapshot();
        assert_eq!((s.requests, s.holding, s.restarting), (0, false, false));
    }
}
