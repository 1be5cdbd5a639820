//! Timers from a context: `send_after` and `send_interval`, canceled by their handle,
//! ended with their actor.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::time::Duration;

use ackor::{Actor, BoxError, Context, Error, Handler, Message, Node, Pid, Timer};
use tokio::sync::mpsc;

/// Every tick it gets goes to the test, with its sender.
struct Ticker {
    ticks: mpsc::UnboundedSender<(u32, Option<Pid>)>,
    timers: HashMap<u32, Timer>,
}

impl Actor for Ticker {
    type Args = mpsc::UnboundedSender<(u32, Option<Pid>)>;
    async fn init(ticks: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Ticker {
            ticks,
            timers: HashMap::new(),
        })
    }
}

struct Tick(u32);
impl Message for Tick {
    type Reply = ();
}
impl Handler<Tick> for Ticker {
    type Return = ();
    async fn handle(&mut self, msg: Tick, ctx: &mut Context<Self>) {
        let _ = self.ticks.send((msg.0, ctx.sender().cloned()));
    }
}

enum Start {
    After(u32, Duration),
    Every(u32, Duration),
}
impl Message for Start {
    type Reply = Result<(), Error>;
}
impl Handler<Start> for Ticker {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) -> Result<(), Error> {
        let (id, timer) = match msg {
            Start::After(id, delay) => (id, ctx.send_after(delay, Tick(id))),
            Start::Every(id, period) => (id, ctx.send_interval(period, move || Tick(id))?),
        };
        self.timers.insert(id, timer);
        Ok(())
    }
}

struct Cancel(u32);
impl Message for Cancel {
    type Reply = ();
}
impl Handler<Cancel> for Ticker {
    type Return = ();
    async fn handle(&mut self, msg: Cancel, _: &mut Context<Self>) {
        if let Some(t) = self.timers.remove(&msg.0) {
            t.cancel();
        }
    }
}

struct Take(u32);
impl Message for Take {
    type Reply = Option<Timer>;
}
impl Handler<Take> for Ticker {
    type Return = Option<Timer>;
    async fn handle(&mut self, msg: Take, _: &mut Context<Self>) -> Option<Timer> {
        self.timers.get(&msg.0).cloned()
    }
}

struct Finished(u32);
impl Message for Finished {
    type Reply = Option<bool>;
}
impl Handler<Finished> for Ticker {
    type Return = Option<bool>;
    async fn handle(&mut self, msg: Finished, _: &mut Context<Self>) -> Option<bool> {
        self.timers.get(&msg.0).map(Timer::is_finished)
    }
}

async fn ticker(
    name: &str,
) -> (
    Node,
    ackor::ActorRef<Ticker>,
    mpsc::UnboundedReceiver<(u32, Option<Pid>)>,
) {
    let node = Node::builder().name(name).start().await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let t = node.spawn::<Ticker>(tx).unwrap();
    (node, t, rx)
}

/// No tick within `quiet`.
async fn silent(rx: &mut mpsc::UnboundedReceiver<(u32, Option<Pid>)>, quiet: Duration) -> bool {
    tokio::time::timeout(quiet, rx.recv()).await.is_err()
}

#[tokio::test]
async fn send_after_delivers_once_after_the_delay_from_the_actor_itself() {
    let (node, t, mut rx) = ticker("timers-after@local").await;
    t.call(Start::After(1, Duration::from_millis(150)))
        .await
        .unwrap()
        .unwrap();
    assert!(
        silent(&mut rx, Duration::from_millis(50)).await,
        "fired before its delay"
    );
    let (id, sender) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id, sender), (1, Some(t.pid().clone())));
    assert!(silent(&mut rx, Duration::from_millis(200)).await, "fired twice");
    assert_eq!(t.call(Finished(1)).await.unwrap(), Some(true));
    node.shutdown().await;
}

#[tokio::test]
async fn send_after_canceled_sends_nothing() {
    let (node, t, mut rx) = ticker("timers-cancel@local").await;
    t.call(Start::After(1, Duration::from_millis(100)))
        .await
        .unwrap()
        .unwrap();
    t.call(Cancel(1)).await.unwrap();
    assert!(silent(&mut rx, Duration::from_millis(300)).await);
    node.shutdown().await;
}

#[tokio::test]
async fn send_interval_ticks_until_canceled() {
    let (node, t, mut rx) = ticker("timers-every@local").await;
    t.call(Start::Every(7, Duration::from_millis(10)))
        .await
        .unwrap()
        .unwrap();
    for _ in 0..5 {
        let (id, _) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id, 7);
    }
    t.call(Cancel(7)).await.unwrap();
    // A tick queued before the cancel may still come; none after that.
    while tokio::time::timeout(Duration::from_millis(100), rx.recv())
        .await
        .is_ok()
    {}
    assert!(silent(&mut rx, Duration::from_millis(200)).await);
    node.shutdown().await;
}

#[tokio::test]
async fn timers_end_with_their_actor() {
    let (node, t, mut rx) = ticker("timers-end@local").await;
    t.call(Start::Every(1, Duration::from_millis(10)))
        .await
        .unwrap()
        .unwrap();
    let timer = t.call(Take(1)).await.unwrap().unwrap();
    rx.recv().await.unwrap();
    assert!(!timer.is_finished());
    t.stop().unwrap();
    t.wait_for_stop().await;
    // Its task notices at the next tick and ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !timer.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timer outlived its actor"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The channel closes once the actor (the only sender) is gone; no tick after it.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {}
    assert!(rx.recv().await.is_none());
    node.shutdown().await;
}

#[tokio::test]
async fn send_interval_refuses_a_zero_period() {
    let (node, t, _rx) = ticker("timers-zero@local").await;
    let refused = t.call(Start::Every(1, Duration::ZERO)).await.unwrap();
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
    node.shutdown().await;
}

// ------------------------------------------------------------------ idle timeout

/// Reports its stop.
struct Sleepy(mpsc::UnboundedSender<(u32, Option<Pid>)>);
impl Actor for Sleepy {
    type Args = mpsc::UnboundedSender<(u32, Option<Pid>)>;
    async fn init(tx: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sleepy(tx))
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, reason: &ackor::ExitReason) {
        assert_eq!(reason, &ackor::ExitReason::Normal);
        let _ = self.0.send((0, None));
    }
}
impl Handler<Tick> for Sleepy {
    type Return = ();
    async fn handle(&mut self, msg: Tick, _: &mut Context<Self>) {
        let _ = self.0.send((msg.0, None));
    }
}

#[tokio::test]
async fn an_actor_with_an_idle_timeout_stops_once_idle_and_not_before() {
    let node = Node::builder().name("idle@local").start().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let opts = ackor::SpawnOptions::default().idle_timeout(Duration::from_millis(150));
    let sleepy = node.spawn_with::<Sleepy>(tx, opts).unwrap();
    // Kept busy (a message every 50 ms), it stays.
    for i in 1..=6 {
        sleepy.send(Tick(i)).unwrap();
        assert_eq!(rx.recv().await.unwrap().0, i);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sleepy.is_alive());
    // Left alone, it stops with reason Normal, running on_stop.
    let reason = tokio::time::timeout(Duration::from_secs(5), sleepy.wait_for_stop())
        .await
        .unwrap();
    assert_eq!(reason, ackor::ExitReason::Normal);
    assert_eq!(rx.recv().await.unwrap().0, 0);
    assert_eq!(sleepy.send(Tick(9)), Err(Error::ProcessTerminated));
    node.shutdown().await;
}
