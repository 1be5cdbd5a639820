//! Reentrancy: non-blocking requests with continuations against blocking calls, and
//! what an actor with requests in flight still serves, in one run:
//! `cargo bench -p ackor-bench --bench reentrancy`.
//!
//! Groups (one criterion iteration = one round trip, or one plain message):
//!
//! - `reentrancy_roundtrip_local`, `reentrancy_roundtrip_remote`: an `AllowAll` driver
//!   makes `n` sequential round trips to a callee that echoes at once (same node, or the
//!   other node on loopback): `call` (`ctx.call(..).await` in a loop inside one handler),
//!   `request` (each continuation sends the next request, with the default timeout),
//!   `request_no_timeout` (the same without a timeout);
//! - `reentrancy_serve_send`, `reentrancy_serve_call`: one task floods a driver with `n`
//!   plain messages (`send_wait`, then a call for the count; or `n` sequential calls)
//!   while the driver has nothing in flight (`off_idle`: spawned without reentrancy;
//!   `allow_all_idle`; `allow_all_after_request`: one request completed just before),
//!   64 requests parked at the callee for the whole run
//!   (`allow_all_parked_64`, with the default timeout; `.._no_timeout`), or 64 requests
//!   answered after 1 ms and sent again by their continuations (`allow_all_churn_64x1ms`,
//!   `.._no_timeout`).
//!
//! Every run is checked: each echo, the number of round trips, the driver's final count
//! of plain messages, the requests still in flight after the flood, every request
//! completed once at the end. A mismatch panics the bench.
//!
//! After the groups, outside criterion: each round trip's own time in a histogram
//! (fixed counts, printed as p50/p99 and written to
//! `<target>/tmp/ackor-bench-reentrancy-latency.tsv`), the continuations per second that
//! ran during the churn floods, and a hold probe: how many of 1000 plain messages an
//! `AllowAll` and a `StashNonReentrant` driver handle while one request is parked for
//! 20 ms, and how long the rest take once it is answered.
//!
//! These extras are skipped under `--profile-time` (for a profiler on one function:
//! `cargo bench -p ackor-bench --bench reentrancy -- --profile-time 5 'roundtrip_local/request$'`).
//!
//! The actors and operations are in `src/reentrancy.rs`.

#![allow(clippy::expect_used)]

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use ackor::Reentrancy;
use ackor_bench::reentrancy::{HoldReport, Load, LocalEnv, RemoteEnv, RoundTrip, Serve};
use ackor_bench::remote::{LATENCY_HEADER, Latencies, latency_row};
use ackor_bench::{BenchError, run_on_worker};
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};

/// Requests in flight in the `parked` and `churn` set-ups.
const K: u64 = 64;

/// The callee's delay in the churn set-up.
const CHURN_DELAY: Duration = Duration::from_millis(1);

const SERVES: [Serve; 7] = [
    Serve::Off,
    Serve::Idle,
    Serve::AfterRequest,
    Serve::Parked { k: K, timeout: true },
    Serve::Parked { k: K, timeout: false },
    Serve::Churn {
        k: K,
        delay: CHURN_DELAY,
        timeout: true,
    },
    Serve::Churn {
        k: K,
        delay: CHURN_DELAY,
        timeout: false,
    },
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

/// 20 samples of fresh actors each: where the two workers place the driver, the callee
/// and the flooding task changes from sample to sample and moves a sample's time by up to
/// 2× on 2 cores, so criterion's median of the samples is the figure to read (the mean
/// follows the outliers).
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
}

/// A real run (not criterion's `--test` mode, which runs each function once).
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench") && !std::env::args().any(|a| a == "--test")
}

