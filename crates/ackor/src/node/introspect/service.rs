//! The `ackor.inspect` service every node answers, and [`Inspector`], its client.
//!
//! The service is the node itself, not an actor: a frame addressed to the name
//! [`INSPECT`] is answered by the link's reader from the node's tables, so a node whose
//! actors are all stuck still says what they are doing. A caller is a peer like any
//! other: it had to pass the handshake (cookie, TLS) first. Requests and answers are
//! MessagePack, under their own tags.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{NodeInfo, ProcessDetail, ProcessInfo};
use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::node::Node;

/// The name the introspection service answers to on every node.
pub const INSPECT: &str = "ackor.inspect";

const NODE: &str = "ackor.inspect.node.v1";
const PROCESSES: &str = "ackor.inspect.processes.v1";
const PROCESS: &str = "ackor.inspect.process.v1";

/// MessagePack, as the default codec of remote messages writes it (that codec is in
/// the actor layer, above this one).
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    rmp_serde::to_vec(value).map_err(|e| Error::Codec(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    rmp_serde::from_slice(bytes).map_err(|e| Error::Codec(e.to_string()))
}

/// The pid a process request asks about, encoded as every pid of these answers is.
#[derive(Serialize, Deserialize)]
struct PidQuery(#[serde(with = "super::pid_serde")] Pid);

/// Asks a node, this one or another, what it is doing: [`Node::inspect`] makes one.
/// Cheap to clone.
///
/// ```
/// use ackor::{Node, RemoteConfig};
///
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// let config = || RemoteConfig::new("secret");
/// let a = Node::builder().name("a@127.0.0.1:0").remote(config()).start().await?;
/// let b = Node::builder().name("b@127.0.0.1:0").remote(config()).start().await?;
///
/// // From a, about b, across the network.
/// let b_info = a.inspect(b.name()).node().await?;
/// assert_eq!(&b_info.name, b.name().as_str());
/// // And a now knows b as a peer.
/// let a_info = a.inspect(a.name()).node().await?;
/// assert!(a_info.peers.iter().any(|p| p.node == b.name().as_str()));
/// # a.shutdown().await; b.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Inspector {
    node: Node,
    target: NodeName,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").field("target", &self.target).finish()
    }
}

impl Node {
    /// An [`Inspector`] of `target`: this node (answered here, without the network)
    /// or another one (through its `ackor.inspect` service, within this node's call
    /// timeout; the errors are those of a remote call, such as
    /// [`Error::NoConnection`]).
    pub fn inspect(&self, target: &NodeName) -> Inspector {
        Inspector {
            node: self.clone(),
            target: target.clone(),
        }
    }
}

impl Inspector {
    /// The node it inspects.
    pub fn target(&self) -> &NodeName {
        &self.target
    }

    /// The node, its peers and its important-delivery outcomes ([`Node::info`]).
    pub async fn node(&self) -> Result<NodeInfo, Error> {
        self.ask(NODE, &()).await
    }

    /// Its processes ([`Node::processes`]).
    pub async fn processes(&self) -> Result<Vec<ProcessInfo>, Error> {
        self.ask(PROCESSES, &()).await
    }

    /// One of its processes in detail, or `None` if it is not alive. Also follows the
    /// process for a minute from now (each call starts the minute again): the
    /// messages it handles meanwhile are traced, and the last 32 of them, with their
    /// trace ids, are in [`ProcessDetail::recent`] of the next answers.
    pub async fn process(&self, pid: &Pid) -> Result<Option<ProcessDetail>, Error> {
        self.ask(PROCESS, &PidQuery(pid.clone())).await
    }

    async fn ask<Q: Serialize, A: serde::de::DeserializeOwned>(
        &self,
        tag: &'static str,
        query: &Q,
    ) -> Result<A, Error> {
        let query = encode(query)?;
        let answer = if self.target == *self.node.name() {
            Bytes::from(answer(&self.node, tag, &query)?)
        } else {
            let remote = self
                .node
                .remote()
                .ok_or_else(|| Error::Config("this node has no network side (set a cookie)".into()))?;
            let timeout = self.node.config().call_timeout;
            remote
                .call_named_raw(&self.target, INSPECT, tag, query, timeout)
                .await?
        };
        decode(&answer)
    }
}

/// Answers a request to the `ackor.inspect` service: the encoded answer, or
/// [`Error::UnknownMessage`] for a tag it does not know and [`Error::Codec`] for a
/// payload that does not decode.
pub(crate) fn answer(node: &Node, tag: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    match tag {
        NODE => encode(&node.info()),
        PROCESSES => encode(&node.processes()),
        PROCESS => {
            let PidQuery(pid) = decode(payload)?;
            if let Some(cell) = node.registry().get(&pid) {
                cell.core().stats().follow();
            }
            encode(&node.process(&pid))
        }
        other => Err(Error::UnknownMessage(other.to_string())),
    }
}
