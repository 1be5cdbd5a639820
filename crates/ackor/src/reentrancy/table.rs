//! The table of an actor's requests in flight: admission (mode, in-flight cap), the
//! stash count that pauses its user lane, the call chains it waits on, and timeouts.
//!
//! Owned by the actor's [`Context`](crate::Context) and touched only on its task, so
//! it needs no lock. Timeouts use one timer per actor (see `Deadlines`) for all its
//! requests), polled by the actor's loop only while something is in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::deadlines::Deadlines;

use super::request::Pending;
use super::{Reentrancy, ReentrancyMode, RequestOptions};
use crate::actor::{ActorCell, ActorItem, Envelope};
use crate::identity::ChainId;
use crate::mailbox::Receiver;
use crate::{Actor, Error};

/// The longest request timeout kept as a timer (tokio's timer wheel holds about two
/// years; longer ones would be clamped or overflow `Instant`).
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The chains a stash-mode actor waits on, with how many of its requests wait on each,
/// shared with its cell: a call of such a chain is let into a full mailbox.
pub(crate) type WaitingChains = std::sync::Mutex<HashMap<ChainId, usize>>;

/// What the actor's loop handles next.
pub(crate) enum Next<A: Actor> {
    Item(ActorItem<A>),
    /// A request timed out; it is out of the table, its continuation still to run.
    /// (Boxed: this enum is returned and moved through the loop for every item the
    /// actor waits for, and an entry is twice the size of any other variant.)
    Expired(Box<Entry<A>>),
}

/// Whatever must live exactly as long as a request (the remote call to forget, the
/// piped task to abort when dropped).
pub(crate) type Guard = Box<dyn Send + Sync>;

/// How an admitted request runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted {
    /// It holds user messages while in flight (`StashNonReentrant`).
    holds: bool,
    timeout: Option<Duration>,
}

/// One request in flight.
pub(crate) struct Entry<A: Actor> {
    id: u64,
    holds: bool,
    chain: Option<ChainId>,
    /// Its deadline, while it has one.
    timer: Option<Instant>,
    pub(crate) pending: Arc<dyn Pending<A>>,
    _guard: Option<Guard>,
}

impl<A: Actor> Entry<A> {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The call chain the request belongs to: its continuation runs in it.
    pub(crate) fn chain(&self) -> Option<ChainId> {
        self.chain
    }
}

pub(crate) struct Requests<A: Actor> {
    /// The mode requests are admitted in now.
    mode: ReentrancyMode,
    /// The mode the actor was spawned with (a restart in place goes back to it).
    spawned_mode: ReentrancyMode,
    /// The requests in flight and their bookkeeping, allocated on the actor's first
    /// request or piped future (and kept: an actor that makes one makes more), or at
    /// spawn for an actor with an in-flight limit. Most actors never make a request;
    /// an idle actor then keeps a word here (see the idle-actor bound in
    /// `tests/idle_memory.rs`).
    table: Option<Box<Table<A>>>,
}

/// The bookkeeping of the requests in flight.
struct Table<A: Actor> {
    /// The most requests in flight at once (0: no limit).
    max_in_flight: usize,
    /// Ids are never reused (the table lives as long as the actor): a late
    /// completion of a request that left the table must not find a newer one under
    /// its id.
    next_id: u64,
    entries: HashMap<u64, Entry<A>>,
    /// Requests in flight that hold user messages.
    holding: usize,
    /// The chains of those requests, with how many requests wait on each.
    waiting: HashMap<ChainId, usize>,
    timers: Deadlines,
    /// Set when a chain was added to `waiting`: held messages must be looked at again.
    rescan: bool,
}

impl<A: Actor> Table<A> {
    fn new(max_in_flight: usize) -> Box<Self> {
        Box::new(Table {
            max_in_flight,
            next_id: 1,
            entries: HashMap::new(),
            holding: 0,
            waiting: HashMap::new(),
            timers: Deadlines::default(),
            rescan: false,
        })
    }
}

