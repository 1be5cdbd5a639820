//! The web observer: a small page that shows, live, what a node and its peers are
//! doing (nodes and links, processes with mailbox depths and message rates, important
//! delivery outcomes, requests in flight and stashes) and follows a process to the
//! trace ids of the messages it handles.
//!
//! `ackor observe --node NODE` starts a client node of its own and observes `NODE`
//! through it; `ackor node --observe ADDR` serves the same page for the node itself.
//! The page, its script and its style are in the binary; it updates itself from a
//! server-sent-event stream ([`server`] lists the routes). It has no authentication:
//! keep it on a loopback address, or behind something that has.

mod gather;
mod server;
mod snapshot;

use std::net::SocketAddr;
use std::time::Duration;

use ackor::{Node, NodeName};
use tokio::signal::unix::{SignalKind, signal};

use crate::client::ClientArgs;
use crate::config;
use crate::exit::Failure;
use crate::output::say;

/// How often the observer takes a snapshot (and the page updates).
pub const PERIOD: Duration = Duration::from_millis(500);

/// The options of `ackor observe`.
#[derive(Debug, clap::Args)]
pub struct ObserveArgs {
    /// The node to observe, `name@host:port`.
    #[arg(long)]
    pub node: String,
    /// Where to serve the page, `host:port` (port 0 picks a free one; the `observing`
    /// line printed once ready tells which).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ackor observe`: serves the page for `--node` until SIGINT or SIGTERM.
pub async fn run(args: ObserveArgs) -> Result<(), Failure> {
    if !args.node.contains('@') {
        return Err(Failure::usage(format!(
            "`{}` is not a node name (name@host:port)",
            args.node
        )));
    }
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::runtime(format!("signals: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::runtime(format!("signals: {e}")))?;
    let mut settings = config::resolve(None, &args.client.common).map_err(Failure::usage)?;
    settings.call_timeout = Some(args.client.timeout);
    let name = format!("ackor-observe-{}@{}:0", std::process::id(), args.client.bind);
    let node = settings
        .builder(&name)
        .start()
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let target = NodeName::new(&args.node);
    let source = gather::Source::new(node.clone(), target.clone(), args.client.timeout);
    let served = server::serve(source, args.listen).await;
    let bound = match served {
        Ok(bound) => bound,
        Err(e) => {
            node.shutdown().await;
            return Err(Failure::runtime(e));
        }
    };
    say(&format!("observing http://{bound}/"));
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    node.shutdown().await;
    Ok(())
}

/// `ackor node --observe ADDR`: serves the page for `node` itself at `addr`; returns
/// the page's address.
pub async fn serve_node(node: &Node, addr: SocketAddr, timeout: Duration) -> Result<SocketAddr, String> {
    let source = gather::Source::new(node.clone(), node.name().clone(), timeout);
    server::serve(source, addr).await
}
