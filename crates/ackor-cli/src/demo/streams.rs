//! Chapter on end-to-end delivery: an acknowledgement after handling, and a stream
//! that survives its consumer's node going away and its producer's restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ackor::stream::{Consumer, ConsumerConfig, Delivery, Ledger, Producer, ProducerConfig};
use ackor::{
    Actor, BoxError, BoxFuture, Context, Error, Handler, Message, Node, ProcessId, RemoteConfig,
    RemoteMessage, RemoteMessages,
};
use ackor_durable::FileOutbox;
use serde::{Deserialize, Serialize};

use super::{Outcome, check, say};

const COOKIE: &str = "streams-demo";

async fn start(name: &str) -> Result<Node, String> {
    Node::builder()
        .name(format!("{name}@127.0.0.1:0"))
        .remote(RemoteConfig::new(COOKIE))
        .start()
        .await
        .map_err(|e| e.to_string())
}

fn err(e: Error) -> String {
    e.to_string()
}

#[derive(Serialize, Deserialize)]
struct Order(u64);
impl Message for Order {
    type Reply = ();
}
impl RemoteMessage for Order {
    const TAG: &'static str = "demo.streams.order.v1";
}

/// The shop's book: the orders handled and, written with them in one step, the last
/// number handled per producer (the consumer's ledger). It outlives the shop's
/// nodes, as a database would.
#[derive(Clone, Default)]
struct Book(Arc<Mutex<BookState>>);

/// The orders in the order handled, and the last number handled per producer.
#[derive(Default)]
struct BookState {
    orders: Vec<u64>,
    last: HashMap<String, u64>,
}

impl Book {
    fn orders(&self) -> Vec<u64> {
        self.0.lock().map(|b| b.orders.clone()).unwrap_or_default()
    }
}

impl Ledger for Book {
    fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>> {
        let last = self.0.lock().map(|b| b.last.get(producer).copied());
        Box::pin(std::future::ready(
            last.map_err(|_| Error::Storage("book".into())),
        ))
    }
    fn record<'a>(&'a mut self, _: &'a str, _: u64) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Handles orders (a little slowly); panics on order 13 when told to.
struct Shop {
    book: Book,
}

impl Actor for Shop {
    type Args = Book;
    async fn init(book: Book, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Shop { book })
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Unlucky>();
    }
}

impl Handler<Delivery<Order>> for Shop {
    type Return = ();
    async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if let Ok(mut book) = self.book.0.lock() {
            book.orders.push(d.message().0);
            book.last.insert(d.producer().to_string(), d.seq());
        }
    }
}

/// An order whose handler panics.
#[derive(Serialize, Deserialize)]
struct Unlucky;
impl Message for Unlucky {
    type Reply = ();
}
impl RemoteMessage for Unlucky {
    const TAG: &'static str = "demo.streams.unlucky.v1";
}
impl Handler<Unlucky> for Shop {
    type Return = ();
    async fn handle(&mut self, _: Unlucky, _: &mut Context<Self>) {
        panic!("order 13 is unlucky");
    }
}

/// Starts a shop and its consumer "orders" on `node`.
fn open_shop(node: &Node, book: &Book) -> Result<ProcessId, String> {
    let shop = node.spawn::<Shop>(book.clone()).map_err(err)?;
    let config = ConsumerConfig::new().window(64).ledger(book.clone());
    Consumer::<Order>::spawn(node, "orders", &shop, config).map_err(err)?;
    Ok(ProcessId::new("orders", node.name().clone()))
}

