//! Where a stream keeps what must outlive a process: the producer's unconfirmed
//! messages ([`Outbox`]) and the consumer's record of what it handled ([`Ledger`]).
//! Both are traits so a user can keep them in a database they already run; the
//! in-memory ones here are the defaults, and `ackor-durable` has embedded ones on disk.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::{BoxFuture, Error};

/// What an [`Outbox`] holds when a producer starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The sequence number the next new message gets (1 for a new stream). Kept even
    /// when every message is confirmed, so numbering never goes back.
    pub next_seq: u64,
    /// The messages not yet confirmed, oldest first, each with its sequence number.
    pub messages: Vec<(u64, Bytes)>,
}

/// A producer's store of unconfirmed messages.
///
/// A [`Producer`](super::Producer) calls [`Outbox::store`] before its
/// [`send`](super::Producer::send) returns, with every message sent meanwhile in one
/// batch; [`Outbox::confirm`] once the consumer confirmed messages; [`Outbox::load`]
/// once, at start. A durable outbox makes a producer that restarts (after a crash, a
/// SIGKILL) resend what was not confirmed, numbered as before, so the consumer drops
/// what it already handled.
///
/// An outbox in a database you already run:
///
/// ```
/// use ackor::stream::{Outbox, Stored};
/// use ackor::{BoxFuture, Error};
/// use bytes::Bytes;
///
/// /// Stands for a table `(seq bigint primary key, payload bytea)` and a counter.
/// #[derive(Default)]
/// struct Table { rows: std::collections::BTreeMap<u64, Bytes>, next_seq: u64 }
///
/// impl Outbox for Table {
///     fn load(&mut self) -> BoxFuture<'_, Result<Stored, Error>> {
///         let messages = self.rows.iter().map(|(s, p)| (*s, p.clone())).collect();
///         Box::pin(async move { Ok(Stored { next_seq: self.next_seq.max(1), messages }) })
///     }
///     fn store<'a>(&'a mut self, first: u64, messages: &'a [Bytes]) -> BoxFuture<'a, Result<(), Error>> {
///         // INSERT ... ; UPDATE counter ... ; COMMIT
///         for (seq, m) in (first..).zip(messages) {
///             self.rows.insert(seq, m.clone());
///         }
///         self.next_seq = first + messages.len() as u64;
///         Box::pin(async { Ok(()) })
///     }
///     fn confirm(&mut self, up_to: u64) -> BoxFuture<'_, Result<(), Error>> {
///         // DELETE ... WHERE seq <= up_to
///         self.rows = self.rows.split_off(&(up_to + 1));
///         Box::pin(async { Ok(()) })
///     }
///     fn is_durable(&self) -> bool { true }
/// }
/// ```
pub trait Outbox: Send + 'static {
    /// What the store holds: the next sequence number and the unconfirmed messages.
    fn load(&mut self) -> BoxFuture<'_, Result<Stored, Error>>;

    /// Stores `messages` as numbers `first`, `first + 1`, ... and `first + len` as the
    /// next sequence number, all at once; durable when the future completes (a
    /// producer's `send` returns only then).
    fn store<'a>(&'a mut self, first: u64, messages: &'a [Bytes]) -> BoxFuture<'a, Result<(), Error>>;

    /// Forgets the messages numbered `up_to` and below: the consumer confirmed them.
    /// Need not be durable at once: a confirmed message found again after a restart is
    /// resent and dropped by the consumer as already handled.
    fn confirm(&mut self, up_to: u64) -> BoxFuture<'_, Result<(), Error>>;

    /// Whether what is stored survives the process. A producer with a durable outbox
    /// continues its numbering after a restart; one without starts over, and tells the
    /// consumer so.
    fn is_durable(&self) -> bool;
}

