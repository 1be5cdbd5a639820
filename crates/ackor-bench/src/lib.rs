//! Side-by-side benchmarks of ackor against kameo, ractor and actix, with bare tokio
//! as the floor.
//!
//! Each framework has one module with the same actor (a counter) and the same
//! operations, written as plain async functions that return the time the measured part
//! took, so the criterion bench (`benches/local.rs`) stays small and the unit tests
//! below run the very same code with small counts:
//!
//! | function        | what is timed                                                     |
//! |-----------------|-------------------------------------------------------------------|
//! | `tell_1to1`     | one sender sends `n` messages with back-pressure, then one final call returns the count (checked) |
//! | `tell_n_to_n`   | [`PAIRS`] senders, each to its own actor, `n` messages each, same check per actor |
//! | `ask`           | `n` sequential request/reply round trips; the last reply must be `n` |
//! | `spawn_stop`    | `n` times: spawn an actor, ask it to stop, wait until it has fully stopped |
//! | `spawn_all_stop_all` | spawn `n` actors, then ask each to stop, then wait until each has fully stopped |
//!
//! Idle-actor memory is measured by `benches/memory.rs` with the counting allocator
//! of [`alloc_counter`]. Supervision (restart latency, one-for-all restart of many
//! children) is in [`supervision`], run by `benches/supervision.rs` and the `sup_probe`
//! binary. Cluster figures (failure detection, name propagation, gossip traffic of
//! `ackor-cluster`) are in [`cluster`], run by the `cluster_probe` binary.
//!
//! Thread placement: for the tokio-based frameworks (ackor, kameo, ractor, bare tokio)
//! every operation runs inside a task spawned on a 2-worker multi-thread runtime, one
//! runtime per framework ([`runtime`], [`run_on_worker`]); actors are spawned from that
//! task, so tokio puts them on the same worker first (LIFO slot), and the other worker
//! may steal them: whether sender and actor share a thread is up to tokio.
//! actix runs on its own `System` (a current-thread runtime): its sender and actors
//! share one thread, except in `tell_n_to_n`, where pairs are spread over two
//! `Arbiter` threads.

pub mod ackor_impl;
pub mod actix_impl;
pub mod alloc_counter;
pub mod cluster;
pub mod kameo_impl;
pub mod ractor_impl;
pub mod reentrancy;
pub mod remote;
pub mod supervision;
pub mod tokio_impl;

use std::future::Future;

/// Bound of every bounded mailbox in the benches (ackor, kameo, actix, bare tokio
/// channel). ractor's mailbox is unbounded and cannot be bounded.
pub const MAILBOX: usize = 1024;

/// Sender/actor pairs in `tell_n_to_n`.
pub const PAIRS: usize = 4;

/// The error type of the benchmark helpers.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the tokio multi-thread runtime the tokio-based frameworks run on: 2 workers,
/// timers enabled (ackor's call timeout, kameo's reply timeouts).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Runs `fut` as a task on one of `rt`'s workers (not on the calling thread, as
/// `block_on` alone would) and waits for its output.
pub fn run_on_worker<F>(rt: &tokio::runtime::Runtime, fut: F) -> Result<F::Output, BenchError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut)).map_err(|e| e.into())
}

/// Fails with a message when a receiver's final count is not what was sent.
pub fn check_count(framework: &str, got: u64, want: u64) -> Result<(), BenchError> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{framework}: actor counted {got} messages, {want} were sent").into())
    }
}
