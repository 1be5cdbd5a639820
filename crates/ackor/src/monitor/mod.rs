//! Failure propagation: exit reasons, monitors (`Down`), links (`Exit`), and the
//! per-process bookkeeping that makes them race-free.
//!
//! A process's links, monitors and exit reason sit under one small lock, so a monitor
//! set up just as the process dies either sees it alive (and gets `Down` later) or sees
//! it dead (and gets `Down` at once with [`ExitReason::NoProcess`]); never neither.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::task::AbortHandle;

use crate::error::Error;
use crate::identity::{Pid, Ref};

mod exit_wait;
mod stats;
pub(crate) use exit_wait::wait_for_exit;
pub use stats::HandledMessage;
pub(crate) use stats::{ProcessStats, StatsSnapshot};

/// Why a process stopped.
///
/// `Normal` and `Shutdown` are the orderly ends; every other reason is abnormal and
/// propagates through links.
///
/// ```
/// use ackor::ExitReason;
///
/// assert!(!ExitReason::Normal.is_abnormal());
/// assert!(ExitReason::Panic("boom".into()).is_abnormal());
/// assert_eq!(ExitReason::Killed.to_string(), "killed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// The actor stopped itself or was asked to stop.
    Normal,
    /// The node shut down.
    Shutdown,
    /// The actor was killed: no `on_stop`, whatever it was doing.
    Killed,
    /// `init`, a handler, a continuation or `on_stop` panicked; the text is the panic
    /// message.
    Panic(String),
    /// The actor stopped with an error of its own (or its `init` failed).
    Error(String),
    /// The process did not exist when the monitor or link was set up.
    NoProcess,
    /// The node of the process could not be reached.
    NoConnection,
}

impl ExitReason {
    /// True for every reason but `Normal` and `Shutdown`.
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }

    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-text payload".to_string()
        };
        ExitReason::Panic(text)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Panic(m) => write!(f, "panic: {m}"),
            ExitReason::Error(m) => write!(f, "error: {m}"),
            ExitReason::NoProcess => f.write_str("noproc"),
            ExitReason::NoConnection => f.write_str("noconnection"),
        }
    }
}

/// A monitored process stopped: delivered to the monitoring actor's
/// [`Actor::on_down`](crate::Actor::on_down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// The handle `monitor` returned.
    pub monitor: MonitorRef,
    /// The process that stopped.
    pub pid: Pid,
    /// Why it stopped.
    pub reason: ExitReason,
}

/// A linked process stopped: delivered to [`Actor::on_exit`](crate::Actor::on_exit)
/// of an actor that traps exits. An actor that does not trap exits stops with the same
/// reason instead, unless the reason is `Normal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The linked process that stopped.
    pub pid: Pid,
    /// Why it stopped.
    pub reason: ExitReason,
}

/// The handle of a monitor, to match `Down` notifications and to demonitor.
pub type MonitorRef = Ref;

/// Messages of the system lane.
///
/// `Down` and `Exit` are boxed: they are rare, and this type is as large as its
/// largest variant wherever it is held (the system lane, and the actor's loop state
/// while it handles one; see `actor::run`).
#[derive(Debug)]
pub(crate) enum SystemMsg {
    Stop(ExitReason),
    /// From the process's supervisor: end the current instance with this reason and
    /// start a new one in place (same pid, same mailbox).
    Restart(ExitReason),
    Down(Box<Down>),
    Exit(Box<Exit>),
}

/// A stop for no particular reason is held as a flag while nothing else is queued on
/// the system lane: the only system message most actors ever get allocates no lane.
impl crate::mailbox::Flaggable for SystemMsg {
    fn is_flag(&self) -> bool {
        matches!(self, SystemMsg::Stop(ExitReason::Normal))
    }
    fn from_flag() -> Self {
        SystemMsg::Stop(ExitReason::Normal)
    }
}

