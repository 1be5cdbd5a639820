//! `ackor node`: a node as a well-behaved long-running process. It stops gracefully on
//! SIGINT or SIGTERM (actors run `on_stop`, peers are told the node leaves) and never
//! reads standard input unless asked to (`--stop-on-stdin-eof`).
//!
//! With `--metrics ADDR` it serves its metrics in the Prometheus format at
//! `http://ADDR/metrics` and prints `metrics <url>` once ready (after the other lines).
//!
//! With `--otlp URL` it exports a span per handled message to an OpenTelemetry collector
//! (main.rs adds the layer to the subscriber, before the runtime starts, and flushes it
//! at the end).
//!
//! With `--observe ADDR` it serves the web observer for itself (and the peers it is
//! connected to) at `http://ADDR/` and prints `observe <url>` once ready (last).
//!
//! With `--cluster` (or `[cluster]` in the config file) the node joins a cluster: it
//! prints `gossip <addr>` after `listening <name>`, then one line per membership event
//! (`member up <node>`, `member left <node>`, `member down <node>`), and leaves the
//! cluster gracefully on SIGINT or SIGTERM before it stops.

use std::collections::BTreeSet;

use ackor::NodeName;
use ackor_cluster::{Cluster, MemberEvent};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast;

use crate::config::{self, ClusterArgs, Common};
use crate::exit::Failure;
use crate::output::say;

/// The options of `ackor node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The node name, `name@host:port` (port 0 picks a free port; the name printed on
    /// the `listening` line carries the real one).
    #[arg(long, env = "ACKOR_NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Serve the node's metrics (Prometheus text format) at http://ADDR/metrics; port 0
    /// picks a free port (the `metrics` line printed once ready tells which).
    #[arg(long, env = "ACKOR_METRICS", value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Export the node's traces to the OpenTelemetry collector at URL over OTLP/HTTP
    /// (protobuf; plain http://, e.g. http://localhost:4318, which gets the path
    /// /v1/traces): a span per handled message, with ackor's trace ids, so that a call
    /// across nodes is one trace. The service name is OTEL_SERVICE_NAME, else the node
    /// name before the `@`.
    #[arg(long, env = "ACKOR_OTLP", value_name = "URL")]
    pub otlp: Option<String>,
    /// Serve the web observer for this node at http://ADDR/ (as `ackor observe` does
    /// for another node); port 0 picks a free port (the `observe` line printed once
    /// ready tells which). No authentication: keep it on a loopback address.
    #[arg(long, env = "ACKOR_OBSERVE", value_name = "ADDR")]
    pub observe: Option<std::net::SocketAddr>,
    /// Also stop (gracefully) when standard input reaches its end, for a parent
    /// process that holds a pipe to the node. Off by default: the node never reads
    /// standard input.
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

/// The `service.name` of the node's traces: `OTEL_SERVICE_NAME`, else the node name
/// before its `@` (from `--name` or `ACKOR_NAME`), else `ackor`.
pub fn service_name(args: &NodeArgs) -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            let name = args.name.as_deref()?;
            Some(name.split('@').next().unwrap_or(name).to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "ackor".to_string())
}

