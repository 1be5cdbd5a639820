//! End-to-end delivery figures, in one run so they compare: important sends
//! acknowledged on arrival and after handling, and streams (`ackor::stream`) with an
//! in-memory outbox, a file outbox (`ackor_durable::FileOutbox`) and a file ledger.
//! Two nodes in this process on loopback ([`AckorNodes`], 2 links per peer, one
//! 2-worker runtime); what each case does: `ackor_bench::remote::ackor_stream`.
//!
//! `cargo run --release -p ackor-bench --bin stream_probe -- [--reps 5] [--plain N]
//! [--stream N] [--durable N] [--durable-batched N] [--ledger N] [--senders 256]
//! [--window 1024] [--consumer-mailbox 1024] [--only CASE,CASE] [--dir DIR] [--metrics]`
//!
//! Cases (each the median of `--reps` repetitions, run in rounds: every case once per
//! round, after one untimed warm-up round with a tenth of the counts). Streams have a
//! producer capacity of 4096 and the consumer window `--window` (1024), or 512 for the
//! `_w512` cases; `senders` is how many `Producer::send`s are outstanding at once (1: a
//! plain loop, each send awaited before the next; `--senders` for the `_x` cases):
//!
//! | case | what | n |
//! |---|---|---|
//! | `important` | `send_important`, 1024 in flight | `--plain` (2 000 000) |
//! | `after_handling` | `send_important(..).after_handling()`, 1024 in flight | `--plain` |
//! | `stream_mem` | stream, `MemoryOutbox`, senders 1 | `--stream` (200 000) |
//! | `stream_mem_w512` | the same, window 512 | `--stream` |
//! | `stream_mem_x` | stream, `MemoryOutbox`, senders `--senders` (256) | `--stream` |
//! | `stream_mem_x_w512` | the same, window 512 | `--stream` |
//! | `stream_file` | stream, `FileOutbox`, senders 1 | `--durable` (1000) |
//! | `stream_file_x` | stream, `FileOutbox`, senders `--senders` | `--durable-batched` (100 000) |
//! | `stream_file_x_w512` | the same, window 512 | `--durable-batched` |
//! | `stream_ledger` | stream, `FileOutbox` and `FileLedger`, senders 1 | `--ledger` (1000) |
//! | `stream_ledger_x` | the same, senders `--senders` | `--ledger` |
//!
//! `--consumer-mailbox` sets the consumer's mailbox capacity
//! (`ConsumerConfig::mailbox_capacity`; default: the consumer's own, four windows and
//! some room since `3f2df81`). `--metrics` installs a counting recorder and prints,
//! after each case, what ackor's stream and important-delivery counters did (opens,
//! resends, refusals by reason): for diagnosis, it slows every counter call a little.
//! The file stores go to `--dir` (default: a fresh directory under the system's
//! temporary directory, removed at the end).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ackor_bench::remote::ackor_remote::AckorNodes;
use ackor_bench::remote::ackor_stream::{
    self, Ack, CounterRecorder, LedgerKind, OutboxFigures, OutboxKind, StreamSetup,
};
use ackor_bench::{BenchError, run_on_worker, runtime};

/// Messages in flight for the important sends; the consumer's window by default.
const WINDOW: usize = 1024;
/// The window of the `_w512` cases: half the consumer's default mailbox.
const HALF_WINDOW: u32 = 512;
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
    window: u32,
    consumer_mailbox: Option<usize>,
    metrics: bool,
    only: Option<Vec<String>>,
    dir: Option<PathBuf>,
}

/// Which count a case uses.
#[derive(Clone, Copy)]
enum Count {
    Plain,
    Stream,
    Durable,
    DurableBatched,
    Ledger,
}

/// What a case runs.
#[derive(Clone, Copy)]
enum Kind {
    Important(Ack),
    Stream {
        outbox: OutboxKind,
        ledger: LedgerKind,
        /// Many senders (`--senders`) rather than one.
        many: bool,
        /// Window 512 rather than `--window`.
        half: bool,
    },
}

struct Case {
    name: &'static str,
    kind: Kind,
    count: Count,
}

