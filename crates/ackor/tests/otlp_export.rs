//! OTLP export (feature `otlp`): a call from a node to another is one trace in the
//! collector, with ackor's ids. Each node runs on a runtime of its own whose threads
//! use a subscriber and exporter of their own (service `otlp-a`, `otlp-b`), as two
//! processes would; both export over real HTTP, with protobuf bodies, to a real
//! OTLP/HTTP receiver in this test (hyper), which decodes what came.
//!
//! `cargo test -p ackor --features otlp --test otlp_export`

#![cfg(feature = "otlp")]
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ackor::trace::TraceContext;
use ackor::{
    Actor, ActorRef, BoxError, Context, Handler, Message, RemoteConfig, RemoteMessage, RemoteMessages,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;

mod common;
use common::{PROMPT, start_node};

/// One export request as the receiver got it.
struct Received {
    path: String,
    content_type: String,
    request: ExportTraceServiceRequest,
}

type Got = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP receiver: every `POST` body is decoded as an `ExportTraceServiceRequest`.
async fn serve(listener: tokio::net::TcpListener, got: Got) {
    while let Ok((stream, _)) = listener.accept().await {
        let got = got.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| receive(req, got.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn receive(req: Request<Incoming>, got: Got) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let decoded = match Limited::new(req.into_body(), 16 << 20).collect().await {
        Ok(body) => ExportTraceServiceRequest::decode(body.to_bytes()).ok(),
        Err(_) => None,
    };
    let Some(request) = decoded else {
        return Ok(Response::builder().status(400).body(Full::default()).unwrap());
    };
    got.lock().unwrap().push(Received {
        path,
        content_type,
        request,
    });
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    Ok(Response::builder()
        .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(answer)))
        .unwrap())
}

thread_local! {
    /// The subscriber of a runtime thread, for the thread's life.
    static SUBSCRIBER: RefCell<Option<tracing::dispatcher::DefaultGuard>> = const { RefCell::new(None) };
}

/// A runtime whose threads use `dispatch` (or none) as their subscriber.
fn runtime(dispatch: Option<tracing::Dispatch>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(1).enable_all();
    if let Some(dispatch) = dispatch {
        builder
            .on_thread_start(move || {
                let guard = tracing::dispatcher::set_default(&dispatch);
                SUBSCRIBER.with(|s| *s.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| SUBSCRIBER.with(|s| drop(s.borrow_mut().take())));
    }
    builder.build().unwrap()
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

/// Answers the `traceparent` of each handling on the way, in order.
#[derive(Serialize, Deserialize)]
struct Pass;
impl Message for Pass {
    type Reply = Vec<String>;
}
impl RemoteMessage for Pass {
    const TAG: &'static str = "test.otlp.pass";
}
impl Handler<Pass> for Hop {
    type Return = Vec<String>;
    async fn handle(&mut self, _: Pass, _: &mut Context<Self>) -> Vec<String> {
        let mine = ackor::trace::current().expect("a handler runs in a trace");
        // A span of the user's own, inside the handling.
        tracing::info_span!("hop.inner").in_scope(|| tracing::info!("inside"));
        let mut seen = vec![mine.traceparent()];
        if let Some(next) = &self.next {
            seen.extend(next.call(Pass).await.expect("the next hop answers"));
        }
        seen
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv: &KeyValue| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn service(request: &ExportTraceServiceRequest) -> Vec<String> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| r.resource.iter().flat_map(|r| r.attributes.iter()))
        .filter(|kv| kv.key == "service.name")
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_across_two_nodes_is_one_trace_in_the_collector() {
    let got: Got = Arc::default();
    let receiver = runtime(None);
    let listener = receiver
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    receiver.spawn(serve(listener, got.clone()));

    let (layer_a, guard_a) = ackor::telemetry::otlp::layer::<Registry>(&endpoint, "otlp-a").unwrap();
    let (layer_b, guard_b) = ackor::telemetry::otlp::layer::<Registry>(&endpoint, "otlp-b").unwrap();
    let rt_a = runtime(Some(tracing::Dispatch::new(Registry::default().with(layer_a))));
    let rt_b = runtime(Some(tracing::Dispatch::new(Registry::default().with(layer_b))));

    let config = || RemoteConfig::new("otlp").heartbeat_interval(Duration::from_millis(200));
    let a = rt_a.block_on(start_node("oa", config()));
    let b = rt_b.block_on(start_node("ob", config()));
    let on_b = {
        let _in_b = rt_b.enter();
        b.spawn::<Hop>(None).unwrap()
    };
    let on_a = {
        let _in_a = rt_a.enter();
        let b_from_a = a.actor_ref::<Hop>(on_b.pid()).unwrap();
        a.spawn::<Hop>(Some(b_from_a)).unwrap()
    };
    // Sent from outside any actor: the handling on a starts the trace.
    let seen = rt_a
        .block_on(async { tokio::time::timeout(PROMPT, on_a.call(Pass)).await })
        .expect("the call answers in time")
        .unwrap();
    let seen: Vec<TraceContext> = seen.iter().map(|t| TraceContext::parse(t).unwrap()).collect();
    let [on_a_ctx, on_b_ctx] = seen[..] else {
        panic!("two hops: {seen:?}")
    };
    rt_a.block_on(a.shutdown());
    rt_b.block_on(b.shutdown());
    // Each guard sends what its exporter still holds.
    guard_a.shutdown().expect("node a's spans are exported");
    guard_b.shutdown().expect("node b's spans are exported");
    drop((rt_a, rt_b));

    let got = std::mem::take(&mut *got.lock().unwrap());
    assert!(!got.is_empty(), "the receiver got no export");
    for r in &got {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.content_type, "application/x-protobuf");
    }
    // (service, span) for every span that came.
    let spans: Vec<(String, &Span)> = got
        .iter()
        .flat_map(|r| {
            let service = service(&r.request).join(",");
            r.request
                .resource_spans
                .iter()
                .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
                .map(move |s| (service.clone(), s))
        })
        .collect();
    let handled: Vec<&(String, &Span)> = spans
        .iter()
        .filter(|(_, s)| s.name == "ackor.handle" && attr(s, "message").is_some_and(|m| m.contains("Pass")))
        .collect();
    assert_eq!(handled.len(), 2, "one handle span per node: {handled:?}");
    let by = |service: &str| {
        handled
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, span)| *span)
            .unwrap_or_else(|| panic!("no handle span from {service}: {handled:?}"))
    };
    let (span_a, span_b) = (by("otlp-a"), by("otlp-b"));
    assert!(attr(span_a, "pid").unwrap().contains(a.name().as_str()));
    assert!(attr(span_b, "pid").unwrap().contains(b.name().as_str()));

    // One trace, ackor's.
    assert_eq!(on_a_ctx.trace_id, on_b_ctx.trace_id);
    let trace = on_a_ctx.trace_id.to_be_bytes().to_vec();
    assert_eq!(span_a.trace_id, trace, "node a's span is in ackor's trace");
    assert_eq!(span_b.trace_id, trace, "node b's span is in ackor's trace");
    // Each span is the handling's own, and b's parent is a's: a tree across nodes.
    assert_eq!(span_a.span_id, on_a_ctx.span_id.to_be_bytes().to_vec());
    assert_eq!(span_b.span_id, on_b_ctx.span_id.to_be_bytes().to_vec());
    assert!(span_a.parent_span_id.is_empty(), "a's handling is the root");
    assert_eq!(span_b.parent_span_id, span_a.span_id, "b's parent is a's span");
    assert!(
        span_a.end_time_unix_nano >= span_b.end_time_unix_nano,
        "a waited for b"
    );

    // The user's span inside b's handling hangs below it, in the same trace.
    let inner_b = spans
        .iter()
        .find(|(s, span)| s == "otlp-b" && span.name == "hop.inner")
        .map(|(_, span)| *span)
        .expect("the handler's own span on b");
    assert_eq!(inner_b.trace_id, trace);
    assert_eq!(inner_b.parent_span_id, span_b.span_id);
}
