//! Important delivery under network faults, deterministically: two nodes on simulated
//! hosts of [turmoil](https://docs.rs/turmoil), whose network the test partitions,
//! repairs, and whose hosts it crashes and restarts at the moments it chooses, in
//! simulated time.
//!
//! # How a test runs
//!
//! Each test builds a simulation with a fixed seed. Host `b` runs the receiving node
//! (`rx@b:7000`) until the test ends, again from the start when the test restarts it;
//! each incarnation records what it got in an [`Incarnation`] the test can read (all
//! hosts run on the test's thread). Client `a` runs the sending node (`tx@a:7000`) and
//! the scenario. The nodes talk through [`SimNet`], an [`ackor::Transport`] over
//! turmoil's TCP. A scenario partitions and repairs with `turmoil::partition/repair`
//! from inside the simulation; a crash or restart of `b` needs the simulation itself,
//! so the scenario asks for it ([`Faults`]) and [`drive`] does it between two steps.
//!
//! Turmoil's TCP drops what is sent across a partition and never retransmits it, so a
//! connection that lost a segment delivers nothing more: a partition that outlasts the
//! heartbeat timeout ends the links as a real one would.
//!
//! The same scenarios run on the kernel's TCP, with real faults, in `faults_netns.rs`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, BoxFuture, Connection, Context, Error, Handler, Listener, Message, Node, Pid,
    RemoteConfig, RemoteMessage, RemoteMessages, SpawnOptions, Transport,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::time::Instant;

mod common;
use common::recorder::{Count, Log, Rec, Recorder};

const COOKIE: &str = "turmoil";
const RX: &str = "rx@b:7000";

// ----------------------------------------------------------------------------------
// The simulated network as an ackor transport

/// Links over turmoil's simulated TCP. A node `name@host:port` listens on `port` of
/// its simulated host (which must be `host`) and is dialed at `host:port`.
struct SimNet;

impl Transport for SimNet {
    fn bind(&self, addr: &str) -> BoxFuture<'static, io::Result<(Box<dyn Listener>, SocketAddr)>> {
        let addr = addr.to_string();
        Box::pin(async move {
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| io::Error::other(format!("no port in {addr}")))?;
            let port: u16 = port.parse().map_err(io::Error::other)?;
            let listener = turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
            let bound = SocketAddr::new(turmoil::lookup(host), port);
            Ok((Box::new(SimListener(listener)) as Box<dyn Listener>, bound))
        })
    }

    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Connection>>> {
        let addr = addr.to_string();
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect(addr.as_str()).await?;
            Ok(Box::new(stream) as Box<dyn Connection>)
        })
    }
}

struct SimListener(turmoil::net::TcpListener);

impl Listener for SimListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn Connection>, SocketAddr)>> {
        Box::pin(async move {
            let (stream, from) = self.0.accept().await?;
            Ok((Box::new(stream) as Box<dyn Connection>, from))
        })
    }
}

/// Links that notice a partition within half a second, over the simulated network.
fn flappy() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(500))
        .handshake_timeout(Duration::from_secs(1))
        .reconnect_backoff(Duration::from_millis(50))
        .transport(Arc::new(SimNet))
}

async fn start_node(name: &str, config: RemoteConfig) -> Node {
    Node::builder()
        .name(name)
        .call_timeout(Duration::from_secs(30))
        .remote(config)
        .start()
        .await
        .expect("node starts")
}

// ----------------------------------------------------------------------------------
// The simulation

/// Faults only the simulation can do (the scenario asks, [`drive`] does them).
enum Fault {
    /// Kills `b`'s software: every task and socket of it is dropped.
    Crash,
    /// Kills `b`'s software and starts it again.
    Bounce,
}

type Faults = Rc<RefCell<Vec<Fault>>>;

/// One run of `b`'s software: its node's creation and its recorder.
#[derive(Clone)]
struct Incarnation {
    creation: u32,
    recorder: Pid,
    log: Log,
    slow: Pid,
}

type Incarnations = Arc<Mutex<Vec<Incarnation>>>;

