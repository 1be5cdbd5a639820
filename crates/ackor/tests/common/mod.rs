//! Helpers shared by the multi-node test files.

#![allow(dead_code)] // each test file uses the part it needs
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ackor::inspect::PeerInfo;
use ackor::{Node, RemoteConfig};

pub mod heap;
pub mod recorder;

/// Bounds every "at once" answer, far below the nodes' 30 s call timeout.
pub const PROMPT: Duration = Duration::from_secs(5);

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A number no other call in this test binary gets: keeps node names apart.
pub fn unique() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// A networked node `<prefix><n>@127.0.0.1:<free port>` with a 30 s call timeout.
pub async fn start_node(prefix: &str, remote: RemoteConfig) -> Node {
    let n = unique();
    Node::builder()
        .name(format!("{prefix}{n}@127.0.0.1:0"))
        .call_timeout(Duration::from_secs(30))
        .remote(remote)
        .start()
        .await
        .expect("node starts")
}

/// What `node` reports of its peer `other` (its links, frames, ...).
pub fn peer_info(node: &Node, other: &Node) -> PeerInfo {
    node.info()
        .peers
        .into_iter()
        .find(|p| p.node == other.name().as_str())
        .expect("the node knows its peer")
}

/// A node that can die abruptly: it runs on a tokio runtime of its own, on its own
/// thread. `setup` runs there once the node is up; its result comes back here. Sending
/// on the returned channel drops that runtime, every task and socket with it, as if the
/// process had died; join the thread to wait for it.
pub fn mortal_node<T, F>(
    prefix: &'static str,
    remote: RemoteConfig,
    setup: F,
) -> (T, std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)
where
    T: Send + 'static,
    F: FnOnce(&Node) -> T + Send + 'static,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (die_tx, die_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let node = start_node(prefix, remote).await;
            ready_tx.send(setup(&node)).unwrap();
            tokio::task::spawn_blocking(move || die_rx.recv()).await.ok();
        });
        drop(rt);
    });
    (ready_rx.recv().unwrap(), die_tx, thread)
}
