//! The three-lane mailbox of every actor.
//!
//! Lanes are drained in priority order: **system** (stop, down and exit signals),
//! **response** (continuations carrying replies; never refused because the user lane is
//! full), **user** (bounded by the actor's capacity). Each lane is FIFO, so messages from
//! one sender to one recipient keep their order.
//!
//! Why not a channel crate: the receiver must watch three queues through one wake-up,
//! pause the user lane without moving anything (the stash of reentrancy), and count
//! capacity; a single small lock over three `VecDeque`s does all of that with one
//! uncontended lock per push. The receiver takes the whole user queue in one swap, so
//! a busy actor touches the lock once per batch, not once per message, and handling a
//! message from its batch touches no shared memory at all.
//!
//! The lanes are generic over what they carry: the system lane's messages (stop, down
//! and exit signals) are defined by the layers above, so the mailbox knows nothing of
//! monitors, nodes or the network.
//!
//! Capacity bounds every user message the actor holds: queued, or taken and not yet
//! handled (its batch, and the message it is handling). A batch's room comes back when
//! the actor has handled it and asks for more (it takes the lock then, and counts what
//! is left), not message by message: handling a message from the batch stays free of
//! shared memory, and the bound stays exact. (A tokio bounded channel drained with
//! `recv_many` counts only what is queued; a sender could then queue `capacity` more
//! behind a full batch, and the actor would hold twice its capacity.)

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use crate::error::Error;

/// A system message that may be held as a flag. The most common one (an actor asked
/// to stop, for no particular reason) is often the only one an actor ever gets: kept
/// as a flag while the system lane is empty, it allocates no lane.
pub(crate) trait Flaggable {
    /// Whether this message is the one the flag stands for.
    fn is_flag(&self) -> bool;
    /// The message the flag stands for.
    fn from_flag() -> Self;
}

/// One item taken from the mailbox, in priority order.
pub(crate) enum Item<S, U, R> {
    System(S),
    Response(R),
    User(U),
    /// The mailbox was closed by a kill: the actor must stop now.
    Closed,
}

struct Lanes<S, U, R> {
    user: VecDeque<U>,
    /// The lanes that overtake the user lane, allocated on the first push to one of
    /// them: most actors never get a system message or a continuation before they stop,
    /// and an idle actor keeps one word here instead of three empty queues (see the
    /// idle-actor bound in `tests/idle_memory.rs`).
    urgent: Option<Box<Urgent<S, R>>>,
    /// User messages the receiver has taken and not finished: its batch and the one it
    /// is handling, as of the last time it held the lock (it only ever shrinks in
    /// between, so this never undercounts). Counted against the capacity.
    taken: usize,
    closed: bool,
    /// The system message held as a flag ([`Flaggable`]): raised only while the system
    /// lane is empty, so it is older than anything queued there, and taken first.
    flagged: bool,
    /// The receiver's waker while it waits for a message.
    parked: Option<Waker>,
}

/// The system and response lanes, taken in this order before the user lane.
struct Urgent<S, R> {
    /// Responses due before anything else (continuations whose outcome was already in),
    /// first in, first out.
    first: VecDeque<R>,
    system: VecDeque<S>,
    response: VecDeque<R>,
}

impl<S, U, R> Lanes<S, U, R> {
    fn push_user(&mut self, msg: U) {
        // The first slot exactly (a `VecDeque` starts with four): an actor that is sent
        // one message at a time keeps one slot, and the receiver gives the buffer back
        // to the lane when it runs dry (see `Receiver::poll_recv`), so it stays the
        // only one. A burst grows it as usual.
        if self.user.capacity() == 0 {
            self.user.reserve_exact(1);
        }
        self.user.push_back(msg);
    }

    /// The urgent lanes, allocated if they were not yet.
    fn urgent_mut(&mut self) -> &mut Urgent<S, R> {
        self.urgent.get_or_insert_with(|| {
            Box::new(Urgent {
                first: VecDeque::new(),
                system: VecDeque::new(),
                response: VecDeque::new(),
            })
        })
    }

