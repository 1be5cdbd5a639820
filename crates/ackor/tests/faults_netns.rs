//! Important and plain delivery under real network faults: two nodes talk over the
//! kernel's loopback inside a network namespace of their own, and the test makes that
//! loopback lose packets, delay them, or drop all of them (a partition) at the moments
//! it chooses, with `tc`.
//!
//! # How a test runs
//!
//! Each test starts in the parent mode: it creates a fresh namespace
//! (`ip netns add ackor-<pid>-<n>`), brings its `lo` up, and re-runs this test binary
//! inside it (`ip netns exec <ns> <this exe> <test name> --exact --include-ignored
//! --nocapture --test-threads=1`) with `ACKOR_NETNS_CHILD=<test name>` set. It forwards the child's
//! output, asserts that it succeeded (and that it really ran the scenario), kills it if it
//! is not done within [`netns::CHILD_DEADLINE`], and always deletes the namespace (a
//! drop guard, also when an assertion fails). In the child mode the scenario runs: its
//! nodes bind `127.0.0.1:0`, and as root of its namespace it changes the qdisc of its
//! own `lo`, which no other test or process sees.
//!
//! # Faults
//!
//! With `sch_netem` the faults are `tc qdisc replace dev lo root netem loss P% [delay
//! D]`; a partition is `loss 100%`, healing deletes the qdisc. Kernels built without
//! netem (such as this project's machines) still have `clsact` and the BPF classifier:
//! there a filter on `lo`'s ingress, a classic BPF program in direct-action mode, drops
//! every packet (a partition) or a random `P`% of them (it compares the kernel's fresh
//! random number for each packet with `P`% of 2^32); healing deletes the `clsact`.
//! Either way a packet is lost between the two sockets after the sender's stack handed
//! it over as sent, as on a real wire, so TCP must notice the loss and retransmit.
//! (Every packet on `lo` passes its egress and its ingress, so both directions suffer.)
//! What the ingress drop cannot do is delay: a scenario that asks for delay runs without
//! it there and says so.
//!
//! # Skipping
//!
//! A test passes without running its scenario, and prints `<test>: skipped: <reason>`
//! to stderr, when it cannot have a namespace with faults: not root, `ip` or `tc` not
//! found, `ip netns add` refused, or neither netem nor the ingress drop can be set up on
//! the namespace's `lo`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::time::Duration;

use ackor::{Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, RemoteConfig, SpawnOptions};
use tokio::sync::oneshot;
use tokio::time::Instant;

mod common;
use common::recorder::{Count, Log, Rec, Recorder};
use common::start_node;

/// A `#[test]` that runs `$scenario` (an `async fn(netns::Lo)`) inside a network
/// namespace of its own; see the module docs.
macro_rules! netns_test {
    ($(#[$attr:meta])* $name:ident => $scenario:ident) => {
        $(#[$attr])*
        #[test]
        fn $name() {
            netns::run(stringify!($name), |lo| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on($scenario(lo))
            });
        }
    };
}
const COOKIE: &str = "faults";

/// Links that notice a partition within half a second.
fn flappy() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(500))
        .reconnect_backoff(Duration::from_millis(50))
}

/// Links that ride out TCP's loss recovery (a lost segment is resent after 200 ms, a
/// lost resend after 400 ms more...) without being declared dead.
fn steady() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(5))
        .reconnect_backoff(Duration::from_millis(50))
        .important_timeout(Duration::from_secs(20))
}

// ----------------------------------------------------------------------------------
// Actors

/// Sends numbered messages to its receiver on the other node.
struct Sender;
impl Actor for Sender {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sender)
    }
}

/// Send `0..count` to `to`, `chunk` at a time with `pause` between chunks (so the burst
/// lasts long enough for a fault to hit its middle), importantly or not; the outcome of
/// each send goes to `done`, by number. Important sends are pipelined: each is awaited
/// on a task of its own from the moment it leaves, so its acknowledgement timeout runs
/// from then.
struct Burst {
    to: ActorRef<Recorder>,
    count: u64,
    chunk: u64,
    pause: Duration,
    important: bool,
    done: oneshot::Sender<Vec<Result<(), Error>>>,
}
impl Message for Burst {
    type Reply = ();
}
impl Handler<Burst> for Sender {
    type Return = ();
    async fn handle(&mut self, msg: Burst, ctx: &mut Context<Self>) {
        enum Outcome {
            Known(Result<(), Error>),
            Waiting(tokio::task::JoinHandle<Result<(), Error>>),
        }
        let mut outcomes = Vec::with_capacity(msg.count as usize);
        for i in 0..msg.count {
            if i > 0 && i % msg.chunk.max(1) == 0 {
                tokio::time::sleep(msg.pause).await;
            }
            outcomes.push(if msg.important {
                Outcome::Waiting(tokio::spawn(ctx.send_important(&msg.to, Rec(i)).into_future()))
            } else {
                Outcome::Known(ctx.send(&msg.to, Rec(i)))
            });
        }
        let mut results = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            results.push(match outcome {
                Outcome::Known(r) => r,
                Outcome::Waiting(task) => task.await.expect("the waiting task does not panic"),
            });
        }
        let _ = msg.done.send(results);
    }
}