const fn stream(
    name: &'static str,
    outbox: OutboxKind,
    ledger: LedgerKind,
    many: bool,
    half: bool,
    count: Count,
) -> Case {
    Case {
        name,
        kind: Kind::Stream {
            outbox,
            ledger,
            many,
            half,
        },
        count,
    }
}

const CASES: [Case; 11] = {
    use Count::*;
    use LedgerKind::Memory as MemLedger;
    use OutboxKind::{File, Memory};
    [
        Case {
            name: "important",
            kind: Kind::Important(Ack::OnArrival),
            count: Plain,
        },
        Case {
            name: "after_handling",
            kind: Kind::Important(Ack::AfterHandling),
            count: Plain,
        },
        stream("stream_mem", Memory, MemLedger, false, false, Stream),
        stream("stream_mem_w512", Memory, MemLedger, false, true, Stream),
        stream("stream_mem_x", Memory, MemLedger, true, false, Stream),
        stream("stream_mem_x_w512", Memory, MemLedger, true, true, Stream),
        stream("stream_file", File, MemLedger, false, false, Durable),
        stream("stream_file_x", File, MemLedger, true, false, DurableBatched),
        stream("stream_file_x_w512", File, MemLedger, true, true, DurableBatched),
        stream("stream_ledger", File, LedgerKind::File, false, false, Ledger),
        stream("stream_ledger_x", File, LedgerKind::File, true, false, Ledger),
    ]
};

