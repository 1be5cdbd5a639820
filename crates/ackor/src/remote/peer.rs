//! What a node knows about one peer: its links, what is pending on it, and what must
//! hear about it going down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::Remote;
use super::link::LinkQueue;
use super::wire::{Outgoing, WireError};
use crate::error::Error;
use crate::fasthash::FastMap;
use crate::identity::{NodeName, Pid};
use crate::monitor::ExitReason;

/// Completes a remote call with the reply payload or an error; says whether a caller
/// was still there to take it ([`Error::ResponseIgnored`] if not).
pub(crate) type PendingCall = Box<dyn FnOnce(Result<bytes::Bytes, Error>) -> Result<(), Error> + Send>;

/// What waits for the answer of the peer to a call or an important send.
pub(crate) enum Waiting {
    /// A call: the closure takes the outcome.
    Call(PendingCall),
    /// An important send: its sender waits on the channel for the acknowledgement.
    Ack(oneshot::Sender<Result<(), Error>>),
}

impl Waiting {
    /// Hands over the outcome; says whether anyone was still waiting for it.
    fn complete(self, outcome: Result<Bytes, Error>) -> Result<(), Error> {
        match self {
            Waiting::Call(call) => call(outcome),
            Waiting::Ack(tx) => tx.send(outcome.map(|_| ())).map_err(|_| Error::ResponseIgnored),
        }
    }
}

impl From<PendingCall> for Waiting {
    fn from(call: PendingCall) -> Self {
        Waiting::Call(call)
    }
}

/// An answer read from the peer, on its way to what waits for it (see
/// [`Peer::complete_calls`]).
pub(crate) type Answer = (u64, Result<Bytes, Error>, Option<Waiting>);

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
    /// Bumped each time the peer goes down, so late news from old links is ignored.
    generation: u64,
    /// The peer incarnation of the current links.
    creation: Option<u32>,
    /// Tasks of the links this node dialed.
    tasks: Vec<AbortHandle>,
    /// Tasks of the links the peer dialed: they end by themselves when the peer drops
    /// them, and are aborted only at shutdown.
    incoming: Vec<AbortHandle>,
    calls: FastMap<u64, Pending>,
    monitors: HashMap<u64, (Pid, OnDown)>,
    /// (local pid, remote pid) pairs linked across.
    links: Vec<(Pid, Pid)>,
    backoff: Option<Duration>,
    /// Important sends not yet acknowledged, by delivery id: resent after a reconnect
    /// to the same incarnation.
    unacked: FastMap<u64, Unacked>,
    /// Numbers the entries of `unacked` in the order they were queued.
    unacked_seq: u64,
    /// Where the frames of `unacked` are copied: each is a slice of a chunk shared
    /// with the frames sent around it (no allocation per frame); a chunk is freed once
    /// all of its frames are acknowledged.
    kept: BytesMut,
    /// Outcomes of important sends this node received from the peer's current
    /// incarnation, by delivery id: a resent one is acknowledged again, not delivered
    /// twice. Bounded by [`DEDUP_WINDOW`].
    seen: DedupWindow,
}

/// An important send awaiting its acknowledgement.
struct Unacked {
    /// Its place in the order of sends to the peer.
    seq: u64,
    pin: u64,
    /// The encoded frame, to resend.
    frame: Bytes,
}

/// A call waiting for its answer.
struct Pending {
    waiting: Waiting,
    /// Its frame was handed to a link: the peer may have it, so losing the connection
    /// leaves its fate unknown ([`Error::ConnectionLost`]); a frame that never left
    /// fails with [`Error::NoConnection`].
    sent: bool,
}

/// A frame queued while the links come up.
struct Queued {
    pin: u64,
    /// The delivery id of an important send.
    important: Option<u64>,
    frame: Bytes,
}

/// How many bytes of kept frames one chunk holds.
const KEPT_CHUNK: usize = 16 * 1024;

