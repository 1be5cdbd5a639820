//! The sender's resend store: a copy of every important send to a peer until the
//! peer acknowledges it, to send again (in the original order) if the links drop and
//! come back to the same incarnation. It is the [`Custody`] each peer is made with,
//! so keeping a copy happens in the same step as queueing the frame, under the peer's
//! lock; the receiving side's dedup window for the same peer lives beside it, so a
//! peer restart forgets both at once.

use std::any::Any;

use bytes::{Bytes, BytesMut};

use super::dedup::DedupWindow;
use crate::fasthash::FastMap;
use crate::remote::Custody;

/// How many bytes of kept frames one chunk holds.
const KEPT_CHUNK: usize = 16 * 1024;

/// Everything important delivery keeps about one peer.
#[derive(Default)]
pub(crate) struct PeerCustody {
    /// Important sends not yet acknowledged, by delivery id.
    unacked: FastMap<u64, Unacked>,
    /// Numbers the entries of `unacked` in the order they were queued.
    seq: u64,
    /// Where the frames of `unacked` are copied: each is a slice of a chunk shared
    /// with the frames sent around it (no allocation per frame); a chunk is freed once
    /// all of its frames are acknowledged.
    chunk: BytesMut,
    /// Outcomes of important sends this node received from the peer's current
    /// incarnation (the receiving side).
    pub(crate) seen: DedupWindow,
}

/// An important send awaiting its acknowledgement.
struct Unacked {
    /// Its place in the order of sends to the peer.
    seq: u64,
    pin: u64,
    /// The encoded frame, to resend.
    frame: Bytes,
}

/// Makes the custody of a new peer (see [`crate::remote::NewCustody`]).
pub(crate) fn new_custody() -> Box<dyn Custody> {
    Box::new(PeerCustody::default())
}

impl Custody for PeerCustody {
    fn len(&self) -> usize {
        self.unacked.len()
    }

    fn copy(&mut self, frame: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < frame.len() {
            // A fresh chunk: the frames already taken out keep the old one alive.
            self.chunk = BytesMut::with_capacity(KEPT_CHUNK.max(frame.len()));
        }
        self.chunk.extend_from_slice(frame);
        self.chunk.split().freeze()
    }

    fn keep(&mut self, id: u64, pin: u64, frame: Bytes) {
        self.seq += 1;
        let seq = self.seq;
        self.unacked.insert(id, Unacked { seq, pin, frame });
    }

    fn holds(&self, id: u64) -> bool {
        self.unacked.contains_key(&id)
    }

    fn release(&mut self, id: u64) {
        self.unacked.remove(&id);
    }

    fn keep_only(&mut self, left: &dyn Fn(u64) -> bool) {
        self.unacked.retain(|id, _| left(*id));
    }

    fn new_incarnation(&mut self) {
        self.unacked.clear();
        self.seen.clear();
    }

    fn resend(&mut self, queued: &dyn Fn(u64) -> bool) -> Vec<(u64, Bytes)> {
        let mut resend: Vec<_> = self
            .unacked
            .iter()
            .filter(|(id, _)| !queued(**id))
            .map(|(_, sent)| (sent.seq, sent.pin, sent.frame.clone()))
            .collect();
        resend.sort_unstable_by_key(|(seq, _, _)| *seq);
        resend.into_iter().map(|(_, pin, frame)| (pin, frame)).collect()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_frames_are_resent_oldest_first_except_those_still_queued() {
        let mut c = PeerCustody::default();
        let first = c.copy(b"first");
        c.keep(30, 1, first);
        c.keep(10, 2, Bytes::from_static(b"second"));
        let third = c.copy(b"third");
        c.keep(20, 3, third);
        assert_eq!(c.len(), 3);
        let resend = c.resend(&|id| id == 10);
        assert_eq!(
            resend,
            vec![
                (1, Bytes::from_static(b"first")),
                (3, Bytes::from_static(b"third"))
            ]
        );
        c.release(30);
        assert!(!c.holds(30) && c.holds(20));
        c.keep_only(&|id| id == 10);
        assert!(c.holds(10) && !c.holds(20));
        c.new_incarnation();
        assert!(c.is_empty());
    }
}
