//! What an actor's whole life allocates, counted block by block: spawned, stopped and
//! waited for, an actor costs its task, its cell, its boxed `init` and end, and the
//! relations box its waiter is kept in. Fails when that grows (as it did unnoticed
//! before: a channel and a list per waiter, a box for `on_stop`). Deterministic: one
//! thread, the same allocations every run. (Speed is measured in `crates/ackor-bench`;
//! this is a guard.)
//!
//! One test in this file: dhat's counting allocator is per process.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

mod common;

use ackor::{Actor, BoxError, Context, ExitReason, Node};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

struct Idle;

impl Actor for Idle {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Idle)
    }
}

/// Heap blocks allocated per actor while `n` actors are spawned, stopped and waited
/// for, one at a time.
async fn blocks_per_actor(node: &Node, n: u64) -> f64 {
    let before = dhat::HeapStats::get();
    for _ in 0..n {
        let actor = node.spawn::<Idle>(()).unwrap();
        actor.stop().unwrap();
        assert_eq!(actor.wait_for_stop().await, ExitReason::Normal);
    }
    let after = dhat::HeapStats::get();
    (after.total_blocks - before.total_blocks) as f64 / n as f64
}

#[test]
fn spawning_stopping_and_waiting_for_an_actor_allocates_five_blocks() {
    common::heap::counting("spawn-alloc@local", |node| async move {
        // Warm-up: the process table grows once.
        blocks_per_actor(&node, 1000).await;
        let blocks = blocks_per_actor(&node, 10_000).await;
        println!("blocks per actor spawned, stopped and waited for: {blocks:.3}");
        // The task, the cell, the boxed `init` and end, the waiter's relations box.
        assert!(
            blocks < 5.01,
            "an actor's life allocates {blocks:.3} blocks, more than the five documented"
        );
    });
}
