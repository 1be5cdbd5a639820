//! What a supervisor is told to supervise, and how: [`SupervisorSpec`], [`ChildSpec`],
//! [`Strategy`], [`Restart`], [`Backoff`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::group::{ChildOverseer, Group};
use crate::actor::{Actor, SpawnOptions};
use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::node::{Node, Process};
use crate::route::RemoteActor;

/// Which children a supervisor restarts when one of them fails (OTP's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// Every child: the others are stopped in reverse order, then all start again in
    /// order.
    OneForAll,
    /// The failed child and those started after it.
    RestForOne,
}

/// When a child is restarted (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always, whatever ended it.
    #[default]
    Permanent,
    /// Only after a failure (a panic, an abnormal exit reason), not after a normal stop.
    Transient,
    /// Never.
    Temporary,
}

/// How long a supervisor waits before restarting a child, growing with each restart:
/// from `min`, doubling up to `max`, with up to `jitter` (a fraction, 0 to 1) added at
/// random, and back to `min` once the child has run for `reset_after`. The default
/// restarts at once.
///
/// ```
/// use std::time::Duration;
/// let backoff = ackor::supervision::Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1));
/// assert_eq!(backoff.min, Duration::from_millis(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Random extra, as a fraction of the delay.
    pub jitter: f64,
    /// A child that ran this long without failing starts again from `min`.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::ZERO,
            max: Duration::ZERO,
            jitter: 0.0,
            reset_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// Delays from `min` doubling to `max`, 20 % jitter, reset after 10 s of running.
    pub fn exponential(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            jitter: 0.2,
            reset_after: Duration::from_secs(10),
        }
    }

    /// Sets the jitter (clamped to 0..=1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Sets how long a child must run to start again from `min`.
    pub fn reset_after(mut self, d: Duration) -> Self {
        self.reset_after = d;
        self
    }

    /// The delay after `previous` (None: the first restart), without jitter.
    pub(crate) fn next(&self, previous: Option<Duration>) -> Duration {
        match previous {
            None => self.min,
            Some(d) => (d * 2).max(self.min).min(self.max.max(self.min)),
        }
    }

    /// `delay` with this backoff's random extra.
    pub(crate) fn jittered(&self, delay: Duration) -> Duration {
        if self.jitter <= 0.0 || delay.is_zero() {
            return delay;
        }
        let mut bytes = [0u8; 4];
        let unit = getrandom::fill(&mut bytes).map_or(0.5, |()| {
            f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
        });
        delay.mul_f64(1.0 + self.jitter * unit)
    }
}

/// A child as started: its pid and, for one on this node, its process.
pub(crate) type Started = (Pid, Option<Arc<dyn Process>>);

/// Starts one child; type-erased so a supervisor can hold children of any actor type.
pub(crate) type StartFn = Arc<
    dyn Fn(&Node, &Arc<Group>, u64) -> Pin<Box<dyn Future<Output = Result<Started, Error>> + Send>>
        + Send
        + Sync,
>;

