//! [`Node`]: the runtime that owns processes, their pids and names, and the network
//! side. What names an actor type (spawning, typed handles) is in the layers above.

mod inbound;
pub(crate) mod introspect;
mod process;
mod registry;
mod sampler;
mod spawnables;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::runtime::Handle;

pub use introspect::{
    HandledMessage, INSPECT, ImportantStats, Inspector, NodeInfo, PeerInfo, ProcessDetail, ProcessInfo,
    ProcessState,
};
pub(crate) use process::{Delivery, Process, RemoteReplyTo, SendOn, Undelivered};
pub(crate) use registry::Registry;
pub(crate) use spawnables::{SpawnFn, Spawnables};

use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::monitor::{ExitReason, SystemMsg};
use crate::reliable;
use crate::remote::{Remote, RemoteConfig};

/// Default capacity of an actor's user lane.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;
/// Default time a `call` waits for its reply.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time `shutdown` lets actors run `on_stop` before killing them.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits for its goodbyes to peers to be written and taken in.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(1);

/// Settings of a node; build them with [`Node::builder`].
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's name.
    pub name: NodeName,
    /// Capacity of each actor's user lane unless its spawn options say otherwise.
    pub mailbox_capacity: usize,
    /// How long a `call` waits for its reply unless the call says otherwise.
    pub call_timeout: Duration,
    /// How long `shutdown` waits for actors to stop before killing the rest.
    pub shutdown_timeout: Duration,
    /// The network side; `None` for a node that only hosts local actors.
    pub remote: Option<RemoteConfig>,
    /// Detailed metrics: sampled gauges (mailbox depths, stashes, peers) refreshed this
    /// often, and the handler-latency histogram; `None` (the default) records neither.
    pub detailed_metrics: Option<Duration>,
}

/// Builds and starts a [`Node`].
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use std::time::Duration;
///
/// let node = ackor::Node::builder()
///     .name("a@local")
///     .mailbox_capacity(256)
///     .call_timeout(Duration::from_secs(2))
///     .start()
///     .await?;
/// assert_eq!(node.config().mailbox_capacity, 256);
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    config: NodeConfig,
}

impl NodeBuilder {
    /// The node's name (`name@host:port` for a networked node).
    pub fn name(mut self, name: impl AsRef<str>) -> Self {
        self.config.name = NodeName::new(name);
        self
    }