/// A sender on one node and its receiver on the other.
struct Pair {
    sender: ActorRef<Sender>,
    /// The receiver as the sender's node sees it.
    to: ActorRef<Recorder>,
    /// The receiver on its own node.
    here: ActorRef<Recorder>,
    log: Log,
}

impl Pair {
    /// Starts a burst; its outcomes come on the returned channel.
    fn burst(
        &self,
        count: u64,
        chunk: u64,
        pause: Duration,
        important: bool,
    ) -> oneshot::Receiver<Vec<Result<(), Error>>> {
        let (done, outcomes) = oneshot::channel();
        let burst = Burst {
            to: self.to.clone(),
            count,
            chunk,
            pause,
            important,
            done,
        };
        self.sender.send(burst).expect("the sender takes the burst");
        outcomes
    }

    /// What the receiver got, once it has handled all that is in its mailbox: an
    /// acknowledgement means "in the mailbox", not "handled", so a local call (queued
    /// behind them) waits for the messages acknowledged so far first.
    async fn received(&self) -> Vec<u64> {
        settle(&self.here).await;
        self.log.lock().unwrap().clone()
    }
}

/// `n` senders on `a`, each with a receiver of its own on `b` (room for every message).
fn pairs(a: &Node, b: &Node, n: usize) -> Vec<Pair> {
    (0..n)
        .map(|_| {
            let log = Log::default();
            let rec = b
                .spawn_with::<Recorder>(log.clone(), SpawnOptions::default().mailbox_capacity(100_000))
                .unwrap();
            Pair {
                sender: a.spawn::<Sender>(()).unwrap(),
                to: a.actor_ref::<Recorder>(rec.pid()).unwrap(),
                here: rec,
                log,
            }
        })
        .collect()
}

/// Brings the links up (both ways) before the faults start: a call to each receiver.
async fn connect(pairs: &[Pair]) {
    for p in pairs {
        let n = tokio::time::timeout(Duration::from_secs(20), p.to.call(Count))
            .await
            .expect("the first call is answered");
        assert_eq!(n, Ok(0));
    }
}

/// Returns once `receiver` (local) has handled everything now in its mailbox.
async fn settle(receiver: &ActorRef<Recorder>) {
    let handled = tokio::time::timeout(Duration::from_secs(20), receiver.call(Count)).await;
    handled
        .expect("the receiver gets through its mailbox")
        .expect("the receiver answers");
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

// ----------------------------------------------------------------------------------
// Checks

/// How the sends of one burst ended.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ok: usize,
    timeout: usize,
    no_connection: usize,
    /// Of those `NoConnection`s, how many were delivered all the same.
    no_connection_delivered: usize,
    process_unknown: usize,
    /// Lost with the connection after they left: fate unknown.
    connection_lost: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.ok += o.ok;
        self.timeout += o.timeout;
        self.no_connection += o.no_connection;
        self.no_connection_delivered += o.no_connection_delivered;
        self.process_unknown += o.process_unknown;
        self.connection_lost += o.connection_lost;
    }
}

/// Checks a burst's outcomes against what its receiver holds: nothing delivered twice,
/// nothing delivered that was not sent, every `Ok` delivered, every error one of
/// `allowed`, and (when `no_connection_is_undelivered`, as `Error::NoConnection`'s docs
/// promise: "the message was not delivered") no `NoConnection` delivered.
fn check_exactly_once(
    who: &str,
    outcomes: &[Result<(), Error>],
    received: &[u64],
    allowed: &[Error],
    no_connection_is_undelivered: bool,
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
                    !delivered || !no_connection_is_undelivered,
                    "{who}: message {i} failed with NoConnection (\"not delivered\") but was delivered"
                );
                tally.no_connection += 1;
                if delivered && tally.no_connection_delivered == 0 {
                    println!("{who}: message {i} failed with NoConnection but was delivered");
                }
                tally.no_connection_delivered += usize::from(delivered);
            }
            Err(Error::ProcessUnknown) => tally.process_unknown += 1,
            Err(Error::ConnectionLost) => tally.connection_lost += 1,
            Err(e) => panic!("{who}: message {i} failed with {e:?}"),
        }
    }
    tally
}