/// Copies an encoded frame into `kept` and returns it as its own `Bytes`.
fn keep(kept: &mut BytesMut, frame: &[u8]) -> Bytes {
    if kept.capacity() - kept.len() < frame.len() {
        // A fresh chunk: the frames already taken out keep the old one alive.
        *kept = BytesMut::with_capacity(KEPT_CHUNK.max(frame.len()));
    }
    kept.extend_from_slice(frame);
    kept.split().freeze()
}

impl State {
    /// Registers a call waiting for its answer.
    /// Registers the call waiting for an answer to the frame just queued; `sent` when
    /// the frame is on a link (not in the queue of a connecting peer).
    fn expect(&mut self, call: Option<(u64, Waiting)>, sent: bool) {
        if let Some((id, waiting)) = call {
            self.calls.insert(id, Pending { waiting, sent });
        }
    }

    /// Keeps the copy of an important send until it is acknowledged.
    fn track(&mut self, id: u64, pin: u64, frame: Bytes) {
        self.unacked_seq += 1;
        let seq = self.unacked_seq;
        self.unacked.insert(id, Unacked { seq, pin, frame });
    }
}

/// The important deliveries received from a peer's incarnation, among its last
/// [`DEDUP_WINDOW`] delivery ids (ids are a counter of the sender, so they are mostly
/// received in order): one slot per id modulo the window, packed as `id << 2 | state`
/// (0: empty), and the errors of the few refused ones aside. A slot holds the newest id
/// that mapped to it; an id older than the one in its slot is out of the window and
/// forgotten, as the oldest ids are.
#[derive(Default)]
struct DedupWindow {
    /// Allocated on the first important delivery from the peer.
    slots: Vec<u64>,
    errors: FastMap<u64, WireError>,
}

const IN_PROGRESS: u64 = 1;
const DONE: u64 = 2;
const REFUSED: u64 = 3;

impl DedupWindow {
    fn slot(&mut self, id: u64) -> &mut u64 {
        if self.slots.is_empty() {
            self.slots = vec![0; DEDUP_WINDOW];
        }
        let at = (id % DEDUP_WINDOW as u64) as usize;
        // `at` is below the length, which is DEDUP_WINDOW.
        &mut self.slots[at]
    }

    fn get(&mut self, id: u64) -> Option<Seen> {
        let slot = *self.slot(id);
        if slot == 0 || slot >> 2 != id {
            return None;
        }
        Some(match slot & 3 {
            IN_PROGRESS => Seen::InProgress,
            REFUSED => Seen::Done(self.errors.get(&id).cloned()),
            _ => Seen::Done(None),
        })
    }

    /// Records where delivery `id` stands, unless the window has moved past it (ids
    /// of 2^62 and more, which no counter reaches, are not recorded).
    fn set(&mut self, id: u64, seen: Seen) {
        if id >> 62 != 0 {
            return;
        }
        let slot = self.slot(id);
        let before = *slot;
        if before != 0 && before >> 2 > id {
            return;
        }
        let (state, error) = match seen {
            Seen::InProgress => (IN_PROGRESS, None),
            Seen::Done(None) => (DONE, None),
            Seen::Done(Some(error)) => (REFUSED, Some(error)),
        };
        *slot = id << 2 | state;
        if before & 3 == REFUSED && before >> 2 != id {
            self.errors.remove(&(before >> 2));
        }
        if let Some(error) = error {
            self.errors.insert(id, error);
        }
    }

    fn clear(&mut self) {
        *self = DedupWindow::default();
    }
}

/// Where an important delivery from the peer stands.
#[derive(Clone)]
pub(crate) enum Seen {
    /// Being delivered right now (a repeat raced it on another link): the first copy
    /// answers.
    InProgress,
    /// Delivered, or refused with this error.
    Done(Option<WireError>),
}

