//! For the tests that guard allocation figures. Each is the only test in its file: dhat
//! counts per process, and the file's binary must have `dhat::Alloc` as its global
//! allocator.

use std::future::Future;

use ackor::Node;

/// Runs `test` with dhat counting, on a one-thread runtime (the same allocations every
/// run), with a fresh node named `name`, which is shut down after.
pub fn counting<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Node) -> Fut,
    Fut: Future<Output = ()>,
{
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = Node::builder().name(name).start().await.unwrap();
        test(node.clone()).await;
        node.shutdown().await;
    });
}
