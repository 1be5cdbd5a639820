//! Where the observer's figures come from: the one module that talks to ackor. It asks
//! each node through the `ackor.inspect` service every node answers
//! ([`Node::inspect`]: without the network for the observer's own node) and turns the
//! answers into the page's [`snapshot`](super::snapshot) types.

use std::future::Future;
use std::time::Duration;

use ackor::inspect::{NodeInfo, ProcessDetail, ProcessInfo};
use ackor::{Node, NodeName, Pid};
use futures_util::future::join_all;
use serde::Serialize;

use super::snapshot::{ImportantView, LinkView, NodeView, ProcessView, Snapshot};

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
    /// Processes linked to it.
    pub links: Vec<String>,
    /// Processes it monitors.
    pub monitors: Vec<String>,
    /// Processes monitoring it.
    pub monitored_by: Vec<String>,
    /// The last messages it handled while followed, oldest first.
    pub recent: Vec<HandledView>,
}

/// One message a followed process handled.
#[derive(Debug, Clone, Serialize)]
pub struct HandledView {
    /// The message type.
    pub message: String,
    /// Its trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id of its handling, 16 hex digits.
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

    /// Asks the target, then every peer it has a live link to (all at once), and puts
    /// the answers together (rates not yet set). Peers without a live link are shown
    /// as links only: asking them would only wait for the timeout.
    pub async fn snapshot(&self) -> Snapshot {
        let first = self.report(&self.target).await;
        let mut peers: Vec<NodeName> = first
            .links
            .iter()
            .filter(|l| l.status == "up")
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
        let inspector = self.node.inspect(name);
        let (info, processes) = futures_util::future::join(
            self.bounded(inspector.node()),
            self.bounded(inspector.processes()),
        )
        .await;
        let mut view = NodeView {
            name: name.to_string(),
            ..NodeView::default()
        };
        let mut links = Vec::new();
        match info {
            Ok(info) => {
                links = link_views(&info);
                fill_node_view(&mut view, info);
            }
            Err(e) => view.error = Some(e),
        }
        let processes = match processes {
            Ok(list) => list.iter().map(|p| process_view(name, p)).collect(),
            Err(e) => {
                view.error.get_or_insert(e);
                Vec::new()
            }
        };
        NodeReport {
            view,
            links,
            processes,
        }
    }

    /// The process `pid` on its node, in detail; `Ok(None)` if it is not (or no longer)
    /// there. Asking makes its node record the messages it handles for a minute.
    pub async fn process(&self, pid: &Pid) -> Result<Option<ProcessDetailView>, String> {
        let detail = self.bounded(self.node.inspect(pid.node()).process(pid)).await?;
        Ok(detail.map(|d| detail_view(pid.node(), d)))
    }

    /// `ask`, bounded by the timeout, its error as text.
    async fn bounded<T>(&self, ask: impl Future<Output = Result<T, ackor::Error>>) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, ask).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(format!("{}: {e}", crate::exit::variant(&e))),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

/// The node's own figures.
fn fill_node_view(view: &mut NodeView, info: NodeInfo) {
    let i = info.important;
    view.creation = Some(info.creation);
    view.uptime_ms = Some(info.uptime_ms);
    view.process_count = Some(info.process_count);
    view.requests_in_flight = Some(info.requests_in_flight);
    view.important = Some(ImportantView {
        sent: i.sent,
        acked: i.acked,
        nacked: i.nacked,
        resent: i.resent,
        deduplicated: i.deduplicated,
        responses_ignored: i.responses_ignored,
    });
}

/// The links a node reports, one per peer.
fn link_views(info: &NodeInfo) -> Vec<LinkView> {
    info.peers
        .iter()
        .map(|p| LinkView {
            from: info.name.clone(),
            to: p.node.clone(),
            status: p.status.clone(),
            connections: p.links,
            rtt_us: p.rtt_us,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            unacked_important: p.unacked_important,
        })
        .collect()
}

/// A process as the page shows it (its rate is set later, from two snapshots).
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
        handled: p.handled,
        rate: None,
        requests_in_flight: p.requests_in_flight,
        stashed: p.stashed,
        last_failure: p.last_failure.clone(),
    }
}

/// A followed process as the page shows it.
fn detail_view(node: &NodeName, d: ProcessDetail) -> ProcessDetailView {
    let text = |pids: &[Pid]| pids.iter().map(ToString::to_string).collect();
    ProcessDetailView {
        info: process_view(node, &d.info),
        links: text(&d.links),
        monitors: text(&d.monitors),
        monitored_by: text(&d.monitored_by),
        recent: d
            .recent
            .into_iter()
            .map(|m| HandledView {
                message: m.message,
                trace_id: m.trace_id,
                span_id: m.span_id,
                at_unix_ms: m.at_unix_ms,
            })
            .collect(),
    }
}

/// Now, in Unix milliseconds.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
