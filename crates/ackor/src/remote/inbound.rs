//! The one way up out of the network side: frames addressed to this node's processes
//! go to the node through [`Inbound`]. The network side knows bytes, pids and frames;
//! the node knows its processes and routes what arrives to them.

use std::sync::Arc;

use super::Remote;
use super::link::LinkQueue;
use super::peer::Peer;
use super::wire::{Body, DeliverRef};
use crate::identity::Pid;

/// What the node keeps from one frame to the next of a link (a cache of its own),
/// opaque to the network side; `None` when a link starts.
pub(crate) type LinkState = Option<Box<dyn std::any::Any + Send>>;

/// What the node does with what its peers send.
pub(crate) trait Inbound: Send + Sync + 'static {
    /// A message for a process of this node, read from `peer` on the link whose
    /// outgoing queue is `back` (an acknowledgement goes back on that link, at the
    /// latest in [`Inbound::read_done`]), which keeps `state` for the node.
    fn deliver(
        &self,
        remote: &Arc<Remote>,
        peer: &Arc<Peer>,
        deliver: &DeliverRef<'_>,
        back: &Arc<LinkQueue>,
        state: &mut LinkState,
    );

    /// The reader of the link whose queue is `back` handed on every frame of a read
    /// (or ends the link): what the node deferred for this read must be done now,
    /// before the writer runs (acknowledgements of important sends, see
    /// `reliable::Acks`).
    fn read_done(&self, remote: &Arc<Remote>, peer: &Arc<Peer>, back: &LinkQueue, state: &mut LinkState);

    /// A request of `peer` about this node's processes: `Whereis`, `Monitor`, `Link`,
    /// `Exit` or `Spawn`; or an important response (a `Reply` with an `ack_id`), which
    /// wants an answer of its own. The network side handles plain answers, `Down` and
    /// heartbeats.
    fn request(&self, remote: &Arc<Remote>, peer: &Arc<Peer>, body: Body);

    /// `peer` went down: each `(local, remote)` link between a process of this node
    /// and one of the peer's is cut.
    fn links_lost(&self, links: Vec<(Pid, Pid)>);
}