fn options() -> Result<Options, BenchError> {
    let mut o = Options {
        reps: 5,
        plain: 2_000_000,
        stream: 200_000,
        durable: 1000,
        durable_batched: 100_000,
        ledger: 1000,
        senders: 256,
        window: WINDOW as u32,
        consumer_mailbox: None,
        metrics: false,
        only: None,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--metrics" {
            o.metrics = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--reps" => o.reps = value.parse()?,
            "--plain" => o.plain = value.parse()?,
            "--stream" => o.stream = value.parse()?,
            "--durable" => o.durable = value.parse()?,
            "--durable-batched" => o.durable_batched = value.parse()?,
            "--ledger" => o.ledger = value.parse()?,
            "--senders" => o.senders = value.parse()?,
            "--window" => o.window = value.parse()?,
            "--consumer-mailbox" => o.consumer_mailbox = Some(value.parse()?),
            "--only" => {
                let names: Vec<String> = value.split(',').map(|c| c.trim().to_string()).collect();
                if let Some(bad) = names.iter().find(|n| !CASES.iter().any(|c| c.name == n.as_str())) {
                    let all: Vec<&str> = CASES.iter().map(|c| c.name).collect();
                    return Err(format!("unknown case {bad}; cases: {}", all.join(", ")).into());
                }
                o.only = Some(names);
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

impl Options {
    fn count(&self, c: Count) -> u64 {
        match c {
            Count::Plain => self.plain,
            Count::Stream => self.stream,
            Count::Durable => self.durable,
            Count::DurableBatched => self.durable_batched,
            Count::Ledger => self.ledger,
        }
    }
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
    case: &Case,
    n: u64,
    o: &Options,
    dir: &Path,
) -> Result<Sample, BenchError> {
    match case.kind {
        Kind::Important(ack) => Ok(Sample {
            elapsed: ackor_stream::important(nodes, n, WINDOW, ack).await?,
            outbox: None,
        }),
        Kind::Stream {
            outbox,
            ledger,
            many,
            half,
        } => {
            let setup = StreamSetup {
                outbox,
                ledger,
                window: if half { HALF_WINDOW } else { o.window },
                capacity: CAPACITY,
                senders: if many { o.senders } else { 1 },
                consumer_mailbox: o.consumer_mailbox,
                dir: dir.to_path_buf(),
            };
            let run = ackor_stream::stream(nodes, n, &setup).await?;
            Ok(Sample {
                elapsed: run.elapsed,
                outbox: Some(run.outbox),
            })
        }
    }
}

fn median_by<T: Copy>(xs: &[T], key: impl Fn(&T) -> f64) -> Option<T> {
    let mut v: Vec<T> = xs.to_vec();
    v.sort_by(|a, b| key(a).total_cmp(&key(b)));
    v.get(v.len() / 2).copied()
}

/// Prints what the counters did since `before`.
fn print_counters(recorder: &CounterRecorder, before: &BTreeMap<String, u64>) {
    let now = recorder.snapshot();
    let deltas: Vec<String> = now
        .iter()
        .filter_map(|(name, v)| {
            let d = v - before.get(name).copied().unwrap_or(0);
            (d > 0).then(|| format!("{name} +{d}"))
        })
        .collect();
    println!("    counters: {}", deltas.join(", "));
}

fn main() -> Result<(), BenchError> {
    let o = options()?;
    let cases: Vec<&'static Case> = CASES
        .iter()
        .filter(|c| {
            o.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|x| x == c.name))
        })
        .collect();
    let (dir, remove_dir) = match &o.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ackor-stream-probe-{}", std::process::id())),
            true,
        ),
    };
    println!(
        "stream_probe: {} reps; important sends in flight {WINDOW}; streams: window {} (512 in _w512), capacity {CAPACITY}, senders {} in _x, consumer mailbox {}; files in {}; loadavg at start {}",
        o.reps,
        o.window,
        o.senders,
        o.consumer_mailbox
            .map_or("default".to_string(), |c| c.to_string()),
        dir.display(),
        loadavg()
    );
    let recorder = CounterRecorder::default();
    if o.metrics {
        recorder.install()?;
    }
    let rt = runtime()?;
    let results = run_on_worker(&rt, {
        let cases = cases.clone();
        let dir = dir.clone();
        let o = o.clone();
        let recorder = recorder.clone();
        async move {
            let nodes = AckorNodes::start(2).await?;
            // Warm-up round, not kept.
            for case in &cases {
                let n = (o.count(case.count) / 10).max(10);
                run_case(&nodes, case, n, &o, &dir).await?;
            }
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cases.len()];
            for round in 1..=o.reps {
                for (i, case) in cases.iter().enumerate() {
                    let n = o.count(case.count);
                    let load = loadavg();
                    let before = recorder.snapshot();
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
                        "round {round} {} n={n}: {:.0} msg/s ({:.3} s, {:.2} µs/msg){extra}; loadavg {load} -> {}",
                        case.name,
                        s.rate(n),
                        s.elapsed.as_secs_f64(),
                        s.elapsed.as_secs_f64() * 1e6 / n as f64,
                        loadavg()
                    );
                    if o.metrics {
                        print_counters(&recorder, &before);
                    }
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
        let n = o.count(case.count);
        let Some(m) = median_by(samples, |s| s.rate(n)) else {
            continue;
        };
        let runs: Vec<String> = samples.iter().map(|s| format!("{:.0}", s.rate(n))).collect();
        let (per_batch, store, confirm) =
            m.outbox
                .map_or((String::new(), String::new(), String::new()), |f| {
                    (
                        format!("{:.1}", f.per_batch()),
                        format!("{:.0}", f.store_us()),
                        format!("{:.0}", f.confirm_us()),
                    )
                });
        println!(
            "| {} | {n} | {:.0} | {:.2} | {} | {per_batch} | {store} | {confirm} |",
            case.name,
            m.rate(n),
            1e6 / m.rate(n),
            runs.join(" / ")
        );
        medians.push((case.name, m.rate(n)));
    }
    let rate = |c: &str| medians.iter().find(|(x, _)| *x == c).map(|(_, r)| *r);
    println!();
    for (a, b) in [
        ("after_handling", "important"),
        ("stream_mem", "important"),
        ("stream_mem_w512", "important"),
        ("stream_mem_w512", "after_handling"),
        ("stream_mem_w512", "stream_mem"),
        ("stream_mem_x", "stream_mem"),
        ("stream_mem_x_w512", "stream_mem_w512"),
        ("stream_file", "stream_mem"),
        ("stream_file", "stream_mem_w512"),
        ("stream_file_x", "stream_mem_x"),
        ("stream_file_x_w512", "stream_mem_x_w512"),
        ("stream_ledger", "stream_file"),
        ("stream_ledger_x", "stream_file_x"),
    ] {
        if let (Some(x), Some(y)) = (rate(a), rate(b)) {
            println!(
                "{a} / {b}: {:.3} (per message {:+.2} µs)",
                x / y,
                1e6 / x - 1e6 / y
            );
        }
    }
    println!("loadavg at end {}", loadavg());
    Ok(())
}
