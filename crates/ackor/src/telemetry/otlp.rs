//! OpenTelemetry export (feature `otlp`): the `ackor.handle` spans, one per handled
//! message (see [`trace`](crate::trace)), go to an OTLP collector (the OpenTelemetry
//! Collector, Jaeger, Tempo, ...) over OTLP/HTTP with protobuf bodies, **with ackor's
//! own ids**, so that a call chain across nodes is one tree in the collector:
//!
//! | OpenTelemetry | ackor (fields of `ackor.handle`) |
//! |---|---|
//! | trace id | `trace_id`: the trace the message came with (or the one its handling started) |
//! | span id | `span_id`: the handling's own span, the parent of what the handler sends |
//! | parent span id | `parent_span_id`: the span of the handler that sent the message; none when it was sent from outside any handler (the span is then the trace's root) |
//!
//! Each node exports its own spans; the ids travel with the messages (locally in the
//! envelope, remotely in the wire frame), so node b's span names node a's as its parent
//! without the two exporters knowing of each other. Other spans (your own, inside a
//! handler) are exported too, as children of the span they run in, with ids of
//! OpenTelemetry's making.
//!
//! [`layer`] makes a [`tracing_subscriber::Layer`] to add to your subscriber and an
//! [`OtlpGuard`] that sends what is left when dropped. ackor's spans are at `DEBUG`
//! (target `ackor`): enable that level for the layer, best with a per-layer filter so
//! that your log output keeps its own level. While nothing listens at `DEBUG`, ackor
//! makes no span at all; with the layer on, every handled message is a span: keep the
//! filter to what you want to see.
//!
//! ```no_run
//! use tracing_subscriber::filter::Targets;
//! use tracing_subscriber::prelude::*;
//!
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! // Port 4318 is OTLP/HTTP's usual one; a bare address gets the path `/v1/traces`.
//! let (otlp, guard) = ackor::telemetry::otlp::layer("http://localhost:4318", "orders")?;
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_filter(Targets::new().with_default(tracing::Level::INFO)))
//!     .with(otlp.with_filter(Targets::new().with_target("ackor", tracing::Level::DEBUG)))
//!     .init();
//!
//! let node = ackor::Node::builder().name("orders@localhost").start().await?;
//! // ... spawn actors, handle messages: each handling is a span in the collector.
//! node.shutdown().await;
//! drop(guard); // exports what is still queued (waits up to the export timeout)
//! # Ok(()) }
//! ```
//!
//! Export runs on a thread of the OpenTelemetry SDK's batch processor: spans are
//! queued (2048 at most; more are dropped) and sent in batches every 5 seconds (the
//! `OTEL_BSP_*` variables change that); `OTEL_EXPORTER_OTLP_HEADERS` adds headers (an
//! API key, say). The transport is plain HTTP (no TLS): for a collector elsewhere, run
//! one next to the node (an OpenTelemetry Collector) and let it forward. A failing
//! export is logged once (`WARN`) until one succeeds again; its spans are dropped.

mod http;

use std::cell::Cell;
use std::time::Duration;

use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::error::Error;

/// How long one export may take: connecting, sending and reading the answer (the
/// OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The span `actor/run.rs` makes per handled message, and its fields that carry ids.
const HANDLE_SPAN: &str = "ackor.handle";

/// Makes the layer that exports spans to the OTLP/HTTP collector at `endpoint`, and
/// the guard that flushes and stops the export when dropped.
///
/// `endpoint` is an `http://` URL: the full URL of the traces endpoint, or only the
/// collector's address (`http://localhost:4318`, path empty or `/`), which gets
/// `/v1/traces`. `service_name` names this program in the collector (`service.name`;
/// other resource attributes come from `OTEL_RESOURCE_ATTRIBUTES`). Nothing is
/// connected yet: an unreachable collector shows when the first batch is sent.
///
/// # Errors
///
/// [`Error::Config`] if `endpoint` is not an `http://` URL with a host.
///
/// ```
/// # fn main() -> Result<(), ackor::Error> {
/// let (layer, guard) = ackor::telemetry::otlp::layer::<tracing_subscriber::Registry>(
///     "http://127.0.0.1:4318",
///     "example",
/// )?;
/// assert!(ackor::telemetry::otlp::layer::<tracing_subscriber::Registry>("localhost:4318", "x").is_err());
/// # drop((layer, guard)); Ok(()) }
/// ```
pub fn layer<S>(endpoint: &str, service_name: &str) -> Result<(impl Layer<S>, OtlpGuard), Error>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let url = traces_url(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(http::BlockingHttp::new(EXPORT_TIMEOUT))
        .build()
        .map_err(|e| Error::Config(format!("OTLP endpoint {url}: {e}")))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(AckorIds::default())
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_string())
                .build(),
        )
        .build();
    let scope = InstrumentationScope::builder("ackor")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let tracer = AckorTracer(provider.tracer_with_scope(scope));
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    Ok((layer, OtlpGuard { provider }))
}