/// Messages from one sender to one recipient arrive in send order.
fn assert_send_order(who: &str, received: &[u64]) {
    if let Some(at) = received.windows(2).position(|w| w[0] >= w[1]) {
        let from = at.saturating_sub(5);
        let to = (at + 6).min(received.len());
        panic!(
            "{who}: delivered out of send order: {} after {} (arrivals {from}..{to}: {:?})",
            received[at + 1],
            received[at],
            &received[from..to]
        );
    }
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
    panic!("the nodes do not talk again after healing: last attempt {last:?}");
}

// ----------------------------------------------------------------------------------
// Scenarios

netns_test! {
    /// A partition in the middle of pipelined important bursts, held until the link is
    /// declared dead, then healed before anything times out: the same incarnation is
    /// reached again, the unacknowledged sends are resent, and every send ends Ok with
    /// its message delivered once, in send order.
    important_sends_in_flight_across_a_real_partition_are_delivered_exactly_once => partition_mid_burst
}

async fn partition_mid_burst(lo: netns::Lo) {
    let config = flappy().important_timeout(Duration::from_secs(20));
    let (a, b) = (
        start_node("pa", config.clone()).await,
        start_node("pb", config).await,
    );
    let pairs = pairs(&a, &b, 8);
    connect(&pairs).await;
    let started = Instant::now();
    // 8 × 500 sends over about a second: 5 every 10 ms.
    let bursts: Vec<_> = pairs
        .iter()
        .map(|p| p.burst(500, 5, Duration::from_millis(10), true))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    lo.partition();
    let cut = started.elapsed();
    let down = eventually(Duration::from_secs(20), || {
        !a.connected_nodes().contains(b.name())
    })
    .await;
    let detected = started.elapsed();
    assert!(down, "the partition never took the link down");
    tokio::time::sleep(Duration::from_millis(300)).await;
    lo.heal();
    let healed = started.elapsed();
    let all = outcomes(bursts, Duration::from_secs(40)).await;
    println!(
        "partition at {cut:?}, link down at {detected:?}, healed at {healed:?}, all answered at {:?}",
        started.elapsed()
    );
    let mut total = Tally::default();
    for (k, (p, out)) in pairs.iter().zip(&all).enumerate() {
        let who = format!("sender {k}");
        let received = p.received().await;
        total += check_exactly_once(
            &who,
            out,
            &received,
            &[Error::Timeout, Error::NoConnection, Error::ConnectionLost],
            true,
        );
        // Across a flap to the same incarnation, order holds too (DESIGN: "messages from
        // one sender to one recipient are delivered in send order").
        assert_send_order(&who, &received);
    }
    println!("outcomes: {total:?}; {}", counters::summary());
    // The partition was far shorter than the important timeout: every send ends Ok.
    assert_eq!(total.ok, 8 * 500, "not every send ended Ok: {total:?}");
    assert!(
        counters::get("important_resent_total") > 0,
        "the partition caught no send in flight"
    );
    a.shutdown().await;
    b.shutdown().await;
}

netns_test! {
    /// 5% of packets lost (and, with netem, each delayed by 2 ms): TCP retransmits, the
    /// link stays up, and thousands of pipelined important sends all end Ok, each
    /// delivered once, in send order.
    important_sends_under_packet_loss_and_delay_all_arrive_once_in_order => lossy_important
}

async fn lossy_important(lo: netns::Lo) {
    let (a, b) = (start_node("la", steady()).await, start_node("lb", steady()).await);
    let pairs = pairs(&a, &b, 4);
    connect(&pairs).await;
    let delayed = lo.impair(5, Some(Duration::from_millis(2)));
    println!(
        "loss 5%, {}",
        if delayed {
            "delay 2 ms"
        } else {
            "no delay (no netem)"
        }
    );
    let started = Instant::now();
    // 4 × 1,000 sends, 5 every 2 ms: many small writes, so many packets to lose.
    let bursts: Vec<_> = pairs
        .iter()
        .map(|p| p.burst(1_000, 5, Duration::from_millis(2), true))
        .collect();
    let all = outcomes(bursts, Duration::from_secs(40)).await;
    println!("all answered in {:?}", started.elapsed());
    let (packets, dropped) = lo.counts();
    println!("lo: {packets} packets counted, {dropped} dropped");
    assert!(dropped > 0, "the loss hit no packet");
    lo.heal();
    let mut total = Tally::default();
    for (k, (p, out)) in pairs.iter().zip(&all).enumerate() {
        let who = format!("sender {k}");
        let received = p.received().await;
        total += check_exactly_once(&who, out, &received, &[], true);
        assert_send_order(&who, &received);
    }
    assert_eq!(total.ok, 4_000);
    a.shutdown().await;
    b.shutdown().await;
}

