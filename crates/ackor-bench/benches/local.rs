//! ackor, kameo, ractor, actix and bare tokio side by side, in one run:
//! `cargo bench -p ackor-bench --bench local`.
//!
//! Groups `tell_1to1`, `tell_n_to_n`, `ask`, `spawn_stop`, `spawn_all_stop_all`; one
//! function per framework.
//! One criterion iteration is one message (per pair for `tell_n_to_n`), one round
//! trip, or one actor spawned and stopped; criterion prints elem/s. The operations
//! themselves, and how each framework is configured, are in the crate's `src/`
//! modules. Every throughput run ends with a call returning the receiver's count,
//! checked against what was sent: a wrong count panics the bench.

#![allow(clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use ackor_bench::{
    BenchError, PAIRS, ackor_impl, actix_impl, kameo_impl, ractor_impl, run_on_worker, tokio_impl,
};
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};

/// The environments the operations run in, made once for the whole run.
struct Env {
    /// One 2-worker multi-thread runtime per tokio-based framework.
    ackor_rt: tokio::runtime::Runtime,
    kameo_rt: tokio::runtime::Runtime,
    ractor_rt: tokio::runtime::Runtime,
    tokio_rt: tokio::runtime::Runtime,
    node: ackor::Node,
    /// actix's current-thread system, and two arbiter threads for `tell_n_to_n`.
    system: actix_rt::SystemRunner,
    arbiters: Vec<actix_rt::ArbiterHandle>,
}

impl Env {
    fn new() -> (Env, Vec<actix_rt::Arbiter>) {
        let rt = || ackor_bench::runtime().expect("tokio runtime");
        let ackor_rt = rt();
        let node = run_on_worker(&ackor_rt, ackor_impl::start_node())
            .expect("runtime")
            .expect("ackor node");
        let system = actix_rt::System::new();
        let arbiters = actix_impl::arbiters();
        let handles = arbiters.iter().map(|a| a.handle()).collect();
        let env = Env {
            ackor_rt,
            kameo_rt: rt(),
            ractor_rt: rt(),
            tokio_rt: rt(),
            node,
            system,
            arbiters: handles,
        };
        (env, arbiters)
    }

    /// Runs an ackor operation on a worker of ackor's runtime; a failure (wrong count)
    /// panics.
    fn ackor<F, Fut>(&self, op: F) -> Duration
    where
        F: FnOnce(ackor::Node) -> Fut,
        Fut: Future<Output = Result<Duration, BenchError>> + Send + 'static,
    {
        on(&self.ackor_rt, op(self.node.clone()))
    }

    /// Runs an actix operation inside the system.
    fn actix<F>(&self, op: F) -> Duration
    where
        F: Future<Output = Result<Duration, BenchError>>,
    {
        self.system.block_on(op).expect("benchmark run failed")
    }
}

/// Runs a tokio-based operation on a worker of `rt`; a failure (wrong count) panics.
fn on<F>(rt: &tokio::runtime::Runtime, op: F) -> Duration
where
    F: Future<Output = Result<Duration, BenchError>> + Send + 'static,
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
    let (env, arbiters) = Env::new();

    let mut g = c.benchmark_group("tell_1to1");
    configure(&mut g, 1);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| env.ackor(|node| async move { ackor_impl::tell_1to1(&node, n).await }))
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| on(&env.kameo_rt, kameo_impl::tell_1to1(n)))
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| on(&env.ractor_rt, ractor_impl::tell_1to1(n)))
    });
    g.bench_function("actix", |b| {
        b.iter_custom(|n| env.actix(actix_impl::tell_1to1(n)))
    });
    g.bench_function("tokio_baseline", |b| {
        b.iter_custom(|n| on(&env.tokio_rt, tokio_impl::tell_1to1(n)))
    });
    g.finish();

    let mut g = c.benchmark_group("tell_n_to_n");
    configure(&mut g, PAIRS as u64);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| env.ackor(|node| async move { ackor_impl::tell_n_to_n(&node, n).await }))
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| on(&env.kameo_rt, kameo_impl::tell_n_to_n(n)))
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| on(&env.ractor_rt, ractor_impl::tell_n_to_n(n)))
    });
    g.bench_function("actix", |b| {
        b.iter_custom(|n| env.actix(actix_impl::tell_n_to_n(&env.arbiters, n)))
    });
    g.bench_function("tokio_baseline", |b| {
        b.iter_custom(|n| on(&env.tokio_rt, tokio_impl::tell_n_to_n(n)))
    });
    g.finish();

    let mut g = c.benchmark_group("ask");
    configure(&mut g, 1);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| env.ackor(|node| async move { ackor_impl::ask(&node, n).await }))
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| on(&env.kameo_rt, kameo_impl::ask(n)))
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| on(&env.ractor_rt, ractor_impl::ask(n)))
    });
    g.bench_function("actix", |b| b.iter_custom(|n| env.actix(actix_impl::ask(n))));
    g.bench_function("tokio_baseline", |b| {
        b.iter_custom(|n| on(&env.tokio_rt, tokio_impl::ask(n)))
    });
    // Reference, not a peer: the same with a 5 s tokio timeout around each wait, as
    // ackor's `call` waits under its default call timeout.
    g.bench_function("tokio_baseline_timeout", |b| {
        b.iter_custom(|n| on(&env.tokio_rt, tokio_impl::ask_with_timeout(n)))
    });
    g.finish();

    let mut g = c.benchmark_group("spawn_stop");
    configure(&mut g, 1);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| env.ackor(|node| async move { ackor_impl::spawn_stop(&node, n).await }))
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| on(&env.kameo_rt, kameo_impl::spawn_stop(n)))
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| on(&env.ractor_rt, ractor_impl::spawn_stop(n)))
    });
    g.bench_function("actix", |b| {
        b.iter_custom(|n| env.actix(actix_impl::spawn_stop(n)))
    });
    g.bench_function("tokio_baseline", |b| {
        b.iter_custom(|n| on(&env.tokio_rt, tokio_impl::spawn_stop(n)))
    });
    g.finish();

    let mut g = c.benchmark_group("spawn_all_stop_all");
    configure(&mut g, 1);
    g.bench_function("ackor", |b| {
        b.iter_custom(|n| env.ackor(|node| async move { ackor_impl::spawn_all_stop_all(&node, n).await }))
    });
    g.bench_function("kameo", |b| {
        b.iter_custom(|n| on(&env.kameo_rt, kameo_impl::spawn_all_stop_all(n)))
    });
    g.bench_function("ractor", |b| {
        b.iter_custom(|n| on(&env.ractor_rt, ractor_impl::spawn_all_stop_all(n)))
    });
    g.bench_function("actix", |b| {
        b.iter_custom(|n| env.actix(actix_impl::spawn_all_stop_all(n)))
    });
    g.bench_function("tokio_baseline", |b| {
        b.iter_custom(|n| on(&env.tokio_rt, tokio_impl::spawn_all_stop_all(n)))
    });
    g.finish();

    actix_impl::stop_arbiters(arbiters);
}

criterion_group!(local, benches);
criterion_main!(local);
