//! Chapter on important delivery: each error appears for its real cause.

use std::time::Duration;

use ackor::{
    Actor, BoxError, Context, Error, ExitReason, Handler, Message, Node, NodeName, Pid, RemoteConfig,
    RemoteMessage, RemoteMessages, Reply, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Outcome, check, say};

const COOKIE: &str = "important-demo";

/// A ledger that can be slow, and that answers `Settle` importantly.
struct Ledger {
    outcome: Option<oneshot::Sender<Result<(), Error>>>,
}

impl Actor for Ledger {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Ledger { outcome: None })
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, reason: &ExitReason) {
        if *reason == ExitReason::Error("closing slowly".into()) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Entry>().add::<Settle>();
    }
}

/// Records an entry after the given milliseconds of work.
#[derive(Serialize, Deserialize)]
struct Entry(u64);
impl Message for Entry {
    type Reply = ();
}
impl RemoteMessage for Entry {
    const TAG: &'static str = "demo.ledger.entry.v1";
}
impl Handler<Entry> for Ledger {
    type Return = ();
    async fn handle(&mut self, msg: Entry, _ctx: &mut Context<Self>) {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
    }
}

/// Settles after the given milliseconds, answering importantly.
#[derive(Serialize, Deserialize)]
struct Settle(u64);
impl Message for Settle {
    type Reply = String;
}
impl RemoteMessage for Settle {
    const TAG: &'static str = "demo.ledger.settle.v1";
}
impl Handler<Settle> for Ledger {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: Settle, ctx: &mut Context<Self>) -> Reply<String> {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
        if let Some(reply) = ctx.defer_reply::<String>() {
            let outcome = reply.reply_important("settled".into()).await;
            if let Some(tx) = self.outcome.take() {
                let _ = tx.send(outcome);
            }
        }
        Reply::Deferred
    }
}

struct Report(oneshot::Sender<Result<(), Error>>);
impl Message for Report {
    type Reply = ();
}
impl Handler<Report> for Ledger {
    type Return = ();
    async fn handle(&mut self, msg: Report, _ctx: &mut Context<Self>) {
        self.outcome = Some(msg.0);
    }
}

async fn start(name: &str, remote: RemoteConfig) -> Result<Node, String> {
    Node::builder()
        .name(format!("{name}@127.0.0.1:0"))
        .remote(remote)
        .start()
        .await
        .map_err(|e| e.to_string())
}

fn err(e: Error) -> String {
    e.to_string()
}

pub async fn every_error_for_its_cause() -> Outcome {
    let remote = RemoteConfig::new(COOKIE).important_timeout(Duration::from_millis(300));
    let a = start("a", remote.clone()).await?;
    let b = start("b", remote).await?;
    say("send_important tells the sender for certain whether a message reached the mailbox.");

    let ledger = b.spawn::<Ledger>(()).map_err(err)?;
    let there = a.actor_ref::<Ledger>(ledger.pid()).map_err(err)?;
    let ok = there.send_important(Entry(0)).await;
    say(format!(
        "A live ledger on b: {ok:?} — the entry is in its mailbox."
    ));
    check(ok == Ok(()), "Ok")?;

    let gone_pid = {
        let gone = b.spawn::<Ledger>(()).map_err(err)?;
        gone.stop().map_err(err)?;
        gone.wait_for_stop().await;
        gone.pid().clone()
    };
    let unknown = a
        .actor_ref::<Ledger>(&gone_pid)
        .map_err(err)?
        .send_important(Entry(0))
        .await;
    say(format!("A ledger that stopped: {unknown:?}, at once."));
    check(unknown == Err(Error::ProcessUnknown), "ProcessUnknown")?;

    let small = b
        .spawn_with::<Ledger>((), SpawnOptions::default().mailbox_capacity(2))
        .map_err(err)?;
    let small_there = a.actor_ref::<Ledger>(small.pid()).map_err(err)?;
    small_there.send_important(Entry(400)).await.map_err(err)?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    small_there.send_important(Entry(0)).await.map_err(err)?;
    let full = small_there.send_important(Entry(0)).await;
    say(format!(
        "A busy ledger with room for two messages, one being handled and one queued: {full:?}."
    ));
    check(full == Err(Error::MailboxFull), "MailboxFull")?;

    let closing = b.spawn::<Ledger>(()).map_err(err)?;
    closing
        .stop_with(ExitReason::Error("closing slowly".into()))
        .map_err(err)?;
    while closing.is_alive() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let terminated = a
        .actor_ref::<Ledger>(closing.pid())
        .map_err(err)?
        .send_important(Entry(0))
        .await;
    say(format!("A ledger in the middle of stopping: {terminated:?}."));
    check(terminated == Err(Error::ProcessTerminated), "ProcessTerminated")?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let nowhere = Pid::new(NodeName::new(format!("nowhere@127.0.0.1:{port}")), 1, 1);
    let no_conn = a
        .actor_ref::<Ledger>(&nowhere)
        .map_err(err)?
        .send_important(Entry(0))
        .await;
    say(format!(
        "A node nobody runs: {no_conn:?} — definitely not delivered."
    ));
    check(no_conn == Err(Error::NoConnection), "NoConnection")?;

    let (mute, task) = ackor::testing::mute_peer("mute", COOKIE).await.map_err(err)?;
    let silent = Pid::new(NodeName::new(&mute), 1, 1);
    let timeout = a
        .actor_ref::<Ledger>(&silent)
        .map_err(err)?
        .send_important(Entry(0))
        .await;
    say(format!(
        "A peer that takes the message but never acknowledges: {timeout:?} after 300 ms."
    ));
    check(timeout == Err(Error::Timeout), "Timeout")?;
    task.abort();

    let (tx, outcome) = oneshot::channel();
    ledger.call(Report(tx)).await.map_err(err)?;
    let late = there.call(Settle(300)).timeout(Duration::from_millis(50)).await;
    let heard = tokio::time::timeout(Duration::from_secs(5), outcome)
        .await
        .map_err(|_| "no outcome".to_string())?
        .map_err(|e| e.to_string())?;
    say(format!(
        "RR-2PC: the caller gave up ({late:?}); the ledger's important answer hears {heard:?}."
    ));
    check(heard == Err(Error::ResponseIgnored), "ResponseIgnored")?;

    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
