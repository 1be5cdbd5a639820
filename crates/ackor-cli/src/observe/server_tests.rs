//! The observer's routes, over a real socket, for a node observing itself.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{Actor, BoxError, Context, Handler, Message, Node, SpawnOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::gather::Source;
use super::serve;

struct Idle;

impl Actor for Idle {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Idle)
    }
}

/// Handled, and nothing else.
struct Nudge;

impl Message for Nudge {
    type Reply = ();
}

impl Handler<Nudge> for Idle {
    type Return = ();
    async fn handle(&mut self, _: Nudge, _: &mut Context<Self>) {}
}

/// A node with one process named `idle`, observing itself on 127.0.0.1:0.
async fn observed() -> (Node, std::net::SocketAddr) {
    let node = Node::builder().name("observed@local").start().await.unwrap();
    node.spawn_with::<Idle>((), SpawnOptions::default().name("idle"))
        .unwrap();
    let source = Source::new(node.clone(), node.name().clone(), Duration::from_secs(5));
    let addr = serve(source, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    (node, addr)
}

/// `GET path` over HTTP/1.0: the status line and the body, reading at most `bound`.
async fn get(addr: std::net::SocketAddr, path: &str, bound: Duration) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(bound, stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let (node, addr) = observed().await;
    let (status, body) = get(addr, "/", Duration::from_secs(5)).await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("id=\"processes\"") && body.contains("/observe.js"));
    let (status, body) = get(addr, "/observe.js", Duration::from_secs(5)).await;
    assert!(status.contains("200") && body.contains("EventSource"), "{status}");
    let (status, _) = get(addr, "/observe.css", Duration::from_secs(5)).await;
    assert!(status.contains("200"), "{status}");
    node.shutdown().await;
}

#[tokio::test]
async fn the_snapshot_lists_the_node_and_its_processes() {
    let (node, addr) = observed().await;
    let (status, body) = get(addr, "/api/snapshot", Duration::from_secs(5)).await;
    assert!(status.contains("200"), "{status}");
    let snapshot: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(snapshot["target"], "observed@local");
    assert_eq!(snapshot["nodes"][0]["name"], "observed@local");
    assert_eq!(snapshot["nodes"][0]["process_count"], 1);
    assert_eq!(snapshot["processes"][0]["name"], "idle");
    assert_eq!(snapshot["nodes"][0]["important"]["acked"], 0);
    node.shutdown().await;
}

#[tokio::test]
async fn the_event_stream_pushes_snapshots_as_they_are_taken() {
    let (node, addr) = observed().await;
    let (status, body) = get(addr, "/api/events", super::PERIOD * 3).await;
    assert!(status.contains("200"), "{status}");
    let events = body.matches("event: snapshot").count();
    assert!(events >= 2, "{events} events in {:?}:\n{body}", super::PERIOD * 3);
    assert!(body.contains("\"name\":\"idle\""));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_process_shows_a_message_rate() {
    let (node, addr) = observed().await;
    let idle = node
        .lookup::<Idle>(&ackor::ProcessId::new("idle", node.name().clone()))
        .unwrap();
    let busy = tokio::spawn(async move {
        loop {
            if idle.call(Nudge).await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(super::PERIOD * 3).await;
    let (_, body) = get(addr, "/api/snapshot", Duration::from_secs(5)).await;
    busy.abort();
    let snapshot: serde_json::Value = serde_json::from_str(&body).unwrap();
    let idle = &snapshot["processes"][0];
    assert!(idle["handled"].as_u64().unwrap() > 0, "{idle}");
    assert!(idle["rate"].as_f64().unwrap() > 0.0, "{idle}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_followed_pid_answers_with_its_detail_or_why_not() {
    let (node, addr) = observed().await;
    let pid = node.whereis("idle").unwrap();
    let (status, body) = get(
        addr,
        &format!("/api/process?pid={}", escape(&pid.to_string())),
        Duration::from_secs(5),
    )
    .await;
    assert!(status.contains("200"), "{status}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["info"]["name"], "idle");
    assert!(detail["recent"].is_array());

    let gone = ackor::Pid::new(pid.node().clone(), 999, pid.creation());
    let (status, _) = get(
        addr,
        &format!("/api/process?pid={}", escape(&gone.to_string())),
        Duration::from_secs(5),
    )
    .await;
    assert!(status.contains("404"), "{status}");
    let (status, _) = get(addr, "/api/process?pid=echo", Duration::from_secs(5)).await;
    assert!(status.contains("400"), "{status}");
    node.shutdown().await;
}

/// Percent-encodes what a query value may not hold as is.
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
