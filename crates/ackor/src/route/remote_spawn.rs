//! Spawning actors on other nodes.
//!
//! A node lists the actor kinds others may start on it with
//! [`Node::allow_remote_spawn`]; [`Node::spawn_remote`] starts one there, with its
//! arguments encoded as MessagePack and its [`SpawnOptions`] (name, mailbox capacity,
//! reentrancy) on the wire, and returns a handle to it. Only listed kinds can be
//! spawned: anything else is refused with [`Error::UnknownActorKind`].

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ActorRef;
use crate::actor::{Actor, Codec, MessagePack, SpawnOptions};
use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::node::{Node, SpawnFn};
use crate::reentrancy::{Reentrancy, ReentrancyMode};
use crate::remote::wire::WireSpawnOptions;

/// An actor other nodes may spawn on this one: its `Args` travel as MessagePack, and
/// `KIND` names it on the wire (keep it stable across versions).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::{Actor, BoxError, Context, Node, RemoteActor, RemoteConfig, SpawnOptions};
///
/// struct Counter(u64);
/// impl Actor for Counter {
///     type Args = u64;
///     async fn init(start: u64, _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Counter(start)) }
/// }
/// impl RemoteActor for Counter {
///     const KIND: &'static str = "doc.counter";
/// }
///
/// let a = Node::builder().name("a@127.0.0.1:0").remote(RemoteConfig::new("cookie")).start().await?;
/// let b = Node::builder().name("b@127.0.0.1:0").remote(RemoteConfig::new("cookie")).start().await?;
/// b.allow_remote_spawn::<Counter>();
/// let counter = a.spawn_remote::<Counter>(b.name(), 10, SpawnOptions::default().name("counter")).await?;
/// assert_eq!(counter.pid().node(), b.name());
/// assert_eq!(b.whereis("counter"), Some(counter.pid().clone()));
/// a.shutdown().await;
/// b.shutdown().await;
/// # Ok(()) }
/// ```
pub trait RemoteActor: Actor<Args: Serialize + DeserializeOwned> {
    /// The kind's stable name on the wire.
    const KIND: &'static str;
}

impl Node {
    /// Lets other nodes spawn actors of kind `A` on this node with
    /// [`Node::spawn_remote`]. See [`RemoteActor`] for an example.
    pub fn allow_remote_spawn<A: RemoteActor>(&self) {
        let spawn: SpawnFn = Arc::new(|node: &Node, args: &[u8], options: &WireSpawnOptions| {
            let args: A::Args = MessagePack::decode(args)?;
            node.spawn_with::<A>(args, spawn_options(options))
                .map(|r| r.pid().clone())
        });
        self.spawnables().allow(A::KIND, spawn);
    }

    /// Spawns an actor of kind `A` on node `on` (which must
    /// [allow it](Node::allow_remote_spawn)) and returns a handle to it. `options`
    /// travel with it: a name registered there, the mailbox capacity, the reentrancy.
    ///
    /// Fails with [`Error::UnknownActorKind`] if `on` does not allow the kind,
    /// [`Error::NameTaken`] if the name is registered there, [`Error::Codec`] if the
    /// arguments do not decode, [`Error::NoConnection`] / [`Error::Timeout`] (the call
    /// timeout) when `on` does not answer. Like a local spawn it returns once the actor
    /// is started, before its `init` has run.
    pub async fn spawn_remote<A: RemoteActor>(
        &self,
        on: &NodeName,
        args: A::Args,
        options: SpawnOptions,
    ) -> Result<ActorRef<A>, Error> {
        if on == self.name() {
            return self.spawn_with::<A>(args, options);
        }
        let args = MessagePack::encode(&args)?;
        let options = WireSpawnOptions {
            name: options.name.unwrap_or_default(),
            mailbox_capacity: options.mailbox_capacity.unwrap_or(0) as u64,
            reentrancy_mode: options.reentrancy.mode.to_wire(),
            max_in_flight: options.reentrancy.max_in_flight as u64,
            // At least 1 ms: 0 means none on the wire.
            idle_timeout_ms: options
                .idle_timeout
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
        };
        let pid = self.spawn_remote_raw(on, A::KIND, args, options).await?;
        self.actor_ref::<A>(&pid)
    }

    /// Sends a spawn request as it goes on the wire (tests send unknown modes with it).
    pub(crate) async fn spawn_remote_raw(
        &self,
        on: &NodeName,
        kind: &str,
        args: Vec<u8>,
        options: WireSpawnOptions,
    ) -> Result<Pid, Error> {
        let remote = self
            .remote()
            .ok_or_else(|| Error::Config("this node has no network side (set a cookie)".into()))?;
        remote
            .spawn(on, kind, args, options, self.config().call_timeout)
            .await
    }
}

/// Spawn options as they came off the wire.
fn spawn_options(options: &WireSpawnOptions) -> SpawnOptions {
    SpawnOptions {
        name: (!options.name.is_empty()).then(|| options.name.clone()),
        mailbox_capacity: (options.mailbox_capacity > 0)
            .then(|| usize::try_from(options.mailbox_capacity).unwrap_or(usize::MAX)),
        reentrancy: Reentrancy::new(ReentrancyMode::from_wire(options.reentrancy_mode))
            .max_in_flight(usize::try_from(options.max_in_flight).unwrap_or(usize::MAX)),
        idle_timeout: (options.idle_timeout_ms > 0).then(|| Duration::from_millis(options.idle_timeout_ms)),
    }
}
