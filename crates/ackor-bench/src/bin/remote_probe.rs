//! Runs one remote operation of one implementation outside criterion and prints its
//! figures: a target for `perf record`.
//!
//! `cargo run --release -p ackor-bench --bin remote_probe -- OP IMPL [N] [REPEAT]` with OP
//! one of `tell_1to1`, `tell_n_to_n`, `call` and IMPL one of `ackor`, `ractor_cluster`,
//! `tcp`; for `ackor` also the important-delivery operations of `benches/important.rs`:
//! `important_w1024`, `call_w1024` (throughput, 1024 in flight), `important_w32` and
//! `important_w64` (fewer in flight, oldest awaited first), `important_unordered_w32`,
//! `_w64`, `_w1024` (the same through a `FuturesUnordered`), `important_s64` (64
//! sender tasks, each awaiting every send; use an `N` divisible by 64), `important_seq`
//! (throughput, one at a time), `important_latency`, `call_important_latency`. Both nodes (or both TCP ends) run on one 2-worker tokio runtime, as in
//! `benches/remote.rs`; `ACKOR_LINKS=n` sets ackor's links per peer (default 2),
//! `ACKOR_RECEIVER_MAILBOX=n` the user-lane capacity of ackor's receiving counter.
//! Throughput runs print M msg/s per repetition; call runs print p50/p99/mean in µs.

use std::time::Duration;

use ackor_bench::remote::Latencies;
use ackor_bench::remote::ackor_remote::{AckorNodes, LatencyOp};
use ackor_bench::remote::ractor_cluster_remote::RactorNodes;
use ackor_bench::remote::tcp_baseline::TcpPair;
use ackor_bench::{BenchError, PAIRS, run_on_worker, runtime};

/// What one repetition measured.
enum Outcome {
    Throughput(Duration),
    Calls(Duration, Latencies),
}

/// The three implementations behind one interface.
#[derive(Clone)]
enum Impl {
    Ackor(AckorNodes),
    Ractor(RactorNodes),
    Tcp(TcpPair),
}

impl Impl {
    async fn start(name: &str) -> Result<Impl, BenchError> {
        Ok(match name {
            "ackor" => {
                let links = env_usize("ACKOR_LINKS").unwrap_or(2);
                let nodes = AckorNodes::start(links).await?;
                Impl::Ackor(match env_usize("ACKOR_RECEIVER_MAILBOX") {
                    Some(capacity) => nodes.with_receiver_mailbox(capacity),
                    None => nodes,
                })
            }
            "ractor_cluster" => Impl::Ractor(RactorNodes::start().await?),
            "tcp" => Impl::Tcp(TcpPair::start().await?),
            other => return Err(format!("unknown implementation {other}").into()),
        })
    }

    async fn run(&self, op: &str, n: u64) -> Result<Outcome, BenchError> {
        Ok(match (self, op) {
            (Impl::Ackor(x), "tell_1to1") => Outcome::Throughput(x.tell_1to1(n).await?),
            (Impl::Ackor(x), "tell_n_to_n") => Outcome::Throughput(x.tell_n_to_n(n).await?),
            (Impl::Ackor(x), "call") => {
                let (d, l) = x.call_latency(n).await?;
                Outcome::Calls(d, l)
            }
            (Impl::Ackor(x), "important_w1024") => Outcome::Throughput(x.important_window(n, 1024).await?),
            (Impl::Ackor(x), "important_w8192") => Outcome::Throughput(x.important_window(n, 8192).await?),
            (Impl::Ackor(x), "important_w32") => Outcome::Throughput(x.important_window(n, 32).await?),
            (Impl::Ackor(x), "important_w64") => Outcome::Throughput(x.important_window(n, 64).await?),
            (Impl::Ackor(x), "important_unordered_w32") => {
                Outcome::Throughput(x.important_unordered(n, 32).await?)
            }
            (Impl::Ackor(x), "important_unordered_w64") => {
                Outcome::Throughput(x.important_unordered(n, 64).await?)
            }
            (Impl::Ackor(x), "important_unordered_w1024") => {
                Outcome::Throughput(x.important_unordered(n, 1024).await?)
            }
            (Impl::Ackor(x), "important_s64") => Outcome::Throughput(x.important_senders(n, 64).await?),
            (Impl::Ackor(x), "call_w1024") => Outcome::Throughput(x.call_window(n, 1024).await?),
            (Impl::Ackor(x), "important_seq") => Outcome::Throughput(x.important_window(n, 1).await?),
            (Impl::Ackor(x), "important_latency") => {
                let (d, l) = x.op_latency(LatencyOp::SendImportant, n).await?;
                Outcome::Calls(d, l)
            }
            (Impl::Ackor(x), "important_handled_latency") => {
                let (d, l) = x.op_latency(LatencyOp::SendImportantHandled, n).await?;
                Outcome::Calls(d, l)
            }
            (Impl::Ackor(x), "call_important_latency") => {
                let (d, l) = x.op_latency(LatencyOp::CallImportant, n).await?;
                Outcome::Calls(d, l)
            }
            (Impl::Ractor(x), "tell_1to1") => Outcome::Throughput(x.tell_1to1(n).await?),
            (Impl::Ractor(x), "tell_n_to_n") => Outcome::Throughput(x.tell_n_to_n(n).await?),
            (Impl::Ractor(x), "call") => {
                let (d, l) = x.call_latency(n).await?;
                Outcome::Calls(d, l)
            }
            (Impl::Tcp(x), "tell_1to1") => Outcome::Throughput(x.tell_1to1(n).await?),
            (Impl::Tcp(x), "tell_n_to_n") => Outcome::Throughput(x.tell_n_to_n(n).await?),
            (Impl::Tcp(x), "call") => {
                let (d, l) = x.call_latency(n).await?;
                Outcome::Calls(d, l)
            }
            (_, other) => return Err(format!("unknown operation {other}").into()),
        })
    }

    async fn shutdown(&self) {
        match self {
            Impl::Ackor(x) => x.shutdown().await,
            Impl::Ractor(x) => x.shutdown().await,
            Impl::Tcp(x) => x.shutdown(),
        }
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() -> Result<(), BenchError> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: remote_probe tell_1to1|tell_n_to_n|call ackor|ractor_cluster|tcp [N] [REPEAT]");
        std::process::exit(2);
    }
    let op = args[1].clone();
    let name = args[2].clone();
    let n: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let repeat: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1);
    let rt = runtime()?;
    run_on_worker(&rt, async move {
        let imp = Impl::start(&name).await?;
        for _ in 0..repeat {
            match imp.run(&op, n).await? {
                Outcome::Throughput(d) => {
                    let per_rep = if op == "tell_n_to_n" { PAIRS as u64 } else { 1 };
                    let rate = (n * per_rep) as f64 / d.as_secs_f64() / 1e6;
                    println!("{op} {name} n={n}: {rate:.3} M msg/s ({d:?})");
                }
                Outcome::Calls(d, l) => println!(
                    "{op} {name} n={n}: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, mean {:.1} µs ({d:?})",
                    l.quantile_us(0.5),
                    l.quantile_us(0.99),
                    l.quantile_us(0.999),
                    l.mean_us()
                ),
            }
        }
        imp.shutdown().await;
        Ok::<(), BenchError>(())
    })??;
    Ok(())
}
