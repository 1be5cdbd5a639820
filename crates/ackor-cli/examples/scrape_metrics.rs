//! Serves a node's metrics in the Prometheus text format and scrapes them, as
//! Prometheus would: two nodes with detailed metrics, important sends from one to the
//! other, then an HTTP `GET /metrics` and the lines that tell what happened.
//!
//! ```sh
//! cargo run -p ackor-cli --example scrape_metrics
//! ```
//!
//! (Both nodes are in this process, so they share its one recorder: the counters are
//! the sum of the two; `ackor node --metrics ADDR` serves one node's.)

use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Handler, Message, Node, ProcessId, RemoteConfig, RemoteMessage, RemoteMessages,
    SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Ledger;

impl Actor for Ledger {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Ledger)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Entry>();
    }
}

#[derive(Serialize, Deserialize)]
struct Entry(u64);
impl Message for Entry {
    type Reply = ();
}
impl RemoteMessage for Entry {
    const TAG: &'static str = "example.scrape.entry";
}
impl Handler<Entry> for Ledger {
    type Return = ();
    async fn handle(&mut self, _: Entry, _: &mut Context<Self>) {}
}

async fn start(name: &str) -> Result<Node, ackor::Error> {
    Node::builder()
        .name(format!("{name}@127.0.0.1:0"))
        .remote(RemoteConfig::new("scrape-example").heartbeat_interval(Duration::from_millis(100)))
        .detailed_metrics(Duration::from_millis(100))
        .start()
        .await
}

/// `GET /metrics` on `addr`, with a plain HTTP/1.1 request: the body.
async fn scrape(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut http = tokio::net::TcpStream::connect(addr).await?;
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    http.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_string()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = ackor_cli::metrics_endpoint::serve("127.0.0.1:0".parse()?).await?;
    println!("serving http://{endpoint}/metrics");
    let shop = start("shop").await?;
    let till = start("till").await?;
    shop.spawn_with::<Ledger>((), SpawnOptions::default().name("ledger"))?;
    let ledger = ProcessId::new("ledger", shop.name().clone());
    for n in 0..1000 {
        till.send_important_name::<Ledger, _>(&ledger, Entry(n)).await?;
    }
    let nobody = ProcessId::new("nobody", shop.name().clone());
    let refused = till.send_important_name::<Ledger, _>(&nobody, Entry(0)).await;
    println!("an important send to nobody: {refused:?}");
    // Let the sampler and a heartbeat round trip run.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let body = scrape(endpoint).await?;
    let wanted = [
        "ackor_important_sent_total",
        "ackor_important_acked_total",
        "ackor_important_nacked_total",
        "ackor_handler_seconds",
        "ackor_mailbox_depth",
        "ackor_peer_rtt_seconds",
        "ackor_peer_bytes_sent_total",
    ];
    let lines: Vec<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#') && wanted.iter().any(|w| l.starts_with(w)))
        .collect();
    println!("{} lines scraped; those about this run:", body.lines().count());
    for line in &lines {
        println!("  {line}");
    }
    till.shutdown().await;
    shop.shutdown().await;
    let missing: Vec<_> = wanted
        .iter()
        .filter(|w| !lines.iter().any(|l| l.starts_with(**w)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not scraped: {missing:?}").into())
    }
}