/// How many received important deliveries a peer's dedup window remembers.
const DEDUP_WINDOW: usize = 1 << 17;

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
    pub(crate) fn new(name: NodeName) -> Self {
        Peer {
            name,
            state: Mutex::new(State {
                status: Status::Idle,
                out: Vec::new(),
                queue: Vec::new(),
                queued_bytes: 0,
                generation: 0,
                creation: None,
                tasks: Vec::new(),
                incoming: Vec::new(),
                calls: FastMap::default(),
                monitors: HashMap::new(),
                links: Vec::new(),
                backoff: None,
                unacked: FastMap::default(),
                unacked_seq: 0,
                kept: BytesMut::new(),
                seen: DedupWindow::default(),
            }),
            room: Arc::new(Notify::new()),
            incoming: RwLock::new((0, 0)),
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
    /// `track = Some((id, window))` it also keeps a copy of the important send
    /// until it is acknowledged, refusing with [`Error::MailboxFull`] when `window`
    /// sends to this peer already await theirs (memory stays bounded when the peer is
    /// slow). Keeping the copy and queueing the frame happen under one lock, so a
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
        track: Option<(u64, usize)>,
        bounded: bool,
        call: Option<(u64, Waiting)>,
    ) -> Result<(), Error> {
        let max = remote.config().max_frame_size;
        let mut st = self.lock();
        if let Some((_, window)) = track
            && st.unacked.len() >= window
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
                let kept = &mut state.kept;
                let copy = queue.push(bounded, |out| {
                    let start = out.len();
                    frame.encode(out, max)?;
                    Ok(track.map(|_| keep(kept, &out[start..])))
                })?;
                if let (Some((id, _)), Some(copy)) = (track, copy) {
                    st.track(id, pin, copy);
                }
                // On a link: the peer may get it from now on.
                st.expect(call, true);
                Ok(())
            }
            Status::Connecting => {
                self.enqueue(&mut st, remote, pin, frame, track, bounded)?;
                st.expect(call, false);
                Ok(())
            }
            Status::Backoff(until) if Instant::now() < until => Err(Error::NoConnection),
            Status::Idle | Status::Backoff(_) => {
                self.enqueue(&mut st, remote, pin, frame, track, bounded)?;
                st.expect(call, false);
                st.status = Status::Connecting;
                drop(st);
                remote.dial(self.clone());
                Ok(())
            }
        }
    }

    /// Queues a frame until the links are up.
    fn enqueue(
        &self,
        st: &mut State,
        remote: &Remote,
        pin: u64,
        frame: &Outgoing<'_>,
        track: Option<(u64, usize)>,
        bounded: bool,
    ) -> Result<(), Error> {
        if bounded && st.queued_bytes >= remote.config().link_buffer {
            return Err(Error::MailboxFull);
        }
        let mut out = BytesMut::new();
        frame.encode(&mut out, remote.config().max_frame_size)?;
        let frame = out.freeze();
        st.queued_bytes += frame.len();
        if let Some((id, _)) = track {
            st.track(id, pin, frame.clone());
        }
        st.queue.push(Queued {
            pin,
            important: track.map(|(id, _)| id),
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
                st.seen.clear();
                Some(self.fail_locked(&mut st, remote, false, false))
            }
            _ => None,
        };
        st.creation = Some(creation);
        let generation = st.generation;
        drop(st);
        if let Some(f) = fallout {
            tracing::warn!(peer = %self.name, "peer restarted: its previous incarnation is down");
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

    /// Records the task of a link the peer dialed.
    pub(crate) fn add_incoming(&self, tasks: Vec<AbortHandle>) {
        let mut st = self.lock();
        st.incoming.retain(|t| !t.is_finished());
        st.incoming.extend(tasks);
    }

    /// Aborts every link, also those the peer dialed (shutdown).
    pub(crate) fn close_incoming(&self) {
        for t in self.lock().incoming.drain(..) {
            t.abort();
        }
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

    /// The dialed links are up: send what was queued.
    pub(crate) fn connected(&self, generation: u64, creation: u32, out: Vec<Arc<LinkQueue>>) -> bool {
        let mut st = self.lock();
        if st.generation != generation || st.creation.is_some_and(|c| c != creation) {
            return false;
        }
        st.out = out;
        st.status = Status::Up;
        st.backoff = None;
        let n = st.out.len().max(1) as u64;
        // Important sends that went out on the previous links and were not
        // acknowledged go first, in their order (they were sent before anything now
        // queued); the peer's dedup window drops the ones it already has. Those still
        // in the queue never left and go out in their place.
        let queued: std::collections::HashSet<u64> = st.queue.iter().filter_map(|q| q.important).collect();
        let mut resend: Vec<_> = st
            .unacked
            .iter()
            .filter(|(id, _)| !queued.contains(id))
            .map(|(_, sent)| (sent.seq, sent.pin, sent.frame.clone()))
            .collect();
        resend.sort_unstable_by_key(|(seq, _, _)| *seq);
        let resend = resend.into_iter().map(|(_, pin, frame)| (pin, frame));
        if resend.len() > 0 {
            metrics::counter!("ackor_important_resent_total").increment(resend.len() as u64);
            tracing::info!(peer = %self.name, count = resend.len(), "resending unacknowledged important messages");
        }
        let queue = std::mem::take(&mut st.queue);
        st.queued_bytes = 0;
        // Every call's frame is on a link now (queued ones go out just below).
        for p in st.calls.values_mut() {
            p.sent = true;
        }
        for (pin, frame) in resend.chain(queue.into_iter().map(|q| (q.pin, q.frame))) {
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
    /// Unacknowledged important sends are kept (the peer may have them): they are
    /// resent if the same incarnation comes back, fail with
    /// [`Error::ConnectionLost`] if a new one does, and otherwise end at their sender's
    /// timeout. With `heal` (a link of an established connection died) the peer is
    /// dialed again at once; after a failed dial, again once the backoff is over.
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
            let keep = !st.unacked.is_empty() && !remote.is_stopped();
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
        if was_connected && generation.is_some() {
            tracing::warn!(peer = %self.name, reason = why, "peer down");
        } else {
            tracing::debug!(peer = %self.name, reason = why, "peer down");
        }
        self.deliver(fallout, why, remote);
        self.room.notify_waiters();
        match redial {
            Some(wait) if wait.is_zero() => {
                tracing::info!(peer = %self.name, "redialing to resend unacknowledged important messages");
                remote.dial(self.clone());
            }
            Some(wait) => self.redial_later(remote, wait),
            None => {}
        }
    }

    /// Dials again after `wait` if important sends still await their acknowledgement
    /// and nothing else dialed meanwhile.
    fn redial_later(self: &Arc<Self>, remote: &Arc<Remote>, wait: Duration) {
        if remote.is_stopped() {
            return;
        }
        let runtime = remote.runtime().clone();
        let (peer, remote) = (self.clone(), remote.clone());
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            let mut st = peer.lock();
            if st.unacked.is_empty()
                || remote.is_stopped()
                || !matches!(st.status, Status::Backoff(_) | Status::Idle)
            {
                return;
            }
            st.status = Status::Connecting;
            drop(st);
            tracing::info!(peer = %peer.name, "redialing to resend unacknowledged important messages");
            remote.dial(peer);
        });
    }

    fn fail_locked(&self, st: &mut State, remote: &Remote, backoff: bool, keep_unacked: bool) -> Fallout {
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
        // Kept: important sends that left (the peer may have them). One still queued
        // never left: it fails with `NoConnection` like any call that never left.
        if keep_unacked {
            let calls = &st.calls;
            st.unacked.retain(|id, _| calls.get(id).is_some_and(|p| p.sent));
        } else {
            st.unacked.clear();
        }
        let unacked = &st.unacked;
        let failing: Vec<u64> = st
            .calls
            .keys()
            .filter(|id| !unacked.contains_key(id))
            .copied()
            .collect();
        let calls = failing
            .iter()
            .filter_map(|id| st.calls.remove(id))
            .map(|p| {
                let error = if p.sent {
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
                std::mem::take(&mut st.queue).len()
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

    /// Claims an important delivery from the peer: `None` if it is new (the caller
    /// delivers it and then [`Peer::record`]s the outcome), or where an earlier copy
    /// stands. Check and claim are one step, so copies read on two links at once are
    /// delivered once.
    pub(crate) fn claim(&self, id: u64) -> Option<Seen> {
        let mut st = self.lock();
        if let Some(seen) = st.seen.get(id) {
            return Some(seen);
        }
        st.seen.set(id, Seen::InProgress);
        None
    }

    /// Records the outcome of an important delivery from the peer.
    pub(crate) fn record(&self, id: u64, outcome: Option<WireError>) {
        self.lock().seen.set(id, Seen::Done(outcome));
    }

    fn deliver(&self, fallout: Fallout, why: &str, remote: &Remote) {
        if fallout.dropped_frames > 0 {
            tracing::warn!(
                peer = %self.name,
                frames = fallout.dropped_frames,
                reason = why,
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

    pub(crate) fn remove_call(&self, id: u64) {
        let mut st = self.lock();
        st.unacked.remove(&id);
        let removed = st.calls.remove(&id);
        drop(st);
        drop(removed);
    }

    /// Hands a reply to its waiting caller; [`Error::ResponseIgnored`] if none waits.
    pub(crate) fn complete_call(&self, id: u64, outcome: Result<bytes::Bytes, Error>) -> Result<(), Error> {
        let call = {
            let mut st = self.lock();
            st.unacked.remove(&id);
            st.calls.remove(&id).map(|p| p.waiting)
        };
        self.hand_over(id, outcome, call)
    }

    /// [`Peer::complete_call`] for many answers (read together from one link) under one
    /// lock; leaves `answers` empty.
    pub(crate) fn complete_calls(&self, answers: &mut Vec<Answer>) {
        {
            let mut st = self.lock();
            for (id, _, waiting) in answers.iter_mut() {
                st.unacked.remove(id);
                *waiting = st.calls.remove(id).map(|p| p.waiting);
            }
        }
        for (id, outcome, waiting) in answers.drain(..) {
            let _ = self.hand_over(id, outcome, waiting);
        }
    }

    fn hand_over(
        &self,
        id: u64,
        outcome: Result<Bytes, Error>,
        waiting: Option<Waiting>,
    ) -> Result<(), Error> {
        let taken = match waiting {
            Some(waiting) => waiting.complete(outcome),
            None => Err(Error::ResponseIgnored),
        };
        if taken.is_err() {
            metrics::counter!("ackor_remote_late_replies_total").increment(1);
            tracing::debug!(peer = %self.name, call_id = id, "late reply discarded");
        }
        taken
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(seen: Option<Seen>) -> Option<Option<WireError>> {
        match seen {
            Some(Seen::Done(e)) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn the_dedup_window_remembers_the_last_ids_and_their_outcomes() {
        let mut w = DedupWindow::default();
        assert!(w.get(1).is_none());
        w.set(1, Seen::InProgress);
        assert!(matches!(w.get(1), Some(Seen::InProgress)));
        w.set(1, Seen::Done(None));
        assert_eq!(done(w.get(1)), Some(None));
        let refused = WireError::from(&Error::MailboxFull);
        w.set(2, Seen::Done(Some(refused.clone())));
        assert_eq!(done(w.get(2)), Some(Some(refused)));
        // One window later the slots are reused: the old ids are forgotten.
        let later = DEDUP_WINDOW as u64;
        w.set(1 + later, Seen::Done(None));
        w.set(2 + later, Seen::Done(None));
        assert!(w.get(1).is_none() && w.get(2).is_none());
        assert!(w.errors.is_empty());
        // An id older than its slot's is out of the window: it does not evict the newer.
        w.set(1, Seen::Done(None));
        assert_eq!(done(w.get(1 + later)), Some(None));
        assert!(w.get(1).is_none());
        // Ids no counter reaches are never recorded (and never panic).
        w.set(u64::MAX, Seen::InProgress);
        assert!(w.get(u64::MAX).is_none());
        w.clear();
        assert!(w.get(1 + later).is_none());
    }
}
