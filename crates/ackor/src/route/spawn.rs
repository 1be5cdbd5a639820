//! The verbs of [`Node`] that give typed handles: spawn, look up, resolve.

use std::sync::Arc;

use super::ActorRef;
use crate::actor::{Actor, ActorCell, SpawnOptions};
use crate::error::Error;
use crate::identity::{Pid, ProcessId};
use crate::node::{Node, Process};

impl Node {
    /// Spawns an actor with default options. Returns at once; `init` runs on the
    /// actor's task before its first message, and messages sent meanwhile wait.
    pub fn spawn<A: Actor>(&self, args: A::Args) -> Result<ActorRef<A>, Error> {
        self.spawn_with(args, SpawnOptions::default())
    }

    /// Spawns an actor with options; fails with [`Error::NameTaken`] if the name is
    /// registered, [`Error::NodeStopped`] during shutdown.
    pub fn spawn_with<A: Actor>(&self, args: A::Args, options: SpawnOptions) -> Result<ActorRef<A>, Error> {
        self.spawn_setup(args, options, |_| {}).map(ActorRef::from_cell)
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
        let cell = self.registry().get(pid).ok_or(Error::ProcessUnknown)?;
        if cell.core().pid() != pid {
            // An alias: the handle checks at every use that it still exists.
            return downcast_cell::<A>(cell).map(|c| ActorRef::alias(pid.clone(), c, self.clone()));
        }
        downcast(cell)
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

    /// A handle to the name `id`: looked up here for this node, or addressing the name
    /// on its node (resolved there on arrival, no round trip).
    pub(crate) fn named_ref<A: Actor>(&self, id: &ProcessId) -> Result<ActorRef<A>, Error> {
        if &id.node == self.name() {
            self.lookup(id)
        } else {
            self.remote_named(id)
        }
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
    downcast_cell(cell).map(ActorRef::from_cell)
}

fn downcast_cell<A: Actor>(cell: Arc<dyn Process>) -> Result<Arc<ActorCell<A>>, Error> {
    let any: Arc<dyn std::any::Any + Send + Sync> = cell;
    any.downcast::<ActorCell<A>>().map_err(|_| Error::ProcessUnknown)
}