/// The type-erased view of a running process that monitors, links, names and the node
/// table hold.
pub(crate) trait ProcessCell: std::any::Any + Send + Sync {
    fn core(&self) -> &ProcessCore;
    /// Pushes onto the system lane; fails once the mailbox is closed.
    fn push_system(&self, msg: SystemMsg) -> Result<(), SystemMsg>;
    /// Closes the mailbox and aborts the task: the actor stops with `Killed`.
    fn kill(&self);
    /// Tells this process that the process it monitors with `monitor` stopped (dropped
    /// if this process is gone too).
    fn signal_down(&self, monitor: MonitorRef, pid: Pid, reason: ExitReason) {
        let _ = self.push_system(SystemMsg::Down(Box::new(Down { monitor, pid, reason })));
    }

    /// Sends this process an exit signal from `pid` (dropped if it is gone).
    fn signal_exit(&self, pid: Pid, reason: ExitReason) {
        let _ = self.push_system(SystemMsg::Exit(Box::new(Exit { pid, reason })));
    }
}

/// How signals reach processes on other nodes: the node's network side implements it,
/// so this module hands it `Down` and exit signals as data and knows nothing of links
/// or frames.
pub(crate) trait RemoteSignals {
    /// Tells `watcher` (on another node) that `pid`, which it monitors with `ref_id`,
    /// stopped with `reason`.
    fn down(&self, watcher: &Pid, ref_id: u64, pid: &Pid, reason: &ExitReason);
    /// Sends `to` (on another node) the exit signal of its linked process `from`.
    fn exit_signal(&self, from: &Pid, to: &Pid, reason: &ExitReason);
}

/// Who is told when a monitored process stops.
pub(crate) enum Watcher {
    /// An actor on this node.
    Local(Weak<dyn ProcessCell>),
    /// A process on another node, told with a `Down` frame.
    Remote { watcher: Pid, ref_id: u64 },
}

/// A process waiting in a blocking call: while the guard lives, the call's token is
/// among the process's blocking tokens (see [`ProcessCore::is_blocked_by`]).
pub(crate) struct Blocked {
    cell: Arc<dyn ProcessCell>,
    token: u64,
}

impl Blocked {
    /// Marks `cell` as waiting in the blocking call `token` until the guard is dropped.
    pub(crate) fn on(cell: Arc<dyn ProcessCell>, token: u64) -> Self {
        let core = cell.core();
        core.lock().relations_mut().blocked_by.push(token);
        core.blocked_calls.fetch_add(1, Ordering::AcqRel);
        Blocked { cell, token }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let core = self.cell.core();
        core.blocked_calls.fetch_sub(1, Ordering::AcqRel);
        let mut st = core.lock();
        if let Some(rel) = st.relations.as_mut()
            && let Some(i) = rel.blocked_by.iter().position(|&t| t == self.token)
        {
            rel.blocked_by.swap_remove(i);
        }
    }
}

/// Non-generic state every process has.
pub(crate) struct ProcessCore {
    pid: Pid,
    state: Mutex<ProcState>,
    /// How many blocking calls the process waits in (their tokens are in its
    /// state), to skip the lock when there are none.
    blocked_calls: AtomicU32,
    /// Set once everything the process's end owed is done (names and the process
    /// table cleaned, monitors and links told): only then do its waiters return.
    /// Written and read under the state's lock (an atomic only to sit beside
    /// `blocked_calls` in the 8 bytes it took alone: every live process has this).
    gone: AtomicBool,
    /// What it publishes for introspection.
    stats: ProcessStats,
}

#[derive(Default)]
struct ProcState {
    exit: Option<ExitReason>,
    /// Allocated the first time the process is named, monitored, linked, waited for
    /// or waits in a blocking call: many never are, and every live process keeps this
    /// state (see the idle-actor bound in `tests/idle_memory.rs`).
    relations: Option<Box<Relations>>,
    /// Aborts the process's task (a kill). Under this lock: 8 bytes here, 16 in a
    /// `OnceLock` of its own.
    abort: Option<AbortHandle>,
}

impl ProcState {
    fn relations_mut(&mut self) -> &mut Relations {
        self.relations.get_or_insert_with(Box::default)
    }
}

