//! Orders that survive SIGKILL: a checkout process streams orders to a shop process;
//! both are killed with SIGKILL at random moments, several times, and started again;
//! at the end every order was handled exactly once, in order.
//!
//! ```text
//! cargo run -p ackor-durable --example orders                  # the tour
//! cargo run -p ackor-durable --example orders -- --orders 5000 --kills 5 --seed 42
//! ```
//!
//! How each side survives:
//! - The checkout's producer keeps every order in a [`FileOutbox`] (on disk before
//!   `send` returns) until the shop confirms it. Started again, it resends what was
//!   not confirmed and goes on numbering where it stopped.
//! - The shop appends each order it handles to `orders.log`, with the stream's
//!   producer id and sequence number, and that log is its ledger: started again, it
//!   reads back the last number it handled, so a resent order it already has is
//!   confirmed without being handled again. The record and the effect are one write:
//!   exactly once.
//!
//! The tour runs this program three ways: `orders` (the tour: starts, kills,
//! restarts and checks), `orders shop DIR NODE` and `orders checkout DIR SHOP_NODE
//! COUNT` (the two processes it starts). The tests of `ackor-durable` run the same
//! roles.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ackor::stream::{Consumer, ConsumerConfig, Delivery, Ledger, Producer, ProducerConfig};
use ackor::{Actor, BoxError, BoxFuture, Context, Error, Handler, Node, NodeName, ProcessId, RemoteConfig};
use ackor_durable::FileOutbox;
use serde::{Deserialize, Serialize};

