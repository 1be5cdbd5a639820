//! Keeping the network side's tasks stealable when a user task spins.
//!
//! Tokio's multi-threaded scheduler puts a task woken on a worker thread into that
//! worker's LIFO slot, which the other workers cannot steal (tokio-rs/tokio#4941; the
//! fix was reverted in tokio 1.52 and is not in 1.54). A link's writer is woken by the
//! first sender that queues a frame, so it lands in the sender's LIFO slot; if that
//! sender then retries a refused send in a loop without ever awaiting, the worker never
//! returns to its slot, the writer never runs, and the whole link stalls for every
//! other sender until the peer's heartbeat timeout takes it down. (The same holds for
//! the task that dials a peer.)
//!
//! Refused sends are the sign: the queue is full, so its writer (or dialer) should be
//! running and is not. [`dislodge`] then spawns an empty task from the same thread,
//! which takes the LIFO slot: tokio moves the previous occupant to the worker's run
//! queue, which the other workers do steal from, and wakes a sleeping worker to do so.
//! It is called at the [`SPINNING`]th refusal since the writer last took the queue's
//! bytes: a spinning sender gets there within microseconds (and costs one spawn per
//! write, not per attempt), while senders that wait for room after a refusal
//! (`send_wait`) let the writer run on their own worker, where it is cheapest: moving
//! it to the other worker at every full queue cost plain remote sends about 10 %.

/// How many refusals in a row (without the writer taking the queue) mean a sender
/// spins rather than waits.
pub(crate) const SPINNING: u32 = 64;

/// Moves whatever task sits in this worker's LIFO slot to its run queue, where other
/// workers can steal it. Does nothing outside a tokio runtime.
pub(crate) fn dislodge() {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn(async {}));
    }
}
