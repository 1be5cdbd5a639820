//! # ackor-durable
//!
//! Durable stores for [ackor streams](ackor::stream), embedded in the process (one
//! file each, [redb](https://docs.rs/redb): pure Rust, crash-safe, copy-on-write
//! B-trees with checksummed commits):
//!
//! - [`FileOutbox`]: a producer's unconfirmed messages. A producer killed with
//!   SIGKILL, started again on the same file with the same id, resends what the
//!   consumer had not confirmed, numbered as before.
//! - [`FileLedger`]: a consumer's record of the last message it handled from each
//!   producer, so a message resent after the consumer's restart is not handled again.
//!   It is written after the handler returns: a crash between the two handles that
//!   one message again. For exactly once, keep the record with your own state instead
//!   (see [`ackor::stream::Ledger`]).
//!
//! Both run their disk work on tokio's blocking threads, never on the actor's.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! use ackor::stream::{Producer, ProducerConfig};
//! use ackor::{Node, NodeName, ProcessId};
//! use ackor_durable::FileOutbox;
//! # #[derive(serde::Serialize, serde::Deserialize)]
//! # struct Order(u64);
//! # impl ackor::Message for Order { type Reply = (); }
//! # impl ackor::RemoteMessage for Order { const TAG: &'static str = "doc.order"; }
//!
//! let dir = std::env::temp_dir().join(format!("ackor-durable-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).map_err(|e| ackor::Error::Storage(e.to_string()))?;
//! let node = Node::builder().name("checkout@local").start().await?;
//! let outbox = FileOutbox::open(dir.join("checkout.outbox"))?;
//! let to = ProcessId::new("orders", NodeName::new("shop@127.0.0.1:4370"));
//! let producer = Producer::<Order>::start(&node, ProducerConfig::new("checkout", to).outbox(outbox)).await?;
//! let seq = producer.send(Order(1)).await?; // on disk now: it survives a crash
//! assert_eq!(seq, 1);
//! # node.shutdown().await;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use ackor::stream::{Ledger, Outbox, Stored};
use ackor::{BoxFuture, Error};
use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

/// Unconfirmed messages by sequence number.
const MESSAGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("messages");
/// Small counters: `next_seq` of an outbox.
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// The last sequence number handled, by producer id.
const HANDLED: TableDefinition<'_, &str, u64> = TableDefinition::new("handled");

fn storage(e: impl std::fmt::Display) -> Error {
    Error::Storage(e.to_string())
}

/// Runs blocking disk work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work).await.map_err(storage)?
}

/// A producer's [`Outbox`] in a file: messages are on disk (fsync) before
/// [`Producer::send`](ackor::stream::Producer::send) returns, in one commit per
/// batch of sends; confirmations are committed without waiting for the disk (a
/// confirmation lost in a crash only makes the message go again, and the consumer
/// drops it). One file per producer.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::stream::Outbox;
/// use ackor_durable::FileOutbox;
/// use bytes::Bytes;
///
/// let path = std::env::temp_dir().join(format!("ackor-outbox-doc-{}", std::process::id()));
/// let mut outbox = FileOutbox::open(&path)?;
/// outbox.store(1, &[Bytes::from_static(b"a"), Bytes::from_static(b"b")]).await?;
/// outbox.confirm(1).await?;
/// drop(outbox);
/// // What a restarted producer finds:
/// let stored = FileOutbox::open(&path)?.load().await?;
/// assert_eq!(stored.next_seq, 3);
/// assert_eq!(stored.messages, vec![(2, Bytes::from_static(b"b"))]);
/// # let _ = std::fs::remove_file(&path);
/// # Ok(()) }
/// ```
pub struct FileOutbox {
    db: Arc<Database>,
}

impl FileOutbox {
    /// Opens the outbox at `path`, creating it if missing. Fails with
    /// [`Error::Storage`] if the file cannot be opened (another process holds it, it
    /// is not a database).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let db = Database::create(path.as_ref()).map_err(storage)?;
        Ok(FileOutbox { db: Arc::new(db) })
    }
}

