//! Chapter on supervision: restart in place, one-for-all, intensity, backoff.

use std::time::{Duration, Instant};

use ackor::supervision::{Backoff, ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};
use ackor::{Actor, ActorRef, BoxError, Context, Error, ExitReason, Handler, Message, Node, Pid};
use tokio::sync::{mpsc, oneshot};

use super::{Outcome, check, say};

fn err(e: Error) -> String {
    e.to_string()
}

/// What the workers report, in order ("init a", "stop a", "restarted a"), and when.
type Tx = mpsc::UnboundedSender<(String, Instant)>;
type Events = mpsc::UnboundedReceiver<(String, Instant)>;

async fn next(events: &mut Events) -> Result<(String, Instant), String> {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .map_err(|_| "no event within 5 s".to_string())?
        .ok_or_else(|| "the events channel closed".to_string())
}

/// Waits for `want` and answers when it happened; anything else first is an error.
async fn expect(events: &mut Events, want: &str) -> Result<Instant, String> {
    let (got, at) = next(events)
        .await
        .map_err(|e| format!("{e} (waiting for {want:?})"))?;
    check(got == want, &format!("{want:?}, got {got:?}"))?;
    Ok(at)
}

/// A worker that records what it gets, reports its life to the chapter, and crashes
/// on demand.
struct Worker {
    id: &'static str,
    events: Tx,
    got: Vec<u64>,
}

impl Worker {
    fn report(&self, what: &str) {
        let _ = self.events.send((format!("{what} {}", self.id), Instant::now()));
    }
}

impl Actor for Worker {
    type Args = (&'static str, Tx);
    async fn init((id, events): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        let worker = Worker {
            id,
            events,
            got: Vec::new(),
        };
        worker.report("init");
        Ok(worker)
    }
    async fn on_restart(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        self.report("restarted");
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        self.report("stop");
    }
}

struct Work(u64);
impl Message for Work {
    type Reply = ();
}
impl Handler<Work> for Worker {
    type Return = ();
    async fn handle(&mut self, msg: Work, _: &mut Context<Self>) {
        self.got.push(msg.0);
    }
}

/// What this instance got.
struct Got;
impl Message for Got {
    type Reply = Vec<u64>;
}
impl Handler<Got> for Worker {
    type Return = Vec<u64>;
    async fn handle(&mut self, _: Got, _: &mut Context<Self>) -> Vec<u64> {
        self.got.clone()
    }
}

/// Waits for the gate to open (or now, without one), then panics.
struct Crash(Option<oneshot::Receiver<()>>);
impl Message for Crash {
    type Reply = ();
}
impl Handler<Crash> for Worker {
    type Return = ();
    async fn handle(&mut self, msg: Crash, _: &mut Context<Self>) {
        if let Some(gate) = msg.0 {
            let _ = gate.await;
        }
        panic!("{} crashes on purpose", self.id)
    }
}

/// A spec for worker `id`, reporting to `tx`.
fn worker(id: &'static str, tx: &Tx) -> ChildSpec {
    let tx = tx.clone();
    ChildSpec::new::<Worker>(id, move || (id, tx.clone())).name(id)
}

/// Spawns a supervisor and waits until it has started its children: a call to it is
/// handled once its `init` is done.
async fn supervise(node: &Node, spec: SupervisorSpec) -> Result<ActorRef<Supervisor>, String> {
    let sup = node.spawn::<Supervisor>(spec).map_err(err)?;
    sup.call(WhichChildren).await.map_err(err)?;
    Ok(sup)
}

/// The pids of the supervisor's children, in start order.
async fn pids(sup: &ActorRef<Supervisor>) -> Result<Vec<Option<Pid>>, String> {
    let children = sup.call(WhichChildren).await.map_err(err)?;
    Ok(children.into_iter().map(|c| c.pid).collect())
}

fn lookup(node: &Node, name: &str) -> Result<ActorRef<Worker>, String> {
    node.lookup::<Worker>(&ackor::ProcessId::new(name, node.name().clone()))
        .map_err(err)
}

pub async fn supervision() -> Outcome {
    let node = Node::builder()
        .name("tour@localhost")
        .start()
        .await
        .map_err(err)?;
    say("Workers crash on purpose below; the panic lines on stderr are expected.");
    in_place(&node).await?;
    one_for_all(&node).await?;
    intensity(&node).await?;
    backoff(&node).await?;
    node.shutdown().await;
    Ok(())
}

/// (a) Restart in place: same pid and name, queued messages handled by the new instance.
async fn in_place(node: &Node) -> Outcome {
    let (tx, mut ev) = mpsc::unbounded_channel();
    let spec = SupervisorSpec::new(Strategy::OneForOne).child(worker("w", &tx));
    let sup = supervise(node, spec).await?;
    expect(&mut ev, "init w").await?;
    let w = lookup(node, "w")?;
    let pid = w.pid().clone();
    let (open, gate) = oneshot::channel();
    w.send(Crash(Some(gate))).map_err(err)?;
    for i in 1..=3 {
        w.send(Work(i)).map_err(err)?;
    }
    say(format!(
        "(a) Worker w {pid}, supervised one-for-one, crashes with Work(1..=3) queued behind."
    ));
    let _ = open.send(());
    for step in ["stop w", "init w", "restarted w"] {
        expect(&mut ev, step).await?;
    }
    let got = w.call(Got).await.map_err(err)?;
    let now = node.whereis("w");
    say(format!(
        "    Restarted in place: \"w\" is still {}, and the new instance handled {got:?}.",
        now.as_ref().map_or("nobody".into(), Pid::to_string)
    ));
    check(now.as_ref() == Some(&pid), "the same pid under the same name")?;
    check(got == [1, 2, 3], "the queued messages, in order")?;
    let failed = w.call(Crash(None)).await;
    say(format!("    A caller of the crashing message gets {failed:?}."));
    check(
        matches!(failed, Err(Error::ActorFailed(_))),
        "ActorFailed for the caller",
    )?;
    sup.stop().map_err(err)?;
    sup.wait_for_stop().await;
    Ok(())
}

/// (b) One-for-all: every child restarts, stopped in reverse order, started in order.
async fn one_for_all(node: &Node) -> Outcome {
    let (tx, mut ev) = mpsc::unbounded_channel();
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .child(worker("a", &tx))
        .child(worker("b", &tx))
        .child(worker("c", &tx));
    let sup = supervise(node, spec).await?;
    let before = pids(&sup).await?;
    for id in ["a", "b", "c"] {
        expect(&mut ev, &format!("init {id}")).await?;
    }
    let _ = lookup(node, "b")?.call(Crash(None)).await;
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e: &&String| e.starts_with("restarted"))
        .count()
        < 3
    {
        seen.push(next(&mut ev).await?.0);
    }
    let lifecycle: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|e| !e.starts_with("restarted"))
        .collect();
    say(format!(
        "(b) One-for-all, children a, b, c; b crashes: {}.",
        lifecycle.join(", ")
    ));
    check(
        lifecycle == ["stop b", "stop c", "stop a", "init a", "init b", "init c"],
        "b's failure ends c then a, then all start again in order",
    )?;
    let after = pids(&sup).await?;
    say("    All three restarted in place: the same pids.");
    check(after == before, "the same pids")?;
    sup.stop().map_err(err)?;
    sup.wait_for_stop().await;
    Ok(())
}