/// The default outbox: in memory, lost with the process.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ackor::Error> {
/// use ackor::stream::{MemoryOutbox, Outbox};
/// use bytes::Bytes;
///
/// let mut outbox = MemoryOutbox::default();
/// outbox.store(1, &[Bytes::from_static(b"a"), Bytes::from_static(b"b")]).await?;
/// outbox.confirm(1).await?;
/// let stored = outbox.load().await?;
/// assert_eq!(stored.next_seq, 3);
/// assert_eq!(stored.messages, vec![(2, Bytes::from_static(b"b"))]);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    messages: BTreeMap<u64, Bytes>,
    next_seq: u64,
}

impl Outbox for MemoryOutbox {
    fn load(&mut self) -> BoxFuture<'_, Result<Stored, Error>> {
        let stored = Stored {
            next_seq: self.next_seq.max(1),
            messages: self.messages.iter().map(|(s, m)| (*s, m.clone())).collect(),
        };
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn store<'a>(&'a mut self, first: u64, messages: &'a [Bytes]) -> BoxFuture<'a, Result<(), Error>> {
        for (seq, m) in (first..).zip(messages) {
            self.messages.insert(seq, m.clone());
        }
        self.next_seq = first + messages.len() as u64;
        Box::pin(std::future::ready(Ok(())))
    }

    fn confirm(&mut self, up_to: u64) -> BoxFuture<'_, Result<(), Error>> {
        self.messages = self.messages.split_off(&(up_to.saturating_add(1)));
        Box::pin(std::future::ready(Ok(())))
    }

    fn is_durable(&self) -> bool {
        false
    }
}

/// A consumer's record of the last sequence number it handled from each producer:
/// what makes a message resent after a crash land once.
///
/// The [`Consumer`](super::Consumer) asks [`Ledger::confirmed`] when a producer opens
/// its stream, and calls [`Ledger::record`] after the actor behind it handled each
/// message. A ledger that records after handling leaves a window (a crash between
/// the two) in which a message is handled twice; for exactly once, keep the record
/// with the actor's own state, written in the same step as the effect (the
/// [`Delivery`](super::Delivery) carries the producer id and sequence number), and
/// have `confirmed` read it back, `record` do nothing.
///
/// ```
/// use ackor::stream::Ledger;
/// use ackor::{BoxFuture, Error};
///
/// /// The actor's own table, written with each order in one transaction.
/// struct OrdersTable { last: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>> }
///
/// impl Ledger for OrdersTable {
///     fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>> {
///         // SELECT max(seq) FROM orders WHERE producer = $1
///         let last = match self.last.lock() {
///             Ok(last) => Ok(last.get(producer).copied()),
///             Err(_) => Err(Error::Storage("poisoned".into())),
///         };
///         Box::pin(std::future::ready(last))
///     }
///     fn record<'a>(&'a mut self, _: &'a str, _: u64) -> BoxFuture<'a, Result<(), Error>> {
///         Box::pin(async { Ok(()) }) // written by the handler, with the order
///     }
/// }
/// ```
pub trait Ledger: Send + 'static {
    /// The last sequence number of `producer` handled here, if any is known.
    fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>>;

    /// `seq` of `producer` was handled (and every number before it).
    fn record<'a>(&'a mut self, producer: &'a str, seq: u64) -> BoxFuture<'a, Result<(), Error>>;
}

/// The default ledger: in memory, lost with the process (a producer that resends to
/// the consumer's next incarnation then tells it where its stream stands).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ackor::Error> {
/// use ackor::stream::{Ledger, MemoryLedger};
///
/// let mut ledger = MemoryLedger::default();
/// assert_eq!(ledger.confirmed("p").await?, None);
/// ledger.record("p", 7).await?;
/// assert_eq!(ledger.confirmed("p").await?, Some(7));
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryLedger {
    last: HashMap<String, u64>,
}

impl Ledger for MemoryLedger {
    fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>> {
        Box::pin(std::future::ready(Ok(self.last.get(producer).copied())))
    }

    fn record<'a>(&'a mut self, producer: &'a str, seq: u64) -> BoxFuture<'a, Result<(), Error>> {
        match self.last.get_mut(producer) {
            Some(last) => *last = seq,
            None => {
                self.last.insert(producer.to_string(), seq);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}
