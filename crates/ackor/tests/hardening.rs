//! Hardening of the network side (issue 17): a bad frame on a link is a warning.
//! Every node binds 127.0.0.1:0.
//!
//! The tests that look at logs run on a current-thread runtime (`#[tokio::test]`):
//! every task of their nodes runs on the test's thread, so a subscriber set for that
//! thread sees all of it and nothing of the other tests.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ackor::{Node, RemoteConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

mod common;
use common::{PROMPT, start_node};

const COOKIE: &str = "hardening";

fn config() -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(50))
}

fn addr(node: &Node) -> String {
    node.local_addr().unwrap().to_string()
}

/// Reads until the node closes the connection (or a bound passes).
async fn closed_by_node(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + PROMPT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

// ------------------------------------------------------------------ captured logs

/// One event or span, as a subscriber got it: its fields as the node wrote them (a
/// `%` field through its `Display`, a string as it is), not yet escaped by any
/// formatter.
#[derive(Debug, Clone)]
struct Record {
    level: tracing::Level,
    /// The message (a span's name).
    message: String,
    fields: BTreeMap<String, String>,
}

impl Record {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The record as one line of text would show it.
    fn line(&self) -> String {
        let mut line = format!("{} {}", self.level, self.message);
        for (k, v) in &self.fields {
            let _ = write!(line, " {k}={v}");
        }
        line
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

/// Records every event and span of every level.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Record>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(Record {
            level: *attrs.metadata().level(),
            message: attrs.metadata().name().to_string(),
            fields: fields.0,
        });
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Record {
            level: *event.metadata().level(),
            message,
            fields: fields.0,
        });
    }
}

impl Capture {
    /// Captures everything logged on this thread while the guard lives.
    fn install() -> (Capture, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        (capture, tracing::subscriber::set_default(subscriber))
    }

    fn records(&self) -> Vec<Record> {
        self.0.lock().unwrap().clone()
    }

    /// The records with this message at this level.
    fn find(&self, level: tracing::Level, message: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.level == level && r.message == message)
            .collect()
    }

    /// Waits (a bounded while) until `pred` holds for some record; returns it.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
        let deadline = Instant::now() + PROMPT;
        loop {
            if let Some(r) = self.records().into_iter().find(&pred) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no log record {what}; got:\n{}",
                self.dump()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn dump(&self) -> String {
        self.records().iter().map(|r| r.line() + "\n").collect()
    }
}

// ------------------------------------------------------------------ 4. bad frames

#[tokio::test]
async fn bad_frame_on_link_is_logged_as_warning() {
    let (capture, _guard) = Capture::install();
    let b = start_node("b", config().max_frame_size(1024)).await;
    for (i, bad) in [
        // Not a protobuf frame.
        vec![0, 0, 0, 4, 0x0f, 0xff, 0xff, 0xff],
        // Over the maximum frame size.
        [&1_000_000u32.to_be_bytes()[..], &[0u8; 16]].concat(),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("raw{}@127.0.0.1:1", common::unique());
        let mut s = ackor::testing::handshaken_stream(&addr(&b), &name, COOKIE, b.name().as_str())
            .await
            .expect("handshake");
        s.write_all(&ackor::testing::heartbeat_frame()).await.unwrap();
        s.write_all(&bad).await.unwrap();
        assert!(closed_by_node(&mut s).await);
        let warning = capture
            .wait_for("of the bad frame", |r| {
                r.level == tracing::Level::WARN
                    && r.message == "incoming link closed"
                    && r.field("peer") == Some(name.as_str())
            })
            .await;
        let reason = warning.field("reason").unwrap();
        let expected = ["undecodable envelope", "exceeds the maximum"][i];
        assert!(reason.contains(expected), "{reason}");
    }
    // A peer that just closes its link is no warning.
    let name = format!("raw{}@127.0.0.1:1", common::unique());
    let s = ackor::testing::handshaken_stream(&addr(&b), &name, COOKIE, b.name().as_str())
        .await
        .expect("handshake");
    drop(s);
    let closed = capture
        .wait_for("of the closed link", |r| {
            r.message == "incoming link closed" && r.field("peer") == Some(name.as_str())
        })
        .await;
    assert_eq!(closed.level, tracing::Level::DEBUG);
    assert_eq!(
        capture.find(tracing::Level::WARN, "incoming link closed").len(),
        2
    );
    b.shutdown().await;
}