/// One child of a supervisor: how to start it (and start it again), and when.
///
/// ```
/// use ackor::{Actor, BoxError, Context};
/// use ackor::supervision::{ChildSpec, Restart};
///
/// struct Worker;
/// impl Actor for Worker {
///     type Args = u32;
///     async fn init(_: u32, _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Worker) }
/// }
/// let spec = ChildSpec::new::<Worker>("worker", || 7).restart(Restart::Transient).name("worker");
/// assert_eq!(spec.id(), "worker");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) options: SpawnOptions,
    pub(crate) make: Arc<dyn Fn(SpawnOptions) -> StartFn + Send + Sync>,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child of actor type `A`, started (and restarted) with the arguments `args`
    /// makes; permanent, 5 s to stop, restarted at once.
    pub fn new<A: Actor>(id: impl Into<String>, args: impl Fn() -> A::Args + Send + Sync + 'static) -> Self {
        let args: Arc<dyn Fn() -> A::Args + Send + Sync> = Arc::new(args);
        let make = move |options: SpawnOptions| -> StartFn {
            let args = args.clone();
            Arc::new(move |node: &Node, group: &Arc<Group>, key: u64| {
                let overseer = Arc::new(ChildOverseer::<A> {
                    group: group.clone(),
                    key,
                    args: args.clone(),
                });
                let started = node
                    .spawn_overseen::<A>(args(), options.clone(), |_| {}, Some(overseer))
                    .map(|cell| {
                        let process: Arc<dyn Process> = cell.clone();
                        (cell.core.pid().clone(), Some(process))
                    });
                Box::pin(std::future::ready(started))
            })
        };
        Self::with_start(id.into(), Arc::new(make))
    }

    /// A child of kind `A` on another node, spawned there through
    /// [`Node::spawn_remote`] on the first of `nodes` that answers (its registered
    /// name, if any, is registered there). It is not restarted in place: when it stops,
    /// or its node goes down (it counts as failed with `NoConnection`), a new one is
    /// spawned, per its restart type, on the first reachable node of the list, starting
    /// with the one it ran on. Every node of the list must
    /// [allow](Node::allow_remote_spawn) the kind.
    pub fn remote<A: RemoteActor>(
        id: impl Into<String>,
        nodes: impl IntoIterator<Item = NodeName>,
        args: impl Fn() -> A::Args + Send + Sync + 'static,
    ) -> Self {
        let args: Arc<dyn Fn() -> A::Args + Send + Sync> = Arc::new(args);
        let nodes: Arc<Vec<NodeName>> = Arc::new(nodes.into_iter().collect());
        // Where the next start tries first: where the child last started.
        let next = Arc::new(AtomicUsize::new(0));
        let make = move |options: SpawnOptions| -> StartFn {
            let (args, nodes, next) = (args.clone(), nodes.clone(), next.clone());
            Arc::new(move |node: &Node, _: &Arc<Group>, _: u64| {
                let (node, args, nodes, next, options) = (
                    node.clone(),
                    args.clone(),
                    nodes.clone(),
                    next.clone(),
                    options.clone(),
                );
                Box::pin(async move {
                    let mut last = Error::Config("a remote child needs at least one node".into());
                    let first = next.load(Ordering::Relaxed);
                    for i in 0..nodes.len() {
                        let at = (first + i) % nodes.len();
                        match node.spawn_remote::<A>(&nodes[at], args(), options.clone()).await {
                            Ok(child) => {
                                next.store(at, Ordering::Relaxed);
                                return Ok((child.pid().clone(), None));
                            }
                            Err(e) => {
                                tracing::warn!(node = %nodes[at], error = %e, "remote child not started there");
                                last = e;
                            }
                        }
                    }
                    Err(last)
                })
            })
        };
        Self::with_start(id.into(), Arc::new(make))
    }

    /// A permanent child, 5 s to stop, restarted at once, started by what `make` makes.
    fn with_start(id: String, make: Arc<dyn Fn(SpawnOptions) -> StartFn + Send + Sync>) -> Self {
        ChildSpec {
            id,
            restart: Restart::Permanent,
            shutdown: Duration::from_secs(5),
            backoff: Backoff::default(),
            options: SpawnOptions::default(),
            make,
        }
    }

    /// The child's id within its supervisor.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it is restarted.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How long it may take to stop (running `on_stop`) before it is killed.
    pub fn shutdown(mut self, timeout: Duration) -> Self {
        self.shutdown = timeout;
        self
    }

    /// How long to wait before restarting it.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Registers it under `name` (the name stays with it across restarts in place).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = Some(name.into());
        self
    }

    /// Its spawn options (name, mailbox capacity, reentrancy).
    pub fn options(mut self, options: SpawnOptions) -> Self {
        self.options = options;
        self
    }

    pub(crate) fn starter(&self) -> StartFn {
        (self.make)(self.options.clone())
    }
}

/// A supervisor's children and how it restarts them: at most `max_restarts` restarts
/// within `within`; one more and the supervisor stops its children and fails, for its
/// own supervisor to decide (escalation).
///
/// ```
/// use std::time::Duration;
/// use ackor::supervision::{Strategy, SupervisorSpec};
/// let spec = SupervisorSpec::new(Strategy::OneForAll).intensity(3, Duration::from_secs(5));
/// assert_eq!(spec.strategy(), Strategy::OneForAll);
/// ```
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    pub(crate) strategy: Strategy,
    pub(crate) max_restarts: usize,
    pub(crate) within: Duration,
    pub(crate) children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// No children yet; at most 3 restarts in 5 s (OTP's default intensity).
    pub fn new(strategy: Strategy) -> Self {
        SupervisorSpec {
            strategy,
            max_restarts: 3,
            within: Duration::from_secs(5),
            children: Vec::new(),
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// At most `max_restarts` within `within`.
    pub fn intensity(mut self, max_restarts: usize, within: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.within = within;
        self
    }

    /// Adds a child; children start in the order they are added.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}
