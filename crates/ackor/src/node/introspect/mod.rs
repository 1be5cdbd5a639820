//! Looking at a running node, from itself or from another node: [`Node::processes`]
//! lists its processes with what each one's cell can tell cheaply ([`ProcessInfo`]);
//! [`Node::info`] tells about the node and its peers ([`NodeInfo`]); and
//! [`Node::inspect`] asks any node, this one or one across the network, through the
//! `ackor.inspect` service every node answers ([`Inspector`]).

mod node_info;
mod service;

use serde::{Deserialize, Serialize};

use super::Node;
use crate::identity::{NodeName, Pid};
pub use crate::monitor::HandledMessage;
pub use node_info::{ImportantStats, NodeInfo, PeerInfo};
pub(crate) use service::answer;
pub use service::{INSPECT, Inspector};

/// What a process is doing, as far as its cell can tell without asking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProcessState {
    /// Handling messages or waiting for one.
    Running,
    /// Inside a blocking call to another actor, waiting for the answer.
    WaitingInCall,
    /// Holding user messages back until its requests are answered
    /// ([`ReentrancyMode::StashNonReentrant`](crate::ReentrancyMode::StashNonReentrant)).
    Stashing,
    /// Its instance ended and its supervisor is restarting it (perhaps after a backoff).
    Restarting,
    /// Its mailbox is closed: it is stopping (running `on_stop`, or being killed).
    Stopping,
    /// It has stopped; it leaves the process table right after.
    Stopped,
}

impl std::fmt::Display for ProcessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProcessState::Running => "running",
            ProcessState::WaitingInCall => "in-call",
            ProcessState::Stashing => "stashing",
            ProcessState::Restarting => "restarting",
            ProcessState::Stopping => "stopping",
            ProcessState::Stopped => "stopped",
        })
    }
}

/// One process of a node, as [`Node::processes`] sees it: a snapshot, taken without
/// disturbing the actor (no message is sent to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The process.
    #[serde(with = "pid_serde")]
    pub pid: Pid,
    /// The name it is registered under, if any.
    pub name: Option<String>,
    /// The actor's type (`std::any::type_name`, e.g. `my_app::Bank`).
    pub actor_type: String,
    /// User messages queued and not yet handled (in its lane, or taken from it in a
    /// batch the actor works through).
    pub mailbox_len: usize,
    /// The user lane's capacity.
    pub mailbox_capacity: usize,
    /// System messages (stop, `Down`, exit signals) queued.
    pub system_len: usize,
    /// What it is doing.
    pub state: ProcessState,
    /// User messages it handled so far (its message rate is the difference between two
    /// snapshots over the time between them).
    pub handled: u64,
    /// Its requests ([`Context::request`](crate::Context::request)) and piped futures
    /// waiting for their outcome.
    pub requests_in_flight: usize,
    /// User messages held back while it is [`ProcessState::Stashing`] (they stay
    /// queued, in order).
    pub stashed: usize,
    /// Why its last failed instance failed, for a supervised actor restarted in place.
    pub last_failure: Option<String>,
}

/// One process in detail ([`Inspector::process`]): its snapshot, who it is linked to,
/// whom it monitors and who monitors it, and the last messages it handled while
/// followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProcessDetail {
    /// The snapshot [`Node::processes`] has of it.
    pub info: ProcessInfo,
    /// The processes linked to it (here or on other nodes).
    #[serde(with = "pids_serde")]
    pub links: Vec<Pid>,
    /// The processes of this node it monitors.
    #[serde(with = "pids_serde")]
    pub monitors: Vec<Pid>,
    /// The processes monitoring it (here or on other nodes).
    #[serde(with = "pids_serde")]
    pub monitored_by: Vec<Pid>,
    /// The last messages it handled while followed, oldest first, with their trace ids.
    pub recent: Vec<HandledMessage>,
}