const COOKIE: &str = "orders-example";
const PRODUCER_ID: &str = "checkout";

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
}
impl ackor::Message for Order {
    type Reply = ();
}
impl ackor::RemoteMessage for Order {
    const TAG: &'static str = "example.order.v1";
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("shop") => role(shop(args)),
        Some("checkout") => role(checkout(args)),
        _ => tour(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one of the two processes on a tokio runtime.
fn role(run: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(run)
}

/// Starts this process's node, named `name`, with the example's cookie.
async fn start_node(name: String) -> Result<Node, String> {
    Node::builder()
        .name(name)
        .remote(RemoteConfig::new(COOKIE))
        .start()
        .await
        .map_err(|e| e.to_string())
}

fn arg(args: &[String], i: usize, what: &str) -> Result<String, String> {
    args.get(i).cloned().ok_or_else(|| format!("missing {what}"))
}

// ------------------------------------------------------------------ the shop

/// The shop's order log: one line `producer seq order-id` per order handled.
#[derive(Clone)]
struct OrderLog {
    file: Arc<Mutex<std::fs::File>>,
    /// The last sequence number in the log, per producer.
    last: Arc<Mutex<HashMap<String, u64>>>,
}

impl OrderLog {
    fn open(path: &Path) -> Result<Self, String> {
        let mut last = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let mut parts = line.split(' ');
                if let (Some(producer), Some(Ok(seq))) = (parts.next(), parts.next().map(str::parse::<u64>)) {
                    last.insert(producer.to_string(), seq);
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(OrderLog {
            file: Arc::new(Mutex::new(file)),
            last: Arc::new(Mutex::new(last)),
        })
    }

    /// Appends one order in a single write: the effect and the record at once.
    fn append(&self, producer: &str, seq: u64, id: u64) -> Result<(), Error> {
        let line = format!("{producer} {seq} {id}\n");
        let mut file = self.file.lock().map_err(|_| Error::Storage("log lock".into()))?;
        file.write_all(line.as_bytes())
            .map_err(|e| Error::Storage(e.to_string()))?;
        drop(file);
        if let Ok(mut last) = self.last.lock() {
            last.insert(producer.to_string(), seq);
        }
        Ok(())
    }
}

impl Ledger for OrderLog {
    fn confirmed<'a>(&'a mut self, producer: &'a str) -> BoxFuture<'a, Result<Option<u64>, Error>> {
        let last = self.last.lock().map(|last| last.get(producer).copied());
        Box::pin(std::future::ready(
            last.map_err(|_| Error::Storage("log lock".into())),
        ))
    }

    fn record<'a>(&'a mut self, _: &'a str, _: u64) -> BoxFuture<'a, Result<(), Error>> {
        // The handler's append is the record.
        Box::pin(std::future::ready(Ok(())))
    }
}

struct Shop {
    log: OrderLog,
}

impl Actor for Shop {
    type Args = OrderLog;
    async fn init(log: OrderLog, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Shop { log })
    }
}

impl Handler<Delivery<Order>> for Shop {
    type Return = ackor::Reply<()>;
    async fn handle(&mut self, d: Delivery<Order>, _: &mut Context<Self>) -> ackor::Reply<()> {
        // Already in the log (handled, but its confirmation was lost on the way, say
        // by a timeout): the log is the truth, so do not handle it again.
        let logged = self
            .log
            .last
            .lock()
            .ok()
            .and_then(|last| last.get(d.producer()).copied());
        if logged.is_some_and(|last| d.seq() <= last) {
            return ackor::Reply::Value(());
        }
        // Some work per order, so that kills land mid-stream.
        tokio::time::sleep(Duration::from_micros(500)).await;
        ackor::Reply::from_result(self.log.append(d.producer(), d.seq(), d.message().id))
    }
}

/// `orders shop DIR NODE`: serves the consumer "orders" on node NODE (port 0: any);
/// prints `node NAME` once up, then runs until killed.
async fn shop(args: Vec<String>) -> Result<(), String> {
    let dir = PathBuf::from(arg(&args, 1, "DIR")?);
    let name = arg(&args, 2, "NODE")?;
    let node = start_node(name).await?;
    let log = OrderLog::open(&dir.join("orders.log"))?;
    let shop = node.spawn::<Shop>(log.clone()).map_err(|e| e.to_string())?;
    Consumer::<Order>::spawn(
        &node,
        "orders",
        &shop,
        ConsumerConfig::new().window(64).ledger(log),
    )
    .map_err(|e| e.to_string())?;
    println!("node {}", node.name());
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
    Ok(())
}

// ------------------------------------------------------------------ the checkout

/// `orders checkout DIR SHOP_NODE COUNT [NODE]`: sends orders up to COUNT to the
/// shop, resuming after the last one its outbox numbered; exits once all are
/// confirmed. NODE is its own node name (default: a fresh port each start).
async fn checkout(args: Vec<String>) -> Result<(), String> {
    let dir = PathBuf::from(arg(&args, 1, "DIR")?);
    let shop = NodeName::new(&arg(&args, 2, "SHOP_NODE")?);
    let count: u64 = arg(&args, 3, "COUNT")?.parse().map_err(|_| "COUNT: a number")?;
    let name = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "checkout@127.0.0.1:0".into());
    let node = start_node(name).await?;
    let outbox = FileOutbox::open(dir.join("checkout.outbox")).map_err(|e| e.to_string())?;
    let config = ProducerConfig::new(PRODUCER_ID, ProcessId::new("orders", shop))
        .outbox(outbox)
        .ack_timeout(Duration::from_secs(3))
        .retry(Duration::from_millis(20), Duration::from_millis(300));
    let producer = Producer::<Order>::start(&node, config)
        .await
        .map_err(|e| e.to_string())?;
    // The outbox says where this process's predecessors stopped: order ids are the
    // stream's sequence numbers, so the next order is the next number.
    let next = producer.status().await.map_err(|e| e.to_string())?.next_seq;
    for id in next..=count {
        let seq = producer.send(Order { id }).await.map_err(|e| e.to_string())?;
        if seq != id {
            return Err(format!("order {id} got sequence number {seq}"));
        }
    }
    producer.wait_confirmed(count).await.map_err(|e| e.to_string())?;
    println!("all {count} orders confirmed");
    node.shutdown().await;
    Ok(())
}

// ------------------------------------------------------------------ the tour

/// A small, seeded PRNG (SplitMix64): a run can be repeated with its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn option(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

/// Starts the shop; returns it and its node name, read from its first line.
fn start_shop(exe: &Path, dir: &Path, name: &str) -> Result<(Child, String), String> {
    let mut child = Command::new(exe)
        .args(["shop", &dir.to_string_lossy(), name])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let name = line
        .trim()
        .strip_prefix("node ")
        .ok_or("the shop did not start")?
        .to_string();
    Ok((child, name))
}

fn start_checkout(exe: &Path, dir: &Path, shop: &str, count: u64) -> Result<Child, String> {
    Command::new(exe)
        .args(["checkout", &dir.to_string_lossy(), shop, &count.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())
}

/// Kills with SIGKILL (what `Child::kill` sends on Unix) and reaps.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether the checkout ended, and how.
fn finished(checkout: &mut Child) -> Result<Option<Result<(), String>>, String> {
    Ok(checkout.try_wait().map_err(|e| e.to_string())?.map(|status| {
        if status.success() {
            Ok(())
        } else {
            Err(format!("the checkout failed: {status}"))
        }
    }))
}

/// How many orders the shop's log holds.
fn handled(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("orders.log")).map_or(0, |t| t.lines().count())
}

/// Checks the shop's log: every order 1..=count, once, in order.
fn check(dir: &Path, count: u64) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("orders.log")).map_err(|e| e.to_string())?;
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(2).and_then(|id| id.parse().ok()))
        .collect();
    let expected: Vec<u64> = (1..=count).collect();
    if ids == expected {
        return Ok(());
    }
    let mut seen = HashMap::new();
    for id in &ids {
        *seen.entry(*id).or_insert(0u32) += 1;
    }
    let twice = seen.values().filter(|n| **n > 1).count();
    let missing = expected.iter().filter(|id| !seen.contains_key(id)).count();
    Err(format!(
        "{} lines for {count} orders: {twice} handled more than once, {missing} missing, order kept: {}",
        ids.len(),
        ids.windows(2).all(|w| w[0] < w[1])
    ))
}

