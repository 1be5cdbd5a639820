//! What a node knows about one peer: its links, what is pending on it, and what must
//! hear about it going down. The calls waiting for its answers are in [`calls`].

mod calls;
mod deadlines;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::Remote;
use calls::Pending;
pub(crate) use calls::{Answer, PendingCall, Waiting, Withdrawn};

use super::custody::Custody;
use super::lifo;
use super::link::LinkQueue;
use super::stats::{ImportantCounters, PeerInfo, PeerStats};
use super::untrusted::{untrusted, untrusted_text};
use super::wire::Outgoing;
use crate::error::Error;
use crate::fasthash::FastMap;
use crate::identity::{NodeName, Pid};
use crate::monitor::ExitReason;

/// Someone on this node watching a process of the peer: told the process's pid and
/// why it stopped (or [`ExitReason::NoConnection`] when the peer is lost).
pub(crate) type OnDown = Box<dyn FnOnce(Pid, ExitReason) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Idle,
    Connecting,
    Up,
    Backoff(Instant),
}

struct State {
    status: Status,
    /// Outgoing links' queues; all `links_per_peer` of them while `Up`.
    out: Vec<Arc<LinkQueue>>,
    /// Encoded frames waiting for the links to come up.
    queue: Vec<Queued>,
    /// The bytes in `queue`.
    queued_bytes: usize,
    /// Bounded sends refused since `queue` was last emptied (see `lifo`).
    queue_refusals: u32,
    /// Bumped each time the peer goes down, so late news from old links is ignored.
    generation: u64,
    /// The peer incarnation of the current links.
    creation: Option<u32>,
    /// Tasks of the links this node dialed.
    tasks: Vec<AbortHandle>,
    /// Tasks of the links the peer dialed, with the queue each writes back on: they
    /// end by themselves when the peer drops them, and are aborted only at shutdown.
    incoming: Vec<(AbortHandle, Arc<LinkQueue>)>,
    calls: FastMap<u64, Pending>,
    monitors: HashMap<u64, (Pid, OnDown)>,
    /// (local pid, remote pid) pairs linked across.
    links: Vec<(Pid, Pid)>,
    backoff: Option<Duration>,
    /// Frames kept for the layer above until it releases them (the copies of
    /// important sends): resent first after a reconnect to the same incarnation.
    custody: Box<dyn Custody>,
    /// The deadlines of the calls waiting only for done-ness ([`Waiting::Done`]).
    deadlines: deadlines::Deadlines,
}

/// A frame queued while the links come up.
struct Queued {
    pin: u64,
    /// The id its custody keeps it under, if kept.
    kept: Option<u64>,
    /// Empty once withdrawn (see [`Peer::withdraw_call`]): then it is not sent.
    frame: Bytes,
}

impl State {
    /// Registers the call waiting for an answer to the frame just handed to a link.
    /// True if the peer's sweeper must be woken for the call's deadline.
    fn expect_sent(&mut self, call: Option<(u64, Waiting)>) -> bool {
        self.expect(call, None)
    }

    /// Registers the call waiting for an answer to the frame just queued while the
    /// links come up (the last in `queue`). True as for [`State::expect_sent`].
    fn expect_queued(&mut self, call: Option<(u64, Waiting)>) -> bool {
        let queued = Some(self.queue.len().saturating_sub(1));
        self.expect(call, queued)
    }

    fn expect(&mut self, call: Option<(u64, Waiting)>, queued: Option<usize>) -> bool {
        let Some((id, waiting)) = call else {
            return false;
        };
        let wake = match &waiting {
            Waiting::Done(_, deadline) => self.deadlines.add(id, *deadline, &self.calls),
            Waiting::Call(_) => false,
        };
        self.calls.insert(id, Pending { waiting, queued });
        wake
    }

    /// Drops the deadlines of settled calls at the front (see `deadlines`).
    fn prune_deadlines(&mut self) {
        self.deadlines.prune(&self.calls);
    }