fn benches(c: &mut Criterion) {
    let local_rt = ackor_bench::runtime().expect("tokio runtime");
    let remote_rt = ackor_bench::runtime().expect("tokio runtime");
    let local: LocalEnv = on(&local_rt, LocalEnv::start());
    let remote: RemoteEnv = on(&remote_rt, RemoteEnv::start());

    let mut g = c.benchmark_group("reentrancy_roundtrip_local");
    configure(&mut g);
    for how in RoundTrip::ALL {
        g.bench_function(how.name(), |b| {
            b.iter_custom(|n| {
                let env = local.clone();
                on(&local_rt, async move { env.roundtrip(how, n, false).await }).0
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("reentrancy_roundtrip_remote");
    configure(&mut g);
    for how in RoundTrip::ALL {
        g.bench_function(how.name(), |b| {
            b.iter_custom(|n| {
                let env = remote.clone();
                on(&remote_rt, async move { env.roundtrip(how, n, false).await }).0
            })
        });
    }
    g.finish();

    // Per churn bench: continuations that ran during the floods, and the floods' time.
    let churn: RefCell<Vec<(String, u64, Duration)>> = RefCell::new(Vec::new());
    for (group, load) in [
        ("reentrancy_serve_send", Load::Send),
        ("reentrancy_serve_call", Load::Call),
    ] {
        let mut g = c.benchmark_group(group);
        configure(&mut g);
        for serve in SERVES {
            let name = serve.name();
            let mut continuations = 0;
            let mut flooded = Duration::ZERO;
            g.bench_function(&name, |b| {
                b.iter_custom(|n| {
                    let env = local.clone();
                    let run = on(&local_rt, async move { env.serve(serve, load, n).await });
                    continuations += run.continuations;
                    flooded += run.elapsed;
                    run.elapsed
                })
            });
            if let Serve::Churn { .. } = serve {
                churn
                    .borrow_mut()
                    .push((format!("{group}/{name}"), continuations, flooded));
            }
        }
        g.finish();
    }

    // Not under `--profile-time` (a profiler run of the filtered functions only).
    if !std::env::args().any(|a| a == "--profile-time") {
        let full = full_run();
        report_latencies(&local_rt, &local, &remote_rt, &remote, full);
        report_churn(&churn.borrow());
        report_hold(&local_rt, &local);
    }

    on(&local_rt, async move {
        local.shutdown().await;
        Ok(())
    });
    on(&remote_rt, async move {
        remote.shutdown().await;
        Ok(())
    });
}

/// Fixed-count runs with each round trip timed; prints p50/p99 and the mean, and writes
/// the table as TSV (only for a real run).
fn report_latencies(
    local_rt: &tokio::runtime::Runtime,
    local: &LocalEnv,
    remote_rt: &tokio::runtime::Runtime,
    remote: &RemoteEnv,
    full: bool,
) {
    let (local_n, remote_n) = if full { (50_000, 5_000) } else { (200, 50) };
    let mut rows: Vec<(String, Latencies)> = Vec::new();
    for how in RoundTrip::ALL {
        let env = local.clone();
        let (_, run) = on(local_rt, async move { env.roundtrip(how, local_n, true).await });
        let lat = run.latencies.expect("recorded");
        rows.push((format!("local/{}", how.name()), lat));
    }
    for how in RoundTrip::ALL {
        let env = remote.clone();
        let (_, run) = on(remote_rt, async move { env.roundtrip(how, remote_n, true).await });
        let lat = run.latencies.expect("recorded");
        rows.push((format!("remote/{}", how.name()), lat));
    }
    println!(
        "\nround-trip latency (µs; {local_n} local, {remote_n} remote round trips each, after the groups)"
    );
    println!(
        "{:<28} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "round trip", "rounds", "min", "p50", "p90", "p99", "p99.9", "max", "mean"
    );
    let mut tsv = format!("{LATENCY_HEADER}\n");
    for (name, l) in &rows {
        println!(
            "{name:<28} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>8.2}",
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
    if full {
        let path =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ackor-bench-reentrancy-latency.tsv");
        match std::fs::write(&path, tsv) {
            Ok(()) => println!("written to {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}

/// Continuations per second that ran on the driver while it was flooded (churn).
fn report_churn(churn: &[(String, u64, Duration)]) {
    println!("\ncontinuations that ran during the churn floods (every sample, warm-up included)");
    for (name, continuations, flooded) in churn {
        let secs = flooded.as_secs_f64();
        let rate = if secs > 0.0 {
            *continuations as f64 / secs
        } else {
            0.0
        };
        println!(
            "{name:<48} {continuations:>9} in {:>7.3} s = {:>8.0} /s",
            secs, rate
        );
    }
}

/// What an `AllowAll` and a `StashNonReentrant` driver handle while a request is parked.
fn report_hold(rt: &tokio::runtime::Runtime, local: &LocalEnv) {
    const N: u64 = 1000;
    const HOLD: Duration = Duration::from_millis(20);
    println!(
        "\n{N} plain messages sent to a driver with 1 request parked for {} ms",
        HOLD.as_millis()
    );
    for (name, reentrancy) in [
        ("allow_all", Reentrancy::allow_all()),
        ("stash_non_reentrant", Reentrancy::stash_non_reentrant()),
    ] {
        let env = local.clone();
        let r: HoldReport = on(rt, async move { env.hold_probe(reentrancy, N, HOLD).await });
        println!(
            "{name:<20} handled while parked: {:>5} of {}; after the reply, all done in {:>8.1} µs",
            r.served_while_parked,
            r.sent,
            r.after_release.as_secs_f64() * 1e6
        );
    }
}

criterion_group!(reentrancy, benches);
criterion_main!(reentrancy);