/// Runs the node until a signal (or, if asked, the end of standard input).
pub async fn run(args: NodeArgs) -> Result<(), Failure> {
    let settings = config::resolve(args.name, &args.common).map_err(Failure::usage)?;
    let name = settings.name.clone().ok_or_else(|| {
        Failure::usage("no node name: give --name, ACKOR_NAME or `name` in the config file")
    })?;
    let cluster_config = config::cluster(&args.cluster, &settings.cluster_file).map_err(Failure::usage)?;
    let metrics = match (args.metrics, &settings.metrics_file) {
        (Some(addr), _) => Some(addr),
        (None, Some(text)) => Some(
            text.parse::<std::net::SocketAddr>()
                .map_err(|e| Failure::usage(format!("metrics address {text:?} in the config file: {e}")))?,
        ),
        (None, None) => None,
    };
    let observe = match (args.observe, &settings.observe_file) {
        (Some(addr), _) => Some(addr),
        (None, Some(text)) => Some(
            text.parse::<std::net::SocketAddr>()
                .map_err(|e| Failure::usage(format!("observe address {text:?} in the config file: {e}")))?,
        ),
        (None, None) => None,
    };
    // Listen for signals before anything else: one sent while starting is not lost.
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::runtime(format!("signals: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::runtime(format!("signals: {e}")))?;
    let mut builder = settings.builder(&name);
    if metrics.is_some() {
        // The gauges sampled from the node's tables, and handler latencies.
        builder = builder.detailed_metrics(std::time::Duration::from_secs(1));
    }
    let node = builder.start().await.map_err(|e| match e {
        ackor::Error::Config(m) if m.starts_with("cannot listen") => Failure::runtime(m),
        other => Failure::usage(other.to_string()),
    })?;
    let cluster = match cluster_config {
        Some(config) => match Cluster::join(&node, config).await {
            Ok(cluster) => Some(cluster),
            Err(e) => {
                node.shutdown().await;
                return Err(match e {
                    ackor::Error::Config(m) if m.starts_with("cannot bind") => Failure::runtime(m),
                    other => Failure::usage(other.to_string()),
                });
            }
        },
        None => None,
    };
    // Subscribed before anything is printed: no event between here and the printer's
    // first look at the members is lost.
    let events = cluster.as_ref().map(Cluster::events);
    ackor_cli::services::start_with(&node, cluster.clone()).map_err(|e| Failure::runtime(e.to_string()))?;
    // Whoever started the node may have stopped reading its output: not a reason to
    // fail (`println!` would panic on a closed pipe).
    say(&format!("listening {}", node.name()));
    if let (Some(cluster), Some(events)) = (&cluster, events) {
        say(&format!("gossip {}", cluster.gossip_addr()));
        tokio::spawn(print_members(cluster.clone(), events));
    }
    if let Some(addr) = metrics {
        match ackor_cli::metrics_endpoint::serve(addr).await {
            Ok(bound) => say(&format!("metrics http://{bound}/metrics")),
            Err(e) => {
                node.shutdown().await;
                return Err(Failure::runtime(e));
            }
        }
    }
    if let Some(addr) = observe {
        let timeout = settings.call_timeout.unwrap_or(std::time::Duration::from_secs(5));
        match crate::observe::serve_node(&node, addr, timeout).await {
            Ok(bound) => say(&format!("observe http://{bound}/")),
            Err(e) => {
                node.shutdown().await;
                return Err(Failure::runtime(e));
            }
        }
    }

    let stdin_closed = async {
        if args.stop_on_stdin_eof {
            use tokio::io::AsyncReadExt;
            let mut sink = [0u8; 256];
            let mut stdin = tokio::io::stdin();
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = stdin_closed => "end of standard input",
    };
    tracing::info!(node = %node.name(), "{why}: stopping");
    let stop = async {
        if let Some(cluster) = &cluster {
            // The others see `Left`, not `Down`.
            cluster.leave().await;
        }
        node.shutdown().await;
    };
    tokio::select! {
        _ = stop => {}
        _ = term.recv() => return Err(Failure::runtime("second signal: stopped without waiting for actors")),
        _ = int.recv() => return Err(Failure::runtime("second signal: stopped without waiting for actors")),
    }
    say(&format!("stopped {}", node.name()));
    Ok(())
}

/// Logs and prints every membership change: first the members already known, then
/// the events (an `Up` already printed is not printed twice).
async fn print_members(cluster: Cluster, mut events: broadcast::Receiver<MemberEvent>) {
    let me = cluster.node().name().clone();
    let mut up: BTreeSet<(NodeName, u32)> = BTreeSet::new();
    for member in cluster.members() {
        if member.node != me && up.insert((member.node.clone(), member.creation)) {
            report("up", &member.node);
        }
    }
    loop {
        match events.recv().await {
            Ok(MemberEvent::Up(m)) => {
                if up.insert((m.node.clone(), m.creation)) {
                    report("up", &m.node);
                }
            }
            Ok(MemberEvent::Left(m)) => {
                up.remove(&(m.node.clone(), m.creation));
                report("left", &m.node);
            }
            Ok(MemberEvent::Down(m)) => {
                up.remove(&(m.node.clone(), m.creation));
                report("down", &m.node);
            }
            Ok(MemberEvent::NameLost { name, winner }) => {
                tracing::info!(%name, %winner, "cluster name lost");
            }
            Ok(other) => tracing::info!(event = ?other, "membership event"),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "membership events missed");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// `member <what> <node>`, in the log and on standard output.
fn report(what: &str, node: &NodeName) {
    tracing::info!("member {what} {node}");
    say(&format!("member {what} {node}"));
}
