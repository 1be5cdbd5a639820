//! Chapter on grains (virtual actors): a grain activated by a message from another
//! node, passivated when idle with its state saved, activated again with its state
//! reloaded, and one activation only when two nodes race to activate the same key.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ackor::{Actor, BoxError, Context, Error, ExitReason, Message, Node, RemoteActor, RemoteMessage};
use ackor_cluster::{Cluster, ClusterConfig, Grain};
use serde::{Deserialize, Serialize};

use super::{Outcome, check, say};

const COOKIE: &str = "demo-grains-cookie";
const IDLE: Duration = Duration::from_millis(400);

fn err(e: Error) -> String {
    e.to_string()
}

/// The carts' storage: what a cart saved when it was passivated. (A real grain would
/// use a database; the demo keeps it in memory.)
fn storage() -> &'static Mutex<HashMap<String, u32>> {
    static STORAGE: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    STORAGE.get_or_init(Default::default)
}

/// How many times each cart was activated.
fn activations() -> &'static Mutex<HashMap<String, u32>> {
    static ACTIVATIONS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    ACTIVATIONS.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A shopping cart: a grain keyed by the cart id.
struct Cart {
    id: String,
    items: u32,
}

/// Puts an item in the cart; answers how many it holds and where it lives.
#[derive(Clone, Serialize, Deserialize, Message, RemoteMessage)]
#[message(reply = (u32, String))]
#[remote(tag = "ackor.demo.cart.add.v1")]
struct AddItem;

#[ackor::actor]
impl Actor for Cart {
    type Args = String;
    async fn init(id: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        *lock(activations()).entry(id.clone()).or_default() += 1;
        let items = lock(storage()).get(&id).copied().unwrap_or(0);
        Ok(Cart { id, items })
    }

    async fn on_stop(&mut self, _ctx: &mut Context<Self>, reason: &ExitReason) {
        // Passivation stops the activation with reason Normal: save the state.
        if reason == &ExitReason::Normal {
            lock(storage()).insert(self.id.clone(), self.items);
        }
    }

    #[handler]
    async fn add(&mut self, _: AddItem, ctx: &mut Context<Self>) -> (u32, String) {
        self.items += 1;
        (self.items, ctx.pid().to_string())
    }
}

impl RemoteActor for Cart {
    const KIND: &'static str = "demo.cart";
}

impl Grain for Cart {
    const IDLE_TIMEOUT: Duration = IDLE;
}

async fn join(name: &str, seed: Option<&Cluster>) -> Result<(Node, Cluster), String> {
    let node = Node::builder()
        .name(format!("{name}@127.0.0.1:0"))
        .cookie(COOKIE)
        .start()
        .await
        .map_err(err)?;
    let config = ClusterConfig::new("grains", std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .seeds(seed.map(|s| s.gossip_addr().to_string()))
        .gossip_interval(Duration::from_millis(50))
        .failure_detection(6.0, Duration::from_millis(100))
        .leave_grace(Duration::from_millis(200));
    let cluster = Cluster::join(&node, config).await.map_err(err)?;
    cluster.host_grains::<Cart>();
    Ok((node, cluster))
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("not within 5 s: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The chapter.
pub async fn grains() -> Outcome {
    let (a, ca) = join("a", None).await?;
    let (b, cb) = join("b", Some(&ca)).await?;
    until("a and b see each other", || {
        ca.members().len() == 2 && cb.members().len() == 2
    })
    .await?;
    say("Nodes a and b form a cluster; both host grains of kind \"demo.cart\" (idle timeout 400 ms).");

    // A key that placement puts on b, asked for from a.
    let cart = (0..)
        .map(|i| format!("cart-{i}"))
        .find(|k| ca.place(k).as_ref() == Some(b.name()))
        .ok_or("no key for b")?;
    let name = format!("{}/{cart}", Cart::KIND);
    check(
        ca.whereis(&name).is_none(),
        "no activation before the first message",
    )?;
    let grain = ca.grain::<Cart>(cart.clone());
    let started = Instant::now();
    let (items, first) = grain.call(AddItem).await.map_err(err)?;
    say(format!(
        "a sends AddItem to grain {cart:?}, which had no activation: placement picks b, it is activated there ({first}) and answers {items} item, in {:.1?}.",
        started.elapsed()
    ));
    check(
        items == 1 && first.contains(b.name().as_str()),
        "activated on b by a's message",
    )?;
    let started = Instant::now();
    let (items, again) = grain.call(AddItem).await.map_err(err)?;
    say(format!(
        "The next message goes to the running activation: {items} items, in {:.1?}.",
        started.elapsed()
    ));
    check(again == first, "the same activation")?;

    until("the cart is passivated", || {
        lock(storage()).get(&cart) == Some(&2)
    })
    .await?;
    say("Idle for 400 ms, the activation is passivated: its on_stop saved \"2 items\".");
    until("the cluster forgets the activation", || {
        ca.whereis(&name).is_none()
    })
    .await?;
    let (items, third) = grain.call(AddItem).await.map_err(err)?;
    say(format!(
        "The next AddItem activates it again ({third}); init reloaded the state: {items} items."
    ));
    check(
        items == 3 && third != first,
        "a new activation, with the saved state",
    )?;

    // Two nodes race to activate one fresh key.
    let race = "cart-race".to_string();
    let mut calls = Vec::new();
    for cluster in [&ca, &cb] {
        for _ in 0..10 {
            let g = cluster.grain::<Cart>(race.clone());
            calls.push(tokio::spawn(async move { g.call(AddItem).await }));
        }
    }
    let mut pids = BTreeSet::new();
    let mut counts = BTreeSet::new();
    for call in calls {
        let (items, pid) = call.await.map_err(|e| e.to_string())?.map_err(err)?;
        pids.insert(pid);
        counts.insert(items);
    }
    let activated = lock(activations()).get(&race).copied().unwrap_or(0);
    say(format!(
        "a and b send 10 AddItems each, at once, to the fresh grain {race:?}: {} activation(s), {} distinct answers 1..=20.",
        activated,
        counts.len()
    ));
    check(pids.len() == 1 && activated == 1, "one activation in the cluster")?;
    check(counts == (1..=20).collect(), "every item counted once")?;

    tokio::join!(ca.leave(), cb.leave());
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
