//! Chapter on a cluster: three nodes in this process join one cluster through one
//! seed (gossip over UDP on loopback), then use what the cluster adds on top of
//! nodes: cluster-wide names, process groups, keyed placement, and a member that dies.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ackor::{
    Actor, BoxError, Context, Error, Handler, Message, Node, RemoteActor, RemoteMessage, RemoteMessages,
    SpawnOptions,
};
use ackor_cluster::{Cluster, ClusterConfig, MemberEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::{Outcome, check, say};

const COOKIE: &str = "demo-cluster-cookie";
/// Bounds every wait for gossip to carry something.
const CONVERGE: Duration = Duration::from_secs(5);

fn err(e: Error) -> String {
    e.to_string()
}

async fn start(name: &str) -> Result<Node, String> {
    Node::builder()
        .name(format!("{name}@127.0.0.1:0"))
        .cookie(COOKIE)
        .call_timeout(Duration::from_secs(5))
        .start()
        .await
        .map_err(err)
}

/// Fast gossip for a demo on loopback: a round every 50 ms, a silent member judged
/// dead within about a second.
fn config(seeds: &[&Cluster]) -> ClusterConfig {
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    ClusterConfig::new("demo", any_port)
        .seeds(seeds.iter().map(|c| c.gossip_addr().to_string()))
        .gossip_interval(Duration::from_millis(50))
        .failure_detection(6.0, Duration::from_millis(100))
        .leave_grace(Duration::from_millis(300))
}

/// Waits until `cond` holds, at most [`CONVERGE`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) -> Outcome {
    let deadline = Instant::now() + CONVERGE;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("not within {CONVERGE:?}: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

// ------------------------------------------------------------------ a named desk

/// Answers greetings; registered under a cluster name.
struct Desk;

impl Actor for Desk {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Desk)
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Hello>();
    }
}

#[derive(Serialize, Deserialize)]
struct Hello(String);

impl Message for Hello {
    type Reply = String;
}

impl RemoteMessage for Hello {
    const TAG: &'static str = "ackor.demo.cluster.hello.v1";
}

impl Handler<Hello> for Desk {
    type Return = String;
    async fn handle(&mut self, msg: Hello, ctx: &mut Context<Self>) -> String {
        format!("{} from {}", msg.0, ctx.node().name())
    }
}

// ------------------------------------------------------------------ group readers

/// A member of the `news` group: tells the chapter which node read each bulletin.
struct Reader(mpsc::UnboundedSender<(String, String)>);

impl Actor for Reader {
    type Args = mpsc::UnboundedSender<(String, String)>;
    async fn init(tx: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Reader(tx))
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Bulletin>();
    }
}

#[derive(Serialize, Deserialize)]
struct Bulletin(String);

impl Message for Bulletin {
    type Reply = ();
}

impl RemoteMessage for Bulletin {
    const TAG: &'static str = "ackor.demo.cluster.bulletin.v1";
}

impl Handler<Bulletin> for Reader {
    type Return = ();
    async fn handle(&mut self, msg: Bulletin, ctx: &mut Context<Self>) {
        let _ = self.0.send((ctx.node().name().to_string(), msg.0));
    }
}

// ------------------------------------------------------------------ a keyed cart

/// A shopping cart, one per key in the cluster.
struct Cart(u32);

impl Actor for Cart {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Cart(0))
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<AddItem>();
    }
}

impl RemoteActor for Cart {
    const KIND: &'static str = "ackor.demo.cart";
}

/// Adds an item; the reply is how many the cart holds now.
#[derive(Serialize, Deserialize)]
struct AddItem;

impl Message for AddItem {
    type Reply = u32;
}

impl RemoteMessage for AddItem {
    const TAG: &'static str = "ackor.demo.cluster.add_item.v1";
}

impl Handler<AddItem> for Cart {
    type Return = u32;
    async fn handle(&mut self, _: AddItem, _ctx: &mut Context<Self>) -> u32 {
        self.0 += 1;
        self.0
    }
}

// ------------------------------------------------------------------ the story

