//! Streams across real nodes on loopback: in order, handled, resent to a consumer's
//! next instance without repeats, bounded by the window the consumer grants.
//! (The same with OS processes killed by SIGKILL, and with a durable outbox, is in
//! the `ackor-durable` crate's tests.)

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ackor::stream::{Consumer, ConsumerConfig, Delivery, Ledger, Producer, ProducerConfig};
use ackor::{Actor, BoxError, BoxFuture, Context, Error, Handler, Node, ProcessId, RemoteConfig};
use serde::{Deserialize, Serialize};

mod common;
use common::{PROMPT, mortal_node, start_node};

const COOKIE: &str = "streams";

fn config() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(1))
        .reconnect_backoff(Duration::from_millis(50))
}

#[derive(Debug, Serialize, Deserialize)]
struct Order(u64);
impl ackor::Message for Order {
    type Reply = ();
}
impl ackor::RemoteMessage for Order {
    const TAG: &'static str = "test.stream.order";
}

/// What the shop handled, and its record of the last number per producer, changed
/// in one step (as a database transaction would): the exactly-once setup.
#[derive(Clone, Default)]
struct Book(Arc<Mutex<BookState>>);

#[derive(Default)]
struct BookState {
    handled: Vec<u64>,
    last: HashMap<String, u64>,
}

impl Book {
    fn handled(&self) -> Vec<u64> {
        self.0.lock().unwrap().handled.clone()
    }
}

impl Ledger for Book {
    fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>> {
        let last = self.0.lock().unwrap().last.get(producer).copied();
        Box::pin(std::future::ready(Ok(last)))
    }
    fn record<'a>(&'a mut self, _: &'a str, _: u64) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

struct Shop {
    book: Book,
    pause: Duration,
    /// When set, each order takes a permit before it is handled.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Actor for Shop {
    type Args = (Book, Duration);
    async fn init((book, pause): (Book, Duration), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Shop {
            book,
            pause,
            gate: None,
        })
    }
}

/// Sets the shop's gate.
struct Gate(Arc<tokio::sync::Semaphore>);
impl ackor::Message for Gate {
    type Reply = ();
}
impl Handler<Gate> for Shop {
    type Return = ();
    async fn handle(&mut self, gate: Gate, _: &mut Context<Self>) {
        self.gate = Some(gate.0);
    }
}

impl Handler<Delivery<Order>> for Shop {
    type Return = ();
    async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) {
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        assert_eq!(
            d.seq(),
            d.message().0,
            "the order's number is its sequence number here"
        );
        let mut book = self.book.0.lock().unwrap();
        book.handled.push(d.message().0);
        book.last.insert(d.producer().to_string(), d.seq());
    }
}

