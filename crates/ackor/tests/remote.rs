//! Remote nodes on loopback in one process: send, call, names, monitors, links,
//! connection loss, and bad input on the wire. Every node binds 127.0.0.1:0.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Down, Error, Exit, ExitReason, Handler, Message, Node, ProcessId,
    RemoteActor, RemoteConfig, RemoteMessage, RemoteMessages, Reply, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

mod common;
use common::{PROMPT, peer_info, start_node};

const COOKIE: &str = "test-cookie";

fn config() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(1000))
        .reconnect_backoff(Duration::from_millis(50))
}

async fn node_with(prefix: &str, remote: RemoteConfig) -> Node {
    start_node(prefix, remote).await
}

async fn node(prefix: &str) -> Node {
    node_with(prefix, config()).await
}

// ------------------------------------------------------------------ a bank

struct Bank {
    balance: u64,
    log: Vec<u64>,
    events: Option<mpsc::UnboundedSender<String>>,
}

impl Actor for Bank {
    type Args = Option<mpsc::UnboundedSender<String>>;
    async fn init(events: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Bank {
            balance: 0,
            log: Vec::new(),
            events,
        })
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Deposit>()
            .add::<Withdraw>()
            .add::<Balance>()
            .add::<Log>()
            .add::<Nap>()
            .add::<Crash>()
            .add::<WatchPid>()
            .add::<LinkPid>();
    }
    async fn on_down(&mut self, _: &mut Context<Self>, down: Down) {
        if let Some(e) = &self.events {
            let _ = e.send(format!("down {} {}", down.pid, down.reason));
        }
    }
    async fn on_exit(&mut self, _: &mut Context<Self>, exit: Exit) {
        if let Some(e) = &self.events {
            let _ = e.send(format!("exit {} {}", exit.pid, exit.reason));
        }
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, reason: &ExitReason) {
        if let Some(e) = &self.events {
            let _ = e.send(format!("stopped {reason}"));
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Deposit(u64);
impl Message for Deposit {
    type Reply = u64;
}
impl RemoteMessage for Deposit {
    const TAG: &'static str = "test.bank.deposit";
}
impl Handler<Deposit> for Bank {
    type Return = u64;
    async fn handle(&mut self, msg: Deposit, _: &mut Context<Self>) -> u64 {
        self.balance += msg.0;
        self.log.push(msg.0);
        self.balance
    }
}

#[derive(Serialize, Deserialize)]
struct Withdraw(u64);
impl Message for Withdraw {
    type Reply = u64;
}
impl RemoteMessage for Withdraw {
    const TAG: &'static str = "test.bank.withdraw";
}
impl Handler<Withdraw> for Bank {
    type Return = Reply<u64>;
    async fn handle(&mut self, msg: Withdraw, _: &mut Context<Self>) -> Reply<u64> {
        if msg.0 > self.balance {
            return Reply::Error(Error::rejected("insufficient funds"));
        }
        self.balance -= msg.0;
        Reply::Value(self.balance)
    }
}

#[derive(Serialize, Deserialize)]
struct Balance;
impl Message for Balance {
    type Reply = u64;
}
impl RemoteMessage for Balance {
    const TAG: &'static str = "test.bank.balance";
}
impl Handler<Balance> for Bank {
    type Return = u64;
    async fn handle(&mut self, _: Balance, _: &mut Context<Self>) -> u64 {
        self.balance
    }
}

/// The deposits in the order they arrived: (count, in order?).
#[derive(Serialize, Deserialize)]
struct Log;
impl Message for Log {
    type Reply = (u64, bool);
}
impl RemoteMessage for Log {
    const TAG: &'static str = "test.bank.log";
}
impl Handler<Log> for Bank {
    type Return = (u64, bool);
    async fn handle(&mut self, _: Log, _: &mut Context<Self>) -> (u64, bool) {
        let ordered = self.log.windows(2).all(|w| w[0] < w[1]);
        (self.log.len() as u64, ordered)
    }
}

#[derive(Serialize, Deserialize)]
struct Nap(u64);
impl Message for Nap {
    type Reply = ();
}
impl RemoteMessage for Nap {
    const TAG: &'static str = "test.bank.nap";
}
impl Handler<Nap> for Bank {
    type Return = ();
    async fn handle(&mut self, msg: Nap, _: &mut Context<Self>) {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
    }
}

#[derive(Serialize, Deserialize)]
struct Crash;
impl Message for Crash {
    type Reply = ();
}
impl RemoteMessage for Crash {
    const TAG: &'static str = "test.bank.crash";
}
impl Handler<Crash> for Bank {
    type Return = ();
    async fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("bank crashed");
    }
}

/// Monitor a (possibly remote) pid.
#[derive(Serialize, Deserialize)]
struct WatchPid(String, u64, u32);
impl Message for WatchPid {
    type Reply = ();
}
impl RemoteMessage for WatchPid {
    const TAG: &'static str = "test.bank.watch";
}
impl Handler<WatchPid> for Bank {
    type Return = ();
    async fn handle(&mut self, msg: WatchPid, ctx: &mut Context<Self>) {
        let pid = ackor::Pid::new(ackor::NodeName::new(msg.0), msg.1, msg.2);
        ctx.monitor(&pid);
    }
}

/// Link to a (possibly remote) pid, trapping exits if asked.
#[derive(Serialize, Deserialize)]
struct LinkPid(String, u64, u32, bool);
impl Message for LinkPid {
    type Reply = ();
}
impl RemoteMessage for LinkPid {
    const TAG: &'static str = "test.bank.link";
}
impl Handler<LinkPid> for Bank {
    type Return = ();
    async fn handle(&mut self, msg: LinkPid, ctx: &mut Context<Self>) {
        ctx.trap_exits(msg.3);
        let pid = ackor::Pid::new(ackor::NodeName::new(msg.0), msg.1, msg.2);
        ctx.link(&pid);
    }
}

fn watch(pid: &ackor::Pid) -> WatchPid {
    WatchPid(pid.node().to_string(), pid.id(), pid.creation())
}

fn link(pid: &ackor::Pid, trap: bool) -> LinkPid {
    LinkPid(pid.node().to_string(), pid.id(), pid.creation(), trap)
}

/// A newer version of the bank that knows one more message.
struct BankV2;
impl Actor for BankV2 {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(BankV2)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Audit>();
    }
}
#[derive(Serialize, Deserialize)]
struct Audit;
impl Message for Audit {
    type Reply = String;
}
impl RemoteMessage for Audit {
    const TAG: &'static str = "test.bank.audit.v2";
}
impl Handler<Audit> for BankV2 {
    type Return = String;
    async fn handle(&mut self, _: Audit, _: &mut Context<Self>) -> String {
        "ok".into()
    }
}

