//! Starting an actor on a node: its cell, its entry in the process table, its task.
//! (The public `spawn` verbs, which return an `ActorRef`, are in `route`.)

use std::sync::Arc;

use super::{Actor, ActorCell, Overseer, run};
use crate::error::Error;
use crate::monitor::ProcessCell;
use crate::node::{Node, Process};
use crate::reentrancy::Reentrancy;

/// Options for [`Node::spawn_with`].
///
/// ```
/// let opts = ackor::SpawnOptions::default().name("bank").mailbox_capacity(16);
/// assert_eq!(opts.name.as_deref(), Some("bank"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SpawnOptions {
    /// Registers the actor under this name, atomically with the spawn.
    pub name: Option<String>,
    /// Capacity of the actor's user lane; the node's default if `None`.
    pub mailbox_capacity: Option<usize>,
    /// Whether and how the actor makes non-blocking requests; off by default.
    pub reentrancy: Reentrancy,
    /// Stops the actor (reason `Normal`, `on_stop` runs) once it has had nothing to do
    /// for this long; see [`SpawnOptions::idle_timeout`].
    pub idle_timeout: Option<std::time::Duration>,
}

impl SpawnOptions {
    /// Registers the actor under `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the capacity of the actor's user lane: the most user messages it holds at
    /// once, counting those queued and those it has taken and not finished handling
    /// (the one it is handling included). A send beyond it fails with
    /// [`Error::MailboxFull`](crate::Error::MailboxFull) (`send_wait` waits). The actor
    /// takes queued messages in batches; a batch's room comes back once it has handled
    /// the batch and looks for more.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = Some(capacity);
        self
    }

    /// Lets the actor make non-blocking requests; see [`Reentrancy`].
    ///
    /// ```
    /// use ackor::{Reentrancy, ReentrancyMode, SpawnOptions};
    /// let opts = SpawnOptions::default().reentrancy(Reentrancy::allow_all().max_in_flight(64));
    /// assert_eq!(opts.reentrancy.mode, ReentrancyMode::AllowAll);
    /// ```
    pub fn reentrancy(mut self, reentrancy: Reentrancy) -> Self {
        self.reentrancy = reentrancy;
        self
    }

    /// Stops the actor with reason `Normal` (running `on_stop`, where it can save its
    /// state) once it has gone `idle` without a message to handle and without a
    /// request or piped future in flight: passivation, as virtual actors do. The mailbox
    /// is closed in the same step as it is found empty, so no message is accepted (or
    /// acknowledged) that will not be handled: a send after that is refused with
    /// [`Error::ProcessTerminated`](crate::Error::ProcessTerminated), and one to its name
    /// once it is gone with [`Error::ProcessUnknown`](crate::Error::ProcessUnknown).
    /// Timers do not count as activity: a `send_after` due later than `idle` finds the
    /// actor gone, and a `send_interval` shorter than `idle` keeps it alive. (For a
    /// supervised actor the mailbox stays open for its supervisor: a message that
    /// arrives while it stops is not handled, and its caller gets `ProcessTerminated`.)
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = ackor::SpawnOptions::default().idle_timeout(Duration::from_secs(300));
    /// assert_eq!(opts.idle_timeout, Some(Duration::from_secs(300)));
    /// ```
    pub fn idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }
}

impl Node {
    /// Spawns an actor, running `setup` (links, monitors) before its task starts, and
    /// returns its cell (the layer above wraps it in an `ActorRef`).
    pub(crate) fn spawn_setup<A: Actor>(
        &self,
        args: A::Args,
        options: SpawnOptions,
        setup: impl FnOnce(&Arc<dyn ProcessCell>),
    ) -> Result<Arc<ActorCell<A>>, Error> {
        self.spawn_overseen(args, options, setup, None)
    }

    /// [`Node::spawn_setup`] for an actor with a supervisor: `overseer` decides what
    /// happens when one of its instances ends (restart in place, or stop).
    pub(crate) fn spawn_overseen<A: Actor>(
        &self,
        args: A::Args,
        options: SpawnOptions,
        setup: impl FnOnce(&Arc<dyn ProcessCell>),
        overseer: Option<Arc<dyn Overseer<A>>>,
    ) -> Result<Arc<ActorCell<A>>, Error> {
        if self.is_stopping() {
            return Err(Error::NodeStopped);
        }
        let config = self.config();
        let capacity = options.mailbox_capacity.unwrap_or(config.mailbox_capacity);
        if capacity == 0 {
            return Err(Error::Config("the mailbox capacity must be at least 1".into()));
        }
        let pid = self.next_pid()?;
        let cell = ActorCell::<A>::new(pid, capacity, config.call_timeout, overseer);
        let process: Arc<dyn Process> = cell.clone();
        if let Some(name) = &options.name {
            self.registry().register(name, process.clone())?;
        }
        self.registry().insert(process.clone());
        let dyn_cell: Arc<dyn ProcessCell> = process;
        setup(&dyn_cell);
        let task = self.runtime().spawn(run(
            cell.clone(),
            args,
            self.clone(),
            options.reentrancy,
            options.idle_timeout,
        ));
        cell.core().set_abort(task.abort_handle());
        Ok(cell)
    }
}