impl<A: Actor> Requests<A> {
    pub(crate) fn new(config: Reentrancy) -> Self {
        Requests {
            mode: config.mode,
            spawned_mode: config.mode,
            // Without a limit, the table waits for the first request.
            table: (config.max_in_flight > 0).then(|| Table::new(config.max_in_flight)),
        }
    }

    fn table(&mut self) -> &mut Table<A> {
        self.table.get_or_insert_with(|| Table::new(0))
    }

    pub(crate) fn mode(&self) -> ReentrancyMode {
        self.mode
    }

    /// Switches the mode for requests admitted from now on; those in flight keep the
    /// mode they were admitted with (a stash-mode one still holds user messages).
    pub(crate) fn set_mode(&mut self, mode: ReentrancyMode) {
        self.mode = mode;
    }

    /// Back to the mode the actor was spawned with.
    pub(crate) fn reset_mode(&mut self) {
        self.mode = self.spawned_mode;
    }

    /// Checks a request against the actor's mode and cap.
    pub(crate) fn admit(&self, opts: &RequestOptions, call_timeout: Duration) -> Result<Admitted, Error> {
        if self.mode == ReentrancyMode::Off {
            return Err(Error::ReentrancyDisabled);
        }
        let mode = opts.mode.unwrap_or(self.mode);
        if mode == ReentrancyMode::Off {
            return Err(Error::ReentrancyDisabled);
        }
        self.check_cap()?;
        // A timeout beyond what a timer can hold (about two years) is no timeout.
        let timeout = opts
            .timeout
            .unwrap_or(Some(call_timeout))
            .filter(|t| *t <= MAX_TIMEOUT);
        Ok(Admitted {
            holds: mode == ReentrancyMode::StashNonReentrant,
            timeout,
        })
    }

    /// Checks a piped future: allowed in every mode, counted against the cap, holding
    /// user messages in `StashNonReentrant`, without a timeout of its own.
    pub(crate) fn admit_pipe(&self) -> Result<Admitted, Error> {
        self.check_cap()?;
        Ok(Admitted {
            holds: self.mode == ReentrancyMode::StashNonReentrant,
            timeout: None,
        })
    }

    fn check_cap(&self) -> Result<(), Error> {
        let max = self.table.as_ref().map_or(0, |t| t.max_in_flight);
        if max > 0 && self.in_flight() >= max {
            metrics::counter!("ackor_requests_rejected_total", "reason" => "in_flight_limit").increment(1);
            return Err(Error::ReentrancyInFlightLimit);
        }
        Ok(())
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let table = self.table();
        let id = table.next_id;
        table.next_id += 1;
        id
    }

    /// Records an admitted request that has left (`cell` is the actor's: it shares the
    /// chains its held requests wait on).
    pub(crate) fn insert(
        &mut self,
        id: u64,
        admitted: Admitted,
        chain: Option<ChainId>,
        pending: Arc<dyn Pending<A>>,
        guard: Option<Guard>,
        cell: &ActorCell<A>,
    ) {
        let table = self.table();
        let timer = admitted.timeout.map(|t| table.timers.insert(id, t));
        if admitted.holds {
            if table.holding == 0 {
                metrics::counter!("ackor_stash_holds_total").increment(1);
            }
            table.holding += 1;
            if let Some(chain) = chain {
                *table.waiting.entry(chain).or_insert(0) += 1;
                table.rescan = true;
                let mut shared = cell.waiting_chains().lock().unwrap_or_else(|p| p.into_inner());
                *shared.entry(chain).or_insert(0) += 1;
            }
        }
        metrics::gauge!("ackor_requests_in_flight").increment(1.0);
        table.entries.insert(
            id,
            Entry {
                id,
                holds: admitted.holds,
                chain,
                timer,
                pending,
                _guard: guard,
            },
        );
    }

