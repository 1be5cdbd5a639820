//! The receiver's dedup window: which important deliveries from a peer's incarnation
//! were already delivered (or refused), so that a copy resent after a link flap is
//! answered again but never put in a mailbox twice.

use crate::fasthash::FastMap;
use crate::remote::wire::WireError;

/// The important deliveries received from a peer's incarnation, among its last
/// [`DEDUP_WINDOW`] delivery ids (ids are a counter of the sender, so they are mostly
/// received in order): one slot per id modulo the window, packed as `id << 2 | state`
/// (0: empty), and the errors of the few refused ones aside. A slot holds the newest id
/// that mapped to it; an id older than the one in its slot is out of the window and
/// forgotten, as the oldest ids are.
#[derive(Default)]
pub(crate) struct DedupWindow {
    /// Allocated on the first important delivery from the peer.
    slots: Vec<u64>,
    errors: FastMap<u64, WireError>,
}

const IN_PROGRESS: u64 = 1;
const DONE: u64 = 2;
const REFUSED: u64 = 3;

impl DedupWindow {
    fn slot(&mut self, id: u64) -> &mut u64 {
        if self.slots.is_empty() {
            self.slots = vec![0; DEDUP_WINDOW];
        }
        let at = (id % DEDUP_WINDOW as u64) as usize;
        // `at` is below the length, which is DEDUP_WINDOW.
        &mut self.slots[at]
    }

    pub(crate) fn get(&mut self, id: u64) -> Option<Seen> {
        let slot = *self.slot(id);
        if slot == 0 || slot >> 2 != id {
            return None;
        }
        Some(match slot & 3 {
            IN_PROGRESS => Seen::InProgress,
            REFUSED => Seen::Done(self.errors.get(&id).cloned()),
            _ => Seen::Done(None),
        })
    }

    /// Records where delivery `id` stands, unless the window has moved past it (ids
    /// of 2^62 and more, which no counter reaches, are not recorded).
    pub(crate) fn set(&mut self, id: u64, seen: Seen) {
        if id >> 62 != 0 {
            return;
        }
        let slot = self.slot(id);
        let before = *slot;
        if before != 0 && before >> 2 > id {
            return;
        }
        let (state, error) = match seen {
            Seen::InProgress => (IN_PROGRESS, None),
            Seen::Done(None) => (DONE, None),
            Seen::Done(Some(error)) => (REFUSED, Some(error)),
        };
        *slot = id << 2 | state;
        if before & 3 == REFUSED && before >> 2 != id {
            self.errors.remove(&(before >> 2));
        }
        if let Some(error) = error {
            self.errors.insert(id, error);
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = DedupWindow::default();
    }
}

/// Where an important delivery from the peer stands.
#[derive(Clone)]
pub(crate) enum Seen {
    /// Being delivered right now (a repeat raced it on another link): the first copy
    /// answers.
    InProgress,
    /// Delivered, or refused with this error.
    Done(Option<WireError>),
}

/// How many received important deliveries a peer's dedup window remembers.
const DEDUP_WINDOW: usize = 1 << 17;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn done(seen: Option<Seen>) -> Option<Option<WireError>> {
        match seen {
            Some(Seen::Done(e)) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn the_dedup_window_remembers_the_last_ids_and_their_outcomes() {
        let mut w = DedupWindow::default();
        assert!(w.get(1).is_none());
        w.set(1, Seen::InProgress);
        assert!(matches!(w.get(1), Some(Seen::InProgress)));
        w.set(1, Seen::Done(None));
        assert_eq!(done(w.get(1)), Some(None));
        let refused = WireError::from(&Error::MailboxFull);
        w.set(2, Seen::Done(Some(refused.clone())));
        assert_eq!(done(w.get(2)), Some(Some(refused)));
        // One window later the slots are reused: the old ids are forgotten.
        let later = DEDUP_WINDOW as u64;
        w.set(1 + later, Seen::Done(None));
        w.set(2 + later, Seen::Done(None));
        assert!(w.get(1).is_none() && w.get(2).is_none());
        assert!(w.errors.is_empty());
        // An id older than its slot's is out of the window: it does not evict the newer.
        w.set(1, Seen::Done(None));
        assert_eq!(done(w.get(1 + later)), Some(None));
        assert!(w.get(1).is_none());
        // Ids no counter reaches are never recorded (and never panic).
        w.set(u64::MAX, Seen::InProgress);
        assert!(w.get(u64::MAX).is_none());
        w.clear();
        assert!(w.get(1 + later).is_none());
    }
}