fn tour(args: &[String]) -> Result<(), String> {
    let count = option(args, "--orders", 3000)?;
    let kills = option(args, "--kills", 3)?;
    let seed = option(
        args,
        "--seed",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    )?;
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("ackor-orders-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!("{count} orders from checkout to shop, each killed {kills} times with SIGKILL (seed {seed})");
    println!("state in {}", dir.display());

    let started = Instant::now();
    let (mut shop, shop_name) = start_shop(&exe, &dir, "shop@127.0.0.1:0")?;
    let mut checkout = start_checkout(&exe, &dir, &shop_name, count)?;
    // The kills land at random points of the stream's progress (not of the clock, so
    // a slow machine sees them all): spread over its whole length, each side `kills`
    // times, in a random order.
    let total = 2 * kills;
    let mut victims: Vec<bool> = (0..total).map(|i| i < kills).collect();
    for i in (1..victims.len()).rev() {
        victims.swap(i, rng.between(0, i as u64) as usize);
    }
    let step = count / (total + 1);
    let (mut shop_kills, mut checkout_kills) = (0, 0);
    let mut outcome = None;
    for (k, victim_is_shop) in victims.into_iter().enumerate() {
        let at = (k as u64 + 1) * step + rng.between(0, step / 2);
        while outcome.is_none() && (handled(&dir) as u64) < at {
            outcome = finished(&mut checkout)?;
            std::thread::sleep(Duration::from_millis(5));
        }
        if outcome.is_some() {
            break;
        }
        let pause = Duration::from_millis(rng.between(20, 300));
        let (who, at) = (
            if victim_is_shop { "shop    " } else { "checkout" },
            handled(&dir),
        );
        if victim_is_shop {
            kill(&mut shop);
            shop_kills += 1;
        } else {
            kill(&mut checkout);
            checkout_kills += 1;
        }
        println!(
            "  {:>8.2?}  SIGKILL {who} at {at:>5} orders handled, restarted after {pause:?}",
            started.elapsed()
        );
        std::thread::sleep(pause);
        if victim_is_shop {
            shop = start_shop(&exe, &dir, &shop_name)?.0;
        } else {
            checkout = start_checkout(&exe, &dir, &shop_name, count)?;
        }
    }
    let outcome = loop {
        if let Some(outcome) = outcome.take() {
            break outcome;
        }
        outcome = finished(&mut checkout)?;
        std::thread::sleep(Duration::from_millis(20));
    };
    kill(&mut shop);
    outcome?;
    check(&dir, count)?;
    println!(
        "every order handled exactly once, in order: {count} orders, shop killed {shop_kills}x, checkout killed {checkout_kills}x, {:.1?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
