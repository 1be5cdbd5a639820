//! Remote: ackor vs ractor_cluster vs a bare TCP pair, two nodes in one process on
//! loopback, side by side in one run: `cargo bench -p ackor-bench --bench remote`.
//!
//! Groups `remote_tell_1to1`, `remote_tell_n_to_n` (one criterion iteration = one
//! message, per pair for N→N) and `remote_call` (one iteration = one call round trip).
//! Every throughput run ends with a call returning the receiver's count, checked against
//! what was sent; every call run checks its last reply: a wrong count panics the bench.
//!
//! `remote_call` also records each call's own time in a histogram per implementation
//! (every call criterion makes, warm-up included); at the end the bench prints p50, p90,
//! p99, p99.9 and max, and writes them as TSV to
//! `<target>/tmp/ackor-bench-remote-latency.tsv`.
//!
//! The operations, and how each implementation is configured, are in
//! `src/remote/`.

#![allow(clippy::expect_used)]

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use ackor_bench::remote::ackor_remote::AckorNodes;
use ackor_bench::remote::ractor_cluster_remote::RactorNodes;
use ackor_bench::remote::tcp_baseline::TcpPair;
use ackor_bench::remote::{LATENCY_HEADER, Latencies, latency_row};
use ackor_bench::{BenchError, PAIRS, run_on_worker};
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};

const NAMES: [&str; 3] = ["ackor", "ractor_cluster", "tcp_baseline"];

/// The environments, made once for the whole run: one 2-worker runtime per
/// implementation, both of its nodes on it.
struct Env {
    ackor_rt: tokio::runtime::Runtime,
    ractor_rt: tokio::runtime::Runtime,
    tcp_rt: tokio::runtime::Runtime,
    ackor: AckorNodes,
    ractor: RactorNodes,
    tcp: TcpPair,
    /// Per-call latencies of `remote_call`, in the order of [`NAMES`].
    latencies: RefCell<[Latencies; 3]>,
}

impl Env {
    fn new() -> Env {
        let rt = || ackor_bench::runtime().expect("tokio runtime");
        let (ackor_rt, ractor_rt, tcp_rt) = (rt(), rt(), rt());
        let ackor = on_result(&ackor_rt, AckorNodes::start(2));
        let ractor = on_result(&ractor_rt, RactorNodes::start());
        let tcp = on_result(&tcp_rt, TcpPair::start());
        Env {
            ackor_rt,
            ractor_rt,
            tcp_rt,
            ackor,
            ractor,
            tcp,
            latencies: RefCell::new(Default::default()),
        }
    }

    fn record(&self, which: usize, (elapsed, lat): (Duration, Latencies)) -> Duration {
        self.latencies.borrow_mut()[which]
            .add(&lat)
            .expect("histograms with the same bounds add up");
        elapsed
    }

    fn shutdown(self) {
        let ackor = self.ackor.clone();
        on_result(&self.ackor_rt, async move {
            ackor.shutdown().await;
            Ok(())
        });
        let ractor = self.ractor.clone();
        on_result(&self.ractor_rt, async move {
            ractor.shutdown().await;
            Ok(())
        });
        self.tcp.shutdown();
    }
}

/// Runs an operation on a worker of `rt`; a failure (wrong count, lost connection)
/// panics the bench.
fn on_result<F, T>(rt: &tokio::runtime::Runtime, op: F) -> T
where
    F: Future<Output = Result<T, BenchError>> + Send + 'static,
    T: Send + 'static,
{
    run_on_worker(rt, op)
        .expect("runtime")
        .expect("benchmark run failed")
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, elements: u64) {
    group.throughput(Throughput::Elements(elements));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
}

fn benches(c: &mut Criterion) {
    let env = Env::new();

    let mut g = c.benchmark_group("remote_tell_1to1");
    configure(&mut g, 1);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| {
            let nodes = env.ackor.clone();
            on_result(&env.ackor_rt, async move { nodes.tell_1to1(n).await })
        })
    });
    g.bench_function("ractor_cluster", |b| {
        b.iter_custom(|n| {
            let nodes = env.ractor.clone();
            on_result(&env.ractor_rt, async move { nodes.tell_1to1(n).await })
        })
    });
    g.bench_function("tcp_baseline", |b| {
        b.iter_custom(|n| {
            let pair = env.tcp.clone();
            on_result(&env.tcp_rt, async move { pair.tell_1to1(n).await })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("remote_tell_n_to_n");
    configure(&mut g, PAIRS as u64);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| {
            let nodes = env.ackor.clone();
            on_result(&env.ackor_rt, async move { nodes.tell_n_to_n(n).await })
        })
    });
    g.bench_function("ractor_cluster", |b| {
        b.iter_custom(|n| {
            let nodes = env.ractor.clone();
            on_result(&env.ractor_rt, async move { nodes.tell_n_to_n(n).await })
        })
    });
    g.bench_function("tcp_baseline", |b| {
        b.iter_custom(|n| {
            let pair = env.tcp.clone();
            on_result(&env.tcp_rt, async move { pair.tell_n_to_n(n).await })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("remote_call");
    configure(&mut g, 1);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| {
            let nodes = env.ackor.clone();
            env.record(
                0,
                on_result(&env.ackor_rt, async move { nodes.call_latency(n).await }),
            )
        })
    });
    g.bench_function("ractor_cluster", |b| {
        b.iter_custom(|n| {
            let nodes = env.ractor.clone();
            env.record(
                1,
                on_result(&env.ractor_rt, async move { nodes.call_latency(n).await }),
            )
        })
    });
    g.bench_function("tcp_baseline", |b| {
        b.iter_custom(|n| {
            let pair = env.tcp.clone();
            env.record(
                2,
                on_result(&env.tcp_rt, async move { pair.call_latency(n).await }),
            )
        })
    });
    g.finish();

    report_latencies(&env.latencies.borrow());
    env.shutdown();
}

/// Prints the call-latency table and writes it as TSV (only for a real run: criterion's
/// test mode makes a handful of calls).
fn report_latencies(all: &[Latencies; 3]) {
    println!("\nremote_call per-call latency (µs; every call of the group, warm-up included)");
    println!(
        "{:<16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "framework", "calls", "min", "p50", "p90", "p99", "p99.9", "max", "mean"
    );
    let mut tsv = format!("{LATENCY_HEADER}\n");
    for (name, l) in NAMES.iter().zip(all) {
        if l.count() == 0 {
            continue;
        }
        println!(
            "{name:<16} {:>9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1}",
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
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ackor-bench-remote-latency.tsv");
        match std::fs::write(&path, tsv) {
            Ok(()) => println!("written to {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}

criterion_group!(remote, benches);
criterion_main!(remote);
