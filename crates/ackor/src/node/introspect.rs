//! Looking at a running node: [`Node::processes`] lists its processes with what each
//! one's cell can tell cheaply ([`ProcessInfo`]).

use serde::{Deserialize, Serialize};

use super::Node;
use crate::identity::{NodeName, Pid};

/// What a process is doing, as far as its cell can tell without asking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProcessState {
    /// Handling messages or waiting for one.
    Running,
    /// Inside a blocking call to another actor, waiting for the answer.
    WaitingInCall,
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
    /// User messages queued and not yet taken by the actor.
    pub mailbox_len: usize,
    /// The user lane's capacity.
    pub mailbox_capacity: usize,
    /// System messages (stop, `Down`, exit signals) queued.
    pub system_len: usize,
    /// What it is doing.
    pub state: ProcessState,
}

impl ProcessInfo {
    /// A snapshot (for the cells that build one).
    pub(crate) fn new(
        pid: Pid,
        name: Option<String>,
        actor_type: &str,
        lanes: (usize, usize, usize),
        state: ProcessState,
    ) -> Self {
        let (mailbox_len, mailbox_capacity, system_len) = lanes;
        ProcessInfo {
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
}
