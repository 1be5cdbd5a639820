//! The observer's web server (axum): the page and its script and style (embedded in the
//! binary), the latest snapshot as JSON, a server-sent-event stream of snapshots, and
//! the detail of a followed process.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/snapshot` | the latest [`Snapshot`] as JSON |
//! | `GET /api/events` | `snapshot` events, each a [`Snapshot`] as JSON, every [`PERIOD`] |
//! | `GET /api/process?pid=<pid>` | the process's detail (404 if it is gone, 400 for a bad pid, 502 if its node does not answer) |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::{Notify, watch};

use super::PERIOD;
use super::gather::Source;
use super::snapshot::{Rates, Snapshot};

const INDEX_HTML: &str = include_str!("assets/index.html");
const OBSERVE_JS: &str = include_str!("assets/observe.js");
const OBSERVE_CSS: &str = include_str!("assets/observe.css");

/// What every handler shares.
#[derive(Clone)]
struct App {
    source: Source,
    latest: watch::Receiver<Arc<Snapshot>>,
    demand: Arc<Demand>,
}

/// How long the sampler goes on after the last sign of a reader (an open event stream
/// counts every [`PERIOD`]).
const IDLE: Duration = Duration::from_secs(10);

/// Whether anyone reads the snapshots: the sampler rests while nobody does, so an
/// observer with no page open asks its nodes nothing.
struct Demand {
    start: Instant,
    /// Milliseconds after `start` of the last sign of a reader.
    last: AtomicU64,
    wake: Notify,
}

impl Demand {
    fn new() -> Self {
        Demand {
            start: Instant::now(),
            last: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Someone reads: sample (again).
    fn ask(&self) {
        self.last.store(self.elapsed_ms(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Whether someone read lately.
    fn wanted(&self) -> bool {
        self.elapsed_ms()
            .saturating_sub(self.last.load(Ordering::Relaxed))
            < IDLE.as_millis() as u64
    }
}

/// Takes a first snapshot, starts taking one every [`PERIOD`] while someone reads them,
/// binds `addr` and serves the observer there; returns the bound address (port 0 picks
/// a free one). Both tasks run as long as the runtime does.
pub async fn serve(source: Source, addr: SocketAddr) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for the observer on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("observer listener: {e}"))?;
    let mut rates = Rates::default();
    let mut first = source.snapshot().await;
    rates.apply(&mut first.processes, Instant::now());
    let (tx, latest) = watch::channel(Arc::new(first));
    let demand = Arc::new(Demand::new());
    demand.ask();
    tokio::spawn(sample(source.clone(), rates, tx, demand.clone()));
    let app = Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route(
            "/observe.js",
            get(|| async { asset("text/javascript; charset=utf-8", OBSERVE_JS) }),
        )
        .route(
            "/observe.css",
            get(|| async { asset("text/css; charset=utf-8", OBSERVE_CSS) }),
        )
        .route("/api/snapshot", get(snapshot))
        .route("/api/events", get(events))
        .route("/api/process", get(process))
        .with_state(App {
            source,
            latest,
            demand,
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "observer stopped");
        }
    });
    Ok(bound)
}

/// Takes a snapshot every [`PERIOD`] (a slow node delays the next one rather than
/// piling them up) and publishes it; rests while nobody reads them.
async fn sample(source: Source, mut rates: Rates, tx: watch::Sender<Arc<Snapshot>>, demand: Arc<Demand>) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if !demand.wanted() {
            tracing::debug!("observer: nobody reads the snapshots, sampling paused");
            while !demand.wanted() {
                demand.wake.notified().await;
            }
            tracing::debug!("observer: sampling again");
            tick.reset();
        }
        let mut next = source.snapshot().await;
        rates.apply(&mut next.processes, Instant::now());
        tx.send_replace(Arc::new(next));
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The latest snapshot; a fresh one if the sampler was resting.
async fn snapshot(State(app): State<App>) -> Json<Snapshot> {
    app.demand.ask();
    let mut rx = app.latest.clone();
    let age = unix_ms().saturating_sub(rx.borrow_and_update().at_unix_ms);
    if age > 2 * PERIOD.as_millis() as u64 {
        // Bounded: a node that does not answer is the sampler's timeout, not ours.
        let _ = tokio::time::timeout(IDLE, rx.changed()).await;
    }
    Json(rx.borrow().as_ref().clone())
}

/// Now, in Unix milliseconds.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The latest snapshot at once, then each new one.
async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    app.demand.ask();
    let mut rx = app.latest.clone();
    rx.mark_changed();
    let demand = app.demand.clone();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let demand = demand.clone();
        async move {
            // An open stream is a reader: it keeps the sampler going.
            demand.ask();
            rx.changed().await.ok()?;
            let json = serde_json::to_string(rx.borrow_and_update().as_ref()).unwrap_or_default();
            Some((Ok(Event::default().event("snapshot").data(json)), rx))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `?pid=<pid>`.
#[derive(Deserialize)]
struct PidQuery {
    pid: String,
}

/// A followed process's detail; asking (again) keeps its node recording its messages.
async fn process(State(app): State<App>, Query(q): Query<PidQuery>) -> Response {
    let pid = match q.pid.parse::<ackor::Pid>() {
        Ok(pid) => pid,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match app.source.process(&pid).await {
        Ok(Some(detail)) => Json(detail).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, format!("{pid}: no such process")).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{}: {e}", pid.node())).into_response(),
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