netns_test! {
    /// 20,000 plain sends while 5% of packets are lost: TCP's retransmissions only slow
    /// them down; ackor drops none and reorders none.
    plain_sends_under_packet_loss_arrive_complete_and_in_order => lossy_plain
}

async fn lossy_plain(lo: netns::Lo) {
    const N: u64 = 20_000;
    let (a, b) = (start_node("ua", steady()).await, start_node("ub", steady()).await);
    let pairs = pairs(&a, &b, 1);
    connect(&pairs).await;
    lo.impair(5, None);
    let started = Instant::now();
    // 50 every 1 ms: many small writes, so many packets to lose.
    let burst = pairs[0].burst(N, 50, Duration::from_millis(1), false);
    let sent = outcomes(vec![burst], Duration::from_secs(40)).await;
    assert!(
        sent[0].iter().all(Result::is_ok),
        "a plain send failed locally: {:?}",
        sent[0].iter().find(|r| r.is_err())
    );
    let log = pairs[0].log.clone();
    let all_in = eventually(Duration::from_secs(40), || log.lock().unwrap().len() as u64 >= N).await;
    println!("{N} delivered in {:?}", started.elapsed());
    let (packets, dropped) = lo.counts();
    println!("lo: {packets} packets counted, {dropped} dropped");
    assert!(dropped > 0, "the loss hit no packet");
    lo.heal();
    let received = pairs[0].received().await;
    assert!(
        all_in,
        "only {} of {N} plain sends arrived (was the link declared dead? it is up: {})",
        received.len(),
        a.connected_nodes().contains(b.name())
    );
    assert_send_order("the sender", &received);
    assert_eq!(received, (0..N).collect::<Vec<_>>());
    a.shutdown().await;
    b.shutdown().await;
}

netns_test! {
    /// A partition that outlasts a 1 s important timeout: sends caught in it fail with
    /// Timeout or NoConnection, none is Ok without being delivered, none is delivered
    /// twice; after healing the nodes talk again.
    partition_longer_than_important_timeout_gives_definite_errors_and_no_false_ok => long_partition
}

async fn long_partition(lo: netns::Lo) {
    let config = flappy().important_timeout(Duration::from_secs(1));
    let (a, b) = (
        start_node("ta", config.clone()).await,
        start_node("tb", config).await,
    );
    let pairs = pairs(&a, &b, 4);
    connect(&pairs).await;
    let started = Instant::now();
    // 4 × 500 sends over 2.5 s: 10 every 50 ms; the partition covers most of them.
    let bursts: Vec<_> = pairs
        .iter()
        .map(|p| p.burst(500, 10, Duration::from_millis(50), true))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    lo.partition();
    let down = eventually(Duration::from_secs(20), || {
        !a.connected_nodes().contains(b.name())
    })
    .await;
    assert!(down, "the partition never took the link down");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    lo.heal();
    let healed = started.elapsed();
    let all = outcomes(bursts, Duration::from_secs(40)).await;
    println!("healed at {healed:?}, all answered at {:?}", started.elapsed());
    let mut total = Tally::default();
    for (k, (p, out)) in pairs.iter().zip(&all).enumerate() {
        let who = format!("sender {k}");
        let received = p.received().await;
        total += check_exactly_once(
            &who,
            out,
            &received,
            &[Error::Timeout, Error::NoConnection, Error::ConnectionLost],
            true,
        );
    }
    println!("outcomes: {total:?}; {}", counters::summary());
    assert!(
        total.ok > 0,
        "nothing went through before the partition: {total:?}"
    );
    assert!(
        total.timeout + total.no_connection > 0,
        "the partition failed no send: {total:?}"
    );
    talk_again(&pairs[0].to, Duration::from_secs(20)).await;
    a.shutdown().await;
    b.shutdown().await;
}