    /// Takes a request out of the table (it completed); `None` if it already was.
    pub(crate) fn remove(&mut self, id: u64, cell: &ActorCell<A>) -> Option<Entry<A>> {
        let table = self.table.as_mut()?;
        let mut entry = table.entries.remove(&id)?;
        if let Some(at) = entry.timer.take() {
            table.timers.remove(at, id);
        }
        if entry.holds {
            table.holding -= 1;
            if let Some(chain) = entry.chain
                && let Some(n) = table.waiting.get_mut(&chain)
            {
                *n -= 1;
                if *n == 0 {
                    table.waiting.remove(&chain);
                }
                let mut shared = cell.waiting_chains().lock().unwrap_or_else(|p| p.into_inner());
                if let Some(n) = shared.get_mut(&chain) {
                    *n -= 1;
                    if *n == 0 {
                        shared.remove(&chain);
                    }
                }
            }
        }
        metrics::gauge!("ackor_requests_in_flight").decrement(1.0);
        Some(entry)
    }

    /// The next user message from the actor's batch, when nothing else can come
    /// first: no request in flight (no timer to fire, nothing held back) and nothing
    /// urgent queued. The loop's shortcut past [`Requests::poll_next`] while it works
    /// through a batch.
    pub(crate) fn next_batched(
        &self,
        rx: &mut Receiver<Box<dyn Envelope<A>>>,
        cell: &ActorCell<A>,
    ) -> Option<Box<dyn Envelope<A>>> {
        if self.table.is_some() {
            return None;
        }
        rx.pop_batched(cell.mailbox())
    }

    /// True while user messages must be held.
    pub(crate) fn holding(&self) -> bool {
        self.table.as_ref().is_some_and(|t| t.holding > 0)
    }

    pub(crate) fn take_rescan(&mut self) -> bool {
        self.table.as_mut().is_some_and(|t| std::mem::take(&mut t.rescan))
    }

    /// Polls for the actor's next item: from the mailbox (letting through held user
    /// messages of a chain this actor waits on, and interleaving message types), or a
    /// request whose timeout expired, taken out of the table. An expired timeout goes
    /// first. A poll function rather than an `async fn`, so the actor's loop waits in
    /// a `poll_fn` of a few references (the state an idle actor keeps, see
    /// `actor::run`).
    pub(crate) fn poll_next(
        &mut self,
        rx: &mut Receiver<Box<dyn Envelope<A>>>,
        cell: &ActorCell<A>,
        cx: &mut Context<'_>,
    ) -> Poll<Next<A>> {
        let mailbox = cell.mailbox();
        loop {
            let Some(table) = self.table.as_mut() else {
                return rx
                    .poll_recv(mailbox, &|env| env.interleaves(), cx)
                    .map(Next::Item);
            };
            // Timers first: a mailbox that always has something ready must not keep
            // a request from timing out.
            if table.timers.is_pending()
                && let Poll::Ready(id) = table.timers.poll_expired(cx)
            {
                match self.expire(id, cell) {
                    Some(entry) => return Poll::Ready(Next::Expired(Box::new(entry))),
                    None => continue,
                }
            }
            let waiting = &table.waiting;
            #[allow(clippy::borrowed_box)] // the mailbox's items are boxes
            let admit = |env: &Box<dyn Envelope<A>>| {
                env.interleaves() || env.chain().is_some_and(|c| waiting.contains_key(&c))
            };
            return rx.poll_recv(mailbox, &admit, cx).map(Next::Item);
        }
    }

    /// The timer of request `id` fired: takes it out of the table unless its reply (or
    /// a cancel) won the race and is already queued.
    fn expire(&mut self, id: u64, cell: &ActorCell<A>) -> Option<Entry<A>> {
        let entry = self.table.as_mut()?.entries.get_mut(&id)?;
        entry.timer = None;
        if !entry.pending.settle() {
            return None;
        }
        metrics::counter!("ackor_requests_timed_out_total").increment(1);
        tracing::debug!(request = id, "request timed out");
        self.remove(id, cell)
    }

    /// Takes every request still in flight (the actor is stopping).
    pub(crate) fn drain(&mut self, cell: &ActorCell<A>) -> Vec<Entry<A>> {
        let Some(table) = self.table.as_ref() else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = table.entries.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.remove(id, cell)).collect()
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.entries.len())
    }
}