    /// Default capacity of each actor's user lane (see
    /// [`SpawnOptions::mailbox_capacity`](crate::SpawnOptions::mailbox_capacity) for
    /// exactly what it bounds).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.config.mailbox_capacity = capacity;
        self
    }

    /// Default timeout of `call`.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = timeout;
        self
    }

    /// How long `shutdown` waits for `on_stop` before killing.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Makes the node reachable from other nodes with `cookie` and default network
    /// settings: it listens on the `host:port` of its name (`name@host:port`; port 0
    /// picks a free port, and the name then carries the real one).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.config.remote = Some(RemoteConfig::new(cookie));
        self
    }

    /// Makes the node reachable from other nodes with these network settings.
    pub fn remote(mut self, remote: RemoteConfig) -> Self {
        self.config.remote = Some(remote);
        self
    }

    /// Records the detailed metrics of the crate docs' table (see
    /// [`NodeConfig::detailed_metrics`]): the gauges sampled from the node's tables
    /// every `every` (mailbox depth per actor type and lane, stash size, and per peer
    /// the round-trip time, bytes and unacknowledged important sends), and
    /// `ackor_handler_seconds`, the time each handler takes, per actor type (two clock
    /// reads per message: off by default).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use std::time::Duration;
    /// let node = ackor::Node::builder().detailed_metrics(Duration::from_secs(1)).start().await?;
    /// assert_eq!(node.config().detailed_metrics, Some(Duration::from_secs(1)));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn detailed_metrics(mut self, every: Duration) -> Self {
        self.config.detailed_metrics = Some(every);
        self
    }

    /// Starts the node on the current tokio runtime.
    ///
    /// Fails with [`Error::Config`] for an empty name, a zero mailbox capacity, a
    /// networked node whose name is not `name@host:port` or whose address cannot be
    /// bound, a name with a port but no cookie (it would start unreachable), and when
    /// called outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use ackor::{Error, Node};
    /// let refused = Node::builder().name("a@127.0.0.1:4370").start().await;
    /// assert!(matches!(refused, Err(Error::Config(_)))); // a port, but no cookie
    /// # }
    /// ```
    pub async fn start(self) -> Result<Node, Error> {
        let mut config = self.config;
        if config.name.as_str().is_empty() {
            return Err(Error::Config("the node name is empty".into()));
        }
        if config.mailbox_capacity == 0 {
            return Err(Error::Config("the mailbox capacity must be at least 1".into()));
        }
        if config.remote.is_none() && has_port(config.name.as_str()) {
            // Would otherwise start local-only and fail only at the first remote use.
            return Err(Error::Config(format!(
                "node name `{}` has a port, but the node has no cookie: set one \
                 (NodeBuilder::cookie or NodeBuilder::remote) to make it reachable, or \
                 drop the port for a local-only node",
                config.name
            )));
        }
        let runtime = Handle::try_current().map_err(|e| Error::Config(format!("no tokio runtime: {e}")))?;
        let creation = new_creation();
        let mut listener = None;
        let remote = match &config.remote {
            Some(rc) => {
                let (remote, name, l) = Remote::bind(
                    &config.name,
                    creation,
                    rc.clone(),
                    runtime.clone(),
                    reliable::new_custody,
                )
                .await?;
                config.name = name;
                listener = Some(l);
                Some(remote)
            }
            None => None,
        };
        let inner = NodeInner {
            creation,
            chain_seed: chain_seed(&config.name, creation),
            remote,
            config,
            next_id: AtomicU64::new(1),
            registry: Registry::default(),
            spawnables: Default::default(),
            stopping: AtomicBool::new(false),
            runtime,
            started: std::time::Instant::now(),
        };
        tracing::info!(node = %inner.config.name, creation = inner.creation, "node started");
        let node = Node {
            inner: Arc::new(inner),
        };
        if let (Some(remote), Some(listener)) = (&node.inner.remote, listener) {
            remote.start(Arc::new(node.clone()), listener);
        }
        if let Some(every) = node.inner.config.detailed_metrics {
            sampler::start(&node, every);
        }
        Ok(node)
    }
}

