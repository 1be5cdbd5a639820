//! Important delivery across two ackor nodes on loopback, in one run:
//! `cargo bench -p ackor-bench --bench important`.
//!
//! Group `important_throughput` (one criterion iteration = one message), one sender task
//! to one counter on the other node:
//!
//! - `send_plain`: `n` plain remote sends, then a call for the count (as
//!   `remote_tell_1to1/ackor` in `benches/remote.rs`);
//! - `send_important_w1024`: `n` important sends with at most [`WINDOW`] awaiting their
//!   acknowledgement, then the count;
//! - `call_w1024`: `n` plain calls with at most [`WINDOW`] awaiting their reply (an
//!   acknowledgement by the handler's reply, for comparison);
//! - `send_important_seq`: `n` important sends, each awaited before the next.
//!
//! Group `important_latency` (one iteration = one operation, awaited): `send_important`,
//! `call`, `call_important`. Each operation's own time also goes into a histogram; at
//! the end the bench prints p50, p90, p99, p99.9, max and mean, and writes them as TSV to
//! `<target>/tmp/ackor-bench-important-latency.tsv`.
//!
//! Nodes use 2 TCP links per peer (the default), or `ACKOR_BENCH_LINKS` if set.
//!
//! Every run ends with a call returning the receiver's count, checked against what was
//! sent: a wrong count panics the bench. The operations are in
//! `src/remote/ackor_remote.rs`.

#![allow(clippy::expect_used)]

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use ackor_bench::remote::ackor_remote::{AckorNodes, LatencyOp};
use ackor_bench::remote::{LATENCY_HEADER, Latencies, latency_row};
use ackor_bench::{BenchError, run_on_worker};
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};

/// Most important sends (or calls) awaiting their acknowledgement at once.
const WINDOW: usize = 1024;

const OPS: [(&str, LatencyOp); 4] = [
    ("send_important", LatencyOp::SendImportant),
    ("send_important_after_handling", LatencyOp::SendImportantHandled),
    ("call", LatencyOp::Call),
    ("call_important", LatencyOp::CallImportant),
];

/// Runs an operation on a worker of `rt`; a failure (wrong count, lost connection,
/// refused message) panics the bench.
fn on<F, T>(rt: &tokio::runtime::Runtime, op: F) -> T
where
    F: Future<Output = Result<T, BenchError>> + Send + 'static,
    T: Send + 'static,
{
    run_on_worker(rt, op)
        .expect("runtime")
        .expect("benchmark run failed")
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
}

fn benches(c: &mut Criterion) {
    let rt = ackor_bench::runtime().expect("tokio runtime");
    let links = std::env::var("ACKOR_BENCH_LINKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let nodes: AckorNodes = on(&rt, AckorNodes::start(links));

    let mut g = c.benchmark_group("important_throughput");
    configure(&mut g);
    g.bench_function("send_plain", |b| {
        b.iter_custom(|n| {
            let nodes = nodes.clone();
            on(&rt, async move { nodes.tell_1to1(n).await })
        })
    });
    g.bench_function(format!("send_important_w{WINDOW}"), |b| {
        b.iter_custom(|n| {
            let nodes = nodes.clone();
            on(&rt, async move { nodes.important_window(n, WINDOW).await })
        })
    });
    g.bench_function(format!("call_w{WINDOW}"), |b| {
        b.iter_custom(|n| {
            let nodes = nodes.clone();
            on(&rt, async move { nodes.call_window(n, WINDOW).await })
        })
    });
    g.bench_function("send_important_seq", |b| {
        b.iter_custom(|n| {
            let nodes = nodes.clone();
            on(&rt, async move { nodes.important_window(n, 1).await })
        })
    });
    g.finish();

    let latencies: RefCell<Vec<Latencies>> = RefCell::new(vec![Latencies::new(); OPS.len()]);
    let mut g = c.benchmark_group("important_latency");
    configure(&mut g);
    for (i, (name, op)) in OPS.into_iter().enumerate() {
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                let nodes = nodes.clone();
                let (elapsed, lat) = on(&rt, async move { nodes.op_latency(op, n).await });
                latencies.borrow_mut()[i]
                    .add(&lat)
                    .expect("histograms with the same bounds add up");
                elapsed
            })
        });
    }
    g.finish();

    report_latencies(&latencies.borrow());
    run_on_worker(&rt, async move {
        nodes.shutdown().await;
    })
    .expect("runtime");
}

/// Prints the latency table and writes it as TSV (only for a real run).
fn report_latencies(all: &[Latencies]) {
    println!(
        "\nimportant_latency per-operation latency (µs; every operation of the group, warm-up included)"
    );
    println!(
        "{:<29} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "operation", "ops", "min", "p50", "p90", "p99", "p99.9", "max", "mean"
    );
    let mut tsv = format!("{LATENCY_HEADER}\n");
    for ((name, _), l) in OPS.iter().zip(all) {
        if l.count() == 0 {
            continue;
        }
        println!(
            "{name:<29} {:>9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1}",
            l.count(),
            l.min_us(),
            l.quantile_us(0.50),
            l.quantile_us(0.90),
            l.quantile_us(0.99),
            l.quantile_us(0.999),
            l.max_us(),
            l.mean_us()
        );
        tsv.push_str(&latency_row(name, l));
        tsv.push('\n');
    }
    let full = std::env::args().any(|a| a == "--bench") && !std::env::args().any(|a| a == "--test");
    if full {
        let path =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ackor-bench-important-latency.tsv");
        match std::fs::write(&path, tsv) {
            Ok(()) => println!("written to {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}

criterion_group!(important, benches);
criterion_main!(important);