impl ProcessInfo {
    /// A snapshot (for the cells that build one).
    pub(crate) fn new(
        pid: Pid,
        name: Option<String>,
        actor_type: &str,
        lanes: (usize, usize, usize),
        state: ProcessState,
        stats: crate::monitor::StatsSnapshot,
    ) -> Self {
        let (in_lane, mailbox_capacity, system_len) = lanes;
        let mailbox_len = in_lane + stats.batched as usize;
        ProcessInfo {
            handled: stats.handled,
            requests_in_flight: stats.requests as usize,
            stashed: if state == ProcessState::Stashing {
                mailbox_len
            } else {
                0
            },
            last_failure: stats.last_failure,
            pid,
            name,
            actor_type: actor_type.to_string(),
            mailbox_len,
            mailbox_capacity,
            system_len,
            state,
        }
    }
}

/// A pid as `(node, id, creation)`.
mod pid_serde {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(pid: &Pid, s: S) -> Result<S::Ok, S::Error> {
        (pid.node().as_str(), pid.id(), pid.creation()).serialize(s)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Pid, D::Error> {
        let (node, id, creation) = <(String, u64, u32)>::deserialize(d)?;
        Ok(Pid::new(NodeName::new(node), id, creation))
    }
}

/// Pids as `(node, id, creation)` each.
mod pids_serde {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(pids: &[Pid], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pids.iter().map(|p| (p.node().as_str(), p.id(), p.creation())))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Pid>, D::Error> {
        let all = <Vec<(String, u64, u32)>>::deserialize(d)?;
        Ok(all
            .into_iter()
            .map(|(node, id, creation)| Pid::new(NodeName::new(node), id, creation))
            .collect())
    }
}

impl Node {
    /// The node's live processes, ordered by pid: for each, its registered name, actor
    /// type, mailbox fill and state ([`ProcessInfo`]). A snapshot: processes may start
    /// or stop meanwhile.
    ///
    /// ```
    /// use ackor::{Actor, BoxError, Context, Node, ProcessState, SpawnOptions};
    ///
    /// struct Bank;
    /// impl Actor for Bank {
    ///     type Args = ();
    ///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Bank) }
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// let node = Node::builder().name("a@local").start().await?;
    /// let bank = node.spawn_with::<Bank>((), SpawnOptions::default().name("bank").mailbox_capacity(8))?;
    /// let ps = node.processes();
    /// assert_eq!(ps.len(), 1);
    /// assert_eq!(&ps[0].pid, bank.pid());
    /// assert_eq!(ps[0].name.as_deref(), Some("bank"));
    /// assert!(ps[0].actor_type.ends_with("Bank"));
    /// assert_eq!(ps[0].mailbox_capacity, 8);
    /// assert_eq!(ps[0].state, ProcessState::Running);
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn processes(&self) -> Vec<ProcessInfo> {
        let mut all: Vec<ProcessInfo> = self.registry().all().iter().map(|p| p.info()).collect();
        all.sort_by(|a, b| a.pid.cmp(&b.pid));
        all
    }

    /// One process in detail ([`ProcessDetail`]), or `None` if it is not alive here.
    /// Local only; [`Inspector::process`] asks any node, and follows the process.
    ///
    /// ```
    /// use ackor::{Actor, BoxError, Context, Node};
    ///
    /// struct Idle;
    /// impl Actor for Idle {
    ///     type Args = ();
    ///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Idle) }
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// let node = Node::builder().name("a@local").start().await?;
    /// let idle = node.spawn::<Idle>(())?;
    /// let detail = node.process(idle.pid()).expect("alive");
    /// assert!(detail.links.is_empty() && detail.monitored_by.is_empty());
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn process(&self, pid: &Pid) -> Option<ProcessDetail> {
        let cell = self.registry().get(pid)?;
        let core = cell.core();
        let monitors = self
            .registry()
            .all()
            .iter()
            .filter(|other| other.core().watchers().contains(pid))
            .map(|other| other.core().pid().clone())
            .collect();
        Some(ProcessDetail {
            info: cell.info(),
            links: core.links(),
            monitors,
            monitored_by: core.watchers(),
            recent: core.stats().recent(),
        })
    }
}