    /// Takes call `id` out, with its kept copy, and its frame if it is still queued
    /// while the links come up (so it never leaves).
    fn withdraw(&mut self, id: u64) -> Option<Pending> {
        let pending = self.calls.remove(&id)?;
        self.custody.release(id);
        if let Some(q) = pending.queued.and_then(|at| self.queue.get_mut(at)) {
            q.kept = None;
            let freed = std::mem::take(&mut q.frame).len();
            self.queued_bytes = self.queued_bytes.saturating_sub(freed);
        }
        Some(pending)
    }
}

/// One peer node. Aligned to a cache line so that the reference count of its `Arc`,
/// touched by every call's guard, does not share one with the lock of its state.
#[repr(align(64))]
pub(crate) struct Peer {
    name: NodeName,
    state: Mutex<State>,
    /// Wakes senders waiting for room on a link (or in the queue while connecting).
    room: Arc<Notify>,
    /// The newest set of links the peer dialed to this node, as (peer creation, link
    /// set): readers of its links deliver under a read lock, so once a newer set is
    /// recorded (under the write lock) nothing from an older set is delivered.
    incoming: RwLock<(u32, u64)>,
    /// Bytes, frames and round trips, for introspection.
    stats: PeerStats,
    /// Wakes the peer's sweeper of deadlines (see `deadlines`), started by the first
    /// call with one.
    sweep: Arc<Notify>,
    /// Set once its sweeper is started.
    sweeping: std::sync::atomic::AtomicBool,
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Its sweeper, if any, finds the peer gone and ends.
        self.sweep.notify_one();
    }
}

/// What a peer going down owes to local processes, delivered outside the lock.
#[derive(Default)]
struct Fallout {
    /// Each failed call with its error.
    calls: Vec<(Waiting, Error)>,
    monitors: Vec<(Pid, OnDown)>,
    links: Vec<(Pid, Pid)>,
    dropped_frames: usize,
}

