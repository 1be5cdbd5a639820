//! Actors every `ackor node` process hosts, registered by name:
//!
//! - `echo` ([`Echo`]): answers [`Ping`] with the text and the node's name;
//! - `relay` ([`Relay`]): answers [`Forward`] by calling `echo` on another node, so a
//!   test can make two node processes talk to each other;
//! - `sink` ([`Sink`]): takes [`Ping`] too, but slowly ([`SINK_DELAY`] each) and with
//!   room for one message, so a second important send soon after the first is refused
//!   with `MailboxFull`;
//! - `ackor.inspect` ([`Inspect`]): answers [`ListProcesses`] with the node's
//!   processes (what `ackor ps` shows), and [`ListMembers`] with the cluster members
//!   the node sees (what `ackor members` shows).

use ackor::{
    Actor, BoxError, Context, Error, Handler, Message, Node, ProcessId, ProcessInfo, RemoteMessage,
    RemoteMessages, Reply,
};
use ackor_cluster::Cluster;
use serde::{Deserialize, Serialize};

/// The name `ackor ps` asks for the list of processes.
pub const INSPECT: &str = "ackor.inspect";

/// How long `sink` takes over each message.
pub const SINK_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers pings.
pub struct Echo;

impl Actor for Echo {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo)
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Ping>();
    }
    async fn on_stop(&mut self, ctx: &mut Context<Self>, reason: &ackor::ExitReason) {
        // A node stopping gracefully runs this: its log shows it did.
        tracing::info!(node = %ctx.node().name(), %reason, "echo stopped");
    }
}

/// Asks `echo` to answer; the reply is `"<text> from <node>"`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ping(pub String);

impl Message for Ping {
    type Reply = String;
}

impl RemoteMessage for Ping {
    const TAG: &'static str = "ackor.cli.ping.v1";
}

impl Handler<Ping> for Echo {
    type Return = String;
    async fn handle(&mut self, msg: Ping, ctx: &mut Context<Self>) -> String {
        format!("{} from {}", msg.0, ctx.node().name())
    }
}

/// Calls `echo` on other nodes on request.
pub struct Relay;

impl Actor for Relay {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Relay)
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Forward>();
    }
}

/// Asks `relay` to ping `echo` on `node`; the reply is what that echo answered.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forward {
    /// The node whose `echo` to call.
    pub node: String,
    /// The text to send.
    pub text: String,
}

impl Message for Forward {
    type Reply = String;
}

impl RemoteMessage for Forward {
    const TAG: &'static str = "ackor.cli.forward.v1";
}

impl Handler<Forward> for Relay {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: Forward, ctx: &mut Context<Self>) -> Reply<String> {
        let id = ProcessId::new("echo", ackor::NodeName::new(&msg.node));
        Reply::from_result(ctx.call_name::<Echo, _>(&id, Ping(msg.text)).await)
    }
}

/// Takes pings slowly, one at a time, with room for one.
pub struct Sink;

impl Actor for Sink {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink)
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Ping>();
    }
}

impl Handler<Ping> for Sink {
    type Return = String;
    async fn handle(&mut self, msg: Ping, ctx: &mut Context<Self>) -> String {
        tokio::time::sleep(SINK_DELAY).await;
        format!("{} sunk at {}", msg.0, ctx.node().name())
    }
}

/// Lists the node's processes, and the cluster members it sees, on request.
pub struct Inspect {
    cluster: Option<Cluster>,
}

impl Actor for Inspect {
    /// The node's cluster membership, if it is in a cluster.
    type Args = Option<Cluster>;
    async fn init(cluster: Option<Cluster>, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Inspect { cluster })
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<ListProcesses>();
        messages.add::<ListMembers>();
    }
}

/// Asks `ackor.inspect` for the node's processes (see [`Node::processes`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct ListProcesses;

impl Message for ListProcesses {
    type Reply = Vec<ProcessInfo>;
}

impl RemoteMessage for ListProcesses {
    const TAG: &'static str = "ackor.cli.list_processes.v1";
}

impl Handler<ListProcesses> for Inspect {
    type Return = Vec<ProcessInfo>;
    async fn handle(&mut self, _: ListProcesses, ctx: &mut Context<Self>) -> Vec<ProcessInfo> {
        ctx.node().processes()
    }
}

/// Asks `ackor.inspect` for the cluster members its node sees: `None` when the node
/// is in no cluster.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListMembers;

/// A cluster member, as [`ListMembers`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The node name, `name@host:port`.
    pub node: String,
    /// The node's incarnation.
    pub creation: u32,
    /// Where it gossips.
    pub gossip_addr: String,
}

impl Message for ListMembers {
    type Reply = Option<Vec<MemberInfo>>;
}

impl RemoteMessage for ListMembers {
    const TAG: &'static str = "ackor.cli.list_members.v1";
}

impl Handler<ListMembers> for Inspect {
    type Return = Option<Vec<MemberInfo>>;
    async fn handle(&mut self, _: ListMembers, _ctx: &mut Context<Self>) -> Option<Vec<MemberInfo>> {
        let cluster = self.cluster.as_ref()?;
        Some(
            cluster
                .members()
                .into_iter()
                .map(|m| MemberInfo {
                    node: m.node.to_string(),
                    creation: m.creation,
                    gossip_addr: m.gossip_addr.to_string(),
                })
                .collect(),
        )
    }
}

/// Spawns `echo`, `relay`, `sink` and `ackor.inspect` on `node` (outside any cluster).
pub fn start(node: &Node) -> Result<(), Error> {
    start_with(node, None)
}

/// Spawns `echo`, `relay`, `sink` and `ackor.inspect` on `node`; `ackor.inspect`
/// reports the members of `cluster`.
pub fn start_with(node: &Node, cluster: Option<Cluster>) -> Result<(), Error> {
    use ackor::SpawnOptions;
    node.spawn_with::<Echo>((), SpawnOptions::default().name("echo"))?;
    node.spawn_with::<Relay>((), SpawnOptions::default().name("relay"))?;
    node.spawn_with::<Sink>((), SpawnOptions::default().name("sink").mailbox_capacity(1))?;
    node.spawn_with::<Inspect>(cluster, SpawnOptions::default().name(INSPECT))?;
    Ok(())
}
