//! What handling a message allocates, counted block by block: a handler that never
//! waits (a plain `fn` under `#[ackor::actor]`, `Handler::handle_now`) is run with no
//! future made for it, so a local send to it allocates its envelope and nothing else.
//! Fails when that fast path is lost. Deterministic: one thread, the same allocations
//! every run. (Speed is measured in `crates/ackor-bench`; this is a guard.)
//!
//! One test in this file: dhat's counting allocator is per process.

#![cfg(feature = "macros")]
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

mod common;

use ackor::{Actor, BoxError, Context, Message};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

struct Counter(u64);

#[ackor::actor]
impl Actor for Counter {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter(0))
    }

    #[handler]
    fn inc(&mut self, _: Inc) -> u64 {
        self.0 += 1;
        self.0
    }

    #[handler]
    async fn inc_async(&mut self, _: IncAsync) -> u64 {
        self.0 += 1;
        self.0
    }
}

struct Inc;
impl Message for Inc {
    type Reply = u64;
}

struct IncAsync;
impl Message for IncAsync {
    type Reply = u64;
}

/// Heap blocks allocated per message while `n` messages made by `make` are sent and
/// handled (the call that waits for the last one is counted too, spread over `n`).
async fn blocks_per_message<M: Message<Reply = u64>>(
    actor: &ackor::ActorRef<Counter>,
    n: u64,
    make: impl Fn() -> M,
) -> f64
where
    Counter: ackor::Handler<M>,
{
    let before = dhat::HeapStats::get();
    for _ in 0..n {
        actor.send_wait(make()).await.unwrap();
    }
    actor.call(make()).await.unwrap();
    let after = dhat::HeapStats::get();
    (after.total_blocks - before.total_blocks) as f64 / n as f64
}

#[test]
fn a_send_to_a_handler_that_never_waits_allocates_only_its_envelope() {
    common::heap::counting("alloc@local", |node| async move {
        let actor = node.spawn::<Counter>(()).unwrap();
        // Warm-up: the lane's buffers grow once.
        blocks_per_message(&actor, 1000, || Inc).await;
        blocks_per_message(&actor, 1000, || IncAsync).await;
        const N: u64 = 10_000;
        let now = blocks_per_message(&actor, N, || Inc).await;
        let later = blocks_per_message(&actor, N, || IncAsync).await;
        println!("blocks per message: plain fn {now:.3}, async fn {later:.3}");
        // One block: the envelope. The final call's few blocks, spread over N, and
        // nothing else.
        assert!(
            now < 1.01,
            "a send to a plain `fn` handler allocates {now:.3} blocks, more than its envelope"
        );
        // The same handler written `async fn` has its future boxed: one more block.
        assert!(later > now + 0.99, "plain fn {now:.3}, async fn {later:.3}");
        actor.stop().unwrap();
        actor.wait_for_stop().await;
    });
}