pub async fn three_members() -> Outcome {
    let started = Instant::now();
    let a = start("a").await?;
    let b = start("b").await?;
    let c = start("c").await?;
    let ca = Cluster::join(&a, config(&[])).await.map_err(err)?;
    let cb = Cluster::join(&b, config(&[&ca])).await.map_err(err)?;
    let cc = Cluster::join(&c, config(&[&ca])).await.map_err(err)?;
    say(format!(
        "a founds cluster \"demo\", gossiping on UDP {}; b and c are given only that address as their seed.",
        ca.gossip_addr()
    ));
    for cluster in [&ca, &cb, &cc] {
        until("every member sees three members", || cluster.members().len() == 3).await?;
    }
    let names: Vec<String> = cc.members().iter().map(|m| m.node.to_string()).collect();
    say(format!(
        "Within {:.0?}, every member lists all three: {}. c learned of b from a's gossip.",
        started.elapsed(),
        names.join(", ")
    ));

    // A cluster-wide name.
    let desk = b.spawn::<Desk>(()).map_err(err)?;
    cb.register("desk", desk.pid()).await.map_err(err)?;
    until("c learns who owns \"desk\"", || cc.whereis("desk").is_some()).await?;
    say(format!(
        "b registers cluster name \"desk\" for {}; gossip tells c, which never saw b's address.",
        desk.pid()
    ));
    let answer = c
        .call_name::<Desk, _>(&cc.process_id("desk").map_err(err)?, Hello("hello desk".into()))
        .await
        .map_err(err)?;
    say(format!("c calls \"desk\" by name: {answer:?}."));
    check(
        answer == format!("hello desk from {}", b.name()),
        "b's desk to answer c",
    )?;

    // A process group across the three nodes.
    let (tx, mut read) = mpsc::unbounded_channel();
    for (node, cluster) in [(&a, &ca), (&b, &cb), (&c, &cc)] {
        let reader = node.spawn::<Reader>(tx.clone()).map_err(err)?;
        cluster.join_group("news", reader.pid()).await.map_err(err)?;
    }
    drop(tx);
    until("a sees three readers in \"news\"", || {
        ca.group_members("news").len() == 3
    })
    .await?;
    let sent = ca
        .broadcast::<Reader, _>("news", &Bulletin("extra!".into()))
        .map_err(err)?;
    let mut readers = BTreeSet::new();
    while readers.len() < 3 {
        let (node, text) = tokio::time::timeout(CONVERGE, read.recv())
            .await
            .map_err(|_| "a reader missed the bulletin".to_string())?
            .ok_or("the readers are gone")?;
        check(text == "extra!", "the bulletin's text")?;
        readers.insert(node);
    }
    say(format!(
        "One reader per node joins group \"news\"; a broadcasts once: {sent} network messages (one per other node), read on {}.",
        readers.into_iter().collect::<Vec<_>>().join(", ")
    ));
    check(sent == 2, "one network message per other node")?;

    // Placement: one cart per key, where rendezvous hashing says.
    for node in [&a, &b, &c] {
        node.allow_remote_spawn::<Cart>();
    }
    let key = (0..1000)
        .map(|i| format!("cart-{i}"))
        .find(|k| ca.place(k).as_ref() == Some(b.name()))
        .ok_or("no key placed on b")?;
    let cart = ca
        .spawn_keyed::<Cart>(&key, (), SpawnOptions::default())
        .await
        .map_err(err)?;
    say(format!(
        "place({key:?}) is b on every member; a's spawn_keyed starts the cart there: {}.",
        cart.pid()
    ));
    check(cart.pid().node() == b.name(), "the cart on b")?;
    check(
        cb.place(&key).as_ref() == Some(b.name()) && cc.place(&key).as_ref() == Some(b.name()),
        "every member to place the key on b",
    )?;
    let cart_name = format!("{}/{key}", Cart::KIND);
    until("c learns the cart's name", || cc.whereis(&cart_name).is_some()).await?;
    let same = cc
        .spawn_keyed::<Cart>(&key, (), SpawnOptions::default())
        .await
        .map_err(err)?;
    check(same.pid() == cart.pid(), "c to get the same cart")?;
    let from_a = cart.call(AddItem).await.map_err(err)?;
    let from_c = same.call(AddItem).await.map_err(err)?;
    say(format!(
        "c asks spawn_keyed for the same key: the same actor, no second one. An item from a, one from c: it holds {from_c}."
    ));
    check(from_a == 1 && from_c == 2, "one cart counting both items")?;

    // b dies without leaving.
    let mut events = ca.events();
    let b_name = b.name().clone();
    drop(cb);
    b.shutdown().await;
    let died = Instant::now();
    say("b's membership is dropped without leave() and b shuts down: to the cluster it just goes quiet…");
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(MemberEvent::Down(m))) if m.node == b_name => break,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => return Err("a's events ended".into()),
            Err(_) => return Err(format!("a did not see b down within {CONVERGE:?}")),
        }
    }
    say(format!(
        "…and a's failure detector judges it down after {:.0?}: MemberEvent::Down({b_name}).",
        died.elapsed()
    ));
    let moved = ca
        .spawn_keyed::<Cart>(&key, (), SpawnOptions::default())
        .await
        .map_err(err)?;
    let holds = moved.call(AddItem).await.map_err(err)?;
    say(format!(
        "spawn_keyed({key:?}) again: started on {}, where placement says now; a new activation, so it holds {holds} (state in memory dies with its node).",
        moved.pid().node()
    ));
    check(moved.pid().node() != &b_name, "the cart no longer on b")?;
    check(
        ca.place(&key).as_ref() == Some(moved.pid().node()),
        "the cart where placement says",
    )?;
    check(holds == 1, "a fresh cart")?;

    tokio::join!(ca.leave(), cc.leave());
    a.shutdown().await;
    c.shutdown().await;
    say(format!(
        "a and c leave gracefully. The whole story took {:.1?}.",
        started.elapsed()
    ));
    Ok(())
}