impl Peer {
    pub(crate) fn new(name: NodeName, custody: Box<dyn Custody>) -> Self {
        Peer {
            name,
            state: Mutex::new(State {
                status: Status::Idle,
                out: Vec::new(),
                queue: Vec::new(),
                queued_bytes: 0,
                queue_refusals: 0,
                generation: 0,
                creation: None,
                tasks: Vec::new(),
                incoming: Vec::new(),
                calls: FastMap::default(),
                monitors: HashMap::new(),
                links: Vec::new(),
                backoff: None,
                custody,
                deadlines: deadlines::Deadlines::default(),
            }),
            room: Arc::new(Notify::new()),
            incoming: RwLock::new((0, 0)),
            stats: PeerStats::default(),
            sweep: Arc::new(Notify::new()),
            sweeping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// What its links count.
    #[inline]
    pub(crate) fn stats(&self) -> &PeerStats {
        &self.stats
    }

    /// A snapshot for introspection.
    pub(crate) fn info(&self) -> PeerInfo {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let st = self.lock();
        let incoming = st.incoming.iter().filter(|(task, _)| !task.is_finished()).count();
        PeerInfo {
            node: self.name.to_string(),
            creation: st.creation,
            status: match st.status {
                // Links the peer dialed carry its traffic here: up too.
                Status::Up => "up",
                _ if incoming > 0 => "up",
                Status::Idle => "idle",
                Status::Connecting => "connecting",
                Status::Backoff(_) => "backoff",
            }
            .to_string(),
            links: st.out.len() + incoming,
            bytes_sent: get(&self.stats.bytes_sent),
            bytes_received: get(&self.stats.bytes_received),
            frames_sent: get(&self.stats.frames_sent),
            frames_received: get(&self.stats.frames_received),
            rtt_us: self.stats.rtt_us(),
            unacked_important: st.custody.len(),
            monitors: st.monitors.len(),
            linked: st.links.len(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn name(&self) -> &NodeName {
        &self.name
    }

    pub(crate) fn is_up(&self) -> bool {
        self.lock().status == Status::Up
    }

    /// Sends on the pinned link, queues while connecting, dials when idle; with
    /// `keep = Some((id, limit))` its custody also keeps the frame under `id` (see
    /// [`Custody`]), refusing with [`Error::MailboxFull`] when it already keeps `limit`
    /// frames of this peer (memory stays bounded when the peer is slow). Keeping the copy and queueing the frame happen under one lock, so a
    /// reconnect can never resend a frame that has not been queued yet (which would let
    /// it overtake the frames queued before it). A `bounded` send is refused with
    /// [`Error::MailboxFull`] while the link's queue (or, while connecting, the queue
    /// of the peer) holds `link_buffer` bytes or more. A `call` waiting for its answer
    /// is registered under the same lock once the frame is queued.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        self: &Arc<Self>,
        remote: &Arc<Remote>,
        pin: u64,
        frame: &Outgoing<'_>,
        keep: Option<(u64, usize)>,
        bounded: bool,
        call: Option<(u64, Waiting)>,
    ) -> Result<(), Error> {
        let max = remote.config().max_frame_size;
        let mut st = self.lock();
        if let Some((_, limit)) = keep
            && st.custody.len() >= limit
        {
            return Err(Error::MailboxFull);
        }
        match st.status {
            Status::Up => {
                let n = st.out.len().max(1);
                let state = &mut *st;
                let queue = state
                    .out
                    .get((pin % n as u64) as usize)
                    .ok_or(Error::NoConnection)?;
                let custody = &mut state.custody;
                let copy = queue.push(bounded, |out| {
                    let start = out.len();
                    frame.encode(out, max)?;
                    Ok(keep.map(|_| custody.copy(&out[start..])))
                })?;
                if let (Some((id, _)), Some(copy)) = (keep, copy) {
                    st.custody.keep(id, pin, copy);
                }
                // On a link: the peer may get it from now on.
                let sweep = st.expect_sent(call);
                drop(st);
                self.wake_sweeper(remote, sweep);
                Ok(())
            }
            Status::Connecting => {
                self.enqueue(&mut st, remote, pin, frame, keep, bounded)?;
                let sweep = st.expect_queued(call);
                drop(st);
                self.wake_sweeper(remote, sweep);
                Ok(())
            }
            Status::Backoff(until) if Instant::now() < until => Err(Error::NoConnection),
            Status::Idle | Status::Backoff(_) => {
                self.enqueue(&mut st, remote, pin, frame, keep, bounded)?;
                let sweep = st.expect_queued(call);
                st.status = Status::Connecting;
                drop(st);
                self.wake_sweeper(remote, sweep);
                remote.dial(self.clone());
                Ok(())
            }
        }
    }

    /// With `wake`, wakes the sweeper of deadlines (a call's is sooner than it looks
    /// next), starting it if it does not run yet.
    fn wake_sweeper(self: &Arc<Self>, remote: &Remote, wake: bool) {
        if !wake {
            return;
        }
        if self.sweeping.swap(true, std::sync::atomic::Ordering::AcqRel) {
            self.sweep.notify_one();
            return;
        }
        // It looks at least this often with nothing due (not less than a second, so a
        // zero timeout cannot make it spin).
        let idle = remote.config().important_timeout.max(Duration::from_secs(1));
        let sweeper = deadlines::sweep(Arc::downgrade(self), self.sweep.clone(), idle);
        remote.runtime().spawn(sweeper);
    }

    /// Queues a frame until the links are up.
    fn enqueue(
        &self,
        st: &mut State,
        remote: &Remote,
        pin: u64,
        frame: &Outgoing<'_>,
        keep: Option<(u64, usize)>,
        bounded: bool,
    ) -> Result<(), Error> {
        if bounded && st.queued_bytes >= remote.config().link_buffer {
            st.queue_refusals = st.queue_refusals.saturating_add(1);
            if st.queue_refusals == lifo::SPINNING {
                // The links should be coming up: make sure the dialing task can run
                // even if it was spawned on this thread and this sender spins.
                lifo::dislodge();
            }
            return Err(Error::MailboxFull);
        }
        let mut out = BytesMut::new();
        frame.encode(&mut out, remote.config().max_frame_size)?;
        let frame = out.freeze();
        st.queued_bytes += frame.len();
        if let Some((id, _)) = keep {
            st.custody.keep(id, pin, frame.clone());
        }
        st.queue.push(Queued {
            pin,
            kept: keep.map(|(id, _)| id),
            frame,
        });
        Ok(())
    }

    /// Waits until a bounded send on `pin`'s link would find room (or the links
    /// change); the send itself may still find it full again.
    pub(crate) async fn room_for(&self, pin: u64, limit: usize) {
        let notified = self.room.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let full = {
            let st = self.lock();
            match st.status {
                Status::Up => {
                    let n = st.out.len().max(1);
                    st.out
                        .get((pin % n as u64) as usize)
                        .is_some_and(|q| !q.has_room())
                }
                Status::Connecting => st.queued_bytes >= limit,
                _ => false,
            }
        };
        if full {
            notified.await;
        }
    }

    /// The notification senders waiting for room wait on.
    pub(crate) fn room(&self) -> Arc<Notify> {
        self.room.clone()
    }

    /// The generation new links of this peer belong to.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Starts a set of links with a peer incarnation and returns their generation. If
    /// the peer restarted (new creation), everything that belonged to its previous
    /// incarnation fails first.
    pub(crate) fn begin_links(&self, remote: &Remote, creation: u32) -> u64 {
        let mut st = self.lock();
        let fallout = match st.creation {
            Some(old) if old != creation => {
                st.custody.new_incarnation();
                Some(self.fail_locked(&mut st, remote, false, false))
            }
            _ => None,
        };
        st.creation = Some(creation);
        let generation = st.generation;
        drop(st);
        if let Some(f) = fallout {
            tracing::warn!(peer = %untrusted(&self.name), "peer restarted: its previous incarnation is down");
            self.deliver(f, "the peer restarted", remote);
        }
        generation
    }

    /// A link of the peer's link set `set` (of its incarnation `creation`) came up:
    /// from a newer set (or incarnation) than the newest so far, it becomes the newest;
    /// false if its set is older (the link is not to be used).
    pub(crate) fn incoming_links(&self, creation: u32, set: u64) -> bool {
        let mut newest = self.incoming.write().unwrap_or_else(|p| p.into_inner());
        if newest.0 != creation || set > newest.1 {
            *newest = (creation, set);
        }
        *newest == (creation, set)
    }

    /// While the returned guard lives, links of `set` remain the peer's newest (their
    /// reader delivers under it); `None` once a newer set is up.
    pub(crate) fn deliver_from(&self, creation: u32, set: u64) -> Option<RwLockReadGuard<'_, (u32, u64)>> {
        let newest = self.incoming.read().unwrap_or_else(|p| p.into_inner());
        (*newest == (creation, set)).then_some(newest)
    }

    /// Records the task of a link the peer dialed, with the queue it writes back on.
    pub(crate) fn add_incoming(&self, tasks: Vec<(AbortHandle, Arc<LinkQueue>)>) {
        let mut st = self.lock();
        st.incoming.retain(|(t, _)| !t.is_finished());
        st.incoming.extend(tasks);
    }

    /// Aborts every link, also those the peer dialed (shutdown).
    pub(crate) fn close_incoming(&self) {
        for (t, _) in self.lock().incoming.drain(..) {
            t.abort();
        }
    }

    /// The queues of every live link with the peer, both ways: where a goodbye goes.
    pub(crate) fn all_queues(&self) -> Vec<Arc<LinkQueue>> {
        let st = self.lock();
        let out = match st.status {
            Status::Up => st.out.clone(),
            _ => Vec::new(),
        };
        let back = st
            .incoming
            .iter()
            .filter(|(t, _)| !t.is_finished())
            .map(|(_, q)| q.clone());
        out.into_iter().chain(back).collect()
    }

    /// True while a link the peer dialed is still open (it closes its links once it
    /// has taken in a goodbye).
    pub(crate) fn has_incoming(&self) -> bool {
        self.lock().incoming.iter().any(|(t, _)| !t.is_finished())
    }

    /// The peer said goodbye (it shuts down): fails everything pending on it as a lost
    /// connection does (calls, monitors, links, kept important sends, which its next
    /// incarnation could not answer), without a warning and without dialing it again
    /// until something is sent to it. A goodbye that does not name the incarnation of
    /// the current links is ignored.
    pub(crate) fn left(self: &Arc<Self>, remote: &Arc<Remote>, creation: u32) {
        let fallout = {
            let mut st = self.lock();
            if st.creation != Some(creation) {
                drop(st);
                tracing::debug!(peer = %untrusted(&self.name), creation, "goodbye from another incarnation ignored");
                return;
            }
            let fallout = self.fail_locked(&mut st, remote, false, false);
            st.custody.new_incarnation();
            st.creation = None;
            st.backoff = None;
            fallout
        };
        metrics::counter!("ackor_remote_peer_left_total").increment(1);
        tracing::info!(peer = %untrusted(&self.name), "node {} left", untrusted(&self.name));
        self.deliver(fallout, "the node left", remote);
        self.room.notify_waiters();
    }

    /// Records the tasks of links of `generation` (aborting them if it is stale).
    pub(crate) fn add_tasks(&self, generation: u64, tasks: Vec<AbortHandle>) {
        let mut st = self.lock();
        if st.generation == generation {
            st.tasks.extend(tasks);
        } else {
            for t in tasks {
                t.abort();
            }
        }
    }

    /// The dialed links are up: send what was queued (the resent copies are counted in
    /// `important`).
    pub(crate) fn connected(
        &self,
        generation: u64,
        creation: u32,
        out: Vec<Arc<LinkQueue>>,
        important: &ImportantCounters,
    ) -> bool {
        let mut st = self.lock();
        if st.generation != generation || st.creation.is_some_and(|c| c != creation) {
            return false;
        }
        st.out = out;
        st.status = Status::Up;
        st.backoff = None;
        let n = st.out.len().max(1) as u64;
        // Kept frames that went out on the previous links and were not answered go
        // first, in their order (they were sent before anything now queued); the
        // peer drops the ones it already has. Those still in the queue never left and
        // go out in their place.
        let queued: std::collections::HashSet<u64> = st.queue.iter().filter_map(|q| q.kept).collect();
        let resend = st.custody.resend(&|id| queued.contains(&id));
        if !resend.is_empty() {
            let (peer, count) = (untrusted(&self.name), resend.len());
            tracing::info!(%peer, count, "resending unacknowledged important messages");
            important.resent(count as u64);
        }
        let queue = std::mem::take(&mut st.queue);
        st.queued_bytes = 0;
        st.queue_refusals = 0;
        // Every call's frame is on a link now (queued ones go out just below).
        for p in st.calls.values_mut() {
            p.queued = None;
        }
        let queue = queue.into_iter().filter(|q| !q.frame.is_empty());
        for (pin, frame) in resend.into_iter().chain(queue.map(|q| (q.pin, q.frame))) {
            if let Some(link) = st.out.get((pin % n) as usize) {
                link.push_encoded(&frame);
            }
        }
        drop(st);
        self.room.notify_waiters();
        true
    }

    /// A link failed or the peer became unreachable: fail everything that depends on it.
    /// `generation` limits this to news about the current links.
    ///
    /// Kept frames that left stay kept (the peer may have them): they are resent if
    /// the same incarnation comes back, fail with [`Error::ConnectionLost`] if a new
    /// one does, and otherwise end at their sender's timeout. With `heal` (a link of an
    /// established connection died) the peer is dialed again at once; after a failed
    /// dial, again once the backoff is over.
    /// Pending calls fail at once: [`Error::ConnectionLost`] if their frame had left,
    /// [`Error::NoConnection`] if it had not.
    pub(crate) fn fail(
        self: &Arc<Self>,
        remote: &Arc<Remote>,
        why: &str,
        generation: Option<u64>,
        heal: bool,
    ) {
        let (fallout, was_connected, redial) = {
            let mut st = self.lock();
            if generation.is_some_and(|g| g != st.generation) {
                return;
            }
            let was_connected = matches!(st.status, Status::Up | Status::Connecting);
            let keep = !st.custody.is_empty() && !remote.is_stopped();
            let fallout = self.fail_locked(&mut st, remote, true, keep);
            let redial = match (keep, heal, st.status) {
                (true, true, _) => {
                    st.status = Status::Connecting;
                    Some(Duration::ZERO)
                }
                (true, false, Status::Backoff(until)) => {
                    Some(until.saturating_duration_since(Instant::now()))
                }
                _ => None,
            };
            (fallout, was_connected, redial)
        };
        if was_connected {
            metrics::counter!("ackor_remote_peer_down_total").increment(1);
        }
        let (name, reason) = (untrusted(&self.name), untrusted_text(why));
        if was_connected && generation.is_some() {
            tracing::warn!(peer = %name, %reason, "peer down");
        } else {
            tracing::debug!(peer = %name, %reason, "peer down");
        }
        self.deliver(fallout, why, remote);
        self.room.notify_waiters();
        match redial {
            Some(wait) if wait.is_zero() => {
                tracing::info!(peer = %name, "redialing to resend unacknowledged important messages");
                remote.dial(self.clone());
            }
            Some(wait) => self.redial_later(remote, wait),
            None => {}
        }
    }

    /// Dials again after `wait` if kept frames still await their answer and nothing
    /// else dialed meanwhile.
    fn redial_later(self: &Arc<Self>, remote: &Arc<Remote>, wait: Duration) {
        // As long as the network side runs (it hands frames up until shutdown ends).
        if remote.inbound().is_none() {
            return;
        }
        let runtime = remote.runtime().clone();
        let (peer, remote) = (self.clone(), remote.clone());
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            let mut st = peer.lock();
            if st.custody.is_empty()
                || remote.is_stopped()
                || !matches!(st.status, Status::Backoff(_) | Status::Idle)
            {
                return;
            }
            st.status = Status::Connecting;
            drop(st);
            let name = untrusted(&peer.name);
            tracing::info!(peer = %name, "redialing to resend unacknowledged important messages");
            remote.dial(peer);
        });
    }

    fn fail_locked(&self, st: &mut State, remote: &Remote, backoff: bool, keep_left: bool) -> Fallout {
        st.generation += 1;
        st.out.clear();
        for t in st.tasks.drain(..) {
            t.abort();
        }
        st.status = if backoff {
            let cfg = remote.config();
            let wait = st.backoff.unwrap_or(cfg.reconnect_backoff);
            st.backoff = Some((wait * 2).min(cfg.max_reconnect_backoff));
            Status::Backoff(Instant::now() + wait)
        } else {
            Status::Idle
        };
        // Kept: frames that left (the peer may have them). One still queued never
        // left: it fails with `NoConnection` like any call that never left.
        let calls = &st.calls;
        if keep_left {
            st.custody
                .keep_only(&|id| calls.get(&id).is_some_and(Pending::sent));
        } else {
            st.custody.keep_only(&|_| false);
        }
        let custody = &st.custody;
        let failing: Vec<u64> = st
            .calls
            .keys()
            .filter(|id| !custody.holds(**id))
            .copied()
            .collect();
        let calls = failing
            .iter()
            .filter_map(|id| st.calls.remove(id))
            .map(|p| {
                let error = if p.sent() {
                    Error::ConnectionLost
                } else {
                    Error::NoConnection
                };
                (p.waiting, error)
            })
            .collect();
        Fallout {
            calls,
            monitors: st.monitors.drain().map(|(_, m)| m).collect(),
            links: std::mem::take(&mut st.links),
            dropped_frames: {
                st.queued_bytes = 0;
                st.queue_refusals = 0;
                let queue = std::mem::take(&mut st.queue);
                queue.iter().filter(|q| !q.frame.is_empty()).count()
            },
        }
    }

    /// The peer dialed us: it is reachable, so end any backoff of ours.
    pub(crate) fn reachable(&self) {
        let mut st = self.lock();
        if matches!(st.status, Status::Backoff(_)) {
            st.status = Status::Idle;
            st.backoff = None;
        }
    }

    /// Runs `f` on the peer's custody, under the peer's lock.
    pub(crate) fn with_custody<R>(&self, f: impl FnOnce(&mut dyn Custody) -> R) -> R {
        f(&mut *self.lock().custody)
    }

    /// The peer incarnation (creation) its current links belong to; `None` before the
    /// first handshake.
    pub(crate) fn creation(&self) -> Option<u32> {
        self.lock().creation
    }

    /// [`Peer::with_custody`], only while the peer is still incarnation `creation`
    /// (checked under the same lock): `None` once it restarted.
    pub(crate) fn with_custody_of<R>(
        &self,
        creation: Option<u32>,
        f: impl FnOnce(&mut dyn Custody) -> R,
    ) -> Option<R> {
        let mut st = self.lock();
        (st.creation == creation).then(|| f(&mut *st.custody))
    }

    fn deliver(&self, fallout: Fallout, why: &str, remote: &Remote) {
        if fallout.dropped_frames > 0 {
            metrics::counter!("ackor_remote_frames_dropped_total", "reason" => "no_connection")
                .increment(fallout.dropped_frames as u64);
            tracing::warn!(
                peer = %untrusted(&self.name),
                frames = fallout.dropped_frames,
                reason = %untrusted_text(why),
                "queued frames dropped: no connection"
            );
        }
        metrics::counter!("ackor_remote_calls_failed_total", "reason" => "no_connection")
            .increment(fallout.calls.len() as u64);
        for (call, error) in fallout.calls {
            let _ = call.complete(Err(error));
        }
        for (pid, on_down) in fallout.monitors {
            on_down(pid, ExitReason::NoConnection);
        }
        if !fallout.links.is_empty()
            && let Some(inbound) = remote.inbound()
        {
            inbound.links_lost(fallout.links);
        }
    }

    pub(crate) fn add_monitor(&self, ref_id: u64, target: &Pid, m: OnDown) {
        self.lock().monitors.insert(ref_id, (target.clone(), m));
    }

    pub(crate) fn take_monitor(&self, ref_id: u64) -> Option<OnDown> {
        self.lock().monitors.remove(&ref_id).map(|(_, m)| m)
    }

    pub(crate) fn add_link(&self, local: Pid, remote: Pid) {
        let mut st = self.lock();
        if !st.links.iter().any(|(l, r)| *l == local && *r == remote) {
            st.links.push((local, remote));
        }
    }

    pub(crate) fn remove_link(&self, local: &Pid, remote: &Pid) {
        self.lock().links.retain(|(l, r)| l != local || r != remote);
    }

    /// The peer is known to be gone (a cluster's failure detector says so): unlike
    /// [`Peer::fail`], nothing is kept for its return. Pending calls and important
    /// sends fail now ([`Error::ConnectionLost`] if their frame had left,
    /// [`Error::NoConnection`] if not), monitors get `Down` and links exit with
    /// `NoConnection`, and it is not dialed again until something is sent to it.
    pub(crate) fn declare_down(self: &Arc<Self>, remote: &Arc<Remote>, why: &str) {
        let (fallout, was_connected) = {
            let mut st = self.lock();
            let was_connected = matches!(st.status, Status::Up | Status::Connecting);
            (self.fail_locked(&mut st, remote, false, false), was_connected)
        };
        if was_connected {
            metrics::counter!("ackor_remote_peer_down_total").increment(1);
        }
        tracing::info!(peer = %untrusted(&self.name), reason = %untrusted_text(why), "peer declared down");
        self.deliver(fallout, why, remote);
        self.room.notify_waiters();
    }
}