/// A simulation with host `b` running the receiving node (with `config`) and a
/// recorder, plus a slow actor; every incarnation of it is added to the returned list.
fn simulation(seed: u64, config: RemoteConfig) -> (turmoil::Sim<'static>, Incarnations) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(600))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(5))
        .build();
    let incarnations = Incarnations::default();
    let theirs = incarnations.clone();
    sim.host("b", move || {
        let (config, incarnations) = (config.clone(), theirs.clone());
        async move {
            // A node's creation is the wall clock in milliseconds; simulated restarts come
            // faster than real ones, so make sure a new incarnation gets a new creation.
            std::thread::sleep(Duration::from_millis(2));
            let node = start_node(RX, config).await;
            let log = Log::default();
            let rec = node
                .spawn_with::<Recorder>(log.clone(), SpawnOptions::default().mailbox_capacity(100_000))
                .unwrap();
            let slow = node.spawn::<Slow>(()).unwrap();
            incarnations.lock().unwrap().push(Incarnation {
                creation: node.creation(),
                recorder: rec.pid().clone(),
                log,
                slow: slow.pid().clone(),
            });
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    (sim, incarnations)
}

/// Runs the simulation until every client is done, doing the faults asked for between
/// steps; counts ackor's metrics meanwhile.
fn drive(mut sim: turmoil::Sim<'_>, faults: &Faults) -> counters::Counters {
    let counters = counters::Counters::default();
    metrics::with_local_recorder(&counters, || {
        loop {
            let done = sim.step().expect("the simulation runs");
            for fault in faults.borrow_mut().drain(..) {
                match fault {
                    Fault::Crash => sim.crash("b"),
                    Fault::Bounce => sim.bounce("b"),
                }
            }
            if done {
                break;
            }
        }
    });
    counters
}

/// The current incarnation of `b`, once it is up.
async fn incarnation(all: &Incarnations, n: usize) -> Incarnation {
    loop {
        if let Some(i) = all.lock().unwrap().get(n) {
            return i.clone();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ----------------------------------------------------------------------------------
// Actors

/// Answers a minute after it is asked.
struct Slow;
impl Actor for Slow {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Slow)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Ponder>();
    }
}

#[derive(Serialize, Deserialize)]
struct Ponder;
impl Message for Ponder {
    type Reply = u32;
}
impl RemoteMessage for Ponder {
    const TAG: &'static str = "turmoil.ponder";
}
impl Handler<Ponder> for Slow {
    type Return = u32;
    async fn handle(&mut self, _: Ponder, _: &mut Context<Self>) -> u32 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        42
    }
}

/// Sends numbered messages to its receiver on the other node.
struct Sender;
impl Actor for Sender {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sender)
    }
}

/// Send `base + 0..count` to `to` importantly, `chunk` at a time with `pause` between chunks
/// (so the burst lasts long enough for a fault to hit its middle); the outcome of each
/// send goes to `done`, by number. The sends are pipelined: each is awaited on a task
/// of its own from the moment it leaves.
struct Burst {
    to: ActorRef<Recorder>,
    base: u64,
    count: u64,
    chunk: u64,
    pause: Duration,
    done: oneshot::Sender<Vec<Result<(), Error>>>,
}
impl Message for Burst {
    type Reply = ();
}
impl Handler<Burst> for Sender {
    type Return = ();
    async fn handle(&mut self, msg: Burst, ctx: &mut Context<Self>) {
        let mut waiting = Vec::with_capacity(msg.count as usize);
        for i in 0..msg.count {
            if i > 0 && i % msg.chunk.max(1) == 0 {
                tokio::time::sleep(msg.pause).await;
            }
            let send = ctx.send_important(&msg.to, Rec(msg.base + i)).into_future();
            let sent = Instant::now();
            waiting.push(tokio::spawn(async move { (send.await, sent.elapsed()) }));
        }
        let mut results = Vec::with_capacity(waiting.len());
        let mut slowest = Duration::ZERO;
        for task in waiting {
            let (outcome, took) = task.await.expect("the waiting task does not panic");
            results.push(outcome);
            slowest = slowest.max(took);
        }
        SLOWEST.with(|s| s.set(s.get().max(slowest)));
        let _ = msg.done.send(results);
    }
}

thread_local! {
    /// The longest any important send of a burst took to be answered (the simulation
    /// runs every host on the test's thread).
    static SLOWEST: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// Numbers of different bursts to one recorder differ in their millions.
const BURST: u64 = 1_000_000;

/// Starts burst number `k` (of the numbers `k * BURST ..`) from a fresh sender on
/// `node`; its outcomes come on the returned channel.
fn burst(
    node: &Node,
    to: &ActorRef<Recorder>,
    k: u64,
    count: u64,
    chunk: u64,
    pause: Duration,
) -> oneshot::Receiver<Vec<Result<(), Error>>> {
    let (done, outcomes) = oneshot::channel();
    let sender = node.spawn::<Sender>(()).unwrap();
    let to = to.clone();
    sender
        .send(Burst {
            to,
            base: k * BURST,
            count,
            chunk,
            pause,
            done,
        })
        .expect("the sender takes the burst");
    outcomes
}

/// Waits for every burst's outcomes; a send that never answers fails the test here.
async fn outcomes(
    bursts: Vec<oneshot::Receiver<Vec<Result<(), Error>>>>,
    within: Duration,
) -> Vec<Vec<Result<(), Error>>> {
    tokio::time::timeout(within, async {
        let mut all = Vec::new();
        for b in bursts {
            all.push(b.await.expect("the burst reports"));
        }
        all
    })
    .await
    .unwrap_or_else(|_| panic!("some send got no answer within {within:?}"))
}

/// Polls `cond` every 10 ms for at most `within`; says whether it became true.
async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the recorder behind `to` got, once it has handled all that is in its mailbox:
/// a call queued behind the acknowledged messages waits for them.
async fn received(to: &ActorRef<Recorder>, log: &Log) -> Vec<u64> {
    let handled = tokio::time::timeout(Duration::from_secs(20), to.call(Count)).await;
    handled
        .expect("the receiver gets through its mailbox")
        .expect("the receiver answers");
    log.lock().unwrap().clone()
}

/// Retries a fresh important send and a call to `to` until both succeed: the nodes
/// talk again.
async fn talk_again(to: &ActorRef<Recorder>, within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        let sent = to.send_important(Count).timeout(Duration::from_secs(2)).await;
        let called = to.call(Count).timeout(Duration::from_secs(2)).await;
        match (sent, called) {
            (Ok(()), Ok(_)) => return,
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the nodes do not talk again: last attempt {last:?}");
}

// ----------------------------------------------------------------------------------
// Checks

/// How the sends of one burst ended.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ok: usize,
    timeout: usize,
    no_connection: usize,
    process_unknown: usize,
    connection_lost: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.ok += o.ok;
        self.timeout += o.timeout;
        self.no_connection += o.no_connection;
        self.process_unknown += o.process_unknown;
        self.connection_lost += o.connection_lost;
    }
}

/// Checks a burst's outcomes against what its receiver holds: nothing delivered twice,
/// nothing delivered that was not sent, every `Ok` delivered, every error one of
/// `allowed`, and no `NoConnection` ("never left this node") delivered.
fn check_exactly_once(
    who: &str,
    outcomes: &[Result<(), Error>],
    received: &[u64],
    allowed: &[Error],
) -> Tally {
    let mut seen = HashSet::with_capacity(received.len());
    for &m in received {
        assert!(
            (m as usize) < outcomes.len(),
            "{who}: received {m}, which was never sent"
        );
        assert!(seen.insert(m), "{who}: message {m} delivered twice");
    }
    let mut tally = Tally::default();
    for (i, outcome) in outcomes.iter().enumerate() {
        let delivered = seen.contains(&(i as u64));
        match outcome {
            Ok(()) => {
                assert!(delivered, "{who}: message {i} answered Ok but never delivered");
                tally.ok += 1;
            }
            Err(e) if !allowed.contains(e) => panic!("{who}: message {i} failed with {e:?}"),
            Err(Error::Timeout) => tally.timeout += 1,
            Err(Error::NoConnection) => {
                assert!(
                    !delivered,
                    "{who}: message {i} failed with NoConnection (\"not delivered\") but was delivered"
                );
                tally.no_connection += 1;
            }
            Err(Error::ProcessUnknown) => tally.process_unknown += 1,
            Err(Error::ConnectionLost) => tally.connection_lost += 1,
            Err(e) => panic!("{who}: message {i} failed with {e:?}"),
        }
    }
    tally
}

/// What burst `k` got to its recorder, by number within the burst, in arrival order.
fn of_burst(k: usize, received: &[u64]) -> Vec<u64> {
    received
        .iter()
        .filter(|&&m| m / BURST == k as u64)
        .map(|&m| m % BURST)
        .collect()
}

/// Messages from one sender to one recipient arrive in send order.
fn assert_send_order(who: &str, received: &[u64]) {
    if let Some(at) = received.windows(2).position(|w| w[0] >= w[1]) {
        panic!(
            "{who}: delivered out of send order: {} after {}",
            received[at + 1],
            received[at]
        );
    }
}

// ----------------------------------------------------------------------------------
// Scenarios

/// A partition in the middle of pipelined important bursts, held until the link is
/// declared dead, then repaired long before anything times out: the same incarnation
/// is reached again, the unacknowledged sends are resent, and every send ends Ok with
/// its message delivered once, in send order.
#[test]
fn link_flap_with_important_sends_in_flight_delivers_each_exactly_once_in_order() {
    let config = flappy().important_timeout(Duration::from_secs(20));
    let (mut sim, incarnations) = simulation(1, config.clone());
    let faults = Faults::default();
    sim.client("a", async move {
        let a = start_node("tx@a:7000", config).await;
        let b = incarnation(&incarnations, 0).await;
        let to = a.actor_ref::<Recorder>(&b.recorder).unwrap();
        assert_eq!(to.call(Count).await, Ok(0), "the nodes connect");
        let started = Instant::now();
        // 4 × 200 sends over about 400 ms: 5 every 10 ms.
        let bursts: Vec<_> = (0..4)
            .map(|k| burst(&a, &to, k, 200, 5, Duration::from_millis(10)))
            .collect();
        tokio::time::sleep(Duration::from_millis(150)).await;
        turmoil::partition("a", "b");
        let delivered_at_cut = b.log.lock().unwrap().len();
        let rx = ackor::NodeName::new(RX);
        let down = eventually(Duration::from_secs(20), || !a.connected_nodes().contains(&rx)).await;
        assert!(down, "the partition never took the link down");
        let detected = started.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        turmoil::repair("a", "b");
        let all = outcomes(bursts, Duration::from_secs(40)).await;
        println!(
            "partition at 150ms ({delivered_at_cut} delivered), link down at {detected:?}, all answered at {:?}",
            started.elapsed()
        );
        assert!(delivered_at_cut < 800, "the partition came after the bursts");
        let received = received(&to, &b.log).await;
        let mut total = Tally::default();
        for (k, out) in all.iter().enumerate() {
            let who = format!("sender {k}");
            let mine = of_burst(k, &received);
            let allowed = [Error::Timeout, Error::NoConnection, Error::ConnectionLost];
            total += check_exactly_once(&who, out, &mine, &allowed);
            // Across a flap to the same incarnation, order holds too.
            assert_send_order(&who, &mine);
        }
        assert_eq!(received.len(), 800, "something was delivered that no burst sent");
        // The partition was far shorter than the important timeout: every send ends Ok.
        assert_eq!(total.ok, 800, "not every send ended Ok: {total:?}");
        Ok(())
    });
    let counters = drive(sim, &faults);
    println!("{}", counters.summary());
    assert!(
        counters.get("important_resent_total") > 0,
        "the partition caught no send in flight"
    );
}

/// Three link flaps in a row during pipelined important bursts, each held until the
/// link is declared dead and repaired long before anything times out, under several
/// seeds (so the cuts fall at different points of the traffic). The second flap cuts
/// only the way back (from the receiver): the sends still arrive but their
/// acknowledgements are lost, so the resends after it must be deduplicated. Every send that left
/// ends Ok, each delivered once, in send order, across all the resends; the only
/// failures are sends refused with `NoConnection` while the peer was in its reconnect
/// backoff (a redial failed behind the partition), and none of them is delivered.
#[test]
fn repeated_link_flaps_keep_every_important_send_exactly_once_in_order() {
    for seed in 11..=14 {
        repeated_flaps(seed, 3);
    }
}

fn repeated_flaps(seed: u64, flaps: u32) {
    let config = flappy().important_timeout(Duration::from_secs(20));
    let (mut sim, incarnations) = simulation(seed, config.clone());
    let faults = Faults::default();
    sim.client("a", async move {
        let a = start_node("tx@a:7000", config).await;
        let b = incarnation(&incarnations, 0).await;
        let to = a.actor_ref::<Recorder>(&b.recorder).unwrap();
        assert_eq!(to.call(Count).await, Ok(0), "the nodes connect");
        // 4 × 1,000 sends over about 5 s: 5 every 25 ms.
        let bursts: Vec<_> = (0..4)
            .map(|k| burst(&a, &to, k, 1_000, 5, Duration::from_millis(25)))
            .collect();
        let rx = ackor::NodeName::new(RX);
        for flap in 0..flaps {
            // The cut falls at a different point of the traffic with each seed and flap.
            let before = 50 + (seed * 37 + u64::from(flap) * 71) % 150;
            tokio::time::sleep(Duration::from_millis(before)).await;
            if flap % 2 == 1 {
                turmoil::partition_oneway("b", "a");
            } else {
                turmoil::partition("a", "b");
            }
            let down = eventually(Duration::from_secs(20), || !a.connected_nodes().contains(&rx)).await;
            assert!(
                down,
                "seed {seed}, flap {flap}: the partition never took the link down"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            turmoil::repair("a", "b");
            let up = eventually(Duration::from_secs(20), || a.connected_nodes().contains(&rx)).await;
            assert!(up, "seed {seed}, flap {flap}: the link never came back");
        }
        let cut_at = b.log.lock().unwrap().len();
        assert!(cut_at < 4_000, "seed {seed}: the flaps came after the bursts");
        let all = outcomes(bursts, Duration::from_secs(60)).await;
        let received = received(&to, &b.log).await;
        let mut total = Tally::default();
        for (k, out) in all.iter().enumerate() {
            let who = format!("seed {seed}, sender {k}");
            let mine = of_burst(k, &received);
            let allowed = [Error::NoConnection];
            total += check_exactly_once(&who, out, &mine, &allowed);
            assert_send_order(&who, &mine);
        }
        println!("seed {seed}: {total:?}");
        assert!(
            total.ok >= 2_000,
            "seed {seed}: most sends should end Ok: {total:?}"
        );
        assert_eq!(received.len(), total.ok, "seed {seed}: delivered, yet not Ok");
        Ok(())
    });
    let counters = drive(sim, &faults);
    println!("seed {seed}: {}", counters.summary());
    assert!(
        counters.get("important_resent_total") > 0,
        "seed {seed}: the flaps caught no send in flight"
    );
    assert!(
        counters.get("important_deduplicated_total") > 0,
        "seed {seed}: no resend was of a delivered send"
    );
}

/// A partition that outlasts a 1 s important timeout: the sends caught in it fail with
/// `Timeout` (or `NoConnection` if they never left, `ConnectionLost` if the link died
/// under them), none is Ok without being delivered, none is delivered twice, none
/// answered `NoConnection` was delivered; after the repair the nodes talk again.
#[test]
fn partition_longer_than_the_important_timeout_gives_timeout_and_no_false_ok() {
    let config = flappy().important_timeout(Duration::from_secs(1));
    let (mut sim, incarnations) = simulation(2, config.clone());
    let faults = Faults::default();
    sim.client("a", async move {
        let a = start_node("tx@a:7000", config).await;
        let b = incarnation(&incarnations, 0).await;
        let to = a.actor_ref::<Recorder>(&b.recorder).unwrap();
        assert_eq!(to.call(Count).await, Ok(0), "the nodes connect");
        let started = Instant::now();
        // 4 × 500 sends over 2.5 s: 10 every 50 ms; the partition covers most of them.
        let bursts: Vec<_> = (0..4)
            .map(|k| burst(&a, &to, k, 500, 10, Duration::from_millis(50)))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        turmoil::partition("a", "b");
        let rx = ackor::NodeName::new(RX);
        let down = eventually(Duration::from_secs(20), || !a.connected_nodes().contains(&rx)).await;
        assert!(down, "the partition never took the link down");
        tokio::time::sleep(Duration::from_secs(3)).await;
        turmoil::repair("a", "b");
        let repaired = started.elapsed();
        let all = outcomes(bursts, Duration::from_secs(40)).await;
        // The sends may all have timed out before the repair: reach b again before
        // asking what it got.
        talk_again(&to, Duration::from_secs(20)).await;
        let received = received(&to, &b.log).await;
        let mut total = Tally::default();
        for (k, out) in all.iter().enumerate() {
            let allowed = [Error::Timeout, Error::NoConnection, Error::ConnectionLost];
            total += check_exactly_once(&format!("sender {k}"), out, &of_burst(k, &received), &allowed);
        }
        let slowest = SLOWEST.with(|s| s.get());
        println!("repaired at {repaired:?}, slowest send answered after {slowest:?}: {total:?}");
        // The timeout bounds every send (a few ms of slack for the timer's tick).
        assert!(slowest <= Duration::from_millis(1_050), "a send took {slowest:?}");
        assert!(
            total.ok > 0,
            "nothing went through before the partition: {total:?}"
        );
        assert!(total.timeout > 0, "no send in flight timed out: {total:?}");
        Ok(())
    });
    let counters = drive(sim, &faults);
    println!("{}", counters.summary());
}

/// The receiving node is restarted behind a partition (its FIN never reaches the
/// sender) in the middle of a burst of important sends: once the partition is
/// repaired the sender reaches a new incarnation, which must not take over the old
/// one's sends. None is Ok without having been delivered (to the old incarnation),
/// none is delivered twice or out of order, the new incarnation gets none of them,
/// and the sends the old one never acknowledged fail.
#[test]
fn peer_restart_fails_unacknowledged_sends_and_never_reports_a_silent_success() {
    let config = flappy().important_timeout(Duration::from_secs(20));
    let (mut sim, incarnations) = simulation(3, config.clone());
    let faults = Faults::default();
    let ask = faults.clone();
    sim.client("a", async move {
        let a = start_node("tx@a:7000", config).await;
        let old = incarnation(&incarnations, 0).await;
        let to = a.actor_ref::<Recorder>(&old.recorder).unwrap();
        assert_eq!(to.call(Count).await, Ok(0), "the nodes connect");
        let started = Instant::now();
        // 2,000 sends over about a second: 50 every 25 ms.
        let burst = burst(&a, &to, 0, 2_000, 50, Duration::from_millis(25));
        tokio::time::sleep(Duration::from_millis(300)).await;
        turmoil::partition("a", "b");
        // Every message acknowledged so far was in b's mailbox before the cut: let b
        // handle them before it dies, so that its log holds each one.
        tokio::time::sleep(Duration::from_millis(100)).await;
        ask.borrow_mut().push(Fault::Bounce);
        let new = incarnation(&incarnations, 1).await;
        assert_ne!(
            new.creation, old.creation,
            "the restarted node is a new incarnation"
        );
        let rx = ackor::NodeName::new(RX);
        let down = eventually(Duration::from_secs(20), || !a.connected_nodes().contains(&rx)).await;
        assert!(down, "the partition never took the link down");
        tokio::time::sleep(Duration::from_millis(300)).await;
        turmoil::repair("a", "b");
        let all = outcomes(vec![burst], Duration::from_secs(40)).await;
        println!("all answered at {:?}", started.elapsed());
        // The old incarnation is gone: its log is final.
        let received = old.log.lock().unwrap().clone();
        let allowed = [
            Error::Timeout,
            Error::NoConnection,
            Error::ConnectionLost,
            Error::ProcessUnknown,
        ];
        let tally = check_exactly_once("the sender", &all[0], &received, &allowed);
        assert_send_order("the sender", &received);
        println!("outcomes: {tally:?}");
        assert!(tally.ok > 0, "nothing went through before the restart: {tally:?}");
        assert!(
            tally.no_connection + tally.connection_lost + tally.process_unknown > 0,
            "the restart failed no send: {tally:?}"
        );
        // The new incarnation and a talk, and it never got the old one's sends.
        let fresh = a.actor_ref::<Recorder>(&new.recorder).unwrap();
        talk_again(&fresh, Duration::from_secs(20)).await;
        let got = new.log.lock().unwrap().clone();
        assert!(
            got.is_empty(),
            "the new incarnation got the old one's sends: {got:?}"
        );
        Ok(())
    });
    let counters = drive(sim, &faults);
    println!("{}", counters.summary());
}

/// The called node crashes while calls to it are pending (its handler takes a
/// minute): the calls fail with `ConnectionLost` as soon as the link closes, far
/// within the 30 s call timeout and even the heartbeat timeout.
#[test]
fn pending_calls_fail_at_once_when_the_peer_crashes() {
    let config = flappy();
    let (mut sim, incarnations) = simulation(4, config.clone());
    let faults = Faults::default();
    let ask = faults.clone();
    sim.client("a", async move {
        let a = start_node("tx@a:7000", config).await;
        let b = incarnation(&incarnations, 0).await;
        let to = a.actor_ref::<Recorder>(&b.recorder).unwrap();
        assert_eq!(to.call(Count).await, Ok(0), "the nodes connect");
        let slow = a.actor_ref::<Slow>(&b.slow).unwrap();
        let pending: Vec<_> = (0..3)
            .map(|_| {
                let slow = slow.clone();
                tokio::spawn(async move { slow.call(Ponder).await })
            })
            .collect();
        // The calls reach b, whose handler ponders.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let crashed = Instant::now();
        ask.borrow_mut().push(Fault::Crash);
        for call in pending {
            let outcome = tokio::time::timeout(Duration::from_secs(5), call)
                .await
                .expect("the call ends within 5 s")
                .unwrap();
            assert_eq!(outcome, Err(Error::ConnectionLost));
        }
        let took = crashed.elapsed();
        println!("the calls failed {took:?} after the crash");
        assert!(
            took < Duration::from_millis(500),
            "the calls failed only after {took:?}"
        );
        Ok(())
    });
    drive(sim, &faults);
}

/// The called node dies behind a partition (its FIN never arrives) while calls to it
/// are pending: the link is declared dead after the heartbeat timeout of silence, and
/// the calls fail with `ConnectionLost` then, not after the 30 s call timeout.
#[test]
fn pending_calls_fail_within_the_heartbeat_timeout_when_the_peer_dies_unseen() {
    let config = flappy();
    let (mut sim, incarnations) = simulation(5, config.clone());
    let faults = Faults::default();
    let ask = faults.clone();
    sim.client("a", async move {
        let a = start_node("tx@a:7000", config).await;
        let b = incarnation(&incarnations, 0).await;
        let to = a.actor_ref::<Recorder>(&b.recorder).unwrap();
        assert_eq!(to.call(Count).await, Ok(0), "the nodes connect");
        let slow = a.actor_ref::<Slow>(&b.slow).unwrap();
        let pending: Vec<_> = (0..3)
            .map(|_| {
                let slow = slow.clone();
                tokio::spawn(async move { slow.call(Ponder).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        turmoil::partition("a", "b");
        let cut = Instant::now();
        ask.borrow_mut().push(Fault::Crash);
        for call in pending {
            let outcome = tokio::time::timeout(Duration::from_secs(5), call)
                .await
                .expect("the call ends within 5 s")
                .unwrap();
            assert_eq!(outcome, Err(Error::ConnectionLost));
        }
        let took = cut.elapsed();
        println!("the calls failed {took:?} after the cut");
        // Silence is checked every quarter of the 500 ms heartbeat timeout.
        assert!(
            took < Duration::from_millis(800),
            "the calls failed only after {took:?}"
        );
        Ok(())
    });
    drive(sim, &faults);
}

/// ackor's metrics counters, by name (labels summed), recorded on the test's thread
/// (where the simulation runs every host), so a scenario can tell what happened
/// inside the nodes.
mod counters {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

    #[derive(Default)]
    pub struct Counters(Mutex<BTreeMap<String, Arc<AtomicU64>>>);

    impl Counters {
        fn counter(&self, name: &str) -> Arc<AtomicU64> {
            self.0
                .lock()
                .unwrap()
                .entry(name.to_string())
                .or_default()
                .clone()
        }

        /// The counter `ackor_<name>`.
        pub fn get(&self, name: &str) -> u64 {
            self.counter(&format!("ackor_{name}")).load(Ordering::Relaxed)
        }

        /// The counters that tell how important delivery coped.
        pub fn summary(&self) -> String {
            [
                "important_resent_total",
                "important_deduplicated_total",
                "remote_peer_down_total",
            ]
            .map(|n| format!("{n} {}", self.get(n)))
            .join(", ")
        }
    }

    impl metrics::Recorder for Counters {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.counter(key.name()))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }
}