/// Keeps the export running; dropping it sends the spans still queued and stops the
/// export (blocking up to the export timeout, 10 s, if the collector is slow). Keep it
/// until the end of `main`; spans made after it is dropped are not exported.
#[derive(Debug)]
#[must_use = "dropping the guard stops the export"]
pub struct OtlpGuard {
    provider: SdkTracerProvider,
}

impl OtlpGuard {
    /// Sends the spans ended so far now, and waits for it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with the reason if the export failed (the spans are dropped).
    pub fn flush(&self) -> Result<(), Error> {
        self.provider
            .force_flush()
            .map_err(|e| Error::Config(format!("OTLP export: {e}")))
    }

    /// Sends the spans still queued and stops the export, as dropping does, but says
    /// whether that worked.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with the reason if the last export failed.
    pub fn shutdown(self) -> Result<(), Error> {
        self.provider
            .shutdown()
            .map_err(|e| Error::Config(format!("OTLP export: {e}")))
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        // Errors were logged by the client; shutting down twice is harmless.
        drop(self.provider.shutdown());
    }
}

/// The traces URL for `endpoint` (see [`layer`]).
fn traces_url(endpoint: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Config(format!("OTLP endpoint {endpoint:?}: {why}"));
    let uri: ::http::Uri = endpoint
        .parse()
        .map_err(|e: ::http::uri::InvalidUri| bad(&e.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad(
            "give an http:// URL (plain HTTP only: for TLS, send to a local collector that forwards)",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    match uri.path() {
        "" | "/" => Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/'))),
        _ => Ok(endpoint.to_string()),
    }
}

/// ackor's ids of one `ackor.handle` span, from its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HandleIds {
    trace_id: u128,
    span_id: u64,
    parent_span_id: Option<u64>,
}

impl HandleIds {
    /// The ids recorded on the span being built: `None` if it is no `ackor.handle` span
    /// or lacks them.
    fn of(builder: &SpanBuilder) -> Option<HandleIds> {
        if builder.name != HANDLE_SPAN {
            return None;
        }
        let (mut trace_id, mut span_id, mut parent_span_id) = (None, None, None);
        for kv in builder.attributes.iter().flatten() {
            let opentelemetry::Value::String(value) = &kv.value else {
                continue;
            };
            let value = value.as_str();
            match kv.key.as_str() {
                "trace_id" => trace_id = u128::from_str_radix(value, 16).ok().filter(|&t| t != 0),
                "span_id" => span_id = u64::from_str_radix(value, 16).ok().filter(|&s| s != 0),
                "parent_span_id" => parent_span_id = u64::from_str_radix(value, 16).ok().filter(|&s| s != 0),
                _ => {}
            }
        }
        Some(HandleIds {
            trace_id: trace_id?,
            span_id: span_id?,
            parent_span_id,
        })
    }
}

thread_local! {
    /// The ids the SDK's next span on this thread takes (set by [`AckorTracer`] around
    /// one `build_with_context` call, read by [`AckorIds`] within it).
    static NEXT_TRACE: Cell<Option<u128>> = const { Cell::new(None) };
    static NEXT_SPAN: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The SDK's id generator: ackor's ids for the `ackor.handle` span being built on this
/// thread, random ones for every other span.
#[derive(Debug, Default)]
struct AckorIds {
    random: RandomIdGenerator,
}

impl IdGenerator for AckorIds {
    fn new_trace_id(&self) -> TraceId {
        match NEXT_TRACE.with(Cell::take) {
            Some(id) => TraceId::from(id),
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match NEXT_SPAN.with(Cell::take) {
            Some(id) => SpanId::from(id),
            None => self.random.new_span_id(),
        }
    }
}

/// Clears what [`AckorTracer`] left for [`AckorIds`], however the build ends.
struct ClearNext;

impl Drop for ClearNext {
    fn drop(&mut self) {
        NEXT_TRACE.with(|c| c.set(None));
        NEXT_SPAN.with(|c| c.set(None));
    }
}

/// The SDK's tracer, but an `ackor.handle` span gets ackor's ids: its parent is the
/// sender's span (a remote parent made from `trace_id` and `parent_span_id`), or none,
/// and its own span id is `span_id` (through [`AckorIds`]). tracing-opentelemetry
/// builds a span when it is first entered, after run.rs recorded the ids.
#[derive(Debug, Clone)]
struct AckorTracer(SdkTracer);

impl Tracer for AckorTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        let ids = match HandleIds::of(&builder) {
            Some(ids) if !parent_cx.is_telemetry_suppressed() => ids,
            _ => return self.0.build_with_context(builder, parent_cx),
        };
        let parent = match ids.parent_span_id {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(ids.trace_id),
                SpanId::from(parent),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            // A root in ackor is a root here too, whatever span is current.
            None => Context::new(),
        };
        let _clear = ClearNext;
        NEXT_TRACE.with(|c| c.set(Some(ids.trace_id)));
        NEXT_SPAN.with(|c| c.set(Some(ids.span_id)));
        self.0.build_with_context(builder, &parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::Span as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    use std::sync::{Arc, Mutex};

    /// Keeps what it is given (the SDK's in-memory exporter is behind its `testing`).
    #[derive(Debug, Clone, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    #[test]
    fn endpoints_get_the_traces_path_when_they_have_none() {
        assert_eq!(
            traces_url("http://localhost:4318").ok().as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://localhost:4318/").ok().as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://[::1]:4318/otlp/v1/traces").ok().as_deref(),
            Some("http://[::1]:4318/otlp/v1/traces")
        );
        for bad in [
            "",
            "localhost:4318",
            "https://collector:4318",
            "ftp://x/",
            "http://",
            "not a url",
        ] {
            assert!(matches!(traces_url(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    fn handle_builder(fields: &[(&'static str, &str)]) -> SpanBuilder {
        SpanBuilder::from_name(HANDLE_SPAN)
            .with_attributes(fields.iter().map(|&(k, v)| KeyValue::new(k, v.to_string())))
    }

    #[test]
    fn handle_spans_take_ackors_ids_and_others_do_not() {
        let exporter = Kept::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(AckorIds::default())
            .build();
        let tracer = AckorTracer(provider.tracer("test"));
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut child = tracer.build_with_context(
            handle_builder(&[
                ("trace_id", trace),
                ("span_id", "00f067aa0ba902b7"),
                ("parent_span_id", "1111111111111111"),
            ]),
            &Context::new(),
        );
        let mut root = tracer.build_with_context(
            handle_builder(&[("trace_id", trace), ("span_id", "2222222222222222")]),
            &Context::new(),
        );
        let mut other = tracer.build_with_context(SpanBuilder::from_name("mine"), &Context::new());
        let mut untraced = tracer.build_with_context(handle_builder(&[("actor", "x")]), &Context::new());
        for span in [&mut child, &mut root, &mut other, &mut untraced] {
            span.end();
        }
        let spans = exporter.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 4);
        let trace = TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736u128);
        assert_eq!(spans[0].span_context.trace_id(), trace);
        assert_eq!(
            spans[0].span_context.span_id(),
            SpanId::from(0x00f067aa0ba902b7u64)
        );
        assert_eq!(spans[0].parent_span_id, SpanId::from(0x1111111111111111u64));
        assert!(spans[0].span_context.is_sampled());
        assert_eq!(spans[1].span_context.trace_id(), trace);
        assert_eq!(
            spans[1].span_context.span_id(),
            SpanId::from(0x2222222222222222u64)
        );
        assert_eq!(spans[1].parent_span_id, SpanId::INVALID);
        // No ackor ids left behind for the spans that have none.
        for span in &spans[2..] {
            assert_ne!(span.span_context.trace_id(), trace);
            assert!(span.span_context.is_valid());
        }
        assert!(NEXT_TRACE.with(Cell::get).is_none() && NEXT_SPAN.with(Cell::get).is_none());
        drop(provider.shutdown());
    }
}
