//! `ackor node --metrics ADDR`: the node's metrics in the Prometheus text format at
//! `http://ADDR/metrics` (metrics-exporter-prometheus renders them, axum serves them).
//! Every documented metric of ackor and ackor-cluster is listed from the start, at zero
//! (the detailed ones once the node has sampled or handled something: see
//! `ackor::NodeBuilder::detailed_metrics`). `examples/scrape_metrics.rs` serves and
//! scrapes it.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;

/// Installs the Prometheus recorder for this process, binds `addr` and serves
/// `/metrics` there; returns the bound address (port 0 picks a free one). Fails if a
/// recorder is installed already or `addr` cannot be bound.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), String> {
/// let bound = ackor_cli::metrics_endpoint::serve("127.0.0.1:0".parse().unwrap()).await?;
/// println!("metrics at http://{bound}/metrics");
/// # Ok(()) }
/// ```
pub async fn serve(addr: SocketAddr) -> Result<SocketAddr, String> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    ackor::telemetry::describe();
    ackor_cluster::telemetry::describe();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("metrics listener: {e}"))?;
    let app = Router::new().route("/metrics", get(move || std::future::ready(handle.render())));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}