/// (c) Intensity: a third failure within the window makes the supervisor give up.
async fn intensity(node: &Node) -> Outcome {
    let (tx, mut ev) = mpsc::unbounded_channel();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(10))
        .child(worker("w", &tx));
    let sup = supervise(node, spec).await?;
    expect(&mut ev, "init w").await?;
    let w = lookup(node, "w")?;
    say("(c) A supervisor allowing 2 restarts in 10 s; its worker fails three times:");
    for round in 1..=3 {
        let _ = w.call(Crash(None)).await;
        expect(&mut ev, "stop w").await?;
        if round < 3 {
            expect(&mut ev, "init w").await?;
            expect(&mut ev, "restarted w").await?;
            say(format!("    failure {round}: restarted."));
        }
    }
    let reason = tokio::time::timeout(Duration::from_secs(5), sup.wait_for_stop())
        .await
        .map_err(|_| "the supervisor did not stop".to_string())?;
    say(format!("    failure 3: the supervisor stops: {reason}."));
    check(
        matches!(&reason, ExitReason::Error(m) if m.contains("more than 2 restarts")),
        "the supervisor to give up",
    )?;
    check(!w.is_alive(), "its worker to be stopped with it")?;
    Ok(())
}

/// (d) Backoff: restart delays double, 50, 100, 200 ms (no jitter).
async fn backoff(node: &Node) -> Outcome {
    let (tx, mut ev) = mpsc::unbounded_channel();
    let backoff = Backoff::exponential(Duration::from_millis(50), Duration::from_secs(1)).jitter(0.0);
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(10, Duration::from_secs(10))
        .child(worker("w", &tx).backoff(backoff));
    let sup = supervise(node, spec).await?;
    expect(&mut ev, "init w").await?;
    let w = lookup(node, "w")?;
    let mut measured = Vec::new();
    for want in [50, 100, 200] {
        let _ = w.call(Crash(None)).await;
        let stopped = expect(&mut ev, "stop w").await?;
        let ms = (expect(&mut ev, "init w").await? - stopped).as_millis();
        expect(&mut ev, "restarted w").await?;
        measured.push(format!("{ms} ms"));
        check(
            (want..want + 250).contains(&ms),
            &format!("a restart about {want} ms after the failure, not {ms} ms"),
        )?;
    }
    say(format!(
        "(d) Backoff from 50 ms, doubling, jitter 0: restarts measured after {}.",
        measured.join(", ")
    ));
    sup.stop().map_err(err)?;
    sup.wait_for_stop().await;
    Ok(())
}
