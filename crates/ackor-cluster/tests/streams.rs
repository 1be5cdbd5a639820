//! A stream to a cluster-wide name follows its consumer from member to member.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ackor::stream::{Consumer, ConsumerConfig, Delivery, Ledger, Producer};
use ackor::{Actor, BoxError, BoxFuture, Context, Error, Handler, Node};
use ackor_cluster::Cluster;
use serde::{Deserialize, Serialize};

mod common;
use common::{member, until};

#[derive(Serialize, Deserialize)]
struct Order(u64);
impl ackor::Message for Order {
    type Reply = ();
}
impl ackor::RemoteMessage for Order {
    const TAG: &'static str = "test.cluster.stream.order";
}

/// The shop's orders and its record of the last number handled, changed together:
/// shared by every consumer incarnation, as a database would be.
#[derive(Clone, Default)]
struct Book(Arc<Mutex<BookState>>);

/// The orders in the order handled, and the last number handled per producer.
#[derive(Default)]
struct BookState {
    orders: Vec<u64>,
    last: HashMap<String, u64>,
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

struct Shop(Book);
impl Actor for Shop {
    type Args = Book;
    async fn init(book: Book, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Shop(book))
    }
}
impl Handler<Delivery<Order>> for Shop {
    type Return = ();
    async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) {
        tokio::time::sleep(Duration::from_micros(500)).await;
        let mut book = self.0.0.lock().unwrap();
        book.orders.push(d.message().0);
        book.last.insert(d.producer().to_string(), d.seq());
    }
}

/// Opens the shop on `node` under the cluster name "orders" (retrying while the
/// name still belongs to a member on its way out).
async fn open_shop(node: &Node, cluster: &Cluster, book: &Book) {
    let shop = node.spawn::<Shop>(book.clone()).unwrap();
    let consumer = Consumer::<Order>::spawn(
        node,
        "orders",
        &shop,
        ConsumerConfig::new().window(32).ledger(book.clone()),
    )
    .unwrap();
    for _ in 0..300 {
        match cluster.register("orders", consumer.pid()).await {
            Ok(()) => return,
            Err(Error::NameTaken(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("register: {e}"),
        }
    }
    panic!("the name never became free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_to_a_cluster_name_follows_its_consumer_to_another_member() {
    let (a, ca) = member("sa", "streams", &[]).await;
    let (b, cb) = member("sb", "streams", &[&ca]).await;
    let (c, cc) = member("sc", "streams", &[&ca]).await;
    until("three members", || {
        ca.members().len() == 3 && cc.members().len() == 3
    })
    .await;
    let book = Book::default();
    open_shop(&b, &cb, &book).await;
    until("a sees the name on b", || ca.whereis("orders").is_some()).await;

    let producer = Producer::<Order>::start(
        &a,
        ca.stream_to("checkout", "orders")
            .ack_timeout(Duration::from_secs(2))
            .retry(Duration::from_millis(20), Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let sending = {
        let producer = producer.clone();
        tokio::spawn(async move {
            for id in 1..=1500 {
                assert_eq!(producer.send(Order(id)).await, Ok(id));
            }
        })
    };
    until("b to handle 200", || book.0.lock().unwrap().orders.len() >= 200).await;
    // b goes away with orders in its consumer's mailbox; the shop reopens on c.
    cb.leave().await;
    b.shutdown().await;
    let on_b = book.0.lock().unwrap().orders.len();
    assert!(on_b < 1500, "b finished before it went away");
    open_shop(&c, &cc, &book).await;
    sending.await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), producer.wait_confirmed(1500))
        .await
        .expect("every order confirmed by the shop on c")
        .unwrap();
    assert_eq!(
        book.0.lock().unwrap().orders,
        (1..=1500).collect::<Vec<_>>(),
        "once each, in order (b had {on_b})"
    );
    ca.leave().await;
    cc.leave().await;
    a.shutdown().await;
    c.shutdown().await;
}
