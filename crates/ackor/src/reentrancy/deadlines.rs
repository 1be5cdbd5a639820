//! The request timeouts of one actor, on one timer.
//!
//! Hand-written rather than `tokio_util::time::DelayQueue` because of what a timer
//! costs here: arming one at a new earliest deadline wakes the runtime's timer driver
//! with a system call, and a queue that follows its earliest entry re-arms on almost
//! every request of a request/reply ping-pong (the queue empties, the next request is
//! the new earliest). This one only moves its timer *earlier*: completed requests leave
//! it armed at a deadline that has become stale, and when it fires with nothing due it
//! moves to the earliest deadline left, or stops. Sequential requests with the same
//! timeout then arm the timer once per timeout period, not once per request.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

#[derive(Default)]
pub(crate) struct Deadlines {
    /// Pending deadlines with their request ids, earliest first.
    queue: BTreeSet<(Instant, u64)>,
    /// Armed at `armed`, which is never later than the earliest pending deadline.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: Option<Instant>,
}

impl Deadlines {
    /// Adds request `id`, due in `timeout`; returns its deadline (to remove it by).
    pub(crate) fn insert(&mut self, id: u64, timeout: Duration) -> Instant {
        let at = Instant::now() + timeout;
        self.queue.insert((at, id));
        if self.armed.is_none_or(|armed| at < armed) {
            self.arm(at);
        }
        at
    }

    /// Forgets request `id` due at `at` (it completed); the timer stays where it is.
    pub(crate) fn remove(&mut self, at: Instant, id: u64) {
        self.queue.remove(&(at, id));
    }

    /// True while a request has a deadline: only then does the actor's loop poll the
    /// timer. A timer left armed at a stale deadline is not polled meanwhile (its one
    /// wake-up when it passes finds nothing to do); it is polled again, and moved if
    /// stale, once a deadline is pending.
    pub(crate) fn is_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    #[cfg(test)]
    fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// The next request whose deadline has passed, taken out of the queue.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<u64> {
        loop {
            let Some(sleep) = self.sleep.as_mut() else {
                return Poll::Pending;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            match self.queue.first().copied() {
                Some((at, id)) if at <= now => {
                    self.queue.pop_first();
                    return Poll::Ready(id);
                }
                // Fired at a stale deadline: move to the earliest one left (and poll
                // again, to register the new deadline), or stop.
                Some((at, _)) => self.arm(at),
                None => {
                    self.sleep = None;
                    self.armed = None;
                    return Poll::Pending;
                }
            }
        }
    }

    fn arm(&mut self, at: Instant) {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.armed = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll(d: &mut Deadlines) -> Poll<u64> {
        d.poll_expired(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn expires_in_deadline_order_and_rearms_only_earlier() {
        let mut d = Deadlines::default();
        let a = d.insert(1, Duration::from_millis(100));
        d.insert(2, Duration::from_millis(50));
        assert_eq!(d.armed, Some(a - Duration::from_millis(50)));
        d.insert(3, Duration::from_millis(200));
        assert_eq!(
            d.armed,
            Some(a - Duration::from_millis(50)),
            "a later deadline does not move it"
        );
        assert_eq!(poll(&mut d), Poll::Pending);
        tokio::time::advance(Duration::from_millis(120)).await;
        assert_eq!(poll(&mut d), Poll::Ready(2));
        assert_eq!(poll(&mut d), Poll::Ready(1));
        assert_eq!(poll(&mut d), Poll::Pending);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(poll(&mut d), Poll::Ready(3));
        assert_eq!(poll(&mut d), Poll::Pending);
        assert!(!d.is_armed(), "nothing left: stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_deadline_leaves_the_timer_until_it_fires_stale() {
        let mut d = Deadlines::default();
        let at = d.insert(1, Duration::from_millis(50));
        d.remove(at, 1);
        assert!(d.is_armed());
        tokio::time::advance(Duration::from_millis(60)).await;
        assert_eq!(poll(&mut d), Poll::Pending);
        assert!(!d.is_armed());
    }
}