netns_test! {
    /// A partition that outlasts the heartbeat and handshake timeouts, though not the
    /// important timeout: the first redial fails. Sends already written to the lost
    /// link may have been delivered (the cut swallowed some acknowledgements), so they
    /// must not be answered `NoConnection` ("not delivered"): they are kept, the peer is
    /// dialed again after the backoff, and once the partition heals they are resent
    /// and acknowledged — every send that left ends Ok, each delivered once, in order.
    failed_redial_keeps_sends_in_flight_and_calls_none_undelivered_that_was_delivered => failed_redial
}

async fn failed_redial(lo: netns::Lo) {
    let config = flappy()
        .important_timeout(Duration::from_secs(30))
        .handshake_timeout(Duration::from_secs(1));
    let (a, b) = (
        start_node("na", config.clone()).await,
        start_node("nb", config).await,
    );
    let pairs = pairs(&a, &b, 8);
    connect(&pairs).await;
    let started = Instant::now();
    // 8 × 5,000 sends at once: a dense stream when the cut comes.
    let bursts: Vec<_> = pairs
        .iter()
        .map(|p| p.burst(5_000, 5_000, Duration::ZERO, true))
        .collect();
    // Cut once a fifth has arrived, in the thick of it.
    let flowing = eventually(Duration::from_secs(20), || {
        pairs.iter().map(|p| p.log.lock().unwrap().len()).sum::<usize>() >= 8_000
    })
    .await;
    assert!(flowing, "the stream never got going");
    lo.partition();
    let down = eventually(Duration::from_secs(20), || {
        !a.connected_nodes().contains(b.name())
    })
    .await;
    assert!(down, "the partition never took the link down");
    // Longer than the 1 s handshake timeout of the redial that follows.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    lo.heal();
    let all = outcomes(bursts, Duration::from_secs(45)).await;
    println!("all answered at {:?}", started.elapsed());
    let mut total = Tally::default();
    for (k, (p, out)) in pairs.iter().zip(&all).enumerate() {
        let who = format!("sender {k}");
        let received = p.received().await;
        total += check_exactly_once(
            &who,
            out,
            &received,
            &[Error::Timeout, Error::NoConnection, Error::ConnectionLost],
            true,
        );
        assert_send_order(&who, &received);
    }
    println!("outcomes: {total:?}; {}", counters::summary());
    assert_eq!(
        total.no_connection_delivered, 0,
        "sends answered NoConnection (\"not delivered\") whose messages were delivered: {total:?}"
    );
    // Every send that left ends Ok once the partition heals; the only failures are
    // sends refused while the sender waited out the reconnect backoff (never left).
    assert_eq!(
        (total.timeout, total.connection_lost),
        (0, 0),
        "sends that left end Ok once the partition heals: {total:?}"
    );
    assert_eq!(total.ok + total.no_connection, 40_000, "{total:?}");
    talk_again(&pairs[0].to, Duration::from_secs(20)).await;
    a.shutdown().await;
    b.shutdown().await;
}

netns_test! {
    /// The receiving node dies behind a partition (its FIN and RST never reach the
    /// sender) and comes back at the same address before it heals: the sender reaches a
    /// new incarnation, which must not take over the old one's sends. None is Ok
    /// without having been delivered, none is delivered twice.
    peer_restarted_behind_a_partition_never_acknowledges_undelivered_sends => restart_behind_partition
}