    fn system_len(&self) -> usize {
        self.urgent.as_ref().map_or(0, |u| u.system.len()) + usize::from(self.flagged)
    }

    /// True when an item that overtakes the user lane is queued.
    fn any_urgent(&self) -> bool {
        self.flagged
            || self
                .urgent
                .as_ref()
                .is_some_and(|u| !u.first.is_empty() || !u.system.is_empty() || !u.response.is_empty())
    }

    /// True when no lane holds anything.
    fn is_empty(&self) -> bool {
        self.user.is_empty() && !self.any_urgent()
    }
}

/// Everything a mailbox held when it was closed, to be dropped outside its lock.
pub(crate) struct Drained<S, U, R> {
    urgent: Option<Box<Urgent<S, R>>>,
    _user: VecDeque<U>,
}

impl<S, U, R> Drained<S, U, R> {
    /// The responses that were queued, oldest first (a stopping actor still completes
    /// its requests).
    pub(crate) fn take_responses(&mut self) -> VecDeque<R> {
        let Some(urgent) = self.urgent.as_mut() else {
            return VecDeque::new();
        };
        let mut taken = std::mem::take(&mut urgent.first);
        taken.append(&mut urgent.response);
        taken
    }
}

/// The shared half of a mailbox: senders push here, the actor's [`Receiver`] takes.
pub(crate) struct Mailbox<S, U, R> {
    lanes: Mutex<Lanes<S, U, R>>,
    /// Set while the system or response lane is non-empty, so the receiver can work
    /// through a batch of user messages without locking, yet let urgent items overtake.
    urgent: AtomicBool,
    /// Senders waiting for space in the user lane. (32 bits: each one is a future
    /// holding a message, far fewer than 2^32 fit in memory.)
    waiting_senders: AtomicU32,
    capacity: usize,
    /// Wakes the senders waiting for space. Allocated by the first sender that has to
    /// wait: most actors never make one wait, and every live actor keeps this struct
    /// (see the idle-actor bound in `tests/idle_memory.rs`). A sender sets it up before
    /// it counts itself in `waiting_senders`, so whoever sees a waiting sender finds
    /// it set.
    space: OnceLock<Box<Notify>>,
}

impl<S, U, R> Mailbox<S, U, R> {
    pub(crate) fn new(capacity: usize) -> Self {
        Mailbox {
            lanes: Mutex::new(Lanes {
                user: VecDeque::new(),
                urgent: None,
                taken: 0,
                closed: false,
                flagged: false,
                parked: None,
            }),
            urgent: AtomicBool::new(false),
            waiting_senders: AtomicU32::new(0),
            capacity,
            space: OnceLock::new(),
        }
    }

