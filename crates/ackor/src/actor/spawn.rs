//! Spawning actors on a node and typed handles to them: the verbs of [`Node`] that
//! name an actor type.

use std::sync::Arc;

use super::{Actor, ActorCell, ActorRef, run};
use crate::error::Error;
use crate::identity::{Pid, ProcessId};
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
}

impl SpawnOptions {
    /// Registers the actor under `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the capacity of the actor's user lane.
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
}

impl Node {
    /// Spawns an actor with default options. Returns at once; `init` runs on the
    /// actor's task before its first message, and messages sent meanwhile wait.
    pub fn spawn<A: Actor>(&self, args: A::Args) -> Result<ActorRef<A>, Error> {
        self.spawn_with(args, SpawnOptions::default())
    }

    /// Spawns an actor with options; fails with [`Error::NameTaken`] if the name is
    /// registered, [`Error::NodeStopped`] during shutdown.
    pub fn spawn_with<A: Actor>(&self, args: A::Args, options: SpawnOptions) -> Result<ActorRef<A>, Error> {
        self.spawn_setup(args, options, |_| {})
    }

    /// Spawns, running `setup` (links, monitors) before the actor's task starts.
    pub(crate) fn spawn_setup<A: Actor>(
        &self,
        args: A::Args,
        options: SpawnOptions,
        setup: impl FnOnce(&Arc<dyn ProcessCell>),
    ) -> Result<ActorRef<A>, Error> {
        let config = self.config();
        let capacity = options.mailbox_capacity.unwrap_or(config.mailbox_capacity);
        if capacity == 0 {
            return Err(Error::Config("the mailbox capacity must be at least 1".into()));
        }
        let pid = self.next_pid()?;
        let cell = ActorCell::<A>::new(pid, capacity, config.call_timeout);
        let process: Arc<dyn Process> = cell.clone();
        if let Some(name) = &options.name {
            self.registry().register(name, process.clone())?;
        }
        self.registry().insert(process.clone());
        let dyn_cell: Arc<dyn ProcessCell> = process;
        setup(&dyn_cell);
        let task = self
            .runtime()
            .spawn(run(cell.clone(), args, self.clone(), options.reentrancy));
        cell.core().set_abort(task.abort_handle());
        Ok(ActorRef::from_cell(cell))
    }

    /// A typed handle to the actor registered as `id` on this node.
    ///
    /// Fails with [`Error::ProcessUnknown`] if the name is not registered on this node
    /// or belongs to an actor of another type.
    pub fn lookup<A: Actor>(&self, id: &ProcessId) -> Result<ActorRef<A>, Error> {
        if &id.node != self.name() {
            return Err(Error::ProcessUnknown);
        }
        let cell = self.registry().whereis(&id.name).ok_or(Error::ProcessUnknown)?;
        downcast(cell)
    }

    /// A typed handle to the live actor `pid`.
    ///
    /// Fails with [`Error::ProcessUnknown`] if it is gone (or never was), or is an actor
    /// of another type.
    pub fn actor_ref<A: Actor>(&self, pid: &Pid) -> Result<ActorRef<A>, Error> {
        if pid.node() != self.name() {
            return self.remote_ref(pid.clone());
        }
        downcast(self.registry().get(pid).ok_or(Error::ProcessUnknown)?)
    }

    /// A handle to an actor on another node. Nothing is checked here: a send to a
    /// process that does not exist is dropped there, a call fails with
    /// [`Error::ProcessUnknown`].
    fn remote_ref<A: Actor>(&self, pid: Pid) -> Result<ActorRef<A>, Error> {
        if self.remote().is_none() {
            return Err(Error::Config(
                "this node has no network side (set a cookie)".into(),
            ));
        }
        Ok(ActorRef::remote(pid, self.clone()))
    }

    /// A handle addressing the name `id` on another node, resolved there on arrival;
    /// only for requests (its pid is not the actor's).
    pub(crate) fn remote_named<A: Actor>(&self, id: &ProcessId) -> Result<ActorRef<A>, Error> {
        if self.remote().is_none() {
            return Err(Error::Config(
                "this node has no network side (set a cookie)".into(),
            ));
        }
        Ok(ActorRef::remote_named(id, self.clone()))
    }

    /// A handle to the actor registered as `id`, on this node or another one (the name
    /// is resolved there, in one round trip).
    ///
    /// Fails with [`Error::ProcessUnknown`] when the name is not registered,
    /// [`Error::NoConnection`] when the node cannot be reached, [`Error::Timeout`]
    /// after the call timeout.
    pub async fn resolve<A: Actor>(&self, id: &ProcessId) -> Result<ActorRef<A>, Error> {
        if &id.node == self.name() {
            return self.lookup(id);
        }
        let remote = self
            .remote()
            .ok_or_else(|| Error::Config("this node has no network side (set a cookie)".into()))?;
        let pid = remote
            .whereis(&id.node, &id.name, self.config().call_timeout)
            .await?;
        self.remote_ref(pid)
    }
}

fn downcast<A: Actor>(cell: Arc<dyn Process>) -> Result<ActorRef<A>, Error> {
    let any: Arc<dyn std::any::Any + Send + Sync> = cell;
    any.downcast::<ActorCell<A>>()
        .map(ActorRef::from_cell)
        .map_err(|_| Error::ProcessUnknown)
}
