//! Each member's cluster agent: an actor registered on its node as `ackor.cluster`,
//! which other members address for what must happen on this node: hand a group
//! broadcast to the local members ([`Fanout`]), and claim a cluster name for a local
//! process they spawned here ([`ClaimKey`], for keyed placement).

use std::sync::{Arc, Weak};

use ackor::{
    Actor, BoxError, Context, Encoded, Error, Handler, Message, Pid, RemoteMessage, RemoteMessages,
    SpawnOptions,
};
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, Inner};

/// The local name of each member's agent.
pub(crate) const AGENT: &str = "ackor.cluster";

/// Starts this node's agent.
pub(crate) fn start(inner: &Arc<Inner>) -> Result<(), Error> {
    inner
        .node
        .spawn_with::<ClusterAgent>(Arc::downgrade(inner), SpawnOptions::default().name(AGENT))
        .map(|_| ())
}

/// A member's agent (see the module docs).
pub(crate) struct ClusterAgent(Weak<Inner>);

impl ClusterAgent {
    fn cluster(&self, ctx: &mut Context<Self>) -> Option<Cluster> {
        let cluster = self.0.upgrade().map(|inner| Cluster { inner });
        if cluster.is_none() {
            ctx.stop();
        }
        cluster
    }
}

impl Actor for ClusterAgent {
    type Args = Weak<Inner>;
    async fn init(inner: Weak<Inner>, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(ClusterAgent(inner))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Fanout>().add::<ClaimKey>();
    }
}

/// A group message for the members on the receiving node.
#[derive(Serialize, Deserialize)]
pub(crate) struct Fanout {
    pub(crate) group: String,
    pub(crate) tag: String,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
}

impl Message for Fanout {
    type Reply = ();
}

impl RemoteMessage for Fanout {
    const TAG: &'static str = "ackor.cluster.fanout.v1";
}

impl Handler<Fanout> for ClusterAgent {
    type Return = ();
    async fn handle(&mut self, msg: Fanout, ctx: &mut Context<Self>) {
        if let Some(cluster) = self.cluster(ctx) {
            let encoded = Encoded::from_parts(msg.tag, msg.payload);
            crate::groups::fan_out(&cluster.inner, &msg.group, &encoded, None);
        }
    }
}

/// Claims the cluster name of a keyed actor for a process of the receiving node;
/// answers the owner of the name afterwards (the process itself when the claim held).
#[derive(Serialize, Deserialize)]
pub(crate) struct ClaimKey {
    pub(crate) name: String,
    pub(crate) id: u64,
    pub(crate) creation: u32,
}

/// The answer to [`ClaimKey`]: the owner's node, id and creation, or why there is none.
pub(crate) type ClaimAnswer = Result<(String, u64, u32), String>;

impl Message for ClaimKey {
    type Reply = ClaimAnswer;
}

impl RemoteMessage for ClaimKey {
    const TAG: &'static str = "ackor.cluster.claim_key.v1";
}

impl Handler<ClaimKey> for ClusterAgent {
    type Return = ClaimAnswer;
    async fn handle(&mut self, msg: ClaimKey, ctx: &mut Context<Self>) -> ClaimAnswer {
        let Some(cluster) = self.cluster(ctx) else {
            return Err("the node left the cluster".into());
        };
        let pid = Pid::new(ctx.node().name().clone(), msg.id, msg.creation);
        cluster
            .claim_key(&msg.name, &pid)
            .await
            .map(|owner| (owner.node().to_string(), owner.id(), owner.creation()))
    }
}
