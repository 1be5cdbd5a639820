//! The deadlines of the sends that wait only to hear they arrived (important sends
//! waiting for their acknowledgement): kept beside the peer's pending calls, under its
//! lock, and swept by one task per peer, so a send arms no timer of its own.
//!
//! A tokio timer per send cost every send whose acknowledgement was not in when it was
//! first awaited (through a `FuturesUnordered`, all of them) an allocation, a timer
//! wheel entry and its removal: without them, 1024 important sends in flight went
//! about a quarter faster through a `FuturesUnordered`, and 64 senders and oldest-first
//! about a tenth (measured on a build with the timers left out, 2026-12-07).
//!
//! A send's deadline is kept until its call is settled: the settled ones in front are
//! dropped whenever calls are settled (in order, as acknowledgements mostly come), and
//! only the pending ones are kept if settled ones pile up behind an unsettled one (so
//! at most about twice the pending sends are kept).
//!
//! An actor's request timeouts (`reentrancy::deadlines`) follow the same rule, one timer
//! moved only earlier, on the actor's own task; this layer is below that one, and its
//! deadlines belong to many tasks, so a task of its own sweeps them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Peer, Pending, State};
use crate::error::Error;
use crate::fasthash::FastMap;

/// Settled deadlines tolerated beyond twice the pending calls before the settled ones
/// are dropped.
const SLACK: usize = 1024;

/// The deadlines of a peer's pending sends. Sends mostly come with the node's one
/// timeout, so their deadlines come in order: those go into a queue, cheap at both
/// ends; one sooner than the last queued (a shorter timeout of its own) goes into a
/// heap beside it.
#[derive(Default)]
pub(super) struct Deadlines {
    in_order: VecDeque<(Instant, u64)>,
    sooner: BinaryHeap<Reverse<(Instant, u64)>>,
    /// When the sweeper looks next (it sleeps until then); `None` before it runs.
    armed: Option<Instant>,
}

impl Deadlines {
    /// Keeps call `id`'s deadline. True if the sweeper must be woken: it does not run
    /// yet, or sleeps past `deadline`.
    pub(super) fn add(&mut self, id: u64, deadline: Instant, calls: &FastMap<u64, Pending>) -> bool {
        if self.in_order.len() + self.sooner.len() > 2 * calls.len() + SLACK {
            self.in_order.retain(|(_, id)| calls.contains_key(id));
            self.sooner.retain(|Reverse((_, id))| calls.contains_key(id));
        }
        match self.in_order.back() {
            Some(&(last, _)) if deadline < last => self.sooner.push(Reverse((deadline, id))),
            _ => self.in_order.push_back((deadline, id)),
        }
        if self.armed.is_some_and(|at| at <= deadline) {
            return false;
        }
        self.armed = Some(deadline);
        true
    }

    /// Drops the deadlines at the front whose calls are settled.
    pub(super) fn prune(&mut self, calls: &FastMap<u64, Pending>) {
        while self
            .in_order
            .front()
            .is_some_and(|(_, id)| !calls.contains_key(id))
        {
            self.in_order.pop_front();
        }
        while self
            .sooner
            .peek()
            .is_some_and(|Reverse((_, id))| !calls.contains_key(id))
        {
            self.sooner.pop();
        }
    }

    /// The soonest deadline kept, taken out if it is due by `now`.
    fn pop_due(&mut self, now: Instant) -> Option<u64> {
        let at = self.soonest().filter(|&at| at <= now)?;
        if self.in_order.front().is_some_and(|&(first, _)| first == at) {
            self.in_order.pop_front().map(|(_, id)| id)
        } else {
            self.sooner.pop().map(|Reverse((_, id))| id)
        }
    }

    /// The soonest deadline kept.
    fn soonest(&self) -> Option<Instant> {
        let first = self.in_order.front().map(|&(at, _)| at);
        let sooner = self.sooner.peek().map(|Reverse((at, _))| *at);
        first.into_iter().chain(sooner).min()
    }