async fn restart_behind_partition(lo: netns::Lo) {
    let config = flappy().important_timeout(Duration::from_secs(20));
    let a = start_node("ra", config.clone()).await;
    let log = Log::default();
    let theirs = log.clone();
    let ((b_name, rec), die, b_thread) = common::mortal_node("rb", config.clone(), move |b| {
        let rec = b
            .spawn_with::<Recorder>(theirs, SpawnOptions::default().mailbox_capacity(100_000))
            .unwrap();
        (b.name().clone(), rec)
    });
    let pair = Pair {
        sender: a.spawn::<Sender>(()).unwrap(),
        to: a.actor_ref::<Recorder>(rec.pid()).unwrap(),
        here: rec,
        log,
    };
    connect(std::slice::from_ref(&pair)).await;
    let started = Instant::now();
    // 2,000 sends over about a second: 50 every 25 ms.
    let burst = pair.burst(2_000, 50, Duration::from_millis(25), true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    lo.partition();
    // Every message acknowledged so far was in b's mailbox before the cut: let b handle
    // them before it dies, so that its log holds each one.
    settle(&pair.here).await;
    die.send(()).unwrap();
    tokio::task::spawn_blocking(move || b_thread.join())
        .await
        .unwrap()
        .expect("b's thread ends");
    let b2 = Node::builder()
        .name(b_name.as_str())
        .remote(config)
        .start()
        .await
        .expect("b restarts at the same address");
    let down = eventually(Duration::from_secs(20), || !a.connected_nodes().contains(&b_name)).await;
    assert!(down, "the partition never took the link down");
    tokio::time::sleep(Duration::from_millis(300)).await;
    lo.heal();
    let all = outcomes(vec![burst], Duration::from_secs(40)).await;
    println!("all answered at {:?}", started.elapsed());
    // b is gone: its log is final.
    let received = pair.log.lock().unwrap().clone();
    let allowed = [
        Error::Timeout,
        Error::NoConnection,
        Error::ConnectionLost,
        Error::ProcessUnknown,
    ];
    let tally = check_exactly_once("the sender", &all[0], &received, &allowed, true);
    assert_send_order("the sender", &received);
    println!("outcomes: {tally:?}; {}", counters::summary());
    assert!(
        tally.no_connection + tally.connection_lost + tally.process_unknown > 0,
        "the restart failed no send: {tally:?}"
    );
    // a and the new b talk.
    let fresh = b2.spawn::<Recorder>(Log::default()).unwrap();
    talk_again(
        &a.actor_ref::<Recorder>(fresh.pid()).unwrap(),
        Duration::from_secs(20),
    )
    .await;
    a.shutdown().await;
    b2.shutdown().await;
}

/// ackor's metrics counters, by name (labels summed), so a scenario can tell what
/// happened inside the nodes (resends, deduplications, links lost). Installed in the
/// child process only, before its scenario.
mod counters {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

    static COUNTERS: Mutex<BTreeMap<String, Arc<AtomicU64>>> = Mutex::new(BTreeMap::new());

    fn counter(name: &str) -> Arc<AtomicU64> {
        COUNTERS
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    struct Recorder;
    impl metrics::Recorder for Recorder {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(counter(key.name()))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    pub fn install() {
        let _ = metrics::set_global_recorder(Recorder);
    }

    /// The counter `ackor_<name>` so far.
    pub fn get(name: &str) -> u64 {
        counter(&format!("ackor_{name}")).load(Ordering::Relaxed)
    }

    /// The counters that tell how important delivery coped.
    pub fn summary() -> String {
        [
            "important_resent_total",
            "important_deduplicated_total",
            "remote_peer_down_total",
        ]
        .map(|n| format!("{n} {}", get(n)))
        .join(", ")
    }
}

// ----------------------------------------------------------------------------------
// The namespace harness

mod netns {
    use std::ffi::OsStr;
    use std::io::Read;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// Set in the child: the name of the test whose scenario it runs.
    const CHILD: &str = "ACKOR_NETNS_CHILD";
    /// Set in the child: `netem` or `ingress-drop`, how to make faults.
    const FAULTS: &str = "ACKOR_NETNS_FAULTS";
    /// Printed by the child before its scenario; the parent checks for it, so a child
    /// that ran no test at all cannot pass.
    const RAN: &str = "ackor-netns: running the scenario of ";
    /// The parent kills a child still running after this long.
    pub const CHILD_DEADLINE: Duration = Duration::from_secs(90);

    /// How `lo` is made to lose packets.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Backend {
        /// `sch_netem` as `lo`'s root qdisc: loss and delay.
        Netem,
        /// A classic-BPF filter on `lo`'s ingress (`clsact`) that drops: loss only.
        IngressDrop,
    }

    impl Backend {
        fn as_str(self) -> &'static str {
            match self {
                Backend::Netem => "netem",
                Backend::IngressDrop => "ingress-drop",
            }
        }

        /// The qdisc that carries the faults.
        fn qdisc(self) -> &'static str {
            match self {
                Backend::Netem => "netem",
                Backend::IngressDrop => "clsact",
            }
        }
    }

    /// The loopback of the namespace the scenario runs in.
    pub struct Lo {
        /// The command prefix that reaches `tc` in the namespace.
        tc: Vec<PathBuf>,
        backend: Backend,
    }

    impl Lo {
        /// Drops every packet: a partition between every two sockets on `lo`.
        pub fn partition(&self) {
            self.impair(100, None);
        }

        /// Drops `loss_percent`% of packets at random and, with netem, delays each by
        /// `delay`. Says whether the delay is applied.
        pub fn impair(&self, loss_percent: u32, delay: Option<Duration>) -> bool {
            self.try_impair(loss_percent, delay)
                .unwrap_or_else(|e| panic!("cannot impair lo: {e}"))
        }

        /// Lets every packet through again.
        pub fn heal(&self) {
            self.try_heal().unwrap_or_else(|e| panic!("cannot heal lo: {e}"));
        }

        fn try_heal(&self) -> Result<(), String> {
            match self.backend {
                Backend::Netem => self.tc(&["qdisc", "del", "dev", "lo", "root"]),
                Backend::IngressDrop => self.tc(&["qdisc", "del", "dev", "lo", "clsact"]),
            }
        }

        /// Packets that passed and packets dropped since the faults were set up (the
        /// numbers `tc -s qdisc show dev lo` gives for the qdisc that makes them).
        pub fn counts(&self) -> (u64, u64) {
            let (program, prefix) = self.tc.split_first().expect("a tc command");
            let out = Command::new(program)
                .args(prefix)
                .args(["-s", "qdisc", "show", "dev", "lo"])
                .output()
                .expect("tc runs");
            let all = String::from_utf8_lossy(&out.stdout);
            // "qdisc clsact ffff: parent ffff:fff1
            //   Sent 321726 bytes 7482 pkt (dropped 2518, overlimits 0 requeues 0)"
            let head = format!("qdisc {} ", self.backend.qdisc());
            let at = all.find(&head).unwrap_or_else(|| panic!("no {head:?} in {all}"));
            let text = &all[at..];
            let number_before = |word: &str| -> u64 {
                let end = text.find(word).unwrap_or_else(|| panic!("no {word:?} in {text}"));
                let start = text[..end].trim_end().rfind(' ').map_or(0, |s| s + 1);
                let number = text[start..end].trim();
                number
                    .parse()
                    .unwrap_or_else(|_| panic!("no number before {word:?} in {text}"))
            };
            let number_after = |word: &str| -> u64 {
                let at = text.find(word).unwrap_or_else(|| panic!("no {word:?} in {text}"));
                let rest = text[at + word.len()..].trim_start();
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits
                    .parse()
                    .unwrap_or_else(|_| panic!("no number after {word:?} in {text}"))
            };
            (number_before(" pkt"), number_after("dropped"))
        }

        fn try_impair(&self, loss_percent: u32, delay: Option<Duration>) -> Result<bool, String> {
            assert!(loss_percent <= 100);
            match self.backend {
                Backend::Netem => {
                    let loss = format!("{loss_percent}%");
                    let mut args = vec!["qdisc", "replace", "dev", "lo", "root", "netem", "loss", &loss];
                    let delay = delay.map(|d| format!("{}us", d.as_micros()));
                    if let Some(d) = &delay {
                        args.extend(["delay", d.as_str()]);
                    }
                    self.tc(&args)?;
                    Ok(delay.is_some())
                }
                Backend::IngressDrop => {
                    // Start afresh (there may be nothing to delete: ignore that error).
                    let _ = self.try_heal();
                    self.tc(&["qdisc", "add", "dev", "lo", "clsact"])?;
                    let program = drop_program(loss_percent);
                    self.tc(&[
                        "filter", "add", "dev", "lo", "ingress", "prio", "1", "bpf", "da", "bytecode",
                        &program,
                    ])?;
                    Ok(false)
                }
            }
        }

        fn tc(&self, args: &[&str]) -> Result<(), String> {
            let (program, prefix) = self.tc.split_first().expect("a tc command");
            exec(Command::new(program).args(prefix).args(args))
        }
    }

    /// A classic BPF program for a direct-action `cls_bpf` filter: returns
    /// `TC_ACT_SHOT` (2: drop) for `percent`% of packets at random and `TC_ACT_OK` (0:
    /// pass) for the rest.
    fn drop_program(percent: u32) -> String {
        if percent >= 100 {
            return "1,6 0 0 2".to_string();
        }
        // ld #rand (SKF_AD_OFF + SKF_AD_RANDOM: a fresh random u32 per packet);
        // jge #threshold, +0, +1; ret #0; ret #2
        let threshold = (u64::from(percent) << 32) / 100;
        format!("4,32 0 0 4294963256,53 0 1 {threshold},6 0 0 0,6 0 0 2")
    }

    fn exec(cmd: &mut Command) -> Result<(), String> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// `program` on `PATH` or in the usual sbin folders (a non-root `PATH` lacks them).
    fn find(program: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }

    fn effective_uid() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    }

    /// A namespace, deleted when dropped.
    struct Namespace {
        ip: PathBuf,
        name: String,
    }

    impl Namespace {
        fn create(ip: &Path) -> Result<Namespace, String> {
            static N: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                "ackor-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            exec(Command::new(ip).args(["netns", "add", &name]))?;
            let ns = Namespace {
                ip: ip.to_path_buf(),
                name,
            };
            exec(Command::new(ip).args(["-n", &ns.name, "link", "set", "lo", "up"]))?;
            Ok(ns)
        }

        fn lo(&self, tc: &Path, backend: Backend) -> Lo {
            let exec = [
                self.ip.as_path(),
                Path::new("netns"),
                Path::new("exec"),
                Path::new(&self.name),
            ];
            Lo {
                tc: exec
                    .iter()
                    .map(|p| p.to_path_buf())
                    .chain([tc.to_path_buf()])
                    .collect(),
                backend,
            }
        }

        /// Which way of making faults works in this namespace.
        fn backend(&self, tc: &Path) -> Result<Backend, String> {
            let mut why = Vec::new();
            for backend in [Backend::Netem, Backend::IngressDrop] {
                let lo = self.lo(tc, backend);
                match lo.try_impair(0, None) {
                    Ok(_) => {
                        lo.heal();
                        return Ok(backend);
                    }
                    Err(e) => why.push(format!("{}: {e}", backend.as_str())),
                }
            }
            Err(format!("no way to make faults on lo ({})", why.join("; ")))
        }
    }

    impl Drop for Namespace {
        fn drop(&mut self) {
            if let Err(e) = exec(Command::new(&self.ip).args(["netns", "delete", &self.name])) {
                eprintln!("could not delete namespace {}: {e}", self.name);
            }
        }
    }

    /// Everything the parent needs, or why the test is skipped.
    fn prepare() -> Result<(Namespace, Backend), String> {
        match effective_uid() {
            Some(0) => {}
            Some(uid) => return Err(format!("not root (uid {uid})")),
            None => return Err("cannot tell the uid (no /proc/self/status)".to_string()),
        }
        let ip = find("ip").ok_or("`ip` not found")?;
        let tc = find("tc").ok_or("`tc` not found")?;
        let ns = Namespace::create(&ip)?;
        let backend = ns.backend(&tc)?;
        Ok((ns, backend))
    }

    /// Runs `scenario` in a namespace of its own (see the module docs).
    pub fn run(name: &str, scenario: impl FnOnce(Lo)) {
        if let Some(of) = std::env::var_os(CHILD) {
            assert_eq!(of, OsStr::new(name), "{CHILD} names another test");
            let backend = match std::env::var(FAULTS).as_deref() {
                Ok("netem") => Backend::Netem,
                Ok("ingress-drop") => Backend::IngressDrop,
                other => panic!("{FAULTS} is {other:?}"),
            };
            let tc = find("tc").expect("tc, found by the parent");
            println!("{RAN}{name} (faults by {})", backend.as_str());
            super::counters::install();
            return scenario(Lo {
                tc: vec![tc],
                backend,
            });
        }
        let (ns, backend) = match prepare() {
            Ok(ready) => ready,
            Err(reason) => {
                eprintln!("{name}: skipped: {reason}");
                return;
            }
        };
        let exe = std::env::current_exe().expect("this test binary");
        let started = Instant::now();
        let mut child = Command::new(&ns.ip)
            .args(["netns", "exec", &ns.name])
            .arg(exe)
            // --include-ignored: the parent runs only if this test was chosen.
            .args([
                name,
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, name)
            .env(FAULTS, backend.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the child starts");
        let drain = |mut from: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = from.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("piped")));
        let stderr = drain(Box::new(child.stderr.take().expect("piped")));
        let status = loop {
            if let Some(status) = child.try_wait().expect("the child can be waited for") {
                break Some(status);
            }
            if started.elapsed() > CHILD_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = (stdout.join().expect("stdout"), stderr.join().expect("stderr"));
        print!("{stdout}");
        eprint!("{stderr}");
        println!("{name}: {:?} in namespace {}", started.elapsed(), ns.name);
        let status = status.unwrap_or_else(|| panic!("{name}: still running after {CHILD_DEADLINE:?}"));
        assert!(
            status.success(),
            "{name}: the scenario failed in its namespace ({status})"
        );
        assert!(
            stdout.contains(&format!("{RAN}{name}")),
            "{name}: the child ran no scenario"
        );
        drop(ns);
    }
}
