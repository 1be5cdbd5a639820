//! Hardening of the network side (issue 17): what peers send is escaped before it is
//! logged, refused connections are logged at a limited rate, a bad frame on a link is
//! a warning, a message that never left answers `NoConnection` every time, and TLS
//! links do not hold data back until the next write. Every node binds 127.0.0.1:0.
//!
//! The tests that look at logs run on a current-thread runtime (`#[tokio::test]`):
//! every task of their nodes runs on the test's thread, so a subscriber (and a metrics
//! recorder) set for that thread sees all of it and nothing of the other tests.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::IntoFuture as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use ackor::{
    Actor, BoxError, BoxFuture, Connection, Context, Error, Handler, Listener, Message, Node, RemoteConfig,
    RemoteMessage, RemoteMessages, SpawnOptions, Transport,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
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

// ------------------------------------------------------------------ captured metrics

/// ackor's counters on this thread, by name and labels (`name{k=v,...}`).
#[derive(Clone, Default)]
struct Counters(Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>);

impl Counters {
    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl metrics::Recorder for Counters {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = if labels.is_empty() {
            key.name().to_string()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        metrics::Counter::from_arc(self.0.lock().unwrap().entry(name).or_default().clone())
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Waits (a bounded while) until counter `key` reaches `n`.
async fn wait_for_count(counters: &Counters, key: &str, n: u64) {
    let deadline = Instant::now() + PROMPT;
    while counters.get(key) < n {
        assert!(
            Instant::now() < deadline,
            "{key} is {}, not {n}",
            counters.get(key)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ------------------------------------------------------------------ a probe actor

/// Tells the test every number it gets.
struct Probe(mpsc::UnboundedSender<u64>);

impl Actor for Probe {
    type Args = mpsc::UnboundedSender<u64>;
    async fn init(tx: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Probe(tx))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Ping>().add::<Ready>();
    }
}

#[derive(Serialize, Deserialize)]
struct Ping(u64);
impl Message for Ping {
    type Reply = ();
}
impl RemoteMessage for Ping {
    const TAG: &'static str = "test.hardening.ping";
}
impl Handler<Ping> for Probe {
    type Return = ();
    async fn handle(&mut self, msg: Ping, _: &mut Context<Self>) {
        let _ = self.0.send(msg.0);
    }
}

#[derive(Serialize, Deserialize)]
struct Ready;
impl Message for Ready {
    type Reply = bool;
}
impl RemoteMessage for Ready {
    const TAG: &'static str = "test.hardening.ready";
}
impl Handler<Ready> for Probe {
    type Return = bool;
    async fn handle(&mut self, _: Ready, _: &mut Context<Self>) -> bool {
        true
    }
}

// ------------------------------------------------------------------ raw frames

/// The parts of ackor's frame a hostile peer needs here (protobuf, wire-compatible:
/// a oneof member is an optional field on the wire).
#[derive(Clone, PartialEq, prost::Message)]
struct RawFrame {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(message, optional, tag = "2")]
    deliver: Option<RawDeliver>,
    #[prost(message, optional, tag = "11")]
    spawn: Option<RawSpawn>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawDeliver {
    /// `Target::Name`.
    #[prost(string, tag = "11")]
    to_name: String,
    #[prost(bytes = "vec", tag = "3")]
    tag: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    payload: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawSpawn {
    #[prost(uint64, tag = "1")]
    call_id: u64,
    #[prost(string, tag = "2")]
    kind: String,
}

fn framed(frame: &RawFrame) -> Vec<u8> {
    let body = prost::Message::encode_to_vec(frame);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// True if no record holds a raw newline, carriage return or escape character: what
/// a peer sent cannot start a forged log line or drive the terminal.
fn all_clean(records: &[Record]) -> Result<(), String> {
    for r in records {
        let text = std::iter::once(&r.message).chain(r.fields.values());
        if text.into_iter().any(|t| t.contains(['\n', '\r', '\x1b'])) {
            return Err(format!("raw control character in {r:?}"));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ 1. log injection

#[tokio::test]
async fn hostile_node_name_is_escaped_in_logs() {
    let (capture, _guard) = Capture::install();
    let b = start_node("b", config()).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let _probe = b
        .spawn_with::<Probe>(tx, SpawnOptions::default().name("probe"))
        .unwrap();
    let n = common::unique();
    let hostile = format!("evil{n}\n2030-01-01T00:00:00Z  INFO forged: all is well\x1b[31m@127.0.0.1:1");

    // A dialer that does not know the cookie, with a hostile name: refused and logged.
    let refused =
        ackor::testing::handshaken_stream(&addr(&b), &hostile, "not-the-cookie", b.name().as_str()).await;
    assert!(refused.is_err());
    let warn = capture
        .wait_for("of the refusal", |r| {
            r.level == tracing::Level::WARN && r.message == "incoming connection refused"
        })
        .await;
    let error = warn.field("error").unwrap();
    assert!(error.contains("does not know our cookie"), "{error}");
    assert!(
        error.contains(&format!("evil{n}\\n2030-01-01")),
        "escaped, not dropped: {error}"
    );
    assert!(error.contains("\\u{1b}[31m"), "{error}");

    // One that knows the cookie is logged with its name escaped too, and so are the
    // tags and actor kinds it sends, and the link it breaks.
    let mut s = ackor::testing::handshaken_stream(&addr(&b), &hostile, COOKIE, b.name().as_str())
        .await
        .expect("handshake");
    capture
        .wait_for("of the incoming link", |r| {
            r.message == "peer connected (incoming link)"
        })
        .await;
    let hostile_tag = b"tag\n2030-01-01T00:00:00Z ERROR forged\x1b]0;title\x07".to_vec();
    let deliver = RawFrame {
        version: 2,
        deliver: Some(RawDeliver {
            to_name: "probe".into(),
            tag: hostile_tag,
            payload: vec![0xc0],
        }),
        spawn: None,
    };
    let spawn = RawFrame {
        version: 2,
        deliver: None,
        spawn: Some(RawSpawn {
            call_id: 7,
            kind: "kind\r\n\x1b[2J".into(),
        }),
    };
    s.write_all(&framed(&deliver)).await.unwrap();
    s.write_all(&framed(&spawn)).await.unwrap();
    capture
        .wait_for("of the refused spawn", |r| r.message == "remote spawn refused")
        .await;
    capture
        .wait_for("of the undelivered message", |r| {
            r.message == "remote message not delivered"
        })
        .await;
    // Garbage: the link closes with a warning naming the peer.
    s.write_all(&[0, 0, 0, 4, 0x0f, 0xff, 0xff, 0xff]).await.unwrap();
    assert!(closed_by_node(&mut s).await);
    let closed = capture
        .wait_for("of the broken link", |r| r.message == "incoming link closed")
        .await;
    assert!(closed.field("peer").unwrap().starts_with(&format!("evil{n}\\n")));

    b.shutdown().await;
    let records = capture.records();
    if let Err(e) = all_clean(&records) {
        panic!("{e}\nall records:\n{}", capture.dump());
    }
    // The name shows (escaped) wherever the peer is named.
    assert!(
        records
            .iter()
            .filter(|r| r.fields.values().any(|v| v.contains(&format!("evil{n}"))))
            .count()
            >= 4,
        "{}",
        capture.dump()
    );
}

#[tokio::test]
async fn refused_handshakes_are_rate_limited_in_logs() {
    let (capture, _guard) = Capture::install();
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let b = start_node("b", config()).await;
    let refused_total = "ackor_remote_handshakes_refused_total";

    // A burst of connections that are not ackor peers.
    let garbage = || async {
        let mut s = TcpStream::connect(addr(&b)).await.unwrap();
        s.write_all(b"\xff\xff\xff\xffGARBAGE").await.unwrap();
        assert!(closed_by_node(&mut s).await);
    };
    const BURST: u64 = 200;
    let started = Instant::now();
    futures_util::future::join_all((0..BURST).map(|_| garbage())).await;
    wait_for_count(&counters, refused_total, BURST).await;
    let burst_took = started.elapsed();
    let lines = capture.find(tracing::Level::WARN, "incoming connection refused");
    // One line per second at most (plus the first).
    let allowed = burst_took.as_secs() + 1;
    assert!(
        !lines.is_empty() && lines.len() as u64 <= allowed.min(5),
        "{} lines for a burst of {BURST} in {burst_took:?}",
        lines.len()
    );

    // The next line, a second later, tells how many were held back meanwhile.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    garbage().await;
    wait_for_count(&counters, refused_total, BURST + 1).await;
    let lines = capture.find(tracing::Level::WARN, "incoming connection refused");
    let suppressed: u64 = lines
        .iter()
        .map(|r| r.field("suppressed").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        lines.len() as u64 + suppressed,
        BURST + 1,
        "every refusal is logged or counted as held back:\n{}",
        capture.dump()
    );
    assert!(suppressed >= BURST - 5);
    assert_eq!(counters.get(refused_total), BURST + 1);
    b.shutdown().await;
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

// ------------------------------------------------------------------ 6. a hung peer

/// Accepts connections and never writes a byte (nor closes them) until dropped; its
/// node name.
async fn hung_peer() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (format!("hung{}@127.0.0.1:{port}", common::unique()), task)
}

#[tokio::test]
async fn hung_peer_answers_no_connection_every_time() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let (hung, listener) = hung_peer().await;
    // The handshake, call and important-send timeouts all equal: which fires first is
    // a race the answer must not depend on.
    let equal = Duration::from_millis(300);
    let mut remote = config()
        .handshake_timeout(equal)
        .important_timeout(equal)
        .reconnect_backoff(Duration::from_millis(1));
    remote.max_reconnect_backoff = Duration::from_millis(5);
    let a = Node::builder()
        .name(format!("a{}@127.0.0.1:0", common::unique()))
        .call_timeout(equal)
        .remote(remote)
        .start()
        .await
        .unwrap();
    let there = ackor::Pid::new(ackor::NodeName::new(&hung), 1, 1);
    let probe = a.actor_ref::<Probe>(&there).unwrap();
    const ROUNDS: u64 = 6;
    for round in 0..ROUNDS {
        // Let the backoff of the last failed handshake pass: each round dials anew.
        tokio::time::sleep(Duration::from_millis(20)).await;
        probe.send(Ping(round)).unwrap();
        let started = Instant::now();
        let (important, call) = tokio::join!(
            probe.send_important(Ping(round)).into_future(),
            probe.call(Ready).into_future()
        );
        assert_eq!(
            important,
            Err(Error::NoConnection),
            "round {round}: important send"
        );
        assert_eq!(call, Err(Error::NoConnection), "round {round}: call");
        assert!(started.elapsed() < PROMPT);
    }
    // A call with a timeout shorter than the handshake's, and one with a longer one:
    // neither left, both say so.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let short = probe.call(Ready).timeout(Duration::from_millis(50)).await;
    assert_eq!(short, Err(Error::NoConnection));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let long = probe.call(Ready).timeout(Duration::from_secs(3)).await;
    assert_eq!(long, Err(Error::NoConnection));
    // The same for an important send whose deadline comes before the handshake's.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let short = probe
        .send_important(Ping(99))
        .timeout(Duration::from_millis(50))
        .await;
    assert_eq!(short, Err(Error::NoConnection));
    let resolved = a
        .resolve::<Probe>(&ackor::ProcessId::new("probe", ackor::NodeName::new(&hung)))
        .await;
    assert_eq!(resolved.err(), Some(Error::NoConnection));
    // The plain sends went down with the failed handshakes, counted.
    let dropped = counters.get("ackor_remote_frames_dropped_total{reason=no_connection}");
    assert!(dropped >= ROUNDS, "{dropped} frames dropped counted");
    a.shutdown().await;
    listener.abort();
}

// ------------------------------------------------------------------ 7. TLS flushing

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM: (cert, key, ca).
fn tls_pair() -> (ackor::TlsConfig, ackor::TlsConfig) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_pem = ca.pem().into_bytes();
    let leaf = || {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let (cert, key) = (cert.pem().into_bytes(), key.serialize_pem().into_bytes());
        ackor::TlsConfig::from_pem(&cert, &key, &ca_pem, true).unwrap()
    };
    (leaf(), leaf())
}

/// TLS with heartbeats far apart: a message held back until the next write would wait
/// for one.
fn tls_config(tls: ackor::TlsConfig) -> RemoteConfig {
    RemoteConfig::new(COOKIE)
        .heartbeat_interval(Duration::from_secs(5))
        .heartbeat_timeout(Duration::from_secs(30))
        .tls(tls)
}

/// Sends single messages from `a` to a probe on `b`, one at a time, each only once the
/// last arrived; each must arrive within 500 ms.
async fn single_messages_arrive_promptly(a: &Node, b: &Node) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let probe = b.spawn::<Probe>(tx).unwrap();
    let there = a.actor_ref::<Probe>(probe.pid()).unwrap();
    assert_eq!(there.call(Ready).timeout(PROMPT).await, Ok(true));
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent = Instant::now();
        there.send(Ping(i)).unwrap();
        let got = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
        assert_eq!(
            got,
            Ok(Some(i)),
            "message {i} not there after {:?}",
            sent.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_single_message_arrives_without_waiting_for_a_heartbeat() {
    let (tls_a, tls_b) = tls_pair();
    let a = start_node("a", tls_config(tls_a)).await;
    let b = start_node("b", tls_config(tls_b)).await;
    single_messages_arrive_promptly(&a, &b).await;
    a.shutdown().await;
    b.shutdown().await;
}

/// TCP whose writes often do not go through at once: every other write is refused
/// for now (the task is woken to try again), and the others take at most 512 bytes.
/// A loaded socket does this to TLS; here it happens on every link, every time.
struct Choppy {
    tcp: TcpStream,
    refuse_next: bool,
}

impl AsyncRead for Choppy {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Choppy {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.refuse_next = !self.refuse_next;
        if !self.refuse_next {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = buf.len().min(512);
        Pin::new(&mut self.tcp).poll_write(cx, &buf[..n])
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

fn choppy(tcp: TcpStream) -> Box<dyn Connection> {
    Box::new(Choppy {
        tcp,
        refuse_next: false,
    })
}

struct ChoppyNet;

impl Transport for ChoppyNet {
    fn bind(&self, addr: &str) -> BoxFuture<'static, io::Result<(Box<dyn Listener>, SocketAddr)>> {
        let addr = addr.to_string();
        Box::pin(async move {
            let listener = TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            Ok((Box::new(ChoppyListener(listener)) as Box<dyn Listener>, bound))
        })
    }

    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Connection>>> {
        let addr = addr.to_string();
        Box::pin(async move { Ok(choppy(TcpStream::connect(addr).await?)) })
    }
}

struct ChoppyListener(TcpListener);

impl Listener for ChoppyListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn Connection>, SocketAddr)>> {
        Box::pin(async move {
            let (tcp, from) = self.0.accept().await?;
            Ok((choppy(tcp), from))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_link_flushes_when_the_socket_takes_a_write_in_pieces() {
    let (tls_a, tls_b) = tls_pair();
    let a = start_node("a", tls_config(tls_a).transport(Arc::new(ChoppyNet))).await;
    let b = start_node("b", tls_config(tls_b).transport(Arc::new(ChoppyNet))).await;
    single_messages_arrive_promptly(&a, &b).await;
    a.shutdown().await;
    b.shutdown().await;
}

// ------------------------------------------------------------------ 7. plain sends into a full mailbox

/// Takes one permit of its gate per message: blocked until the test opens the gate.
struct Stuck(Arc<tokio::sync::Semaphore>);

impl Actor for Stuck {
    type Args = Arc<tokio::sync::Semaphore>;
    async fn init(gate: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Stuck(gate))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Slow>();
    }
}

#[derive(Serialize, Deserialize)]
struct Slow(u64);
impl Message for Slow {
    type Reply = ();
}
impl RemoteMessage for Slow {
    const TAG: &'static str = "test.hardening.slow";
}
impl Handler<Slow> for Stuck {
    type Return = ();
    async fn handle(&mut self, _: Slow, _: &mut Context<Self>) {
        if let Ok(permit) = self.0.acquire().await {
            permit.forget();
        }
    }
}

/// A one-slot `Stuck` on `b` and a handle to it on `a`.
async fn stuck_on(a: &Node, b: &Node) -> (ackor::ActorRef<Stuck>, Arc<tokio::sync::Semaphore>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let stuck = b
        .spawn_with::<Stuck>(gate.clone(), SpawnOptions::default().mailbox_capacity(1))
        .unwrap();
    (a.actor_ref::<Stuck>(stuck.pid()).unwrap(), gate)
}

#[tokio::test]
async fn plain_remote_send_into_a_full_mailbox_is_counted_and_logged_with_its_target() {
    let (capture, _guard) = Capture::install();
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let a = start_node("a", config()).await;
    let b = start_node("b", config()).await;
    let (to, gate) = stuck_on(&a, &b).await;
    // One slot: the first message takes it, the next two find the mailbox full.
    for i in 0..3 {
        to.send(Slow(i)).unwrap();
    }
    wait_for_count(
        &counters,
        "ackor_remote_undelivered_total{reason=mailbox_full}",
        2,
    )
    .await;
    let target = to.pid().to_string();
    let logged = capture
        .wait_for("of the dropped message", |r| {
            r.level == tracing::Level::DEBUG
                && r.message == "remote message not delivered"
                && r.field("to") == Some(target.as_str())
        })
        .await;
    assert_eq!(logged.field("tag"), Some("test.hardening.slow"));
    assert_eq!(logged.field("important"), Some("false"));
    gate.add_permits(10);
    a.shutdown().await;
    b.shutdown().await;
}

/// Sends plain messages with undelivered ones reported; tells the test each failure.
struct Reporter {
    to: ackor::ActorRef<Stuck>,
    failures: mpsc::UnboundedSender<ackor::DeliveryFailure>,
}

impl Actor for Reporter {
    type Args = (
        ackor::ActorRef<Stuck>,
        mpsc::UnboundedSender<ackor::DeliveryFailure>,
    );
    async fn init((to, failures): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.set_report_undelivered(true);
        Ok(Reporter { to, failures })
    }
    async fn on_undelivered(&mut self, _: &mut Context<Self>, failure: ackor::DeliveryFailure) {
        let _ = self.failures.send(failure);
    }
}

struct SendSlow(u64);
impl Message for SendSlow {
    type Reply = Result<(), Error>;
}
impl Handler<SendSlow> for Reporter {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: SendSlow, ctx: &mut Context<Self>) -> Result<(), Error> {
        ctx.send(&self.to, Slow(msg.0))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_send_from_an_actor_reports_a_full_remote_mailbox_when_asked() {
    let a = start_node("a", config()).await;
    let b = start_node("b", config()).await;
    let (to, gate) = stuck_on(&a, &b).await;
    let (tx, mut failures) = mpsc::unbounded_channel();
    let reporter = a.spawn::<Reporter>((to.clone(), tx)).unwrap();
    for i in 0..3 {
        // The actor does not wait for the acknowledgements: each call returns at once.
        assert_eq!(reporter.call(SendSlow(i)).await, Ok(Ok(())));
    }
    for _ in 0..2 {
        let failure = tokio::time::timeout(PROMPT, failures.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failure.error, Error::MailboxFull);
        assert_eq!(failure.to, ackor::Recipient::Pid(to.pid().clone()));
    }
    gate.add_permits(10);
    // Nothing else was lost.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), failures.recv())
            .await
            .is_err()
    );
    a.shutdown().await;
    b.shutdown().await;
}