    /// Takes out the calls whose deadline passed by `now`, each with the error it ends
    /// with, and returns when to look next (at the latest `idle` from now).
    fn expire(st: &mut State, now: Instant, idle: Duration) -> (Vec<(Pending, Error)>, Instant) {
        let mut expired = Vec::new();
        while let Some(id) = st.deadlines.pop_due(now) {
            if let Some(pending) = st.withdraw(id) {
                // A frame still queued while the links come up never leaves now: it
                // was not delivered. One on a link may have been.
                let error = if pending.sent() {
                    Error::Timeout
                } else {
                    Error::NoConnection
                };
                expired.push((pending, error));
            }
        }
        st.deadlines.prune(&st.calls);
        let next = match st.deadlines.soonest() {
            Some(at) => at.min(now + idle),
            None => now + idle,
        };
        st.deadlines.armed = Some(next);
        (expired, next)
    }

    /// How many deadlines are kept, settled or not.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.in_order.len() + self.sooner.len()
    }
}

/// The sweeper of `peer`: ends the sends whose deadline passed, then sleeps until the
/// next deadline (or for `idle`, or until woken for an earlier one); returns once the
/// peer is gone. `wake` is the peer's (see [`Peer::sweep`]).
pub(super) async fn sweep(peer: Weak<Peer>, wake: Arc<Notify>, idle: Duration) {
    loop {
        let next = {
            let Some(peer) = peer.upgrade() else {
                return;
            };
            let (expired, next) = Deadlines::expire(&mut peer.lock(), Instant::now(), idle);
            for (pending, error) in expired {
                let _ = pending.waiting.complete(Err(error));
            }
            next
        };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Waiting;
    use super::*;

    fn pending() -> Pending {
        let (tx, _) = tokio::sync::oneshot::channel();
        Pending {
            waiting: Waiting::Done(tx, Instant::now()),
            queued: None,
        }
    }

    #[test]
    fn the_sweeper_is_woken_only_for_a_deadline_sooner_than_it_looks() {
        let (now, calls) = (Instant::now(), FastMap::default());
        let mut deadlines = Deadlines::default();
        let s = Duration::from_secs;
        assert!(deadlines.add(1, now + s(5), &calls), "not running yet");
        assert!(!deadlines.add(2, now + s(6), &calls), "later than it looks");
        assert!(deadlines.add(3, now + s(1), &calls), "sooner");
        assert!(!deadlines.add(4, now + s(1), &calls), "as soon");
    }

    #[test]
    fn settled_deadlines_go_in_order_and_never_pile_up_behind_a_pending_one() {
        let now = Instant::now();
        let mut calls = FastMap::default();
        let mut deadlines = Deadlines::default();
        // Settled in the order they were sent: each goes at once.
        for id in 0..100 {
            deadlines.add(id, now + Duration::from_secs(5), &calls);
            calls.insert(id, pending());
        }
        for id in 0..100 {
            calls.remove(&id);
            deadlines.prune(&calls);
            assert_eq!(deadlines.len(), 99 - id as usize);
        }
        // One stays pending in front of many settled ones: they are dropped once they
        // are more than twice the pending calls and the slack.
        deadlines.add(1000, now + Duration::from_secs(1), &calls);
        calls.insert(1000, pending());
        for id in 1001..20_000 {
            deadlines.add(id, now + Duration::from_secs(5), &calls);
            calls.insert(id, pending());
            calls.remove(&id);
            deadlines.prune(&calls);
            assert!(deadlines.len() <= 2 * calls.len() + SLACK + 1);
        }
        calls.remove(&1000);
        deadlines.prune(&calls);
        assert_eq!(deadlines.len(), 0);
    }

    #[test]
    fn deadlines_fall_due_soonest_first_whatever_order_they_came_in() {
        let now = Instant::now();
        let calls = FastMap::default();
        let mut deadlines = Deadlines::default();
        let ms = Duration::from_millis;
        for (id, after) in [(1, 50), (2, 10), (3, 60), (4, 30), (5, 60), (6, 5)] {
            deadlines.add(id, now + ms(after), &calls);
        }
        assert_eq!(deadlines.soonest(), Some(now + ms(5)));
        let due = std::iter::from_fn(|| deadlines.pop_due(now + ms(50))).collect::<Vec<_>>();
        assert_eq!(due, [6, 2, 4, 1]);
        assert_eq!(deadlines.soonest(), Some(now + ms(60)));
        let due = std::iter::from_fn(|| deadlines.pop_due(now + ms(60))).collect::<Vec<_>>();
        assert_eq!(due, [3, 5]);
        assert_eq!(deadlines.soonest(), None);
    }
}
