//! Waiting for a process to end: a waiter keeps the process, and its task's waker is
//! kept with the process's relations until the process ends; the reason is then read
//! from the process itself. (A channel per waiter cost two allocations and a third
//! for the list; one waiter, the usual case, now costs none beyond the relations.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::{ExitReason, ProcessCell};

/// The tasks waiting for a process to end. The first is kept inline.
#[derive(Default)]
pub(super) struct Waiters {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Waiters {
    /// Adds `waker`, unless it wakes the same task as the first or the latest one: a
    /// task that polls again, or waits again in a loop, is not added twice.
    fn register(&mut self, waker: &Waker) {
        let Some(first) = &self.first else {
            self.first = Some(waker.clone());
            return;
        };
        if first.will_wake(waker) || self.more.last().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        self.more.push(waker.clone());
    }

    /// Wakes every waiter (the process has ended).
    pub(super) fn wake_all(self) {
        self.first.into_iter().chain(self.more).for_each(Waker::wake);
    }
}

/// Resolves with the exit reason once the process `cell` has ended (at once if it has).
///
/// It returns once the end is complete: the process is out of the process table and
/// its name is free, its monitors and links are told (see [`ProcessCore::gone`]). The
/// future keeps the process's cell alive while it waits: the process ends by its
/// task's exit guard, which marks it gone and wakes the waiters under the lock this
/// future looks under, so a waiter sees the end whenever it comes.
///
/// [`ProcessCore::gone`]: super::ProcessCore::gone
pub(crate) fn wait_for_exit(cell: Arc<dyn ProcessCell>) -> ExitWait {
    ExitWait { cell }
}

/// See [`wait_for_exit`].
pub(crate) struct ExitWait {
    cell: Arc<dyn ProcessCell>,
}

impl Future for ExitWait {
    type Output = ExitReason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitReason> {
        let core = self.cell.core();
        let mut st = core.lock();
        if core.gone.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(reason) = &st.exit
        {
            return Poll::Ready(reason.clone());
        }
        st.relations_mut().waiters.register(cx.waker());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_task_that_waits_again_is_kept_once_and_each_task_is_woken_once() {
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut waiters = Waiters::default();
        for w in [&wa, &wa, &wb, &wb, &wa] {
            waiters.register(w);
        }
        assert_eq!(waiters.more.len(), 1, "one task kept beside the first");
        waiters.wake_all();
        assert_eq!(a.0.load(Ordering::Relaxed), 1);
        assert_eq!(b.0.load(Ordering::Relaxed), 1);
    }
}