/// True for a name `name@host:port`: what only a networked node listens on.
fn has_port(name: &str) -> bool {
    let Some((_, host)) = name.rsplit_once('@') else {
        return false;
    };
    host.rsplit_once(':').is_some_and(|(h, port)| {
        !h.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A seed for chain ids that differs between nodes and incarnations.
fn chain_seed(name: &NodeName, creation: u32) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    name.as_str().hash(&mut h);
    creation.hash(&mut h);
    h.finish()
}

/// A creation number that differs between incarnations of a node: the low bits of the
/// wall clock in milliseconds mixed with random bits, never zero.
fn new_creation() -> u32 {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(1);
    // Mixed with random bits: two incarnations started within the same millisecond
    // (a fast restart) must still differ.
    let mut random = [0u8; 4];
    let noise = getrandom::fill(&mut random).map_or(0, |()| u32::from_le_bytes(random));
    ((millis as u32) ^ noise).max(1)
}

struct NodeInner {
    creation: u32,
    /// Seeds the call-chain ids of this node's actors (see `identity::ChainId`).
    chain_seed: u64,
    remote: Option<Arc<Remote>>,
    config: NodeConfig,
    next_id: AtomicU64,
    registry: Registry,
    /// The actor kinds other nodes may spawn here.
    spawnables: Spawnables,
    stopping: AtomicBool,
    runtime: Handle,
    /// When it started (for its uptime).
    started: std::time::Instant,
}

/// A node: spawns actors, gives them pids and names, and stops them all on shutdown.
///
/// Cheap to clone; every clone is the same node.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::{Actor, BoxError, Context, Node, ProcessId, SpawnOptions};
///
/// struct Bank;
/// impl Actor for Bank {
///     type Args = ();
///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Bank) }
/// }
///
/// let node = Node::builder().name("a@local").start().await?;
/// let bank = node.spawn_with::<Bank>((), SpawnOptions::default().name("bank"))?;
/// assert_eq!(node.whereis("bank"), Some(bank.pid().clone()));
/// let again = node.lookup::<Bank>(&ProcessId::new("bank", node.name().clone()))?;
/// assert_eq!(again, bank);
/// let missing = node.lookup::<Bank>(&ProcessId::new("vault", node.name().clone()));
/// assert_eq!(missing, Err(ackor::Error::ProcessUnknown));
/// node.shutdown().await; // stops every actor, running their on_stop
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.config.name)
            .field("creation", &self.inner.creation)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts building a node with the defaults: name `nonode@nohost`, mailbox
    /// capacity [`DEFAULT_MAILBOX_CAPACITY`], call timeout [`DEFAULT_CALL_TIMEOUT`].
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            config: NodeConfig {
                name: NodeName::new("nonode@nohost"),
                mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
                call_timeout: DEFAULT_CALL_TIMEOUT,
                shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
                remote: None,
                detailed_metrics: None,
            },
        }
    }

    /// The node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.config.name
    }

    /// The node's incarnation number.
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    pub(crate) fn chain_seed(&self) -> u64 {
        self.inner.chain_seed
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    pub(crate) fn remote(&self) -> Option<&Arc<Remote>> {
        self.inner.remote.as_ref()
    }

    /// The address the node listens on, for a networked node.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.remote.as_ref().map(|r| r.local_addr())
    }

    /// Asks process `pid`, on this node or another, to stop with `reason`, without a
    /// typed handle (see [`ActorRef::stop_with`](crate::ActorRef::stop_with) for what
    /// stopping does). [`Error::ProcessUnknown`] for a local pid that is not alive;
    /// to another node the request is sent and not confirmed.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, ExitReason, Node};
    /// # struct Idle;
    /// # impl Actor for Idle { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Idle) } }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let idle = node.spawn::<Idle>(())?;
    /// let pid = idle.pid().clone();
    /// node.stop(&pid, ExitReason::Normal)?;
    /// // (Not `node.wait_for_exit(&pid)`: the actor may be gone before it looks.)
    /// assert_eq!(idle.wait_for_stop().await, ExitReason::Normal);
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn stop(&self, pid: &Pid, reason: ExitReason) -> Result<(), Error> {
        if pid.node() == self.name() {
            let cell = self.registry().get(pid).ok_or(Error::ProcessUnknown)?;
            return cell
                .push_system(SystemMsg::Stop(reason))
                .map_err(|_| Error::ProcessUnknown);
        }
        let remote = self
            .remote()
            .ok_or_else(|| Error::Config("this node has no network side (set a cookie)".into()))?;
        remote.exit(None, pid, &reason)
    }

    /// Treats `node` as gone, now: what waits on it fails as on a lost connection
    /// (calls and important sends with [`Error::ConnectionLost`] if they had left,
    /// [`Error::NoConnection`] if not; monitors of its processes get `Down` and links
    /// exit with [`ExitReason::NoConnection`]), nothing is kept to resend to it, and
    /// it is dialed again only when something is sent to it. For a failure detector
    /// that knows better than this node's heartbeats (`ackor-cluster` uses it).
    /// Returns false if this node never dealt with `node`.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use ackor::{Node, NodeName};
    /// let node = Node::builder().name("a@127.0.0.1:0").cookie("c").start().await?;
    /// assert!(!node.disconnect(&NodeName::new("b@127.0.0.1:9")));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn disconnect(&self, node: &NodeName) -> bool {
        self.inner
            .remote
            .as_ref()
            .is_some_and(|r| r.declare_down(node, "declared down"))
    }

    /// The nodes this node has outgoing links to right now.
    pub fn connected_nodes(&self) -> Vec<NodeName> {
        self.inner
            .remote
            .as_ref()
            .map(|r| r.connected_peers())
            .unwrap_or_default()
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn spawnables(&self) -> &Spawnables {
        &self.inner.spawnables
    }

    /// True once shutdown has begun (spawning fails with [`Error::NodeStopped`]).
    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    /// A fresh pid for a process about to start; [`Error::NodeStopped`] once shutdown
    /// has begun.
    pub(crate) fn next_pid(&self) -> Result<Pid, Error> {
        let inner = &self.inner;
        if inner.stopping.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Pid::new(inner.config.name.clone(), id, inner.creation))
    }

    pub(crate) fn runtime(&self) -> &Handle {
        &self.inner.runtime
    }

    /// Registers `name` for the live process `pid`. A process has at most one name and
    /// a name at most one process.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), Error> {
        let cell = self.inner.registry.get(pid).ok_or(Error::ProcessUnknown)?;
        self.inner.registry.register(name, cell)
    }

    /// Removes a registered name; false if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.inner.registry.unregister(name)
    }

    /// The pid registered under `name` on this node.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.registry.whereis(name).map(|c| c.core().pid().clone())
    }

    /// True while `pid` is a live process of this node.
    pub fn is_alive(&self, pid: &Pid) -> bool {
        self.inner.registry.get(pid).is_some()
    }

    /// The number of live processes.
    pub fn process_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// Waits until `pid` has stopped and returns why ([`ExitReason::NoProcess`] if it
    /// is not a live process of this node).
    pub async fn wait_for_exit(&self, pid: &Pid) -> ExitReason {
        match self.inner.registry.get(pid) {
            Some(cell) => crate::monitor::wait_for_exit(cell).await,
            None => ExitReason::NoProcess,
        }
    }

    /// Stops every actor gracefully (reason [`ExitReason::Shutdown`], running their
    /// `on_stop`) and returns when all have stopped. Actors still running after the
    /// shutdown timeout are killed. Spawning fails with [`Error::NodeStopped`] from
    /// now on. Then a networked node tells its peers it leaves (waiting up to a second
    /// for them to take it in), so they see a clean leave rather than a lost
    /// connection, and closes its links.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        let remote_down = scopeguard_remote(self.inner.remote.clone());
        let deadline = tokio::time::Instant::now() + self.inner.config.shutdown_timeout;
        loop {
            let cells = self.inner.registry.all();
            if cells.is_empty() {
                break;
            }
            let mut exits = Vec::with_capacity(cells.len());
            for cell in &cells {
                let _ = cell.push_system(SystemMsg::Stop(ExitReason::Shutdown));
                exits.push(crate::monitor::wait_for_exit(cell.clone()));
            }
            let all = futures_util::future::join_all(exits);
            if tokio::time::timeout_at(deadline, all).await.is_err() {
                let late = self.inner.registry.all();
                for cell in &late {
                    tracing::warn!(pid = %cell.core().pid(), "killed at shutdown: on_stop took too long");
                    cell.kill();
                }
                futures_util::future::join_all(late.iter().map(|c| crate::monitor::wait_for_exit(c.clone())))
                    .await;
            }
        }
        if let Some(remote) = &self.inner.remote {
            // Peers learn that this node leaves (not that it was lost), after the last
            // `Down`s and exit signals of its actors.
            remote.leave(LEAVE_TIMEOUT).await;
        }
        drop(remote_down);
        if let Some(remote) = &self.inner.remote {
            remote.close_listener().await;
        }
        tracing::info!(node = %self.name(), "node stopped");
    }
}

/// Closes the network side once local actors have stopped (their last exit signals
/// and `Down`s to other nodes are queued by then), even if `shutdown` is cancelled.
fn scopeguard_remote(remote: Option<Arc<Remote>>) -> impl Drop {
    struct CloseRemote(Option<Arc<Remote>>);
    impl Drop for CloseRemote {
        fn drop(&mut self) {
            if let Some(r) = self.0.take() {
                r.shutdown();
            }
        }
    }
    CloseRemote(remote)
}
