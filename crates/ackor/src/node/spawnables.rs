//! The actor kinds other nodes may spawn on this one, type-erased: each kind is a
//! function from encoded arguments and wire options to a pid (the typed side is
//! `route::remote_spawn`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Node;
use crate::error::Error;
use crate::identity::Pid;
use crate::remote::wire::WireSpawnOptions;

/// Starts an actor of one kind from encoded arguments and the options off the wire.
pub(crate) type SpawnFn = Arc<dyn Fn(&Node, &[u8], &WireSpawnOptions) -> Result<Pid, Error> + Send + Sync>;

/// The kinds this node lets other nodes spawn.
#[derive(Default)]
pub(crate) struct Spawnables {
    kinds: RwLock<HashMap<&'static str, SpawnFn>>,
}

impl Spawnables {
    /// Lets other nodes spawn `kind` with `spawn`.
    pub(crate) fn allow(&self, kind: &'static str, spawn: SpawnFn) {
        self.kinds
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, spawn);
    }

    /// Spawns `kind` for another node; [`Error::UnknownActorKind`] if it is not allowed.
    pub(crate) fn spawn(
        &self,
        node: &Node,
        kind: &str,
        args: &[u8],
        options: &WireSpawnOptions,
    ) -> Result<Pid, Error> {
        let spawn = self
            .kinds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .cloned()
            .ok_or_else(|| Error::UnknownActorKind(kind.to_string()))?;
        spawn(node, args, options)
    }
}
