//! Where the observer's figures come from: the one module that talks to ackor. It asks
//! each node what it is doing and turns the answers into the page's [`snapshot`] types.
//!
//! Today a node answers with what exists: its processes ([`Node::processes`] here, the
//! `ackor.inspect` service's `ListProcesses` elsewhere) and, for this process's own
//! node, the peers it is connected to ([`Node::connected_nodes`]). The fields the node
//! introspection API adds (message counts, important-delivery counters, link figures,
//! followed messages) stay `None` until it lands; the page shows them as unknown.

use std::time::Duration;

use ackor::{Node, NodeName, Pid, ProcessId, ProcessInfo};
use ackor_cli::services::{INSPECT, Inspect, ListProcesses};
use futures_util::future::join_all;
use serde::Serialize;

use super::snapshot::{LinkView, NodeView, ProcessView, Snapshot};

/// Asks `target` (and the peers it reports) what they are doing, through `node`.
#[derive(Clone)]
pub struct Source {
    node: Node,
    target: NodeName,
    timeout: Duration,
}

/// A followed process: what [`Source::process`] finds.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessDetailView {
    /// The process as the table shows it.
    pub info: ProcessView,
    /// Processes linked to it (`None`: the node does not say).
    pub links: Option<Vec<String>>,
    /// Processes it monitors.
    pub monitors: Option<Vec<String>>,
    /// Processes monitoring it.
    pub monitored_by: Option<Vec<String>>,
    /// The last messages it handled while followed, newest last (`None`: the node does
    /// not record them).
    pub recent: Option<Vec<HandledView>>,
}

/// One message a followed process handled.
#[derive(Debug, Clone, Serialize)]
pub struct HandledView {
    /// The message type.
    pub message: String,
    /// Its trace id, 32 hex digits.
    pub trace_id: String,
    /// Its span id, 16 hex digits.
    pub span_id: String,
    /// When it was handled, Unix milliseconds.
    pub at_unix_ms: u64,
}

/// What one node said about itself.
struct NodeReport {
    view: NodeView,
    links: Vec<LinkView>,
    processes: Vec<ProcessView>,
}

impl Source {
    /// Observes `target` through `node`; each question waits at most `timeout`.
    pub fn new(node: Node, target: NodeName, timeout: Duration) -> Self {
        Source {
            node,
            target,
            timeout,
        }
    }

    /// Asks the target, then every peer it reports (all at once), and puts the answers
    /// together (rates not yet set).
    pub async fn snapshot(&self) -> Snapshot {
        let first = self.report(&self.target).await;
        let mut peers: Vec<NodeName> = first
            .links
            .iter()
            .map(|l| NodeName::new(&l.to))
            .filter(|n| n != &self.target)
            .collect();
        peers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        peers.dedup();
        let others = join_all(peers.iter().map(|p| self.report(p))).await;
        let mut snapshot = Snapshot {
            observer: self.node.name().to_string(),
            target: self.target.to_string(),
            at_unix_ms: unix_ms(),
            ..Snapshot::default()
        };
        for report in std::iter::once(first).chain(others) {
            snapshot.nodes.push(report.view);
            snapshot.links.extend(report.links);
            snapshot.processes.extend(report.processes);
        }
        snapshot
    }

    /// One node's answer, or the reason it gave none.
    async fn report(&self, name: &NodeName) -> NodeReport {
        let mut view = NodeView {
            name: name.to_string(),
            ..NodeView::default()
        };
        let mut links = Vec::new();
        let processes = match self.processes(name).await {
            Ok(list) => list,
            Err(e) => {
                view.error = Some(e);
                Vec::new()
            }
        };
        if view.error.is_none() {
            view.process_count = Some(processes.len());
        }
        if name == self.node.name() {
            for peer in self.node.connected_nodes() {
                links.push(LinkView {
                    from: name.to_string(),
                    to: peer.to_string(),
                    status: "up".into(),
                    ..LinkView::default()
                });
            }
        }
        NodeReport {
            view,
            links,
            processes: processes.iter().map(|p| process_view(name, p)).collect(),
        }
    }

    /// A node's processes: this node's without the network, another's from its
    /// `ackor.inspect` service.
    async fn processes(&self, name: &NodeName) -> Result<Vec<ProcessInfo>, String> {
        if name == self.node.name() {
            return Ok(self.node.processes());
        }
        let ask = self
            .node
            .call_name::<Inspect, _>(&ProcessId::new(INSPECT, name.clone()), ListProcesses);
        match tokio::time::timeout(self.timeout, ask).await {
            Ok(Ok(list)) => Ok(list),
            Ok(Err(e)) => Err(format!("{}: {e}", crate::exit::variant(&e))),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// The process `pid` on its node, with what the node says about it; `Ok(None)` if
    /// it is not (or no longer) there.
    pub async fn process(&self, pid: &Pid) -> Result<Option<ProcessDetailView>, String> {
        let list = self.processes(pid.node()).await?;
        Ok(list.iter().find(|p| &p.pid == pid).map(|p| ProcessDetailView {
            info: process_view(pid.node(), p),
            links: None,
            monitors: None,
            monitored_by: None,
            recent: None,
        }))
    }
}

/// A process as the page shows it.
fn process_view(node: &NodeName, p: &ProcessInfo) -> ProcessView {
    ProcessView {
        node: node.to_string(),
        pid: p.pid.to_string(),
        name: p.name.clone(),
        actor_type: p.actor_type.clone(),
        mailbox_len: p.mailbox_len,
        mailbox_capacity: p.mailbox_capacity,
        system_len: p.system_len,
        state: p.state.to_string(),
        ..ProcessView::default()
    }
}

/// Reads a pid as `Pid`'s `Display` writes it, `<name@host:port.id.creation>` (the
/// angle brackets optional); `None` if it is not one.
pub fn parse_pid(text: &str) -> Option<Pid> {
    let inner = text.trim();
    let inner = inner.strip_prefix('<').unwrap_or(inner);
    let inner = inner.strip_suffix('>').unwrap_or(inner);
    let mut parts = inner.rsplitn(3, '.');
    let creation = parts.next()?.parse::<u32>().ok()?;
    let id = parts.next()?.parse::<u64>().ok()?;
    let node = parts.next().filter(|n| !n.is_empty())?;
    Some(Pid::new(NodeName::new(node), id, creation))
}

/// Now, in Unix milliseconds.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_reads_back_from_its_display() {
        let pid = Pid::new(NodeName::new("a@127.0.0.1:4370"), 12, 1_780_069_418);
        assert_eq!(parse_pid(&pid.to_string()), Some(pid.clone()));
        assert_eq!(parse_pid("a@127.0.0.1:4370.12.1780069418"), Some(pid));
    }

    #[test]
    fn text_that_is_not_a_pid_reads_as_none() {
        for text in ["", "<>", "echo", "<a@h:1.x.2>", "<a@h:1.1.-2>", "<.1.2>", "1.2"] {
            assert_eq!(parse_pid(text), None, "{text:?}");
        }
    }
}