/// Who a process is known to: its name, monitors, links, waiters; and the blocking
/// calls it waits in.
#[derive(Default)]
struct Relations {
    name: Option<String>,
    monitors: Vec<(MonitorRef, Watcher)>,
    /// Linked processes; `None` for one on another node.
    links: Vec<(Pid, Option<Weak<dyn ProcessCell>>)>,
    waiters: exit_wait::Waiters,
    /// The tokens of the blocking calls this process waits in (a handler may await
    /// several at once).
    blocked_by: Vec<u64>,
}

/// What a terminating process must notify, taken from its state in one step.
#[derive(Default)]
pub(crate) struct Obituary {
    pub(crate) name: Option<String>,
    monitors: Vec<(MonitorRef, Watcher)>,
    /// Linked processes; `None` for one on another node.
    links: Vec<(Pid, Option<Weak<dyn ProcessCell>>)>,
}

impl ProcessCore {
    pub(crate) fn new(pid: Pid) -> Self {
        ProcessCore {
            pid,
            state: Mutex::new(ProcState::default()),
            blocked_calls: AtomicU32::new(0),
            gone: AtomicBool::new(false),
            stats: ProcessStats::default(),
        }
    }

    /// What the process publishes for introspection.
    #[inline]
    pub(crate) fn stats(&self) -> &ProcessStats {
        &self.stats
    }

    /// The processes linked to this one.
    pub(crate) fn links(&self) -> Vec<Pid> {
        let st = self.lock();
        let Some(rel) = st.relations.as_ref() else {
            return Vec::new();
        };
        rel.links.iter().map(|(p, _)| p.clone()).collect()
    }

    /// The processes monitoring this one (a local watcher already gone is left out).
    pub(crate) fn watchers(&self) -> Vec<Pid> {
        let st = self.lock();
        let Some(rel) = st.relations.as_ref() else {
            return Vec::new();
        };
        rel.monitors
            .iter()
            .filter_map(|(_, w)| match w {
                Watcher::Local(cell) => cell.upgrade().map(|c| c.core().pid().clone()),
                Watcher::Remote { watcher, .. } => Some(watcher.clone()),
            })
            .collect()
    }

    /// True while the process waits in one of the blocking calls of `path` (the tokens
    /// of the blocking calls a message is, transitively, handled for): the message could
    /// only be handled after that call returns, which waits on the message — a cycle.
    pub(crate) fn is_blocked_by(&self, path: &[u64]) -> bool {
        if path.is_empty() || self.blocked_calls.load(Ordering::Acquire) == 0 {
            return false;
        }
        let st = self.lock();
        st.relations
            .as_ref()
            .is_some_and(|rel| path.iter().any(|t| rel.blocked_by.contains(t)))
    }

    fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Records the handle that aborts the process's task (the first one set stays).
    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        self.lock().abort.get_or_insert(handle);
    }

    pub(crate) fn abort(&self) {
        let handle = self.lock().abort.clone();
        if let Some(h) = handle {
            h.abort();
        }
    }

    /// Records the name; fails if the process already has one or is gone.
    pub(crate) fn set_name(&self, name: &str) -> Result<(), Error> {
        let mut st = self.lock();
        if st.exit.is_some() {
            return Err(Error::ProcessTerminated);
        }
        let rel = st.relations_mut();
        if let Some(old) = &rel.name {
            return Err(Error::AlreadyRegistered(old.clone()));
        }
        rel.name = Some(name.to_string());
        Ok(())
    }

    pub(crate) fn clear_name(&self, name: &str) {
        let mut st = self.lock();
        if let Some(rel) = st.relations.as_mut()
            && rel.name.as_deref() == Some(name)
        {
            rel.name = None;
        }
    }

    /// Adds a monitor; if the process is already gone, returns the reason to report
    /// at once.
    pub(crate) fn add_monitor(&self, mref: MonitorRef, watcher: Watcher) -> Result<(), ExitReason> {
        let mut st = self.lock();
        if st.exit.is_some() {
            return Err(ExitReason::NoProcess);
        }
        st.relations_mut().monitors.push((mref, watcher));
        Ok(())
    }

    pub(crate) fn remove_monitor(&self, mref: &MonitorRef) {
        if let Some(rel) = self.lock().relations.as_mut() {
            rel.monitors.retain(|(r, _)| r != mref);
        }
    }

    /// Adds a link to `other`; fails with `NoProcess` if this process is gone.
    pub(crate) fn add_link(&self, other: Pid, cell: Option<Weak<dyn ProcessCell>>) -> Result<(), ExitReason> {
        let mut st = self.lock();
        if st.exit.is_some() {
            return Err(ExitReason::NoProcess);
        }
        let rel = st.relations_mut();
        if !rel.links.iter().any(|(p, _)| *p == other) {
            rel.links.push((other, cell));
        }
        Ok(())
    }

    pub(crate) fn remove_link(&self, other: &Pid) {
        if let Some(rel) = self.lock().relations.as_mut() {
            rel.links.retain(|(p, _)| p != other);
        }
    }

    /// The name the process is registered under.
    pub(crate) fn name(&self) -> Option<String> {
        self.lock().relations.as_ref()?.name.clone()
    }

    /// True while the process waits in a blocking call.
    pub(crate) fn in_blocking_call(&self) -> bool {
        self.blocked_calls.load(Ordering::Acquire) > 0
    }

    /// True once the process has stopped.
    pub(crate) fn is_terminated(&self) -> bool {
        self.lock().exit.is_some()
    }

    /// Everything the process's end owed is done (after [`ProcessCore::terminate`] and
    /// the delivery of its obituary): wakes those waiting for it to end (see
    /// [`wait_for_exit`]), who return only from now on.
    pub(crate) fn gone(&self) {
        let waiters = {
            let mut st = self.lock();
            self.gone.store(true, Ordering::Relaxed);
            st.relations.as_mut().map(|rel| std::mem::take(&mut rel.waiters))
        };
        if let Some(waiters) = waiters {
            waiters.wake_all();
        }
    }

    /// Marks the process dead and takes everything that must hear about it.
    pub(crate) fn terminate(&self, reason: &ExitReason) -> Option<Obituary> {
        let mut st = self.lock();
        if st.exit.is_some() {
            return None;
        }
        st.exit = Some(reason.clone());
        let Some(rel) = st.relations.as_mut() else {
            return Some(Obituary::default());
        };
        Some(Obituary {
            name: rel.name.take(),
            monitors: std::mem::take(&mut rel.monitors),
            links: std::mem::take(&mut rel.links),
        })
    }
}

impl Obituary {
    /// Tells monitors and linked processes that `pid` stopped with `reason`;
    /// those on other nodes through `remote` (dropped on a node without a network side).
    pub(crate) fn deliver(self, pid: &Pid, reason: &ExitReason, remote: Option<&dyn RemoteSignals>) {
        for (mref, watcher) in self.monitors {
            match watcher {
                Watcher::Local(w) => {
                    if let Some(w) = w.upgrade() {
                        w.signal_down(mref, pid.clone(), reason.clone());
                    }
                }
                Watcher::Remote { watcher, ref_id } => {
                    if let Some(remote) = remote {
                        remote.down(&watcher, ref_id, pid, reason);
                    }
                }
            }
        }
        for (other, cell) in self.links {
            tracing::debug!(from = %pid, to = %other, %reason, "exit signal");
            match cell {
                Some(cell) => {
                    if let Some(c) = cell.upgrade() {
                        c.core().remove_link(pid);
                        c.signal_exit(pid.clone(), reason.clone());
                    }
                }
                None => {
                    if let Some(remote) = remote {
                        remote.exit_signal(pid, &other, reason);
                    }
                }
            }
        }
    }
}

/// Downgrades a cell to the weak form monitors and links keep.
pub(crate) fn weak(cell: &Arc<dyn ProcessCell>) -> Weak<dyn ProcessCell> {
    Arc::downgrade(cell)
}