/// The bank on `b`, as seen from `a`.
fn remote_bank(a: &Node, bank: &ActorRef<Bank>) -> ActorRef<Bank> {
    a.actor_ref::<Bank>(bank.pid()).expect("remote ref")
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(PROMPT, rx.recv())
        .await
        .expect("an event in time")
        .expect("events open")
}

// ------------------------------------------------------------------ send, call, names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_send_and_call_reach_the_actor_on_the_other_node() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b.spawn::<Bank>(None).unwrap();
    let there = remote_bank(&a, &bank);
    assert!(there.is_remote());
    there.send(Deposit(5)).unwrap();
    assert_eq!(there.call(Deposit(10)).await, Ok(15));
    // The callee's error travels back.
    assert_eq!(
        there.call(Withdraw(100)).await,
        Err(Error::rejected("insufficient funds"))
    );
    assert_eq!(there.call(Withdraw(1)).await, Ok(14));
    assert!(a.connected_nodes().contains(b.name()));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_calls_are_answered_on_the_callers_link_with_no_link_back() {
    // A reply goes back on the link its call came in on (carrying the call's TCP
    // acknowledgement): the callee's node needs no link of its own to answer.
    let one = || config().links_per_peer(1);
    let (a, b) = (node_with("a", one()).await, node_with("b", one()).await);
    let bank = b.spawn::<Bank>(None).unwrap();
    let there = remote_bank(&a, &bank);
    for balance in 1..=20 {
        assert_eq!(there.call(Deposit(1)).await, Ok(balance));
    }
    assert_eq!(
        there.call(Withdraw(100)).await,
        Err(Error::rejected("insufficient funds"))
    );
    let caller = peer_info(&b, &a);
    assert_eq!(caller.links, 1, "only the link a dialed: {caller:?}");
    assert!(caller.frames_sent >= 21, "{caller:?}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_name_resolves_on_the_other_node() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b
        .spawn_with::<Bank>(None, SpawnOptions::default().name("bank"))
        .unwrap();
    let found = a
        .resolve::<Bank>(&ProcessId::new("bank", b.name().clone()))
        .await
        .unwrap();
    assert_eq!(found.pid(), bank.pid());
    assert_eq!(found.call(Deposit(3)).await, Ok(3));
    let missing = a
        .resolve::<Bank>(&ProcessId::new("vault", b.name().clone()))
        .await;
    assert_eq!(missing.err(), Some(Error::ProcessUnknown));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_to_unknown_remote_process_fails_with_process_unknown() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b.spawn::<Bank>(None).unwrap();
    let pid = bank.pid().clone();
    bank.stop().unwrap();
    bank.wait_for_stop().await;
    let gone = a.actor_ref::<Bank>(&pid).unwrap();
    let outcome = tokio::time::timeout(PROMPT, gone.call(Balance))
        .await
        .expect("prompt");
    assert_eq!(outcome, Err(Error::ProcessUnknown));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_message_tag_fails_the_call_with_a_clear_error() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b.spawn::<Bank>(None).unwrap();
    // `a` believes the actor is a BankV2 and sends a message the old bank cannot read.
    let newer = a.actor_ref::<BankV2>(bank.pid()).unwrap();
    let outcome = tokio::time::timeout(PROMPT, newer.call(Audit))
        .await
        .expect("prompt");
    assert_eq!(outcome, Err(Error::UnknownMessage("test.bank.audit.v2".into())));
    // A message type the sender never registered fails locally.
    struct LocalOnly;
    impl Message for LocalOnly {
        type Reply = ();
    }
    impl Handler<LocalOnly> for Bank {
        type Return = ();
        async fn handle(&mut self, _: LocalOnly, _: &mut Context<Self>) {}
    }
    let there = remote_bank(&a, &bank);
    assert!(matches!(there.send(LocalOnly), Err(Error::UnknownMessage(_))));
    // The link and the bank are fine.
    assert_eq!(there.call(Deposit(1)).await, Ok(1));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_call_to_full_mailbox_fails_with_mailbox_full() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b
        .spawn_with::<Bank>(None, SpawnOptions::default().mailbox_capacity(2))
        .unwrap();
    let there = remote_bank(&a, &bank);
    there.send(Nap(300)).unwrap();
    // Wait until the nap is being handled (it counts), then fill the other slot.
    tokio::time::sleep(Duration::from_millis(100)).await;
    there.send(Deposit(1)).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let full = tokio::time::timeout(PROMPT, there.call(Deposit(2)))
        .await
        .expect("prompt");
    assert_eq!(full, Err(Error::MailboxFull));
    // Once the nap is over, the queued deposit is handled and there is room again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(there.call(Balance).await, Ok(1));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_100k_remote_sends_arrives_complete_and_in_order() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b
        .spawn_with::<Bank>(None, SpawnOptions::default().mailbox_capacity(1_000_000))
        .unwrap();
    let there = remote_bank(&a, &bank);
    for i in 1..=100_000u64 {
        there.send_wait(Deposit(i)).await.unwrap();
    }
    let log = tokio::time::timeout(Duration::from_secs(30), there.call(Log))
        .await
        .expect("in time");
    assert_eq!(log, Ok((100_000, true)));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_sends_on_a_full_link_fail_with_mailbox_full_and_send_wait_waits_for_room() {
    let a = node_with(
        "a",
        config()
            .link_buffer(16 * 1024)
            .heartbeat_timeout(Duration::from_secs(60)),
    )
    .await;
    let (stalled, release, task) = ackor::testing::stalled_peer("stalled", COOKIE).await.unwrap();
    let pid = ackor::Pid::new(ackor::NodeName::new(&stalled), 1, 1);
    let there = a.actor_ref::<Bank>(&pid).unwrap();
    // Links up first: the queue of a peer still connecting is bounded the same way.
    there.send(Deposit(0)).unwrap();
    tokio::time::timeout(PROMPT, async {
        while !there.is_alive() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("links up");
    // The peer reads nothing: the sockets' buffers fill, then the link's own buffer,
    // and then sends are refused instead of queued without bound.
    let mut sent = 0u64;
    let mut refused = 0;
    // Refused three times in a row with pauses between: the link's writer is stuck, not
    // just behind.
    while refused < 3 {
        match there.send(Deposit(1)) {
            Ok(()) => {
                sent += 1;
                refused = 0;
            }
            Err(Error::MailboxFull) => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            Err(other) => panic!("after {sent} sends: {other:?}"),
        }
        if sent.is_multiple_of(256) {
            tokio::task::yield_now().await;
        }
        assert!(sent < 10_000_000, "{sent} sends queued on a link nobody reads");
    }
    // send_wait waits for room instead, and goes once the peer reads again.
    let waiting = tokio::spawn({
        let there = there.clone();
        async move { there.send_wait(Deposit(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "send_wait returned while the link was full"
    );
    release.send(true).unwrap();
    let outcome = tokio::time::timeout(PROMPT, waiting).await.expect("room in time");
    assert_eq!(outcome.unwrap(), Ok(()));
    task.abort();
    a.shutdown().await;
}

// ------------------------------------------------------------------ monitors and links

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_monitor_sees_the_reason_and_connection_loss() {
    // One link per peer: the test's own calls then travel behind the monitor request,
    // so a reply proves the monitor is in place (order holds per sender→recipient
    // pair only).
    let one = || config().links_per_peer(1);
    let (a, b) = (node_with("a", one()).await, node_with("b", one()).await);
    let (tx, mut events) = mpsc::unbounded_channel();
    let watcher = a.spawn::<Bank>(Some(tx)).unwrap();
    let victim = b.spawn::<Bank>(None).unwrap();
    watcher.call(watch(victim.pid())).await.unwrap();
    // Make sure the monitor is in place on b before the crash.
    remote_bank(&a, &victim).call(Balance).await.unwrap();
    victim.send(Crash).unwrap();
    assert_eq!(
        recv(&mut events).await,
        format!("down {} panic: bank crashed", victim.pid())
    );
    // Monitoring a process that does not exist there: NoProcess.
    watcher.call(watch(victim.pid())).await.unwrap();
    assert_eq!(recv(&mut events).await, format!("down {} noproc", victim.pid()));
    // The node goes away: NoConnection.
    let other = b.spawn::<Bank>(None).unwrap();
    watcher.call(watch(other.pid())).await.unwrap();
    remote_bank(&a, &other).call(Balance).await.unwrap();
    b.shutdown().await;
    let seen = recv(&mut events).await;
    assert!(
        seen == format!("down {} noconnection", other.pid())
            || seen == format!("down {} shutdown", other.pid()),
        "{seen}"
    );
    // wait_for_stop on a remote actor.
    let c = node("c").await;
    let far = c.spawn::<Bank>(None).unwrap();
    let waiting = a.actor_ref::<Bank>(far.pid()).unwrap().wait_for_stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    far.stop_with(ExitReason::Error("closed".into())).unwrap();
    assert_eq!(
        tokio::time::timeout(PROMPT, waiting).await.expect("prompt"),
        ExitReason::Error("closed".into())
    );
    a.shutdown().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_link_propagates_exits_both_ways() {
    let one = || config().links_per_peer(1);
    let (a, b) = (node_with("a", one()).await, node_with("b", one()).await);
    let (tx, mut events) = mpsc::unbounded_channel();
    // A trapping actor on a linked to one on b that crashes.
    let trapper = a.spawn::<Bank>(Some(tx)).unwrap();
    let crasher = b.spawn::<Bank>(None).unwrap();
    trapper.call(link(crasher.pid(), true)).await.unwrap();
    remote_bank(&a, &crasher).call(Balance).await.unwrap();
    crasher.send(Crash).unwrap();
    assert_eq!(
        recv(&mut events).await,
        format!("exit {} panic: bank crashed", crasher.pid())
    );
    // A non-trapping actor on b linked to one on a: it follows a's crash.
    let follower = b.spawn::<Bank>(None).unwrap();
    let leader = a.spawn::<Bank>(None).unwrap();
    follower.call(link(leader.pid(), false)).await.unwrap();
    remote_bank(&b, &leader).call(Balance).await.unwrap();
    leader.send(Crash).unwrap();
    assert_eq!(
        tokio::time::timeout(PROMPT, follower.wait_for_stop())
            .await
            .expect("prompt"),
        ExitReason::Panic("bank crashed".into())
    );
    a.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ connection loss

/// Runs a node with a bank on a runtime of its own, on its own thread, until told to
/// vanish: then the runtime is dropped, every task and socket with it, as if the
/// process had died.
fn vanishing_node() -> (
    ackor::Pid,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    common::mortal_node("b", config(), |b| b.spawn::<Bank>(None).unwrap().pid().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_call_fails_at_once_when_the_peer_vanishes_mid_call() {
    let a = node("a").await;
    let (pid, die, thread) = vanishing_node();
    let there = a.actor_ref::<Bank>(&pid).unwrap();
    assert_eq!(there.call(Balance).await, Ok(0));
    let napping = tokio::spawn({
        let there = there.clone();
        async move { there.call(Nap(20_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    die.send(()).unwrap();
    let outcome = tokio::time::timeout(PROMPT, napping)
        .await
        .expect("prompt")
        .unwrap();
    // The call had left: whether it was handled is unknown, and said so.
    assert_eq!(outcome, Err(Error::ConnectionLost));
    thread.join().unwrap();
    // While the peer is down, calls fail fast, and were surely not delivered.
    let later = tokio::time::timeout(PROMPT, there.call(Balance))
        .await
        .expect("prompt");
    assert_eq!(later, Err(Error::NoConnection));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_caller_sees_process_terminated_when_the_callee_is_killed_mid_call() {
    let (a, b) = (node("a").await, node("b").await);
    let bank = b.spawn::<Bank>(None).unwrap();
    let there = remote_bank(&a, &bank);
    let napping = tokio::spawn({
        let there = there.clone();
        async move { there.call(Nap(20_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    bank.kill();
    let outcome = tokio::time::timeout(PROMPT, napping)
        .await
        .expect("prompt")
        .unwrap();
    assert_eq!(outcome, Err(Error::ProcessTerminated));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_to_unreachable_node_fails_with_no_connection() {
    let a = node("a").await;
    // A port nobody listens on: bind one, note it, close it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = ackor::Pid::new(ackor::NodeName::new(format!("ghost@127.0.0.1:{port}")), 1, 1);
    let ghost = a.actor_ref::<Bank>(&nowhere).unwrap();
    let outcome = tokio::time::timeout(PROMPT, ghost.call(Balance))
        .await
        .expect("prompt");
    assert_eq!(outcome, Err(Error::NoConnection));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_cookie_is_refused_and_the_node_keeps_serving_others() {
    let b = node("b").await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let intruder = node_with("x", RemoteConfig::new("wrong-cookie")).await;
    let refused = intruder.actor_ref::<Bank>(bank.pid()).unwrap();
    let outcome = tokio::time::timeout(PROMPT, refused.call(Balance))
        .await
        .expect("prompt");
    assert_eq!(outcome, Err(Error::NoConnection));
    let friend = node("a").await;
    assert_eq!(remote_bank(&friend, &bank).call(Deposit(2)).await, Ok(2));
    intruder.shutdown().await;
    friend.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ bad input

/// After each bad input, a well-behaved node still talks to `b`.
async fn still_serving(bank: &ActorRef<Bank>) {
    let a = node("a").await;
    let before = bank.call(Balance).await.unwrap();
    assert_eq!(remote_bank(&a, bank).call(Deposit(1)).await, Ok(before + 1));
    a.shutdown().await;
}

/// Reads until the node closes the connection (or a bound passes).
async fn closed_by_node(stream: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

fn addr(node: &Node) -> String {
    node.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_handshake_is_refused() {
    let b = node("b").await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let mut s = tokio::net::TcpStream::connect(addr(&b)).await.unwrap();
    s.write_all(b"\xff\xff\xff\xffGARBAGE GARBAGE GARBAGE")
        .await
        .unwrap();
    assert!(closed_by_node(&mut s).await);
    still_serving(&bank).await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshake_times_out() {
    let b = node_with("b", config().handshake_timeout(Duration::from_millis(200))).await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let mut s = tokio::net::TcpStream::connect(addr(&b)).await.unwrap();
    // Half a hello, then silence.
    s.write_all(&[0, 0, 0, 40, 8, 1]).await.unwrap();
    assert!(closed_by_node(&mut s).await);
    still_serving(&bank).await;
    b.shutdown().await;
}

async fn handshaken(b: &Node) -> tokio::net::TcpStream {
    let n = common::unique();
    ackor::testing::handshaken_stream(
        &addr(b),
        &format!("raw{n}@127.0.0.1:1"),
        COOKIE,
        b.name().as_str(),
    )
    .await
    .expect("handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_closes_only_that_link() {
    let b = node_with("b", config().max_frame_size(1024)).await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let mut s = handshaken(&b).await;
    s.write_all(&ackor::testing::heartbeat_frame()).await.unwrap();
    s.write_all(&(1_000_000u32).to_be_bytes()).await.unwrap();
    s.write_all(&[0u8; 2048]).await.unwrap();
    assert!(closed_by_node(&mut s).await);
    still_serving(&bank).await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_closes_only_that_link() {
    let b = node("b").await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let mut s = handshaken(&b).await;
    s.write_all(&[0, 0, 0, 100, 1, 2, 3]).await.unwrap();
    s.shutdown().await.unwrap();
    assert!(closed_by_node(&mut s).await);
    still_serving(&bank).await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_envelope_closes_only_that_link() {
    let b = node("b").await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let mut s = handshaken(&b).await;
    // A well-framed body that is not a protobuf Frame (an invalid wire type).
    s.write_all(&[0, 0, 0, 4, 0x0f, 0xff, 0xff, 0xff]).await.unwrap();
    assert!(closed_by_node(&mut s).await);
    still_serving(&bank).await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ TLS

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM: (cert, key, ca).
fn pki() -> (Vec<u8>, Vec<u8>, Vec<u8>, (rcgen::Certificate, rcgen::KeyPair)) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let (cert, key) = leaf(&ca, &ca_key);
    (cert, key, ca.pem().into_bytes(), (ca, ca_key))
}

fn leaf(ca: &rcgen::Certificate, ca_key: &rcgen::KeyPair) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_calls_work_over_mutual_tls() {
    let (cert, key, ca, (ca_cert, ca_key)) = pki();
    let tls = ackor::TlsConfig::from_pem(&cert, &key, &ca, true).unwrap();
    let (cert_b, key_b) = leaf(&ca_cert, &ca_key);
    let tls_b = ackor::TlsConfig::from_pem(&cert_b, &key_b, &ca, true).unwrap();
    let a = node_with("a", config().tls(tls)).await;
    let b = node_with("b", config().tls(tls_b)).await;
    let bank = b
        .spawn_with::<Bank>(None, SpawnOptions::default().name("bank"))
        .unwrap();
    let there = a
        .resolve::<Bank>(&ProcessId::new("bank", b.name().clone()))
        .await
        .unwrap();
    assert_eq!(there.call(Deposit(7)).await, Ok(7));
    assert_eq!(bank.call(Balance).await, Ok(7));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_node_refuses_plain_peers_and_strangers() {
    let (cert, key, ca, _) = pki();
    let b = node_with(
        "b",
        config().tls(ackor::TlsConfig::from_pem(&cert, &key, &ca, true).unwrap()),
    )
    .await;
    let bank = b.spawn::<Bank>(None).unwrap();
    // A plain-TCP node.
    let plain = node("p").await;
    let outcome = tokio::time::timeout(PROMPT, plain.actor_ref::<Bank>(bank.pid()).unwrap().call(Balance))
        .await
        .expect("prompt");
    assert_eq!(outcome, Err(Error::NoConnection));
    // A TLS node whose certificate comes from another CA.
    let (cert2, key2, ca2, _) = pki();
    let stranger = node_with(
        "s",
        config().tls(ackor::TlsConfig::from_pem(&cert2, &key2, &ca2, true).unwrap()),
    )
    .await;
    let outcome = tokio::time::timeout(
        PROMPT,
        stranger.actor_ref::<Bank>(bank.pid()).unwrap().call(Balance),
    )
    .await
    .expect("prompt");
    assert_eq!(outcome, Err(Error::NoConnection));
    // A trusted node (here with the same certificate) still gets in.
    let friend = node_with(
        "f",
        config().tls(ackor::TlsConfig::from_pem(&cert, &key, &ca, true).unwrap()),
    )
    .await;
    assert_eq!(
        friend.actor_ref::<Bank>(bank.pid()).unwrap().call(Balance).await,
        Ok(0)
    );
    plain.shutdown().await;
    stranger.shutdown().await;
    friend.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_dropped_after_the_heartbeat_timeout() {
    let b = node("b").await;
    let bank = b.spawn::<Bank>(None).unwrap();
    let mut s = handshaken(&b).await;
    // Handshake done, then nothing: no heartbeats. The node closes the link itself.
    let started = tokio::time::Instant::now();
    assert!(closed_by_node(&mut s).await);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed for silence, not at once"
    );
    still_serving(&bank).await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_peer_is_a_new_incarnation() {
    let a = node("a").await;
    let b = node("b").await;
    let name = b.name().clone();
    let old = b
        .spawn_with::<Bank>(None, SpawnOptions::default().name("bank"))
        .unwrap();
    let there = remote_bank(&a, &old);
    assert_eq!(there.call(Deposit(1)).await, Ok(1));
    b.shutdown().await;
    // The same name and port, a new creation.
    let b2 = Node::builder()
        .name(name.as_str())
        .remote(config())
        .start()
        .await
        .expect("restart on the same address");
    assert_ne!(b2.creation(), old.pid().creation());
    b2.spawn_with::<Bank>(None, SpawnOptions::default().name("bank"))
        .unwrap();
    // After the reconnect backoff, the new incarnation answers; the old pid is unknown.
    let id = ProcessId::new("bank", name.clone());
    let mut fresh = a.resolve::<Bank>(&id).await;
    for _ in 0..50 {
        if fresh.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        fresh = a.resolve::<Bank>(&id).await;
    }
    let fresh = fresh.expect("the new bank");
    assert_eq!(fresh.call(Balance).await, Ok(0));
    assert_eq!(there.call(Balance).await, Err(Error::ProcessUnknown));
    a.shutdown().await;
    b2.shutdown().await;
}

// ------------------------------------------------------------------ codecs

/// MessagePack with the bytes reversed: a codec of its own, for the tests.
struct Reversed;
impl ackor::Codec for Reversed {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
        let mut bytes = rmp_serde::to_vec(value).map_err(|e| Error::Codec(e.to_string()))?;
        bytes.reverse();
        Ok(bytes)
    }
    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
        let mut bytes = bytes.to_vec();
        bytes.reverse();
        rmp_serde::from_slice(&bytes).map_err(|e| Error::Codec(e.to_string()))
    }
}

/// A till that takes deposits in the `Reversed` codec.
struct Till(u64);
impl Actor for Till {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Till(0))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add_with::<Deposit, Reversed>();
    }
}
impl Handler<Deposit> for Till {
    type Return = u64;
    async fn handle(&mut self, msg: Deposit, _: &mut Context<Self>) -> u64 {
        self.0 += msg.0;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_travel_in_the_codec_they_were_registered_with() {
    let (a, b) = (node("a").await, node("b").await);
    let till = b.spawn::<Till>(()).unwrap();
    let there = a.actor_ref::<Till>(till.pid()).unwrap();
    assert_eq!(there.call(Deposit(4)).await, Ok(4));
    // A sender that believes the till speaks MessagePack: the till cannot read it, and
    // the caller is told so.
    let mismatched = a.actor_ref::<Bank>(till.pid()).unwrap();
    let outcome = tokio::time::timeout(PROMPT, mismatched.call(Deposit(1000)))
        .await
        .expect("prompt");
    assert!(matches!(outcome, Err(Error::Codec(_))), "{outcome:?}");
    assert_eq!(there.call(Deposit(1)).await, Ok(5));
    a.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ remote spawn

/// An actor other nodes may spawn: it counts from its argument.
struct Tally(u64);
impl Actor for Tally {
    type Args = u64;
    async fn init(start: u64, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Tally(start))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Count>();
    }
}
impl RemoteActor for Tally {
    const KIND: &'static str = "test.remote.tally";
}
#[derive(Serialize, Deserialize)]
struct Count;
impl Message for Count {
    type Reply = u64;
}
impl RemoteMessage for Count {
    const TAG: &'static str = "test.remote.count";
}
impl Handler<Count> for Tally {
    type Return = u64;
    async fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

#[tokio::test]
async fn spawn_remote_starts_an_allowed_kind_with_its_options_and_refuses_the_rest() {
    let a = node("sa").await;
    let b = node("sb").await;
    // Not allowed yet: refused with a precise error.
    let refused = a
        .spawn_remote::<Tally>(b.name(), 1, SpawnOptions::default())
        .await;
    assert_eq!(refused.err(), Some(Error::UnknownActorKind(Tally::KIND.into())));
    b.allow_remote_spawn::<Tally>();
    let opts = SpawnOptions::default().name("tally").mailbox_capacity(3);
    let tally = a.spawn_remote::<Tally>(b.name(), 41, opts.clone()).await.unwrap();
    assert!(tally.is_remote());
    assert_eq!(tally.call(Count).await, Ok(42));
    assert_eq!(b.whereis("tally"), Some(tally.pid().clone()));
    let there = b
        .lookup::<Tally>(&ProcessId::new("tally", b.name().clone()))
        .unwrap();
    assert_eq!(there.mailbox_capacity(), Some(3));
    // The name is taken now.
    let again = a.spawn_remote::<Tally>(b.name(), 0, opts).await;
    assert_eq!(again.err(), Some(Error::NameTaken("tally".into())));
    // Arguments that do not decode as the kind's `Args`.
    let bad = ackor::testing::spawn_remote_with_mode_code(&a, b.name(), Tally::KIND, vec![0xc1], 0).await;
    assert!(matches!(bad, Err(Error::Codec(_))), "{bad:?}");
    // Spawning "remotely" on this node is a local spawn.
    let here = a
        .spawn_remote::<Tally>(a.name(), 0, SpawnOptions::default())
        .await
        .unwrap();
    assert!(!here.is_remote());
    // A node that cannot be reached.
    let nowhere = ackor::NodeName::new("gone@127.0.0.1:1");
    let lost = a
        .spawn_remote::<Tally>(&nowhere, 0, SpawnOptions::default())
        .await;
    assert_eq!(lost.err(), Some(Error::NoConnection));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_sender_does_not_stall_other_senders_on_the_link() {
    spinning_sender_leaves_the_link_to_others(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_sender_before_the_link_is_up_does_not_stall_the_dial() {
    spinning_sender_leaves_the_link_to_others(false).await;
}

/// A task that retries a refused remote send without awaiting must not take the link
/// down for everybody (its writer, or the task dialing the peer, must still run); with
/// `link_up`, the link is up before it starts spinning, else its first send dials.
async fn spinning_sender_leaves_the_link_to_others(link_up: bool) {
    // One link, a small link buffer: the spinning sender fills it at once and then
    // only ever gets MailboxFull back.
    let small = || config().links_per_peer(1).link_buffer(64 * 1024);
    let (a, b) = (node_with("a", small()).await, node_with("b", small()).await);
    let bank = b
        .spawn_with::<Bank>(None, SpawnOptions::default().mailbox_capacity(10_000_000))
        .unwrap();
    let there = remote_bank(&a, &bank);
    if link_up {
        assert_eq!(there.call(Balance).await, Ok(0));
    }
    // A careless task on a worker of the runtime: it retries a refused send in a loop
    // without ever awaiting, for a while.
    let spin = Duration::from_millis(2500);
    let spinner = tokio::spawn({
        let there = there.clone();
        async move {
            let end = std::time::Instant::now() + spin;
            let mut sent = 0u64;
            while std::time::Instant::now() < end {
                match there.send(Deposit(1)) {
                    Ok(()) => sent += 1,
                    Err(Error::MailboxFull) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(sent)
        }
    });
    // Meanwhile everybody else's calls and important sends on the same link go through,
    // promptly, and the link stays up past its heartbeat timeout (1 s).
    let started = std::time::Instant::now();
    while started.elapsed() < spin {
        let balance = tokio::time::timeout(Duration::from_millis(500), there.call(Balance))
            .await
            .expect("a call answered while another task spins");
        assert!(balance.is_ok(), "call failed: {balance:?}");
        let sent = tokio::time::timeout(Duration::from_millis(500), there.send_important(Deposit(0)))
            .await
            .expect("an important send acknowledged while another task spins");
        assert_eq!(sent, Ok(()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = spinner.await.unwrap().unwrap();
    assert!(sent > 1000, "the spinning sender itself made progress: {sent}");
    a.shutdown().await;
    b.shutdown().await;
}
