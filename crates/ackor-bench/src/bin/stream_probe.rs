//! End-to-end delivery figures, in one run so they compare: important sends
//! acknowledged on arrival and after handling, and streams (`ackor::stream`) with an
//! in-memory outbox, a file outbox (`ackor_durable::FileOutbox`) and a file ledger.
//! Two nodes in this process on loopback ([`AckorNodes`], 2 links per peer, one
//! 2-worker runtime); what each case does: `ackor_bench::remote::ackor_stream`.
//!
//! `cargo run --release -p ackor-bench --bin stream_probe -- [--reps 5] [--plain N]
//! [--stream N] [--durable N] [--durable-batched N] [--ledger N] [--senders 256]
//! [--only CASE,CASE] [--dir DIR]`
//!
//! Cases (each median of `--reps` repetitions, run in rounds: every case once per round,
//! after one untimed warm-up round with a tenth of the counts):
//!
//! | case | what |
//! |---|---|
//! | `important` | `send_important`, 1024 in flight (`--plain`, default 200 000) |
//! | `after_handling` | `send_important(..).after_handling()`, 1024 in flight (`--plain`) |
//! | `stream_mem` | stream, window 1024, capacity 4096, `MemoryOutbox`; `send` awaited in a loop, then `wait_confirmed(last)` (`--stream`, 200 000) |
//! | `stream_mem_x` | the same with `--senders` sends outstanding at once (`--stream`) |
//! | `stream_file` | as `stream_mem` with a `FileOutbox` (`--durable`, 1000) |
//! | `stream_file_x` | as `stream_mem_x` with a `FileOutbox` (`--durable-batched`, 100 000) |
//! | `stream_ledger` | as `stream_file` with a `FileLedger` on the consumer too (`--ledger`, 500) |
//!
//! The file stores go to `--dir` (default: a fresh directory under the system's
//! temporary directory, removed at the end).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ackor_bench::remote::ackor_remote::AckorNodes;
use ackor_bench::remote::ackor_stream::{self, Ack, LedgerKind, OutboxFigures, OutboxKind, StreamSetup};
use ackor_bench::{BenchError, run_on_worker, runtime};

/// Messages in flight for the important sends; the consumer's window.
const WINDOW: usize = 1024;
/// The producer's capacity.
const CAPACITY: usize = 4096;

#[derive(Clone)]
struct Options {
    reps: usize,
    plain: u64,
    stream: u64,
    durable: u64,
    durable_batched: u64,
    ledger: u64,
    senders: usize,
    only: Option<Vec<String>>,
    dir: Option<PathBuf>,
}

const CASES: [&str; 7] = [
    "important",
    "after_handling",
    "stream_mem",
    "stream_mem_x",
    "stream_file",
    "stream_file_x",
    "stream_ledger",
];

