//! Chapter on several nodes: three nodes on loopback in this process talk over real
//! TCP, with the cookie handshake.

use std::time::Duration;

use ackor::{Actor, BoxError, Context, Down, Error, Handler, Message, Node, NodeName, Pid, ProcessId};
use ackor_cli::services::{self, Echo, Forward, Ping, Relay};
use tokio::sync::mpsc;

use super::{Outcome, check, say};

const COOKIE: &str = "demo-cookie";

/// A node `name@127.0.0.1:<free port>` with `cookie` and the CLI's services.
pub(super) async fn start(name: &str, cookie: &str) -> Result<Node, String> {
    let node = Node::builder()
        .name(format!("{name}@127.0.0.1:0"))
        .cookie(cookie)
        .call_timeout(Duration::from_secs(5))
        .start()
        .await
        .map_err(|e| e.to_string())?;
    services::start(&node).map_err(|e| e.to_string())?;
    Ok(node)
}

fn err(e: Error) -> String {
    e.to_string()
}

/// Watches remote processes and reports what it sees.
struct Watcher(mpsc::UnboundedSender<Down>);

impl Actor for Watcher {
    type Args = mpsc::UnboundedSender<Down>;
    async fn init(tx: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Watcher(tx))
    }
    async fn on_down(&mut self, _ctx: &mut Context<Self>, down: Down) {
        let _ = self.0.send(down);
    }
}

struct Watch(Pid);
impl Message for Watch {
    type Reply = ();
}
impl Handler<Watch> for Watcher {
    type Return = ();
    async fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        ctx.monitor(&msg.0);
    }
}

pub async fn three_nodes() -> Outcome {
    let a = start("a", COOKIE).await?;
    let b = start("b", COOKIE).await?;
    let c = start("c", COOKIE).await?;
    say(format!(
        "Three nodes listen on loopback: {}, {}, {}.",
        a.name(),
        b.name(),
        c.name()
    ));
    say("Each runs an `echo` and a `relay` actor, registered by name.");

    let echo_b = a
        .resolve::<Echo>(&ProcessId::new("echo", b.name().clone()))
        .await
        .map_err(err)?;
    say(format!(
        "a resolved {{echo, {}}} to {} in one round trip.",
        b.name(),
        echo_b.pid()
    ));
    let answer = echo_b.call(Ping("hello".into())).await.map_err(err)?;
    say(format!("a → b: call(Ping(\"hello\")) answered {answer:?}."));
    check(answer == format!("hello from {}", b.name()), "b's echo to answer")?;

    let relay_b = a
        .resolve::<Relay>(&ProcessId::new("relay", b.name().clone()))
        .await
        .map_err(err)?;
    let hops = relay_b
        .call(Forward {
            node: c.name().to_string(),
            text: "via b".into(),
        })
        .await
        .map_err(err)?;
    say(format!("a → b → c: b's relay called c's echo: {hops:?}."));
    check(
        hops == format!("via b from {}", c.name()),
        "c's echo to answer through b",
    )?;

    let ghost = a.actor_ref::<Echo>(&Pid::new(b.name().clone(), 999_999, b.creation()));
    let unknown = ghost.map_err(err)?.call(Ping("?".into())).await;
    say(format!(
        "A call to a pid that does not exist on b: {unknown:?}, at once."
    ));
    check(unknown == Err(Error::ProcessUnknown), "ProcessUnknown")?;

    let (tx, mut seen) = mpsc::unbounded_channel();
    let watcher = a.spawn::<Watcher>(tx).map_err(err)?;
    let echo_c = c.whereis("echo").ok_or("no echo on c")?;
    watcher.call(Watch(echo_c.clone())).await.map_err(err)?;
    say(format!(
        "A watcher on a monitors {echo_c} on c. Now c shuts down…"
    ));
    c.shutdown().await;
    let down = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .map_err(|_| "no Down within 5 s".to_string())?
        .ok_or("watcher gone")?;
    say(format!(
        "The watcher got Down {{ pid: {}, reason: {} }}.",
        down.pid, down.reason
    ));
    let after = relay_b
        .call(Forward {
            node: c.name().to_string(),
            text: "still there?".into(),
        })
        .await;
    say(format!(
        "b's relay calling c now: {after:?}: a precise error, not a timeout."
    ));
    check(after == Err(Error::NoConnection), "NoConnection once c is gone")?;

    let intruder = start("intruder", "wrong-cookie").await?;
    let refused = intruder
        .resolve::<Echo>(&ProcessId::new("echo", NodeName::new(b.name().as_str())))
        .await;
    say(format!(
        "A node with the wrong cookie is refused by b: {refused:?} (RUST_LOG=warn shows both nodes' reasons)."
    ));
    check(
        refused.err() == Some(Error::NoConnection),
        "NoConnection for a wrong cookie",
    )?;
    let still = echo_b.call(Ping("still fine".into())).await.map_err(err)?;
    say(format!("b keeps serving a: {still:?}."));

    intruder.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
