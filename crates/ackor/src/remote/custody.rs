//! Frames a peer keeps for the layer above until it releases them.
//!
//! Important delivery (`crate::reliable`) must resend, after a link flap, every frame
//! the peer did not answer, and nothing else twice. The copy has to be taken in the
//! same step as the frame is queued on a link, and the resend has to go out before
//! anything queued after it, so both happen under the peer's lock: the peer calls
//! the [`Custody`] it was made with at exactly those points, and the layer above
//! decides everything else (ids, how many may wait, what an answer means, what a
//! repeat is). This module holds no such policy: to it a kept frame is bytes with an
//! id and a link pin.

use std::any::Any;

use bytes::Bytes;

/// What a peer keeps, under its lock, on behalf of the layer above; one per peer.
pub(crate) trait Custody: Any + Send {
    /// How many frames are kept.
    fn len(&self) -> usize;

    /// True when no frame is kept.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies a frame as it is queued on a link (called under the link's queue lock,
    /// so it only copies; [`Custody::keep`] follows once the lock is released).
    fn copy(&mut self, frame: &[u8]) -> Bytes;

    /// Keeps frame `id` (going out on the link of `pin`): a [`Custody::copy`], or a
    /// frame encoded on its own while the links come up.
    fn keep(&mut self, id: u64, pin: u64, frame: Bytes);

    /// True while frame `id` is kept.
    fn holds(&self, id: u64) -> bool;

    /// Frame `id` was answered (or given up): it is not kept any more.
    fn release(&mut self, id: u64);

    /// The links went down: keeps only the frames for which `left(id)` (the frame had
    /// gone out on a link, so the peer may have it).
    fn keep_only(&mut self, left: &dyn Fn(u64) -> bool);

    /// The peer restarted (links came up to a new incarnation): forgets every frame
    /// and whatever else was kept about the previous incarnation. (A lost link or a
    /// shutdown only drops frames, through [`Custody::keep_only`].)
    fn new_incarnation(&mut self);

    /// The links to the same incarnation are back: the kept frames to send again
    /// before anything else, oldest first, as (pin, frame), leaving out those for
    /// which `queued(id)` (still waiting in the peer's queue: they go out in place).
    fn resend(&mut self, queued: &dyn Fn(u64) -> bool) -> Vec<(u64, Bytes)>;

    /// The layer above's own view of what it keeps (it knows the concrete type).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Makes the custody of a new peer.
pub(crate) type NewCustody = fn() -> Box<dyn Custody>;