fn options() -> Result<Options, BenchError> {
    let mut o = Options {
        reps: 5,
        plain: 200_000,
        stream: 200_000,
        durable: 1000,
        durable_batched: 100_000,
        ledger: 500,
        senders: 256,
        only: None,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--reps" => o.reps = value.parse()?,
            "--plain" => o.plain = value.parse()?,
            "--stream" => o.stream = value.parse()?,
            "--durable" => o.durable = value.parse()?,
            "--durable-batched" => o.durable_batched = value.parse()?,
            "--ledger" => o.ledger = value.parse()?,
            "--senders" => o.senders = value.parse()?,
            "--only" => {
                let cases: Vec<String> = value.split(',').map(|c| c.trim().to_string()).collect();
                if let Some(bad) = cases.iter().find(|c| !CASES.contains(&c.as_str())) {
                    return Err(format!("unknown case {bad}; cases: {}", CASES.join(", ")).into());
                }
                o.only = Some(cases);
            }
            "--dir" => o.dir = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if o.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    Ok(o)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One repetition of one case.
#[derive(Debug, Clone, Copy)]
struct Sample {
    elapsed: Duration,
    outbox: Option<OutboxFigures>,
}

impl Sample {
    fn rate(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }
}

async fn run_case(
    nodes: &AckorNodes,
    case: &str,
    n: u64,
    o: &Options,
    dir: &Path,
) -> Result<Sample, BenchError> {
    let setup = |outbox, ledger, senders| StreamSetup {
        outbox,
        ledger,
        window: WINDOW as u32,
        capacity: CAPACITY,
        senders,
        dir: dir.to_path_buf(),
    };
    let stream = |s: StreamSetup| async move {
        let run = ackor_stream::stream(nodes, n, &s).await?;
        Ok::<_, BenchError>(Sample {
            elapsed: run.elapsed,
            outbox: Some(run.outbox),
        })
    };
    let plain = |elapsed| Sample {
        elapsed,
        outbox: None,
    };
    Ok(match case {
        "important" => plain(ackor_stream::important(nodes, n, WINDOW, Ack::OnArrival).await?),
        "after_handling" => plain(ackor_stream::important(nodes, n, WINDOW, Ack::AfterHandling).await?),
        "stream_mem" => stream(setup(OutboxKind::Memory, LedgerKind::Memory, 1)).await?,
        "stream_mem_x" => stream(setup(OutboxKind::Memory, LedgerKind::Memory, o.senders)).await?,
        "stream_file" => stream(setup(OutboxKind::File, LedgerKind::Memory, 1)).await?,
        "stream_file_x" => stream(setup(OutboxKind::File, LedgerKind::Memory, o.senders)).await?,
        "stream_ledger" => stream(setup(OutboxKind::File, LedgerKind::File, 1)).await?,
        other => return Err(format!("unknown case {other}").into()),
    })
}

fn count(case: &str, o: &Options) -> u64 {
    match case {
        "important" | "after_handling" => o.plain,
        "stream_mem" | "stream_mem_x" => o.stream,
        "stream_file" => o.durable,
        "stream_file_x" => o.durable_batched,
        _ => o.ledger,
    }
}

fn median_by<T: Copy>(xs: &[T], key: impl Fn(&T) -> f64) -> Option<T> {
    let mut v: Vec<T> = xs.to_vec();
    v.sort_by(|a, b| key(a).total_cmp(&key(b)));
    v.get(v.len() / 2).copied()
}

fn main() -> Result<(), BenchError> {
    let o = options()?;
    let cases: Vec<&str> = CASES
        .iter()
        .copied()
        .filter(|c| o.only.as_ref().is_none_or(|only| only.iter().any(|x| x == c)))
        .collect();
    let (dir, remove_dir) = match &o.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ackor-stream-probe-{}", std::process::id())),
            true,
        ),
    };
    println!(
        "stream_probe: {} reps, window {WINDOW}, capacity {CAPACITY}, senders {} (the _x cases), files in {}; loadavg at start {}",
        o.reps,
        o.senders,
        dir.display(),
        loadavg()
    );
    let rt = runtime()?;
    let results = run_on_worker(&rt, {
        let cases = cases.clone();
        let dir = dir.clone();
        let o = o.clone();
        async move {
            let nodes = AckorNodes::start(2).await?;
            // Warm-up round, not kept.
            for case in &cases {
                let n = (count(case, &o) / 10).max(10);
                run_case(&nodes, case, n, &o, &dir).await?;
            }
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cases.len()];
            for round in 1..=o.reps {
                for (i, case) in cases.iter().enumerate() {
                    let n = count(case, &o);
                    let load = loadavg();
                    let s = run_case(&nodes, case, n, &o, &dir).await?;
                    let extra = s.outbox.map_or(String::new(), |f| {
                        format!(
                            "; {} stores, {:.1} msg/store, store {:.0} µs, {} confirms, confirm {:.0} µs",
                            f.stores,
                            f.per_batch(),
                            f.store_us(),
                            f.confirms,
                            f.confirm_us()
                        )
                    });
                    println!(
                        "round {round} {case} n={n}: {:.0} msg/s ({:.3} s, {:.2} µs/msg){extra}; loadavg {load} -> {}",
                        s.rate(n),
                        s.elapsed.as_secs_f64(),
                        s.elapsed.as_secs_f64() * 1e6 / n as f64,
                        loadavg()
                    );
                    samples[i].push(s);
                }
            }
            nodes.shutdown().await;
            Ok::<_, BenchError>(samples)
        }
    })??;
    if remove_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }

    println!();
    println!("| case | n | median msg/s | µs/msg | runs (msg/s) | msg/store | store µs | confirm µs |");
    println!("|---|---:|---:|---:|---|---:|---:|---:|");
    let mut medians = Vec::new();
    for (case, samples) in cases.iter().zip(&results) {
        let n = count(case, &o);
        let Some(m) = median_by(samples, |s| s.rate(n)) else {
            continue;
        };
        let runs: Vec<String> = samples.iter().map(|s| format!("{:.0}", s.rate(n))).collect();
        let (per_batch, store, confirm) = m.outbox.map_or(("".into(), "".into(), "".into()), |f| {
            (
                format!("{:.1}", f.per_batch()),
                format!("{:.0}", f.store_us()),
                format!("{:.0}", f.confirm_us()),
            )
        });
        println!(
            "| {case} | {n} | {:.0} | {:.2} | {} | {per_batch} | {store} | {confirm} |",
            m.rate(n),
            1e6 / m.rate(n),
            runs.join(" / ")
        );
        medians.push((*case, m.rate(n)));
    }
    let rate = |c: &str| medians.iter().find(|(x, _)| *x == c).map(|(_, r)| *r);
    println!();
    let ratio = |a: &str, b: &str| {
        if let (Some(x), Some(y)) = (rate(a), rate(b)) {
            println!("{a} / {b}: {:.3} ({:+.2} µs/msg)", x / y, 1e6 / x - 1e6 / y);
        }
    };
    ratio("after_handling", "important");
    ratio("stream_mem", "important");
    ratio("stream_mem", "after_handling");
    ratio("stream_mem_x", "stream_mem");
    ratio("stream_file", "stream_mem");
    ratio("stream_file_x", "stream_mem_x");
    ratio("stream_ledger", "stream_file");
    println!("loadavg at end {}", loadavg());
    Ok(())
}
