//! The node's process table and name registry.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Process;
use crate::error::Error;
use crate::fasthash::{FastMap, FastSet};
use crate::identity::{NodeName, Pid};

/// An alias, and the process it reaches.
type Alias = (Pid, Arc<dyn Process>);

/// A live process in the table, found by the id of its pid. The key is the process's
/// own, borrowed: a slot is the pointer alone (16 bytes, not 24 with a copy of the
/// key), and every live process has one (see the idle-actor bound in
/// `tests/idle_memory.rs`).
struct ById(Arc<dyn Process>);

impl ById {
    fn id(&self) -> &u64 {
        self.0.core().pid().id_ref()
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for ById {}

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `u64` hashes: lookups by `&u64` find it (see `Borrow`).
        self.id().hash(state);
    }
}

impl Borrow<u64> for ById {
    fn borrow(&self) -> &u64 {
        self.id()
    }
}

/// The process a pid was last found to be, kept by a caller that looks the same pid
/// up again and again (a link's reader): valid while the registry's `removals` count
/// is what it was then. (It holds the process's cell until the next lookup replaces
/// it, as a handle would: a stopped process's cell is freed at its link's next
/// message or end.)
pub(crate) struct Found {
    removals: u64,
    id: u64,
    creation: u32,
    cell: Arc<dyn Process>,
}

/// Live processes by id, their aliases, and registered names.
#[derive(Default)]
pub(crate) struct Registry {
    /// Bumped (under the lock of what changes) each time a process or an alias is
    /// removed: until then, a pid found keeps being found as the same process (ids
    /// are never reused, so an insert cannot change what a pid finds).
    removals: AtomicU64,
    processes: Mutex<FastSet<ById>>,
    /// Extra pids of live processes (see `Context::create_alias`): the alias, and the
    /// process it reaches. Their ids come from the same counter as processes' ids.
    aliases: Mutex<FastMap<u64, Alias>>,
    names: Mutex<HashMap<String, Arc<dyn Process>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub(crate) fn insert(&self, cell: Arc<dyn Process>) {
        lock(&self.processes).replace(ById(cell));
    }

    pub(crate) fn remove(&self, pid: &Pid) {
        let mut processes = lock(&self.processes);
        let removed = processes.take(&pid.id());
        self.removals.fetch_add(1, Ordering::Release);
        drop(processes);
        drop(removed);
    }

    /// The live process with this pid, or with this alias (node and creation must
    /// match too).
    pub(crate) fn get(&self, pid: &Pid) -> Option<Arc<dyn Process>> {
        if let Some(cell) = lock(&self.processes).get(&pid.id()).map(|p| p.0.clone()) {
            return (cell.core().pid() == pid).then_some(cell);
        }
        let aliases = lock(&self.aliases);
        let (alias, cell) = aliases.get(&pid.id())?;
        (alias == pid).then(|| cell.clone())
    }

    /// [`Registry::get`] for the pid `<node.id.creation>`, without making one.
    pub(crate) fn get_on(&self, node: &NodeName, id: u64, creation: u32) -> Option<Arc<dyn Process>> {
        let is = |pid: &Pid| pid.id() == id && pid.creation() == creation && pid.node() == node;
        if let Some(cell) = lock(&self.processes).get(&id).map(|p| p.0.clone()) {
            return is(cell.core().pid()).then_some(cell);
        }
        let aliases = lock(&self.aliases);
        let (alias, cell) = aliases.get(&id)?;
        is(alias).then(|| cell.clone())
    }

    /// [`Registry::get_on`], answered from `found` (kept by the caller from one call
    /// to the next) while nothing was removed since it was found: the same answer
    /// without the table's lock.
    pub(crate) fn get_found<'f>(
        &self,
        found: &'f mut Option<Found>,
        node: &NodeName,
        id: u64,
        creation: u32,
    ) -> Option<&'f Arc<dyn Process>> {
        let removals = self.removals.load(Ordering::Acquire);
        let still = found
            .as_ref()
            .is_some_and(|f| f.removals == removals && f.id == id && f.creation == creation);
        if !still {
            // Read before the lookup: a removal after it makes `found` stale at once.
            *found = self.get_on(node, id, creation).map(|cell| Found {
                removals,
                id,
                creation,
                cell,
            });
        }
        found.as_ref().map(|f| &f.cell)
    }

    /// Makes `alias` reach `cell`.
    pub(crate) fn add_alias(&self, alias: Pid, cell: Arc<dyn Process>) {
        lock(&self.aliases).insert(alias.id(), (alias, cell));
    }

    /// Deletes `alias` if it is one of `owner`'s; returns whether it was.
    pub(crate) fn remove_alias(&self, alias: &Pid, owner: &Pid) -> bool {
        let mut aliases = lock(&self.aliases);
        let owned = aliases
            .get(&alias.id())
            .is_some_and(|(a, cell)| a == alias && cell.core().pid() == owner);
        if owned {
            aliases.remove(&alias.id());
            self.removals.fetch_add(1, Ordering::Release);
        }
        owned
    }

    /// Deletes every alias of `owner` (it stopped).
    pub(crate) fn remove_aliases_of(&self, owner: &Pid) {
        let mut aliases = lock(&self.aliases);
        if !aliases.is_empty() {
            aliases.retain(|_, (_, cell)| cell.core().pid() != owner);
            self.removals.fetch_add(1, Ordering::Release);
        }
    }

    pub(crate) fn all(&self) -> Vec<Arc<dyn Process>> {
        lock(&self.processes).iter().map(|p| p.0.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.processes).len()
    }

    pub(crate) fn register(&self, name: &str, cell: Arc<dyn Process>) -> Result<(), Error> {
        let mut names = lock(&self.names);
        // The node answers its introspection service itself: the name is taken.
        if names.contains_key(name) || name == super::INSPECT {
            return Err(Error::NameTaken(name.to_string()));
        }
        // The process records its name under its own lock, which also refuses a
        // process that is already terminating: no stale name can be left behind.
        cell.core().set_name(name)?;
        names.insert(name.to_string(), cell);
        Ok(())
    }

    pub(crate) fn unregister(&self, name: &str) -> bool {
        let removed = lock(&self.names).remove(name);
        match removed {
            Some(cell) => {
                cell.core().clear_name(name);
                true
            }
            None => false,
        }
    }

    /// Removes `name` if it still belongs to `pid` (used when the process stops).
    pub(crate) fn unregister_if(&self, name: &str, pid: &Pid) {
        let mut names = lock(&self.names);
        if names.get(name).is_some_and(|c| c.core().pid() == pid) {
            names.remove(name);
        }
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Arc<dyn Process>> {
        lock(&self.names).get(name).cloned()
    }
}
