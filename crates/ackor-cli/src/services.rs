//! Actors every `ackor node` process hosts, registered by name:
//!
//! - `echo` ([`Echo`]): answers [`Ping`] with the text and the node's name; other
//!   nodes may also spawn more of it ([`Node::spawn_remote`], kind `ackor.cli.echo.v1`);
//! - `relay` ([`Relay`]): answers [`Forward`] by calling `echo` on another node, and
//!   [`ForwardImportant`] with a burst of important sends to a process there, so a
//!   test can make two node processes talk to each other;
//! - `sink` ([`Sink`]): takes [`Ping`] too, but slowly ([`SINK_DELAY`] each) and with
//!   room for one message, so a second important send soon after the first is refused
//!   with `MailboxFull`;
//! - `ackor.members` ([`Members`]): answers [`ListMembers`] with the cluster members
//!   the node sees (what `ackor members` shows).
//!
//! (What `ackor ps` and `ackor inspect` show comes from the `ackor.inspect` service
//! every node answers by itself: see `ackor::inspect`.)

use ackor::{Actor, BoxError, Context, Error, Message, Node, ProcessId, RemoteActor, RemoteMessage, Reply};
use ackor_cluster::Cluster;
use serde::{Deserialize, Serialize};

// The services are written with ackor's macros: `#[derive(Message, RemoteMessage)]` on
// each message, and `#[ackor::actor]` on each actor, whose `#[handler]`s become the
// `Handler` impls and register every remote message they take (nothing to forget).

/// The name `ackor members` asks for the cluster members.
pub const MEMBERS: &str = "ackor.members";

/// How long `sink` takes over each message.
pub const SINK_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// Asks `echo` to answer; the reply is `"<text> from <node>"`.
#[derive(Debug, Serialize, Deserialize, Message, RemoteMessage)]
#[message(reply = String)]
#[remote(tag = "ackor.cli.ping.v1")]
pub struct Ping(pub String);

/// Asks `relay` to ping `echo` on `node`; the reply is what that echo answered.
#[derive(Debug, Serialize, Deserialize, Message, RemoteMessage)]
#[message(reply = String)]
#[remote(tag = "ackor.cli.forward.v1")]
pub struct Forward {
    /// The node whose `echo` to call.
    pub node: String,
    /// The text to send.
    pub text: String,
}

/// Asks `relay` to send `count` important [`Ping`]s with `text`, all at once, to the
/// process registered as `name` on `node`; the reply is `count` once every one is
/// acknowledged, or the first error.
#[derive(Debug, Serialize, Deserialize, Message, RemoteMessage)]
#[message(reply = u32)]
#[remote(tag = "ackor.cli.forward_important.v1")]
pub struct ForwardImportant {
    /// The node of the recipient.
    pub node: String,
    /// The recipient's registered name there.
    pub name: String,
    /// The text of each ping.
    pub text: String,
    /// How many to send.
    pub count: u32,
}

/// Asks `ackor.members` for the cluster members its node sees: `None` when the node
/// is in no cluster.
#[derive(Debug, Serialize, Deserialize, Message, RemoteMessage)]
#[message(reply = Option<Vec<MemberInfo>>)]
#[remote(tag = "ackor.cli.list_members.v1")]
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

/// Answers pings.
pub struct Echo;

#[ackor::actor]
impl Actor for Echo {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo)
    }

    async fn on_stop(&mut self, ctx: &mut Context<Self>, reason: &ackor::ExitReason) {
        // A node stopping gracefully runs this: its log shows it did.
        tracing::info!(node = %ctx.node().name(), %reason, "echo stopped");
    }

    #[handler]
    async fn ping(&mut self, msg: Ping, ctx: &mut Context<Self>) -> String {
        format!("{} from {}", msg.0, ctx.node().name())
    }
}

impl RemoteActor for Echo {
    const KIND: &'static str = "ackor.cli.echo.v1";
}

/// Calls `echo` on other nodes on request.
pub struct Relay;

#[ackor::actor]
impl Actor for Relay {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Relay)
    }

    #[handler]
    async fn forward(&mut self, msg: Forward, ctx: &mut Context<Self>) -> Reply<String> {
        let id = ProcessId::new("echo", ackor::NodeName::new(&msg.node));
        Reply::from_result(ctx.call_name::<Echo, _>(&id, Ping(msg.text)).await)
    }

    #[handler]
    async fn forward_important(&mut self, msg: ForwardImportant, ctx: &mut Context<Self>) -> Reply<u32> {
        let id = ProcessId::new(msg.name, ackor::NodeName::new(&msg.node));
        let sends = (0..msg.count).map(|_| {
            std::future::IntoFuture::into_future(
                ctx.send_important_name::<Echo, _>(&id, Ping(msg.text.clone())),
            )
        });
        let outcomes = futures_util::future::join_all(sends).await;
        Reply::from_result(
            outcomes
                .into_iter()
                .collect::<Result<Vec<()>, Error>>()
                .map(|_| msg.count),
        )
    }
}

/// Takes pings slowly, one at a time, with room for one.
pub struct Sink;

#[ackor::actor]
impl Actor for Sink {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink)
    }

    #[handler]
    async fn ping(&mut self, msg: Ping, ctx: &mut Context<Self>) -> String {
        tokio::time::sleep(SINK_DELAY).await;
        format!("{} sunk at {}", msg.0, ctx.node().name())
    }
}

/// Lists the cluster members its node sees, on request.
pub struct Members {
    cluster: Option<Cluster>,
}

#[ackor::actor]
impl Actor for Members {
    /// The node's cluster membership, if it is in a cluster.
    type Args = Option<Cluster>;
    async fn init(cluster: Option<Cluster>, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Members { cluster })
    }

    #[handler]
    async fn members(&mut self, _: ListMembers) -> Option<Vec<MemberInfo>> {
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

/// Spawns `echo`, `relay`, `sink` and `ackor.members` on `node` (outside any cluster).
pub fn start(node: &Node) -> Result<(), Error> {
    start_with(node, None)
}

/// Spawns `echo`, `relay`, `sink` and `ackor.members` on `node`, and lets other nodes
/// spawn more `echo`s on it; `ackor.members` reports the members of `cluster`.
pub fn start_with(node: &Node, cluster: Option<Cluster>) -> Result<(), Error> {
    use ackor::SpawnOptions;
    node.allow_remote_spawn::<Echo>();
    node.spawn_with::<Echo>((), SpawnOptions::default().name("echo"))?;
    node.spawn_with::<Relay>((), SpawnOptions::default().name("relay"))?;
    node.spawn_with::<Sink>((), SpawnOptions::default().name("sink").mailbox_capacity(1))?;
    node.spawn_with::<Members>(cluster, SpawnOptions::default().name(MEMBERS))?;
    Ok(())
}
