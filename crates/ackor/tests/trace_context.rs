//! Trace context across nodes: a call from node a to b to c is one trace, seen by a
//! subscriber as three `ackor.handle` spans with one `trace_id`.
//!
//! One test in this file: it installs the process's global subscriber.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Handler, Message, RemoteConfig, RemoteMessage, RemoteMessages,
};
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::Registry;

mod common;
use common::start_node;

/// The fields of every `ackor.handle` span, by span id.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);
impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
        if attrs.metadata().name() == "ackor.handle" {
            let mut fields = HashMap::new();
            attrs.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().insert(id.into_u64(), fields);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
        if let Some(fields) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

struct Hop {
    next: Option<ActorRef<Hop>>,
}

impl Actor for Hop {
    type Args = Option<ActorRef<Hop>>;
    async fn init(next: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Hop { next })
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Pass>();
    }
}

#[derive(Serialize, Deserialize)]
struct Pass(u32);
impl Message for Pass {
    type Reply = u32;
}
impl RemoteMessage for Pass {
    const TAG: &'static str = "test.trace.pass";
}
impl Handler<Pass> for Hop {
    type Return = u32;
    async fn handle(&mut self, Pass(hops): Pass, _: &mut Context<Self>) -> u32 {
        match &self.next {
            Some(next) => next.call(Pass(hops + 1)).await.unwrap(),
            None => hops + 1,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_a_to_b_to_c_is_one_trace() {
    let spans = Spans::default();
    tracing::subscriber::set_global_default(Registry::default().with(spans.clone())).unwrap();
    let config = || RemoteConfig::new("trace").heartbeat_interval(Duration::from_millis(200));
    let (a, b, c) = (
        start_node("ta", config()).await,
        start_node("tb", config()).await,
        start_node("tc", config()).await,
    );
    let on_c = c.spawn::<Hop>(None).unwrap();
    let c_from_b = b.actor_ref::<Hop>(on_c.pid()).unwrap();
    let on_b = b.spawn::<Hop>(Some(c_from_b)).unwrap();
    let b_from_a = a.actor_ref::<Hop>(on_b.pid()).unwrap();
    let on_a = a.spawn::<Hop>(Some(b_from_a)).unwrap();
    // Sent from outside any actor: the handling on a starts the trace.
    assert_eq!(on_a.call(Pass(0)).await, Ok(3));

    let handled: Vec<HashMap<String, String>> = spans
        .0
        .lock()
        .unwrap()
        .values()
        .filter(|f| f.get("message").is_some_and(|m| m.contains("Pass")))
        .cloned()
        .collect();
    assert_eq!(handled.len(), 3, "one span per hop: {handled:?}");
    let traces: Vec<&String> = handled
        .iter()
        .map(|f| f.get("trace_id").expect("a trace id"))
        .collect();
    assert!(traces.iter().all(|t| *t == traces[0]), "one trace: {handled:?}");
    assert_eq!(traces[0].len(), 32, "128 bits in hex: {}", traces[0]);
    let mut span_ids: Vec<&String> = handled
        .iter()
        .map(|f| f.get("span_id").expect("a span id"))
        .collect();
    span_ids.sort();
    span_ids.dedup();
    assert_eq!(span_ids.len(), 3, "a span of its own per hop: {handled:?}");
    let nodes: Vec<String> = handled.iter().map(|f| f["pid"].clone()).collect();
    for node in [&a, &b, &c] {
        assert!(
            nodes.iter().any(|p| p.contains(node.name().as_str())),
            "a span on {}: {nodes:?}",
            node.name()
        );
    }
    // The hops that came over the network show the call id they came with; the first
    // (a local call from outside any actor) has none.
    let with_call_id: Vec<&HashMap<String, String>> = handled
        .iter()
        .filter(|f| {
            f.get("call_id")
                .is_some_and(|id| id.parse::<u64>().is_ok_and(|id| id != 0))
        })
        .collect();
    assert_eq!(with_call_id.len(), 2, "b and c show their call ids: {handled:?}");
    assert!(with_call_id.iter().all(|f| !f["pid"].contains(a.name().as_str())));
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}
