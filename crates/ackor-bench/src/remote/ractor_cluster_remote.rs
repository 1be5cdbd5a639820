//! ractor_cluster across two nodes: the counter actor and the benchmarked operations.
//!
//! Configuration: two `NodeServer`s (`ractor_cluster` 0.16, same version as ractor) named
//! `a` and `b`, listening on 127.0.0.1 on free ports, plain TCP
//! (`IncomingEncryptionMode::Raw`), `NodeConnectionMode::Isolated`, default features;
//! A dials B with `client_connect`. The messages derive `RactorClusterMessage`
//! (`Inc` is a cast, `IncAsk`/`Get` are RPCs with a `u64` reply).
//!
//! ractor keeps its actor and process-group registries per process, so with both nodes
//! in one process every remotable actor is advertised over the connection in both
//! directions, and each node's session spawns a `RemoteActor` for it. A counter joins a
//! fresh process group; the sender uses a member of that group whose id is remote
//! (a `RemoteActor` of one of the two sessions). Everything it is sent is serialized,
//! goes through that `RemoteActor` and its session over the loopback connection, and is
//! delivered to the counter by the other side's session, as between two processes.
//!
//! ractor's mailboxes are unbounded, so casts never wait; calls have no timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::NodeConnectionMode;
use ractor_cluster::{NodeServer, NodeServerMessage, RactorClusterMessage};

use super::{Latencies, PAIRS};
use crate::{BenchError, check_count};

const COOKIE: &str = "ackor-bench";

/// How long a setup step may take (connecting, a counter's proxy appearing).
const SETUP: Duration = Duration::from_secs(10);

static GROUP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Counts the messages it gets; the count is its state.
#[derive(Debug)]
pub struct Counter;

/// The messages of [`Counter`], serializable for the cluster.
#[derive(RactorClusterMessage)]
pub enum Msg {
    /// Adds one.
    Inc,
    /// Adds one and replies with the new count.
    #[rpc]
    IncAsk(RpcReplyPort<u64>),
    /// Replies with the count.
    #[rpc]
    Get(RpcReplyPort<u64>),
}

impl Actor for Counter {
    type Msg = Msg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Msg>, _args: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(&self, _myself: ActorRef<Msg>, msg: Msg, n: &mut u64) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Inc => *n += 1,
            Msg::IncAsk(reply) => {
                *n += 1;
                let _ = reply.send(*n);
            }
            Msg::Get(reply) => {
                let _ = reply.send(*n);
            }
        }
        Ok(())
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("ractor_cluster: {e}").into()
}

async fn call(actor: &ActorRef<Msg>, msg: fn(RpcReplyPort<u64>) -> Msg) -> Result<u64, BenchError> {
    match actor.call(msg, None).await.map_err(err)? {
        CallResult::Success(v) => Ok(v),
        CallResult::Timeout => Err("ractor_cluster: call timed out".into()),
        CallResult::SenderError => Err("ractor_cluster: reply port dropped".into()),
    }
}

/// A port nobody listens on right now (bound then released), for a `NodeServer`.
fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Two connected `NodeServer`s on the current runtime.
#[derive(Debug, Clone)]
pub struct RactorNodes {
    a: ActorRef<NodeServerMessage>,
    b: ActorRef<NodeServerMessage>,
}

/// A counter: the actor itself (to stop it) and the `RemoteActor` that reaches it over
/// the connection.
struct RemoteCounter {
    local: ActorRef<Msg>,
    there: ActorRef<Msg>,
}

async fn node_server(name: &str) -> Result<(ActorRef<NodeServerMessage>, u16), BenchError> {
    let port = free_port()?;
    let server = NodeServer::new(
        port,
        COOKIE.to_string(),
        name.to_string(),
        "127.0.0.1".to_string(),
        None,
        Some(NodeConnectionMode::Isolated),
    )
    .with_listen_addr(std::net::IpAddr::from([127, 0, 0, 1]));
    let (actor, _join) = Actor::spawn(None, server, ()).await.map_err(err)?;
    // A mailbox barrier: the listener is started once the server has handled a request.
    ractor::call_t!(actor, NodeServerMessage::GetSessions, 5_000).map_err(err)?;
    Ok((actor, port))
}