    /// Wakes the senders waiting for space, if one ever had to wait.
    fn notify_space(&self) {
        if let Some(space) = self.space.get() {
            space.notify_waiters();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lanes<S, U, R>> {
        // A poisoned lock only means a thread panicked while holding it; every critical
        // section here leaves the lanes consistent, so keep going.
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user-lane capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// User messages queued and not yet taken by the actor (its capacity also counts
    /// what it has taken and not handled yet).
    pub(crate) fn user_len(&self) -> usize {
        self.lock().user.len()
    }

    /// System messages queued.
    pub(crate) fn system_len(&self) -> usize {
        self.lock().system_len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Pushes onto the user lane, or gives the message back with the reason.
    pub(crate) fn try_push_user(&self, msg: U) -> Result<(), (U, Error)> {
        let mut lanes = self.lock();
        if lanes.closed {
            return Err((msg, Error::ProcessTerminated));
        }
        if lanes.user.len() + lanes.taken >= self.capacity {
            return Err((msg, Error::MailboxFull));
        }
        lanes.push_user(msg);
        let waker = lanes.parked.take();
        drop(lanes);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Pushes onto the user lane, waiting for space while it is full.
    pub(crate) async fn push_user_wait(&self, mut msg: U) -> Result<(), Error> {
        loop {
            match self.try_push_user(msg) {
                Ok(()) => return Ok(()),
                Err((m, Error::MailboxFull)) => msg = m,
                Err((_, e)) => return Err(e),
            }
            let space = self.space.get_or_init(|| Box::new(Notify::new()));
            let mut notified = pin!(space.notified());
            notified.as_mut().enable();
            let _waiting = WaitingSender::new(&self.waiting_senders);
            // Retry once registered, so space freed in between is not missed.
            match self.try_push_user(msg) {
                Ok(()) => return Ok(()),
                Err((m, Error::MailboxFull)) => msg = m,
                Err((_, e)) => return Err(e),
            }
            notified.await;
        }
    }

    /// Pushes onto the system lane (as a flag, if it can be one: see [`Flaggable`]);
    /// gives the message back if the mailbox is closed.
    pub(crate) fn push_system(&self, msg: S) -> Result<(), S>
    where
        S: Flaggable,
    {
        self.push_urgent(msg, |lanes, msg| {
            let lane_empty = lanes.urgent.as_ref().is_none_or(|u| u.system.is_empty());
            if lane_empty && !lanes.flagged && msg.is_flag() {
                lanes.flagged = true;
            } else {
                lanes.urgent_mut().system.push_back(msg);
            }
        })
    }

    /// Pushes onto the response lane (never bounded by the user capacity); gives the
    /// item back if the mailbox is closed.
    pub(crate) fn push_response(&self, msg: R) -> Result<(), R> {
        self.push_urgent(msg, |lanes, msg| lanes.urgent_mut().response.push_back(msg))
    }

    /// Pushes onto the lane taken before all others (after what it already holds): the
    /// actor takes it before any other item.
    pub(crate) fn push_first(&self, msg: R) -> Result<(), R> {
        self.push_urgent(msg, |lanes, msg| lanes.urgent_mut().first.push_back(msg))
    }

    /// Pushes onto the user lane even when it is full (a message the actor waits for).
    pub(crate) fn push_user_over(&self, msg: U) -> Result<(), (U, Error)> {
        let mut lanes = self.lock();
        if lanes.closed {
            return Err((msg, Error::ProcessTerminated));
        }
        lanes.push_user(msg);
        let waker = lanes.parked.take();
        drop(lanes);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Pushes onto a lane that overtakes the user lane (or raises the flag), and wakes
    /// the actor.
    fn push_urgent<T>(&self, msg: T, push: impl FnOnce(&mut Lanes<S, U, R>, T)) -> Result<(), T> {
        let mut lanes = self.lock();
        if lanes.closed {
            return Err(msg);
        }
        push(&mut lanes, msg);
        self.urgent.store(true, Ordering::Release);
        let waker = lanes.parked.take();
        drop(lanes);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Takes the continuations queued on the first and response lanes (oldest first),
    /// leaving the mailbox open: a failed instance settles them before it is replaced.
    pub(crate) fn take_responses(&self) -> VecDeque<R> {
        let mut lanes = self.lock();
        let Some(urgent) = lanes.urgent.as_mut() else {
            return VecDeque::new();
        };
        let mut taken = std::mem::take(&mut urgent.first);
        taken.append(&mut urgent.response);
        self.urgent.store(lanes.any_urgent(), Ordering::Release);
        taken
    }

    /// Closes the mailbox if nothing is queued in any lane, atomically with the check:
    /// after `true`, every send is refused at once, and nothing was accepted that will
    /// not be handled. (The receiver's own batch is not seen here: call it when that is
    /// empty.)
    pub(crate) fn close_if_empty(&self) -> bool {
        let mut lanes = self.lock();
        let empty = lanes.is_empty();
        if !empty || lanes.closed {
            return empty;
        }
        lanes.closed = true;
        drop(lanes);
        self.notify_space();
        true
    }

    /// Closes the mailbox: every later push fails, waiting senders are told. Returns
    /// what was queued, for the caller to drop once the process counts as terminated.
    pub(crate) fn close(&self) -> Drained<S, U, R> {
        let mut lanes = self.lock();
        lanes.closed = true;
        lanes.flagged = false;
        let drained = Drained {
            urgent: lanes.urgent.take(),
            _user: std::mem::take(&mut lanes.user),
        };
        let waker = lanes.parked.take();
        drop(lanes);
        self.notify_space();
        if let Some(w) = waker {
            w.wake();
        }
        drained
    }
}

/// Counts a sender waiting for space for as long as it waits (also when its future is
/// dropped mid-wait).
struct WaitingSender<'a>(&'a AtomicU32);

impl<'a> WaitingSender<'a> {
    fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        WaitingSender(counter)
    }
}

impl Drop for WaitingSender<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The actor's own half of the mailbox: a local batch of user messages and the pause
/// switch of the user lane.
pub(crate) struct Receiver<U> {
    batch: VecDeque<U>,
    user_paused: bool,
    /// While paused: how far the batch and the user lane were looked through for a
    /// message that may run anyway (everything before is held).
    scanned_batch: usize,
    scanned_user: usize,
}

/// Which held user messages may run while the user lane is paused.
pub(crate) type Admit<'a, U> = &'a (dyn Fn(&U) -> bool + Sync);

impl<U> Receiver<U> {
    pub(crate) fn new() -> Self {
        Receiver {
            batch: VecDeque::new(),
            user_paused: false,
            scanned_batch: 0,
            scanned_user: 0,
        }
    }

    /// User messages taken from the lane and not handed out yet.
    pub(crate) fn batched(&self) -> usize {
        self.batch.len()
    }

    /// Holds user messages in place (they keep their order) until resumed.
    pub(crate) fn set_user_paused(&mut self, paused: bool) {
        if self.user_paused != paused {
            self.user_paused = paused;
            self.rescan();
        }
    }

    /// Looks through the held messages again (what may run has changed).
    pub(crate) fn rescan(&mut self) {
        self.scanned_batch = 0;
        self.scanned_user = 0;
    }

    /// The next message of the batch already taken, if nothing may overtake it: the
    /// user lane is not paused and no urgent item is queued. No lock, no waker: what
    /// [`Receiver::poll_recv`] does first, for a caller that knows nothing else can
    /// come before it.
    pub(crate) fn pop_batched<S, R>(&mut self, mailbox: &Mailbox<S, U, R>) -> Option<U> {
        if self.user_paused || mailbox.urgent.load(Ordering::Acquire) {
            return None;
        }
        self.batch.pop_front()
    }

    /// Takes the next item in priority order, `Pending` while there is none (the
    /// mailbox wakes the task when one comes). While the user lane is paused, the
    /// oldest held message that `admit` lets through is taken.
    pub(crate) fn poll_recv<S, R>(
        &mut self,
        mailbox: &Mailbox<S, U, R>,
        admit: Admit<'_, U>,
        cx: &mut Context<'_>,
    ) -> Poll<Item<S, U, R>>
    where
        S: Flaggable,
    {
        if !self.user_paused
            && !mailbox.urgent.load(Ordering::Acquire)
            && let Some(msg) = self.batch.pop_front()
        {
            return Poll::Ready(Item::User(msg));
        }
        let mut lanes = mailbox.lock();
        // What the actor held before this item (the one it handled last is done now).
        let held_before = lanes.user.len() + lanes.taken;
        let item = self.next_locked(&mut lanes, mailbox, admit);
        // Count what it holds from now on: its batch, and the user message it takes.
        let in_hand = usize::from(matches!(item, Some(Item::User(_))));
        lanes.taken = self.batch.len() + in_hand;
        let freed = lanes.user.len() + lanes.taken < held_before;
        if item.is_none() {
            match &lanes.parked {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => lanes.parked = Some(cx.waker().clone()),
            }
            // Going idle with an empty batch: its buffer goes back to the lane if the
            // lane has none, for the next message to use. Otherwise the batch and the
            // lane each keep one (the swap that takes a batch leaves the lane the old
            // one), and an idle actor would keep two.
            if self.batch.is_empty() && self.batch.capacity() > 0 && lanes.user.capacity() == 0 {
                std::mem::swap(&mut self.batch, &mut lanes.user);
            }
        }
        drop(lanes);
        if freed && mailbox.waiting_senders.load(Ordering::SeqCst) > 0 {
            mailbox.notify_space();
        }
        match item {
            Some(item) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }

    /// The next item, under the lock: the urgent lanes first, then (unless paused) the
    /// batch, refilled from the user lane when empty; while paused, the oldest held
    /// message `admit` lets through.
    fn next_locked<S, R>(
        &mut self,
        lanes: &mut Lanes<S, U, R>,
        mailbox: &Mailbox<S, U, R>,
        admit: Admit<'_, U>,
    ) -> Option<Item<S, U, R>>
    where
        S: Flaggable,
    {
        if let Some(urgent) = lanes.urgent.as_mut()
            && let Some(msg) = urgent.first.pop_front()
        {
            mailbox.urgent.store(lanes.any_urgent(), Ordering::Release);
            return Some(Item::Response(msg));
        }
        if lanes.flagged {
            lanes.flagged = false;
            mailbox.urgent.store(lanes.any_urgent(), Ordering::Release);
            return Some(Item::System(S::from_flag()));
        }
        if let Some(msg) = lanes.urgent.as_mut().and_then(|u| u.system.pop_front()) {
            mailbox.urgent.store(lanes.any_urgent(), Ordering::Release);
            return Some(Item::System(msg));
        }
        if let Some(msg) = lanes.urgent.as_mut().and_then(|u| u.response.pop_front()) {
            mailbox.urgent.store(lanes.any_urgent(), Ordering::Release);
            return Some(Item::Response(msg));
        }
        mailbox.urgent.store(false, Ordering::Release);
        if lanes.closed {
            return Some(Item::Closed);
        }
        if self.user_paused {
            return self.take_admitted(&mut lanes.user, admit).map(Item::User);
        }
        if self.batch.is_empty() {
            // One message (an actor called one call at a time): taken from the lane
            // itself. Swapping the two queues would move both whole, for nothing.
            if lanes.user.len() <= 1 {
                return lanes.user.pop_front().map(Item::User);
            }
            std::mem::swap(&mut self.batch, &mut lanes.user);
        }
        self.batch.pop_front().map(Item::User)
    }

    /// The oldest held message `admit` lets through, taken out of its place (the
    /// others keep theirs). The batch holds older messages than the shared lane.
    fn take_admitted(&mut self, user: &mut VecDeque<U>, admit: Admit<'_, U>) -> Option<U> {
        while self.scanned_batch < self.batch.len() {
            if admit(&self.batch[self.scanned_batch]) {
                return self.batch.remove(self.scanned_batch);
            }
            self.scanned_batch += 1;
        }
        while self.scanned_user < user.len() {
            if admit(&user[self.scanned_user]) {
                return user.remove(self.scanned_user);
            }
            self.scanned_user += 1;
        }
        None
    }

    /// Drops the local batch (on termination, once the mailbox is closed).
    pub(crate) fn clear(&mut self) {
        self.batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A system message for the tests (the actor's are signals of `monitor`).
    #[derive(Debug)]
    enum Sys {
        Stop,
        Other(u32),
    }

    impl Flaggable for Sys {
        fn is_flag(&self) -> bool {
            matches!(self, Sys::Stop)
        }
        fn from_flag() -> Self {
            Sys::Stop
        }
    }

    fn recv_now<R>(rx: &mut Receiver<u32>, mb: &Mailbox<Sys, u32, R>) -> Option<Item<Sys, u32, R>> {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        match rx.poll_recv(mb, &|_| false, &mut cx) {
            Poll::Ready(item) => Some(item),
            Poll::Pending => None,
        }
    }

    #[test]
    fn capacity_counts_what_the_actor_took_until_it_has_handled_it() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(2);
        let mut rx = Receiver::new();
        assert!(mb.try_push_user(1).is_ok());
        assert!(mb.try_push_user(2).is_ok());
        assert!(matches!(mb.try_push_user(3), Err((3, Error::MailboxFull))));
        // The actor takes the queue as one batch and handles 1: it still holds both.
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(1))));
        assert_eq!(mb.user_len(), 0);
        assert!(matches!(mb.try_push_user(3), Err((3, Error::MailboxFull))));
        // 2 comes from the batch without the lock: the room comes back when the actor
        // asks for more, having handled both.
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(2))));
        assert!(matches!(mb.try_push_user(3), Err((3, Error::MailboxFull))));
        assert!(recv_now(&mut rx, &mb).is_none());
        assert!(mb.try_push_user(3).is_ok());
        assert!(mb.try_push_user(4).is_ok());
        assert!(matches!(mb.try_push_user(5), Err((5, Error::MailboxFull))));
        // Taking one message of a new batch frees nothing: it is in hand.
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(3))));
        assert!(matches!(mb.try_push_user(5), Err((5, Error::MailboxFull))));
    }

    #[test]
    fn an_urgent_item_gives_back_the_room_of_what_the_batch_already_handled() {
        let mb: Mailbox<Sys, u32, &str> = Mailbox::new(3);
        let mut rx = Receiver::new();
        for i in 0..3 {
            mb.try_push_user(i).ok();
        }
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(0))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(1))));
        // A response overtakes: the lock is taken, and what is left (2, in the batch)
        // is counted; 0 and 1 are done.
        mb.push_response("r").ok();
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Response("r"))));
        assert!(mb.try_push_user(3).is_ok());
        assert!(mb.try_push_user(4).is_ok());
        assert!(matches!(mb.try_push_user(5), Err((5, Error::MailboxFull))));
    }

    #[test]
    fn system_then_response_then_user() {
        let mb: Mailbox<Sys, u32, &str> = Mailbox::new(8);
        let mut rx = Receiver::new();
        mb.try_push_user(1).ok();
        mb.push_response("r").ok();
        mb.push_system(Sys::Stop).ok();
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::System(_))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Response("r"))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(1))));
        assert!(recv_now(&mut rx, &mb).is_none());
    }

    #[test]
    fn urgent_items_overtake_a_batch_already_taken() {
        let mb: Mailbox<Sys, u32, &str> = Mailbox::new(8);
        let mut rx = Receiver::new();
        for i in 0..4 {
            mb.try_push_user(i).ok();
        }
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(0))));
        mb.push_response("r").ok();
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Response("r"))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(1))));
    }

    #[test]
    fn paused_user_lane_holds_messages_in_order() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(8);
        let mut rx = Receiver::new();
        rx.set_user_paused(true);
        mb.try_push_user(1).ok();
        mb.try_push_user(2).ok();
        assert!(recv_now(&mut rx, &mb).is_none());
        rx.set_user_paused(false);
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(1))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(2))));
    }

    #[test]
    fn paused_user_lane_lets_admitted_messages_through_and_keeps_the_rest_in_order() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(8);
        let mut rx = Receiver::new();
        for i in 0..3 {
            mb.try_push_user(i).ok();
        }
        // The first is taken with the batch, the pause comes while it runs.
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(0))));
        rx.set_user_paused(true);
        for i in 3..6 {
            mb.try_push_user(i).ok();
        }
        let even = |m: &u32| m.is_multiple_of(2);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            rx.poll_recv(&mb, &even, &mut cx),
            Poll::Ready(Item::User(2))
        ));
        assert!(matches!(
            rx.poll_recv(&mb, &even, &mut cx),
            Poll::Ready(Item::User(4))
        ));
        assert!(rx.poll_recv(&mb, &even, &mut cx).is_pending());
        rx.set_user_paused(false);
        for want in [1, 3, 5] {
            assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(m)) if m == want));
        }
    }

    #[test]
    fn first_lane_goes_before_everything_in_order() {
        let mb: Mailbox<Sys, u32, &str> = Mailbox::new(8);
        let mut rx = Receiver::new();
        mb.try_push_user(1).ok();
        mb.push_system(Sys::Stop).ok();
        mb.push_response("later").ok();
        mb.push_first("first").ok();
        mb.push_first("second").ok();
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Response("first"))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Response("second"))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::System(_))));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Response("later"))));
    }

    #[test]
    fn one_message_at_a_time_keeps_one_one_slot_buffer() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(8);
        let mut rx = Receiver::new();
        for i in 0..3 {
            mb.try_push_user(i).ok();
            assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(m)) if m == i));
            // It runs dry: the batch's buffer goes back to the lane, the only one.
            assert!(recv_now(&mut rx, &mb).is_none());
            let lane = mb.lock().user.capacity();
            assert!((1..4).contains(&lane), "lane buffer of {lane} slots");
            assert_eq!(rx.batch.capacity(), 0);
        }
        // A burst grows it as usual.
        for i in 0..6 {
            mb.try_push_user(i).ok();
        }
        assert!(mb.lock().user.capacity() >= 6);
    }

    #[test]
    fn closed_mailbox_refuses_pushes() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(8);
        mb.try_push_user(1).ok();
        let drained = mb.close();
        drop(drained);
        assert!(matches!(mb.try_push_user(2), Err((2, Error::ProcessTerminated))));
        assert!(mb.push_response(()).is_err());
        let mut rx = Receiver::new();
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::Closed)));
    }

    #[test]
    fn a_stop_alone_is_held_as_a_flag_with_no_lane_allocated() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(8);
        let mut rx = Receiver::new();
        mb.try_push_user(1).ok();
        assert!(mb.push_system(Sys::Stop).is_ok());
        assert_eq!(mb.system_len(), 1);
        assert!(mb.lock().urgent.is_none(), "no urgent lanes for a lone stop");
        // It overtakes the user lane, as a queued system message does.
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::System(Sys::Stop))));
        assert_eq!(mb.system_len(), 0);
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(1))));
        assert!(recv_now(&mut rx, &mb).is_none());
        // Dropped when the mailbox closes, as a queued one is.
        assert!(mb.push_system(Sys::Stop).is_ok());
        drop(mb.close());
        assert!(!mb.lock().flagged);
        assert!(matches!(mb.push_system(Sys::Stop), Err(Sys::Stop)));
    }

    #[test]
    fn a_flagged_stop_overtakes_a_batch_and_counts_as_queued() {
        let mb: Mailbox<Sys, u32, &str> = Mailbox::new(8);
        let mut rx = Receiver::new();
        for i in 0..4 {
            mb.try_push_user(i).ok();
        }
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::User(0))));
        assert!(mb.push_system(Sys::Stop).is_ok());
        // The batch already taken does not hide it: the receiver's lock-free path sees
        // the urgent bit.
        assert!(rx.pop_batched(&mb).is_none());
        // Taking the responses leaves it queued and urgent; the mailbox is not empty.
        mb.push_response("r").ok();
        assert_eq!(mb.take_responses(), ["r"]);
        assert!(rx.pop_batched(&mb).is_none());
        assert!(!mb.close_if_empty());
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::System(Sys::Stop))));
        assert!(matches!(rx.pop_batched(&mb), Some(1)));
    }

    #[test]
    fn a_flagged_stop_keeps_its_place_among_system_messages() {
        let mb: Mailbox<Sys, u32, ()> = Mailbox::new(8);
        let mut rx = Receiver::new();
        // A stop first: the flag; what follows queues behind it, a second stop too.
        for msg in [Sys::Stop, Sys::Other(1), Sys::Stop, Sys::Other(2)] {
            assert!(mb.push_system(msg).is_ok());
        }
        assert_eq!(mb.system_len(), 4);
        let mut got = Vec::new();
        while let Some(Item::System(msg)) = recv_now(&mut rx, &mb) {
            got.push(format!("{msg:?}"));
        }
        assert_eq!(got, ["Stop", "Other(1)", "Stop", "Other(2)"]);
        // Another message first: the stop queues behind it, not as the flag.
        assert!(mb.push_system(Sys::Other(3)).is_ok());
        assert!(mb.push_system(Sys::Stop).is_ok());
        assert!(!mb.lock().flagged);
        assert!(matches!(
            recv_now(&mut rx, &mb),
            Some(Item::System(Sys::Other(3)))
        ));
        assert!(matches!(recv_now(&mut rx, &mb), Some(Item::System(Sys::Stop))));
        assert!(recv_now(&mut rx, &mb).is_none());
    }
}
