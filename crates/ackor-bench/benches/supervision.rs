//! Supervision, side by side: `cargo bench -p ackor-bench --bench supervision`.
//!
//! Group `supervision_restart`: one criterion iteration is one restart of a one-for-one
//! child, timed from the panic in its handler to the next message handled by the new
//! instance (the mean of those per-restart times, not the wall time of the loop).
//! Group `supervision_one_for_all_1000`: one iteration is one one-for-all restart of
//! 1000 children, timed from the panic to the last new instance started (the supervisor
//! and its children are spawned outside the timing, once per sample). The operations
//! and what each framework's figure means: `ackor_bench::supervision`; p50/p99 come from
//! the `sup_probe` binary.

#![allow(clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use ackor_bench::supervision::{
    Latencies, ONE_FOR_ALL_CHILDREN, Round, ackor_sup, kameo_sup, ractor_sup, tokio_sup,
};
use ackor_bench::{BenchError, ackor_impl, run_on_worker};
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};

fn on<F, T>(rt: &tokio::runtime::Runtime, op: F) -> T
where
    F: Future<Output = Result<T, BenchError>> + Send + 'static,
    T: Send + 'static,
{
    run_on_worker(rt, op)
        .expect("runtime")
        .expect("benchmark run failed")
}

/// The total of `n` restarts, from their mean.
fn total(l: &Latencies) -> Duration {
    Duration::from_secs_f64(l.mean_us() * 1e-6 * l.count() as f64)
}

fn all_up(rounds: &[Round]) -> Duration {
    rounds.iter().map(|r| r.all_up).sum()
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, measurement: Duration) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(measurement);
}

fn benches(c: &mut Criterion) {
    let rt = || ackor_bench::runtime().expect("tokio runtime");
    let (ackor_rt, kameo_rt, ractor_rt, tokio_rt) = (rt(), rt(), rt(), rt());
    let node = run_on_worker(&ackor_rt, ackor_impl::start_node())
        .expect("runtime")
        .expect("ackor node");

    let mut g = c.benchmark_group("supervision_restart");
    configure(&mut g, Duration::from_secs(2));
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| {
            let node = node.clone();
            total(&on(&ackor_rt, async move {
                ackor_sup::restart_latency(&node, n).await
            }))
        })
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| total(&on(&kameo_rt, kameo_sup::restart_latency(n))))
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| total(&on(&ractor_rt, ractor_sup::restart_latency(n))))
    });
    g.bench_function("tokio_baseline", |b| {
        b.iter_custom(|n| total(&on(&tokio_rt, tokio_sup::restart_latency(n))))
    });
    g.finish();

    let mut g = c.benchmark_group("supervision_one_for_all_1000");
    configure(&mut g, Duration::from_secs(5));
    let rounds = |n: u64| usize::try_from(n).expect("rounds");
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| {
            let node = node.clone();
            all_up(&on(&ackor_rt, async move {
                ackor_sup::one_for_all(&node, ONE_FOR_ALL_CHILDREN, rounds(n)).await
            }))
        })
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| {
            all_up(&on(
                &kameo_rt,
                kameo_sup::one_for_all(ONE_FOR_ALL_CHILDREN, rounds(n)),
            ))
        })
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| {
            all_up(&on(
                &ractor_rt,
                ractor_sup::one_for_all(ONE_FOR_ALL_CHILDREN, rounds(n)),
            ))
        })
    });
    g.finish();

    on(&ackor_rt, async move {
        node.shutdown().await;
        Ok(())
    });
}

criterion_group!(supervision, benches);
criterion_main!(supervision);