impl RactorNodes {
    /// Starts both node servers (call inside the runtime), connects A to B and waits
    /// until a counter on one is reachable from the other.
    pub async fn start() -> Result<RactorNodes, BenchError> {
        let (a, _) = node_server("a").await?;
        let (b, b_port) = node_server("b").await?;
        let deadline = Instant::now() + SETUP;
        loop {
            match ractor_cluster::client_connect(&a, ("127.0.0.1", b_port)).await {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => return Err(err(e)),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        let nodes = RactorNodes { a, b };
        let c = nodes.counter().await?;
        c.stop().await?;
        Ok(nodes)
    }

    /// Spawns a counter and waits until a `RemoteActor` for it exists, then calls it
    /// once through that proxy.
    async fn counter(&self) -> Result<RemoteCounter, BenchError> {
        let (local, _join) = Actor::spawn(None, Counter, ()).await.map_err(err)?;
        let group = format!(
            "ackor-bench-counter-{}",
            GROUP_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        ractor::pg::join(group.clone(), vec![local.get_cell()]);
        let deadline = Instant::now() + SETUP;
        let there = loop {
            let proxy = ractor::pg::get_members(&group)
                .into_iter()
                .find(|cell| !cell.get_id().is_local());
            if let Some(cell) = proxy {
                break ActorRef::<Msg>::from(cell);
            }
            if Instant::now() > deadline {
                return Err("ractor_cluster: no remote proxy of the counter appeared".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        call(&there, Msg::Get).await?;
        Ok(RemoteCounter { local, there })
    }

    /// One sender task → one counter over the connection: `n` casts, then a call
    /// returning the count.
    pub async fn tell_1to1(&self, n: u64) -> Result<Duration, BenchError> {
        let c = self.counter().await?;
        let start = Instant::now();
        let got = send_counted(&c.there, n).await?;
        let elapsed = start.elapsed();
        check_count("ractor_cluster", got, n)?;
        c.stop().await?;
        Ok(elapsed)
    }

    /// [`PAIRS`] sender tasks, each to its own counter, `n` casts each.
    pub async fn tell_n_to_n(&self, n: u64) -> Result<Duration, BenchError> {
        let mut counters = Vec::with_capacity(PAIRS);
        for _ in 0..PAIRS {
            counters.push(self.counter().await?);
        }
        let start = Instant::now();
        let senders: Vec<_> = counters
            .iter()
            .map(|c| {
                let there = c.there.clone();
                tokio::spawn(async move { send_counted(&there, n).await })
            })
            .collect();
        let mut counts = Vec::with_capacity(PAIRS);
        for sender in senders {
            counts.push(sender.await??);
        }
        let elapsed = start.elapsed();
        for got in counts {
            check_count("ractor_cluster", got, n)?;
        }
        for c in &counters {
            c.stop().await?;
        }
        Ok(elapsed)
    }

    /// `n` sequential calls over the connection; the total time and each call's time.
    pub async fn call_latency(&self, n: u64) -> Result<(Duration, Latencies), BenchError> {
        let c = self.counter().await?;
        let (elapsed, lat, last) = Latencies::time_each(n, || call(&c.there, Msg::IncAsk)).await?;
        check_count("ractor_cluster", last.unwrap_or(0), n)?;
        c.stop().await?;
        Ok((elapsed, lat))
    }

    /// Stops both node servers (and with them their sessions).
    pub async fn shutdown(&self) {
        let _ = self.a.stop_and_wait(None, Some(SETUP)).await;
        let _ = self.b.stop_and_wait(None, Some(SETUP)).await;
    }
}

impl RemoteCounter {
    async fn stop(&self) -> Result<(), BenchError> {
        self.local.stop_and_wait(None, Some(SETUP)).await.map_err(err)
    }
}

/// `n` casts through the proxy, then a call for the count (same proxy, same session,
/// so it arrives behind them).
async fn send_counted(there: &ActorRef<Msg>, n: u64) -> Result<u64, BenchError> {
    for _ in 0..n {
        there.cast(Msg::Inc).map_err(err)?;
    }
    call(there, Msg::Get).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_remote_operation_counts_right() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let nodes = RactorNodes::start().await.unwrap();
            nodes.tell_1to1(2000).await.unwrap();
            nodes.tell_n_to_n(300).await.unwrap();
            let (_, lat) = nodes.call_latency(100).await.unwrap();
            assert_eq!(lat.count(), 100);
            nodes.shutdown().await;
        })
        .unwrap();
    }
}
