//! Chapters on one node: spawn, send, call, bounded mailboxes, deferred replies,
//! monitors, names.

use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Down, Error, ExitReason, Handler, Message, Node, Reply, ReplyHandle,
    SpawnOptions,
};
use tokio::sync::{mpsc, oneshot};

use super::{Outcome, check, say};

async fn start(name: &str) -> Result<Node, String> {
    Node::builder()
        .name(format!("{name}@localhost"))
        .start()
        .await
        .map_err(|e| e.to_string())
}

fn err(e: Error) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- a counter

/// The quick-start counter.
struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Args = u64;
    async fn init(start: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter { count: start })
    }
}

struct Increment(u64);
impl Message for Increment {
    type Reply = u64;
}
impl Handler<Increment> for Counter {
    type Return = u64;
    async fn handle(&mut self, msg: Increment, _ctx: &mut Context<Self>) -> u64 {
        self.count += msg.0;
        self.count
    }
}

/// Keeps the counter busy until the gate opens.
struct Hold(oneshot::Receiver<()>);
impl Message for Hold {
    type Reply = ();
}
impl Handler<Hold> for Counter {
    type Return = ();
    async fn handle(&mut self, msg: Hold, _ctx: &mut Context<Self>) {
        let _ = msg.0.await;
    }
}

pub async fn spawn_send_call() -> Outcome {
    let node = start("tour").await?;
    say(format!(
        "Started node {} (creation {}).",
        node.name(),
        node.creation()
    ));
    let counter = node.spawn::<Counter>(10).map_err(err)?;
    say(format!("Spawned a counter starting at 10: {}", counter.pid()));
    counter.send(Increment(5)).map_err(err)?;
    say("send(Increment(5)) returned at once: the message is in the mailbox.");
    let now = counter.call(Increment(1)).await.map_err(err)?;
    say(format!(
        "call(Increment(1)) answered {now}: messages from one sender are handled in order."
    ));
    check(now == 16, "the counter to be at 16")?;
    counter.stop().map_err(err)?;
    let reason = counter.wait_for_stop().await;
    say(format!("stop() → the counter stopped with reason {reason}."));
    let after = counter.send(Increment(1));
    say(format!("Sending to it now fails at once: {:?}.", after));
    check(
        after == Err(Error::ProcessTerminated),
        "ProcessTerminated after stop",
    )?;
    node.shutdown().await;
    Ok(())
}

pub async fn mailbox_full() -> Outcome {
    let node = start("tour").await?;
    let counter = node
        .spawn_with::<Counter>(0, SpawnOptions::default().mailbox_capacity(4))
        .map_err(err)?;
    say(
        "A counter with room for 4 user messages (the one it is handling counts), kept busy by a long handler.",
    );
    let (open, gate) = oneshot::channel();
    counter.send(Hold(gate)).map_err(err)?;
    while counter.mailbox_len() > Some(0) {
        tokio::task::yield_now().await;
    }
    for i in 1..=3 {
        counter.send(Increment(1)).map_err(err)?;
        let queued = counter.mailbox_len().unwrap_or(0); // a local actor: always Some
        say(format!(
            "send #{i}: queued ({queued} behind the one being handled: {} of 4).",
            queued + 1
        ));
    }
    let full = counter.send(Increment(1));
    say(format!(
        "send #4: {:?}: the sender knows now, not after a timeout.",
        full
    ));
    check(full == Err(Error::MailboxFull), "MailboxFull on the fourth send")?;
    let _ = open.send(());
    let waited = counter.send_wait(Increment(1)).await;
    say(format!("send_wait waits for room instead: {:?}.", waited));
    // The mailbox may still be full for a moment (what the counter took counts until
    // it has handled it): a call is refused then, so ask again.
    let total = loop {
        match counter.call(Increment(0)).await {
            Err(Error::MailboxFull) => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
            other => break other.map_err(err)?,
        }
    };
    say(format!(
        "The counter handled all four queued increments: {total}."
    ));
    check(total == 4, "four increments")?;
    node.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- deferred replies

/// Holds calls until a result is published.
struct Oracle {
    waiting: Vec<ReplyHandle<String>>,
}

impl Actor for Oracle {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Oracle { waiting: Vec::new() })
    }
}

struct Ask;
impl Message for Ask {
    type Reply = String;
}
impl Handler<Ask> for Oracle {
    type Return = Reply<String>;
    async fn handle(&mut self, _: Ask, ctx: &mut Context<Self>) -> Reply<String> {
        if let Some(handle) = ctx.defer_reply() {
            self.waiting.push(handle);
        }
        Reply::Deferred
    }
}

