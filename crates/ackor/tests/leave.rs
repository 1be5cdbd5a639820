//! A node that shuts down says goodbye: its peers see it leave (an info line, what was
//! pending on it failed as for a lost connection, no redial), not lose it. And a
//! goodbye from elsewhere, stale or malformed, does no harm.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ackor::{
    Actor, BoxError, Context, Down, Error, Handler, Message, Pid, ProcessId, RemoteConfig, RemoteMessage,
    RemoteMessages, SpawnOptions,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

mod common;
use common::{PROMPT, start_node};

const COOKIE: &str = "leave-cookie";

fn config() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(1000))
        .reconnect_backoff(Duration::from_millis(50))
}

// ------------------------------------------------------------------ captured logs

/// One log event: level, message, and the `peer` field if any.
#[derive(Clone, Debug)]
struct Record {
    level: tracing::Level,
    message: String,
    peer: Option<String>,
}

#[derive(Default)]
struct Visit {
    message: String,
    peer: Option<String>,
}

impl tracing::field::Visit for Visit {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "peer" => self.peer = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

/// Records every event logged on this thread (the tests run on a current-thread
/// runtime, so the nodes' tasks log here too).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Record>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut visit = Visit::default();
        event.record(&mut visit);
        self.0.lock().unwrap().push(Record {
            level: *event.metadata().level(),
            message: visit.message,
            peer: visit.peer,
        });
    }
}

impl Capture {
    fn install() -> (Capture, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        (capture, tracing::subscriber::set_default(subscriber))
    }

    fn records(&self) -> Vec<Record> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
        let deadline = Instant::now() + PROMPT;
        loop {
            if let Some(r) = self.records().into_iter().find(&pred) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no log record {what}; got:\n{:#?}",
                self.records()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

// ------------------------------------------------------------------ actors

/// Answers pings on the leaving node.
struct Svc;
impl Actor for Svc {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Svc)
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Ping>();
    }
}

#[derive(Serialize, Deserialize)]
struct Ping;
impl Message for Ping {
    type Reply = String;
}
impl RemoteMessage for Ping {
    const TAG: &'static str = "test.leave.ping";
}
impl Handler<Ping> for Svc {
    type Return = String;
    async fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> String {
        "pong".into()
    }
}

/// Monitors what it is told to, and reports each `Down`.
struct Watcher(mpsc::UnboundedSender<Down>);
impl Actor for Watcher {
    type Args = mpsc::UnboundedSender<Down>;
    async fn init(tx: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Watcher(tx))
    }
    async fn on_down(&mut self, _: &mut Context<Self>, down: Down) {
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

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn peer_shutdown_is_seen_as_a_clean_leave() {
    let (capture, _guard) = Capture::install();
    let a = start_node("leaver", config()).await;
    let b = start_node("stayer", config()).await;
    a.spawn_with::<Svc>((), SpawnOptions::default().name("svc"))
        .unwrap();

    // Links both ways: b calls a, a answers on links of its own.
    let svc = b
        .resolve::<Svc>(&ProcessId::new("svc", a.name().clone()))
        .await
        .unwrap();
    assert_eq!(svc.call(Ping).await.unwrap(), "pong");
    let (tx, mut downs) = mpsc::unbounded_channel();
    let watcher = b.spawn::<Watcher>(tx).unwrap();
    watcher.call(Watch(svc.pid().clone())).await.unwrap();
    // The monitor is set up on a once a answers a call sent after it.
    assert_eq!(svc.call(Ping).await.unwrap(), "pong");

    let started = Instant::now();
    tokio::time::timeout(PROMPT, a.shutdown())
        .await
        .expect("a stops in time");
    let shutdown_took = started.elapsed();

    let a_name = a.name().to_string();
    let left = capture
        .wait_for("of a leaving", |r| r.message == format!("node {a_name} left"))
        .await;
    assert_eq!(left.level, tracing::Level::INFO);
    assert_eq!(left.peer.as_deref(), Some(a_name.as_str()));
    // b's monitor of a's process saw it go.
    let down = tokio::time::timeout(PROMPT, downs.recv()).await.unwrap().unwrap();
    assert_eq!(&down.pid, svc.pid());
    // The peer said goodbye rather than vanishing: b logs no lost link, no peer down.
    let warnings: Vec<_> = capture
        .records()
        .into_iter()
        .filter(|r| r.level == tracing::Level::WARN)
        .collect();
    assert!(warnings.is_empty(), "warnings at a clean leave: {warnings:#?}");
    assert!(!b.connected_nodes().contains(a.name()));
    // The peer took the goodbye in and closed its links: a did not wait out its bound.
    assert!(
        shutdown_took < Duration::from_millis(900),
        "shutdown took {shutdown_took:?}"
    );

    // Nothing dials a until someone sends to it; then it fails fast and precisely.
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROMPT, svc.call(Ping))
        .await
        .expect("no hang");
    assert_eq!(outcome, Err(Error::NoConnection));
    assert!(started.elapsed() < Duration::from_secs(2));
    b.shutdown().await;
}

/// Writes one length-prefixed frame: version 1, then `body` as field 12 (goodbye).
fn goodbye_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x08, 0x01, 0x62, body.len() as u8];
    frame.extend_from_slice(body);
    let mut out = (frame.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    out
}

#[tokio::test]
async fn stale_or_malformed_goodbyes_do_no_harm() {
    let (capture, _guard) = Capture::install();
    let b = start_node("host", config()).await;
    let addr = b.local_addr().unwrap().to_string();
    let raw = format!("raw{}@127.0.0.1:1", common::unique());
    let mut s = ackor::testing::handshaken_stream(&addr, &raw, COOKIE, b.name().as_str())
        .await
        .expect("handshake");

    // Another incarnation's goodbye (the raw peer is incarnation 1): ignored.
    s.write_all(&goodbye_frame(&[0x08, 0x07])).await.unwrap();
    s.write_all(&ackor::testing::heartbeat_frame()).await.unwrap();
    capture
        .wait_for("of the stale goodbye", |r| {
            r.message == "goodbye from another incarnation ignored"
        })
        .await;
    assert!(!capture.records().iter().any(|r| r.message.ends_with(" left")));

    // A malformed one (a truncated varint): the link closes as for any bad frame.
    s.write_all(&goodbye_frame(&[0x08, 0xff])).await.unwrap();
    let closed = capture
        .wait_for("of the bad goodbye", |r| {
            r.message == "incoming link closed" && r.peer.as_deref() == Some(raw.as_str())
        })
        .await;
    assert_eq!(closed.level, tracing::Level::WARN);

    // The right incarnation's goodbye on a fresh link: the peer left.
    let mut s = ackor::testing::handshaken_stream(&addr, &raw, COOKIE, b.name().as_str())
        .await
        .expect("handshake");
    s.write_all(&goodbye_frame(&[0x08, 0x01])).await.unwrap();
    capture
        .wait_for("of the raw peer leaving", |r| {
            r.message == format!("node {raw} left")
        })
        .await;

    // b is none the worse.
    let svc = b.spawn::<Svc>(()).unwrap();
    assert_eq!(svc.call(Ping).await.unwrap(), "pong");
    b.shutdown().await;
}