/// Sends the orders `ids` all at once (stored in a few batches), in order.
async fn send_all(producer: &Producer<Order>, ids: std::ops::RangeInclusive<u64>) -> Outcome {
    let sends = ids.map(|id| producer.send(Order(id)));
    for sent in futures_util::future::join_all(sends).await {
        sent.map_err(err)?;
    }
    Ok(())
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

pub async fn handled_not_queued() -> Outcome {
    let book = Book::default();
    let shop_node = start("shop").await?;
    let checkout = start("checkout").await?;

    // 1. Queued is not handled.
    let unlucky = shop_node.spawn::<Shop>(book.clone()).map_err(err)?;
    let remote = checkout.actor_ref::<Shop>(unlucky.pid()).map_err(err)?;
    let queued = remote.send_important(Unlucky).await;
    say(format!(
        "An important send of an order whose handler panics: {queued:?}, it was in the mailbox; then the handler failed, and nobody was told."
    ));
    check(queued == Ok(()), "a plain important send to say Ok")?;
    let again = shop_node.spawn::<Shop>(book.clone()).map_err(err)?;
    let remote = checkout.actor_ref::<Shop>(again.pid()).map_err(err)?;
    let handled = remote.send_important(Unlucky).after_handling().await;
    say(format!(
        "The same send acknowledged after handling: {handled:?}, the sender knows it was not handled."
    ));
    check(
        handled == Err(Error::ProcessTerminated),
        "ProcessTerminated after handling",
    )?;

    // 2. A stream whose consumer's node goes away.
    let dir = std::env::temp_dir().join(format!("ackor-demo-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let outbox = dir.join("checkout.outbox");
    let current = Arc::new(Mutex::new(open_shop(&shop_node, &book)?));
    let resolve = {
        let current = current.clone();
        move || {
            let at = current
                .lock()
                .map(|at| at.clone())
                .map_err(|_| Error::ProcessUnknown);
            Box::pin(std::future::ready(at)) as BoxFuture<'static, _>
        }
    };
    let config = |outbox: &std::path::Path| -> Result<ProducerConfig, String> {
        Ok(ProducerConfig::resolved("checkout", resolve.clone())
            .outbox(FileOutbox::open(outbox).map_err(err)?)
            .ack_timeout(Duration::from_secs(2))
            .retry(Duration::from_millis(20), Duration::from_millis(200)))
    };
    let producer = Producer::<Order>::start(&checkout, config(&outbox)?)
        .await
        .map_err(err)?;
    send_all(&producer, 1..=400).await?;
    say(
        "checkout sends 400 orders in a stream to \"orders\" on the shop node: each kept on disk (a redb outbox) until the shop has handled it.",
    );
    wait_until("100 orders handled", || book.orders().len() >= 100).await?;
    shop_node.shutdown().await;
    let at_stop = book.orders().len();
    say(format!(
        "The shop node goes away at {at_stop} orders handled, the rest of the window in its mailbox, lost with it."
    ));
    let shop2 = start("shop2").await?;
    *current.lock().map_err(|_| "lock")? = open_shop(&shop2, &book)?;
    producer.wait_confirmed(400).await.map_err(err)?;
    say(format!(
        "A new shop on {} takes the name: the stream opens there, learns the last order handled ({at_stop}, from the shop's book), resends the rest in order.",
        shop2.name()
    ));
    check(
        book.orders() == (1..=400).collect::<Vec<_>>(),
        "orders 1..=400, once each, in order",
    )?;
    say("All 400 handled, each once, in order.");

    // 3. The producer restarts.
    send_all(&producer, 401..=600).await?;
    checkout.shutdown().await;
    let unconfirmed = 600 - book.orders().len();
    say(format!(
        "checkout sends 200 more and stops at once, {unconfirmed} of them not yet handled."
    ));
    let checkout2 = start("checkout2").await?;
    let producer = Producer::<Order>::start(&checkout2, config(&outbox)?)
        .await
        .map_err(err)?;
    let status = producer.status().await.map_err(err)?;
    say(format!(
        "A new checkout on the same outbox finds {} orders not known to be confirmed (confirmations are not waited for on disk), and its next number, {}. It resends them; the shop confirms those it already has without handling them again.",
        status.unconfirmed, status.next_seq
    ));
    check(status.next_seq == 601, "numbering to go on at 601")?;
    producer.wait_confirmed(600).await.map_err(err)?;
    check(
        book.orders() == (1..=600).collect::<Vec<_>>(),
        "orders 1..=600, once each, in order",
    )?;
    say(
        "All 600 handled, each once, in order. (examples/orders.rs in ackor-durable does this with two OS processes and SIGKILL.)",
    );
    checkout2.shutdown().await;
    shop2.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