impl Outbox for FileOutbox {
    fn load(&mut self) -> BoxFuture<'_, Result<Stored, Error>> {
        let db = self.db.clone();
        Box::pin(blocking(move || {
            let tx = db.begin_read().map_err(storage)?;
            let next_seq = match tx.open_table(META) {
                Ok(meta) => meta.get("next_seq").map_err(storage)?.map_or(1, |v| v.value()),
                Err(redb::TableError::TableDoesNotExist(_)) => 1,
                Err(e) => return Err(storage(e)),
            };
            let mut messages = Vec::new();
            match tx.open_table(MESSAGES) {
                Ok(table) => {
                    for entry in table.iter().map_err(storage)? {
                        let (seq, payload) = entry.map_err(storage)?;
                        messages.push((seq.value(), Bytes::copy_from_slice(payload.value())));
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(storage(e)),
            }
            Ok(Stored { next_seq, messages })
        }))
    }

    fn store<'a>(&'a mut self, first: u64, messages: &'a [Bytes]) -> BoxFuture<'a, Result<(), Error>> {
        let db = self.db.clone();
        let messages = messages.to_vec();
        Box::pin(blocking(move || {
            let mut tx = db.begin_write().map_err(storage)?;
            tx.set_durability(Durability::Immediate).map_err(storage)?;
            {
                let mut table = tx.open_table(MESSAGES).map_err(storage)?;
                for (seq, payload) in (first..).zip(&messages) {
                    table.insert(seq, payload.as_ref()).map_err(storage)?;
                }
                let mut meta = tx.open_table(META).map_err(storage)?;
                meta.insert("next_seq", first + messages.len() as u64)
                    .map_err(storage)?;
            }
            tx.commit().map_err(storage)
        }))
    }

    fn confirm(&mut self, up_to: u64) -> BoxFuture<'_, Result<(), Error>> {
        let db = self.db.clone();
        Box::pin(blocking(move || {
            let mut tx = db.begin_write().map_err(storage)?;
            // Not waited for: see the type's documentation.
            tx.set_durability(Durability::None).map_err(storage)?;
            {
                let mut table = tx.open_table(MESSAGES).map_err(storage)?;
                table.retain_in(..=up_to, |_, _| false).map_err(storage)?;
            }
            tx.commit().map_err(storage)
        }))
    }

    fn is_durable(&self) -> bool {
        true
    }
}

/// A consumer's [`Ledger`] in a file: the last sequence number handled per producer,
/// committed (fsync) after each message is handled.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::stream::Ledger;
/// use ackor_durable::FileLedger;
///
/// let path = std::env::temp_dir().join(format!("ackor-ledger-doc-{}", std::process::id()));
/// let mut ledger = FileLedger::open(&path)?;
/// ledger.record("checkout", 41).await?;
/// drop(ledger);
/// assert_eq!(FileLedger::open(&path)?.confirmed("checkout").await?, Some(41));
/// # let _ = std::fs::remove_file(&path);
/// # Ok(()) }
/// ```
pub struct FileLedger {
    db: Arc<Database>,
}

impl FileLedger {
    /// Opens the ledger at `path`, creating it if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let db = Database::create(path.as_ref()).map_err(storage)?;
        Ok(FileLedger { db: Arc::new(db) })
    }
}

impl Ledger for FileLedger {
    fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>> {
        let db = self.db.clone();
        let producer = producer.to_string();
        Box::pin(blocking(move || {
            let tx = db.begin_read().map_err(storage)?;
            match tx.open_table(HANDLED) {
                Ok(table) => Ok(table.get(producer.as_str()).map_err(storage)?.map(|v| v.value())),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
                Err(e) => Err(storage(e)),
            }
        }))
    }

    fn record<'a>(&'a mut self, producer: &'a str, seq: u64) -> BoxFuture<'a, Result<(), Error>> {
        let db = self.db.clone();
        let producer = producer.to_string();
        Box::pin(blocking(move || {
            let mut tx = db.begin_write().map_err(storage)?;
            tx.set_durability(Durability::Immediate).map_err(storage)?;
            {
                let mut table = tx.open_table(HANDLED).map_err(storage)?;
                table.insert(producer.as_str(), seq).map_err(storage)?;
            }
            tx.commit().map_err(storage)
        }))
    }
}