/// Starts a shop and its consumer "orders" on `node`.
fn open_shop(node: &Node, book: &Book, pause: Duration, window: u32) -> ProcessId {
    let shop = node.spawn::<Shop>((book.clone(), pause)).unwrap();
    let config = ConsumerConfig::new().window(window).ledger(book.clone());
    Consumer::<Order>::spawn(node, "orders", &shop, config).unwrap();
    ProcessId::new("orders", node.name().clone())
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_delivers_every_message_once_in_order_and_confirms_after_handling() {
    let book = Book::default();
    let shop_node = start_node("st-shop", config()).await;
    let to = open_shop(&shop_node, &book, Duration::ZERO, 64);
    let checkout = start_node("st-checkout", config()).await;
    let producer = Producer::<Order>::start(&checkout, ProducerConfig::new("checkout", to))
        .await
        .unwrap();
    for id in 1..=2000 {
        assert_eq!(producer.send(Order(id)).await, Ok(id));
    }
    tokio::time::timeout(PROMPT, producer.wait_confirmed(2000))
        .await
        .unwrap()
        .unwrap();
    // Confirmed means handled: the shop has them all, in order, once.
    assert_eq!(book.handled(), (1..=2000).collect::<Vec<_>>());
    let status = producer.status().await.unwrap();
    assert_eq!(
        (status.confirmed, status.unconfirmed, status.next_seq),
        (2000, 0, 2001)
    );
    assert!(status.open);
    assert_eq!(status.window, 64);
    checkout.shutdown().await;
    shop_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_node_that_dies_mid_stream_is_replaced_and_nothing_is_lost_or_handled_twice() {
    // The shop's record outlives its node (as a database would); the consumer's
    // address is resolved anew at each open, as a cluster name would be.
    let book = Book::default();
    let first_book = book.clone();
    let (first, die, thread) = mortal_node("st-dies", config(), move |node| {
        open_shop(node, &first_book, Duration::from_millis(2), 32)
    });
    let current = Arc::new(Mutex::new(first));
    let resolve = {
        let current = current.clone();
        move || {
            let at = current.lock().unwrap().clone();
            Box::pin(std::future::ready(Ok(at))) as BoxFuture<'static, _>
        }
    };
    let checkout = start_node("st-checkout", config()).await;
    let producer = Producer::<Order>::start(
        &checkout,
        ProducerConfig::resolved("checkout", resolve)
            .ack_timeout(Duration::from_secs(2))
            .retry(Duration::from_millis(20), Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let sending = {
        let producer = producer.clone();
        tokio::spawn(async move {
            for id in 1..=600 {
                assert_eq!(producer.send(Order(id)).await, Ok(id));
            }
        })
    };
    // Kill the shop's node part way, its mailbox holding messages.
    eventually("the first shop to handle 100", || book.handled().len() >= 100).await;
    die.send(()).unwrap();
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap()
        .unwrap();
    let handled_by_first = book.handled().len();
    assert!(handled_by_first < 600, "the first shop finished before it died");
    // Its replacement, on another node, under the same name.
    let second = start_node("st-second", config()).await;
    *current.lock().unwrap() = open_shop(&second, &book, Duration::ZERO, 32);
    sending.await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), producer.wait_confirmed(600))
        .await
        .expect("every order confirmed after the replacement")
        .unwrap();
    assert_eq!(
        book.handled(),
        (1..=600).collect::<Vec<_>>(),
        "each once, in order"
    );
    checkout.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_bounds_the_consumers_mailbox_under_a_fast_producer() {
    const WINDOW: u32 = 8;
    const CAPACITY: u64 = 20;
    const TOTAL: u64 = 80;
    let book = Book::default();
    let shop_node = start_node("st-slow", config()).await;
    let shop = shop_node
        .spawn::<Shop>((book.clone(), Duration::from_millis(10)))
        .unwrap();
    let consumer = Consumer::<Order>::spawn(
        &shop_node,
        "orders",
        &shop,
        ConsumerConfig::new().window(WINDOW).ledger(book.clone()),
    )
    .unwrap();
    let to = ProcessId::new("orders", shop_node.name().clone());
    let checkout = start_node("st-fast", config()).await;
    let producer = Producer::<Order>::start(
        &checkout,
        ProducerConfig::new("fast", to).capacity(CAPACITY as usize),
    )
    .await
    .unwrap();
    // The producer takes its capacity at once, then waits for confirmations (none
    // comes before the test opens the shop's gate).
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    shop.call(Gate(gate.clone())).await.unwrap();
    for id in 1..=CAPACITY {
        producer.send(Order(id)).await.unwrap();
    }
    let rest = {
        let producer = producer.clone();
        tokio::spawn(async move {
            for id in CAPACITY + 1..=TOTAL {
                assert_eq!(producer.send(Order(id)).await, Ok(id));
            }
        })
    };
    // The next send waits: nothing can be confirmed while the gate is closed.
    let deadline = Instant::now() + PROMPT;
    let status = loop {
        let status = producer.status().await.unwrap();
        if status.waiting == 1 || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(status.waiting, 1, "a send beyond the capacity waits");
    assert_eq!(status.confirmed, 0);
    assert_eq!(status.unconfirmed, CAPACITY as usize);
    gate.add_permits(TOTAL as usize);
    // Meanwhile neither side holds more than it was allowed to.
    let (mut most_queued, mut most_held) = (0, 0);
    while book.handled().len() < (TOTAL - 10) as usize {
        most_queued = most_queued.max(consumer.mailbox_len().unwrap());
        most_held = most_held.max(producer.status().await.unwrap().unconfirmed);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        most_queued <= WINDOW as usize,
        "the consumer's mailbox held {most_queued} > window {WINDOW}"
    );
    assert!(
        most_queued > 0,
        "the consumer's mailbox was never seen holding anything"
    );
    assert!(
        most_held <= CAPACITY as usize,
        "the producer held {most_held} > capacity {CAPACITY}"
    );
    rest.await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), producer.wait_confirmed(TOTAL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(book.handled(), (1..=TOTAL).collect::<Vec<_>>());
    checkout.shutdown().await;
    shop_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_waits_for_a_consumer_that_is_not_there_yet() {
    let book = Book::default();
    let shop_node = start_node("st-late", config()).await;
    let to = ProcessId::new("orders", shop_node.name().clone());
    let checkout = start_node("st-early", config()).await;
    let producer = Producer::<Order>::start(
        &checkout,
        ProducerConfig::new("early", to).retry(Duration::from_millis(20), Duration::from_millis(100)),
    )
    .await
    .unwrap();
    for id in 1..=10 {
        producer.send(Order(id)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = producer.status().await.unwrap();
    assert!(!status.open, "no consumer: the stream is not open");
    assert_eq!((status.confirmed, status.unconfirmed), (0, 10));
    open_shop(&shop_node, &book, Duration::ZERO, 16);
    tokio::time::timeout(PROMPT, producer.wait_confirmed(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(book.handled(), (1..=10).collect::<Vec<_>>());
    checkout.shutdown().await;
    shop_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_of_another_message_type_refuses_the_stream() {
    #[derive(Serialize, Deserialize)]
    struct Refund(u64);
    impl ackor::Message for Refund {
        type Reply = ();
    }
    impl ackor::RemoteMessage for Refund {
        const TAG: &'static str = "test.stream.refund";
    }
    let book = Book::default();
    let shop_node = start_node("st-type", config()).await;
    let to = open_shop(&shop_node, &book, Duration::ZERO, 16);
    let checkout = start_node("st-type", config()).await;
    let producer = Producer::<Refund>::start(&checkout, ProducerConfig::new("refunds", to))
        .await
        .unwrap();
    producer.send(Refund(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = producer.status().await.unwrap();
    assert!(!status.open);
    assert_eq!(status.confirmed, 0);
    assert!(book.handled().is_empty());
    checkout.shutdown().await;
    shop_node.shutdown().await;
}

/// Panics the first time it sees order 5 (a transient fault), under a supervisor.
struct Flaky {
    book: Book,
    failed_once: Arc<Mutex<bool>>,
}

impl Actor for Flaky {
    type Args = (Book, Arc<Mutex<bool>>);
    async fn init((book, failed_once): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Flaky { book, failed_once })
    }
}

impl Handler<Delivery<Order>> for Flaky {
    type Return = ();
    async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) {
        if d.seq() == 5 && !std::mem::replace(&mut *self.failed_once.lock().unwrap(), true) {
            panic!("transient fault on order 5");
        }
        let mut book = self.book.0.lock().unwrap();
        book.handled.push(d.message().0);
        book.last.insert(d.producer().to_string(), d.seq());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_handler_fails_is_resent_after_the_supervisor_restarts_the_actor() {
    use ackor::supervision::{ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};
    let book = Book::default();
    let shop_node = start_node("st-sup", config()).await;
    let failed_once = Arc::new(Mutex::new(false));
    let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::new::<Flaky>("shop", {
        let (book, failed_once) = (book.clone(), failed_once.clone());
        move || (book.clone(), failed_once.clone())
    }));
    let sup = shop_node.spawn::<Supervisor>(spec).unwrap();
    let pid = sup.call(WhichChildren).await.unwrap()[0].pid.clone().unwrap();
    let shop = shop_node.actor_ref::<Flaky>(&pid).unwrap();
    Consumer::<Order>::spawn(
        &shop_node,
        "orders",
        &shop,
        ConsumerConfig::new().ledger(book.clone()),
    )
    .unwrap();
    let to = ProcessId::new("orders", shop_node.name().clone());
    let checkout = start_node("st-sup", config()).await;
    let producer = Producer::<Order>::start(
        &checkout,
        ProducerConfig::new("checkout", to).retry(Duration::from_millis(20), Duration::from_millis(100)),
    )
    .await
    .unwrap();
    for id in 1..=50 {
        producer.send(Order(id)).await.unwrap();
    }
    tokio::time::timeout(PROMPT, producer.wait_confirmed(50))
        .await
        .unwrap()
        .unwrap();
    assert!(*failed_once.lock().unwrap(), "order 5 failed once");
    assert_eq!(
        book.handled(),
        (1..=50).collect::<Vec<_>>(),
        "order 5 handled after the restart, once"
    );
    checkout.shutdown().await;
    shop_node.shutdown().await;
}