struct Publish(String);
impl Message for Publish {
    type Reply = usize;
}
impl Handler<Publish> for Oracle {
    type Return = usize;
    async fn handle(&mut self, msg: Publish, _ctx: &mut Context<Self>) -> usize {
        let n = self.waiting.len();
        for handle in self.waiting.drain(..) {
            handle.reply(msg.0.clone());
        }
        n
    }
}

pub async fn deferred_reply() -> Outcome {
    let node = start("tour").await?;
    let oracle = node.spawn::<Oracle>(()).map_err(err)?;
    say("An oracle keeps the reply handles of calls and answers them when it knows.");
    let mut askers = Vec::new();
    for i in 0..3 {
        let oracle = oracle.clone();
        askers.push(tokio::spawn(async move { (i, oracle.call(Ask).await) }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    say("Three callers are waiting; the oracle is free to handle other messages.");
    let answered = oracle.call(Publish("42".into())).await.map_err(err)?;
    say(format!("Publish(\"42\") answered {answered} waiting calls:"));
    for asker in askers {
        let (i, answer) = asker.await.map_err(|e| e.to_string())?;
        say(format!("  caller {i} got {:?}", answer));
        check(answer == Ok("42".to_string()), "each caller to get 42")?;
    }
    oracle.stop().map_err(err)?;
    node.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- monitors

/// Watches other actors and reports what it sees.
struct Watcher {
    seen: mpsc::UnboundedSender<Down>,
}

impl Actor for Watcher {
    type Args = mpsc::UnboundedSender<Down>;
    async fn init(seen: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Watcher { seen })
    }
    async fn on_down(&mut self, _ctx: &mut Context<Self>, down: Down) {
        let _ = self.seen.send(down);
    }
}

struct Watch(ackor::Pid);
impl Message for Watch {
    type Reply = ();
}
impl Handler<Watch> for Watcher {
    type Return = ();
    async fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        ctx.monitor(&msg.0);
    }
}

/// Divides; panics on zero.
struct Divide(u64);
impl Message for Divide {
    type Reply = u64;
}
impl Handler<Divide> for Counter {
    type Return = u64;
    async fn handle(&mut self, msg: Divide, _ctx: &mut Context<Self>) -> u64 {
        self.count / msg.0
    }
}

pub async fn monitor_sees_crash() -> Outcome {
    let node = start("tour").await?;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let watcher = node.spawn::<Watcher>(tx).map_err(err)?;
    let fragile = node.spawn::<Counter>(100).map_err(err)?;
    let sturdy = node.spawn::<Counter>(7).map_err(err)?;
    watcher.call(Watch(fragile.pid().clone())).await.map_err(err)?;
    say(format!("The watcher monitors {}.", fragile.pid()));
    say("Calling Divide(0) on it: its handler panics (the panic message below is expected).");
    let outcome = fragile.call(Divide(0)).await;
    say(format!("The caller is told at once: {:?}.", outcome));
    check(
        outcome == Err(Error::ProcessTerminated),
        "ProcessTerminated for the crashed callee",
    )?;
    let down = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .map_err(|_| "no Down within 5 s".to_string())?
        .ok_or("the watcher is gone")?;
    say(format!(
        "The watcher got Down {{ pid: {}, reason: {} }}.",
        down.pid, down.reason
    ));
    check(
        matches!(down.reason, ExitReason::Panic(_)),
        "a Panic reason in the Down notification",
    )?;
    let other = sturdy.call(Increment(1)).await.map_err(err)?;
    say(format!("Another actor on the node still answers: {other}."));
    check(other == 8, "the other actor to keep working")?;
    node.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- names

pub async fn names() -> Outcome {
    let node = start("tour").await?;
    let bank = node
        .spawn_with::<Counter>(0, SpawnOptions::default().name("bank"))
        .map_err(err)?;
    say(format!("Spawned {} as \"bank\".", bank.pid()));
    let twin = node.spawn_with::<Counter>(0, SpawnOptions::default().name("bank"));
    say(format!(
        "A second \"bank\": {:?}.",
        twin.as_ref().map(|a| a.pid().clone())
    ));
    check(twin.err() == Some(Error::NameTaken("bank".into())), "NameTaken")?;
    let id = ackor::ProcessId::new("bank", node.name().clone());
    let found = node.lookup::<Counter>(&id).map_err(err)?;
    say(format!("lookup({id}) → {}.", found.pid()));
    bank.stop().map_err(err)?;
    bank.wait_for_stop().await;
    say(format!(
        "After it stops, the name is free: whereis = {:?}.",
        node.whereis("bank")
    ));
    check(node.whereis("bank").is_none(), "the name to be freed")?;
    node.shutdown().await;
    Ok(())
}
