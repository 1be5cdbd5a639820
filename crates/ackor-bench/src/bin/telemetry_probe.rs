//! What telemetry costs: local tell 1→1 and remote tell 1→1 with nothing listening,
//! with a tracing subscriber at `DEBUG` (every handled message then gets its
//! `ackor.handle` span), with a Prometheus recorder installed (the counters ackor
//! always records), and with the recorder plus the node's detailed metrics (sampled
//! gauges and the handler-latency histogram).
//!
//! `cargo run --release -p ackor-bench --bin telemetry_probe -- MODE OP [N] [REPEAT]`
//! with MODE one of `off`, `tracing`, `metrics`, `detailed` and OP one of `local_tell`,
//! `remote_tell`. A subscriber and a recorder are per process, so each mode is its own
//! run: alternate them in one session (BENCHMARKS.md shows the loop). Prints M msg/s
//! per repetition.

use std::time::Duration;

use ackor_bench::remote::ackor_remote::AckorNodes;
use ackor_bench::{BenchError, ackor_impl, run_on_worker, runtime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs what `mode` listens with; true if the nodes should record detailed metrics.
fn install(mode: &str) -> Result<bool, BenchError> {
    match mode {
        "off" => Ok(false),
        "tracing" => {
            // A real formatter (to nowhere) behind a DEBUG filter: spans are built,
            // entered and closed as with a user's `fmt` subscriber.
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::filter::LevelFilter::DEBUG)
                .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
            subscriber.try_init()?;
            Ok(false)
        }
        "metrics" | "detailed" => {
            // The handle (to render a scrape) is not needed: recording is the cost.
            drop(metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?);
            ackor::telemetry::describe();
            Ok(mode == "detailed")
        }
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn main() -> Result<(), BenchError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(op)) = (args.first(), args.get(1)) else {
        return Err(
            "usage: telemetry_probe off|tracing|metrics|detailed local_tell|remote_tell [N] [REPEAT]".into(),
        );
    };
    let n: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let repeat: usize = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let detailed = install(mode)?;
    let rt = runtime()?;
    let op = op.clone();
    let times = run_on_worker(&rt, async move {
        let mut times: Vec<Duration> = Vec::new();
        match op.as_str() {
            "local_tell" => {
                let node = ackor_impl::start_node_with(detailed).await?;
                for _ in 0..repeat {
                    times.push(ackor_impl::tell_1to1(&node, n).await?);
                }
                node.shutdown().await;
            }
            "remote_tell" => {
                let nodes = AckorNodes::start_with(2, detailed).await?;
                for _ in 0..repeat {
                    times.push(nodes.tell_1to1(n).await?);
                }
                nodes.shutdown().await;
            }
            other => return Err::<_, BenchError>(format!("unknown operation {other}").into()),
        }
        Ok(times)
    })??;
    for t in &times {
        println!(
            "{mode} {} {:.2} M msg/s",
            args[1],
            n as f64 / t.as_secs_f64() / 1e6
        );
    }
    Ok(())
}
