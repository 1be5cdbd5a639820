//! Runs one benchmarked operation of one framework once, outside criterion, and prints
//! its time per element: a target for `perf stat` / `perf record`.
//!
//! `cargo run --release -p ackor-bench --bin probe -- OP FRAMEWORK [N] [REPEAT]` with OP
//! one of `tell_1to1`, `tell_n_to_n`, `ask`, `spawn_stop`, `spawn_all_stop_all` (and
//! `ask_latency` for `ackor`, `actix` and `tokio`: each call timed, p50/p99 printed) and FRAMEWORK one of `ackor`,
//! `kameo`, `ractor`, `actix`, `tokio`. `PROBE_WORKERS=1` runs the tokio-based ones on a
//! 1-worker multi-thread runtime instead of the benches' 2 workers (sender and actor then
//! share the thread).

use std::time::Duration;

use ackor_bench::remote::Latencies;

use ackor_bench::{
    BenchError, PAIRS, ackor_impl, actix_impl, kameo_impl, ractor_impl, run_on_worker, runtime, tokio_impl,
};

fn run(op: &str, framework: &str, n: u64) -> Result<Duration, BenchError> {
    if framework == "actix" {
        let system = actix_rt::System::new();
        let arbiters = actix_impl::arbiters();
        let handles: Vec<_> = arbiters.iter().map(|a| a.handle()).collect();
        let out = system.block_on(async {
            match op {
                "tell_1to1" => actix_impl::tell_1to1(n).await,
                "tell_n_to_n" => actix_impl::tell_n_to_n(&handles, n).await,
                "ask" => actix_impl::ask(n).await,
                "spawn_stop" => actix_impl::spawn_stop(n).await,
                "spawn_all_stop_all" => actix_impl::spawn_all_stop_all(n).await,
                "ask_latency" => actix_impl::ask_latency(n).await.map(print_latencies),
                _ => Err(format!("unknown operation {op}").into()),
            }
        });
        actix_impl::stop_arbiters(arbiters);
        return out;
    }
    let rt = match std::env::var("PROBE_WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
    {
        Some(workers) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?,
        None => runtime()?,
    };
    let op = op.to_string();
    let framework = framework.to_string();
    run_on_worker(&rt, async move {
        match (framework.as_str(), op.as_str()) {
            ("ackor", _) => {
                let node = ackor_impl::start_node().await?;
                let out = match op.as_str() {
                    "tell_1to1" => ackor_impl::tell_1to1(&node, n).await,
                    "tell_n_to_n" => ackor_impl::tell_n_to_n(&node, n).await,
                    "ask" => ackor_impl::ask(&node, n).await,
                    "spawn_stop" => ackor_impl::spawn_stop(&node, n).await,
                    "spawn_all_stop_all" => ackor_impl::spawn_all_stop_all(&node, n).await,
                    "ask_latency" => ackor_impl::ask_latency(&node, n).await.map(print_latencies),
                    _ => Err(format!("unknown operation {op}").into()),
                };
                node.shutdown().await;
                out
            }
            ("kameo", "tell_1to1") => kameo_impl::tell_1to1(n).await,
            ("kameo", "tell_n_to_n") => kameo_impl::tell_n_to_n(n).await,
            ("kameo", "ask") => kameo_impl::ask(n).await,
            ("kameo", "spawn_stop") => kameo_impl::spawn_stop(n).await,
            ("kameo", "spawn_all_stop_all") => kameo_impl::spawn_all_stop_all(n).await,
            ("ractor", "tell_1to1") => ractor_impl::tell_1to1(n).await,
            ("ractor", "tell_n_to_n") => ractor_impl::tell_n_to_n(n).await,
            ("ractor", "ask") => ractor_impl::ask(n).await,
            ("ractor", "spawn_stop") => ractor_impl::spawn_stop(n).await,
            ("ractor", "spawn_all_stop_all") => ractor_impl::spawn_all_stop_all(n).await,
            ("tokio", "tell_1to1") => tokio_impl::tell_1to1(n).await,
            ("tokio", "tell_n_to_n") => tokio_impl::tell_n_to_n(n).await,
            ("tokio", "ask") => tokio_impl::ask(n).await,
            ("tokio", "ask_with_timeout") => tokio_impl::ask_with_timeout(n).await,
            ("tokio", "ask_latency") => tokio_impl::ask_latency(n).await.map(print_latencies),
            ("tokio", "spawn_stop") => tokio_impl::spawn_stop(n).await,
            ("tokio", "spawn_all_stop_all") => tokio_impl::spawn_all_stop_all(n).await,
            _ => Err(format!("unknown operation or framework: {op} {framework}").into()),
        }
    })?
}

/// Prints the spread of an `ask_latency` run; its total time goes on as usual.
fn print_latencies((elapsed, latencies): (Duration, Latencies)) -> Duration {
    println!(
        "ask_latency: p50 {:.0} ns, p99 {:.0} ns, p99.9 {:.0} ns, mean {:.0} ns",
        latencies.quantile_us(0.5) * 1000.0,
        latencies.quantile_us(0.99) * 1000.0,
        latencies.quantile_us(0.999) * 1000.0,
        latencies.mean_us() * 1000.0,
    );
    elapsed
}

fn main() -> Result<(), BenchError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(op), Some(framework)) = (args.first(), args.get(1)) else {
        return Err("usage: probe OP FRAMEWORK [N] [REPEAT]".into());
    };
    let n: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let repeat: u32 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let per_op = if op == "tell_n_to_n" { n * PAIRS as u64 } else { n };
    for _ in 0..repeat {
        let elapsed = run(op, framework, n)?;
        println!(
            "{op} {framework}: {n} iterations in {elapsed:?}: {:.1} ns per element, {:.2} M elements/s",
            elapsed.as_nanos() as f64 / per_op as f64,
            per_op as f64 / elapsed.as_secs_f64() / 1e6
        );
    }
    Ok(())
}
