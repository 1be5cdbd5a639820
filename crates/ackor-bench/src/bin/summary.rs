//! Prints the figures of the last `cargo bench -p ackor-bench` run as markdown tables,
//! with ackor's ratio to each peer: `cargo run -p ackor-bench --bin summary`.
//!
//! Reads criterion's `<target>/criterion/<group>/<framework>/new/{estimates,benchmark}.json`,
//! the memory bench's `<target>/tmp/ackor-bench-memory.tsv` and the remote bench's
//! `<target>/tmp/ackor-bench-remote-latency.tsv`, where `<target>` is the first
//! argument, else `$CARGO_TARGET_DIR`, else `target`. The remote table (ackor vs
//! ractor_cluster vs raw TCP) follows the local one when the remote bench has run.

use std::path::{Path, PathBuf};

use serde_json::Value;

const FRAMEWORKS: [&str; 5] = ["ackor", "kameo", "ractor", "actix", "tokio_baseline"];
const PEERS: [&str; 4] = ["kameo", "ractor", "actix", "tokio_baseline"];

/// What a group measures and how its figure reads.
struct Group {
    id: &'static str,
    title: &'static str,
    /// Throughput (higher is better) or time per operation (lower is better).
    throughput: bool,
}

const GROUPS: [Group; 5] = [
    Group {
        id: "tell_1to1",
        title: "tell 1→1 (M msg/s)",
        throughput: true,
    },
    Group {
        id: "tell_n_to_n",
        title: "tell N→N, 4 pairs (M msg/s, total)",
        throughput: true,
    },
    Group {
        id: "ask",
        title: "ask round trip (ns, mean)",
        throughput: false,
    },
    Group {
        id: "spawn_stop",
        title: "spawn + stop (ns per actor, mean)",
        throughput: false,
    },
    Group {
        id: "spawn_all_stop_all",
        title: "n spawned, then all stopped (ns per actor, mean)",
        throughput: false,
    },
];

/// One criterion result: mean time per element, with the 95 % interval.
#[derive(Clone, Copy)]
struct Estimate {
    mean_ns: f64,
    low_ns: f64,
    high_ns: f64,
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn estimate(target: &Path, group: &str, framework: &str) -> Option<Estimate> {
    let dir = target.join("criterion").join(group).join(framework).join("new");
    let estimates = read_json(&dir.join("estimates.json"))?;
    let bench = read_json(&dir.join("benchmark.json"))?;
    let elements = bench
        .get("throughput")
        .and_then(|t| t.get("Elements"))
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let mean = estimates.get("mean")?;
    let point = mean.get("point_estimate")?.as_f64()?;
    let ci = mean.get("confidence_interval")?;
    Some(Estimate {
        mean_ns: point / elements,
        low_ns: ci.get("lower_bound")?.as_f64()? / elements,
        high_ns: ci.get("upper_bound")?.as_f64()? / elements,
    })
}

fn figure(group: &Group, e: Estimate) -> String {
    if group.throughput {
        format!("{:.2}", 1e3 / e.mean_ns)
    } else {
        format!("{:.0}", e.mean_ns)
    }
}

fn interval(group: &Group, e: Estimate) -> String {
    if group.throughput {
        format!("{:.2}–{:.2}", 1e3 / e.high_ns, 1e3 / e.low_ns)
    } else {
        format!("{:.0}–{:.0}", e.low_ns, e.high_ns)
    }
}

/// How many times better ackor is than the peer (>1: ackor better).
fn ratio(ackor: f64, peer: f64) -> String {
    if ackor > 0.0 && peer > 0.0 {
        format!("{:.2}×", peer / ackor)
    } else {
        "–".to_string()
    }
}

fn memory(target: &Path) -> Vec<(String, f64, f64)> {
    let path = target.join("tmp").join("ackor-bench-memory.tsv");
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let name = cols.next()?.to_string();
            let bytes = cols.next()?.parse().ok()?;
            let allocs = cols.next()?.parse().ok()?;
            Some((name, bytes, allocs))
        })
        .collect()
}

fn main() {
    let target: PathBuf = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("CARGO_TARGET_DIR").ok())
        .unwrap_or_else(|| "target".to_string())
        .into();

    let mut head = String::from("| operation |");
    let mut rule = String::from("|---|");
    for f in FRAMEWORKS {
        head.push_str(&format!(" {f} |"));
        rule.push_str("---:|");
    }
    for p in PEERS {
        head.push_str(&format!(" ackor vs {p} |"));
        rule.push_str("---:|");
    }
    println!("{head}\n{rule}");

    let mut details = Vec::new();
    for group in &GROUPS {
        let row: Vec<Option<Estimate>> = FRAMEWORKS
            .iter()
            .map(|f| estimate(&target, group.id, f))
            .collect();
        let mut line = format!("| {} |", group.title);
        for (f, e) in FRAMEWORKS.iter().zip(&row) {
            match e {
                Some(e) => {
                    line.push_str(&format!(" {} |", figure(group, *e)));
                    details.push(format!("| {}/{f} | {} |", group.id, interval(group, *e)));
                }
                None => line.push_str(" – |"),
            }
        }
        let ackor = row[0];
        for e in &row[1..] {
            let r = match (ackor, e) {
                // Time per element: ratio of times is the ratio of throughputs too.
                (Some(a), Some(p)) => ratio(a.mean_ns, p.mean_ns),
                _ => "–".to_string(),
            };
            line.push_str(&format!(" {r} |"));
        }
        println!("{line}");
    }

    // Functions of a group beyond the five frameworks (e.g. `ask/tokio_baseline_timeout`).
    for group in &GROUPS {
        let Ok(dir) = std::fs::read_dir(target.join("criterion").join(group.id)) else {
            continue;
        };
        let mut extra: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name != "report" && !FRAMEWORKS.contains(&name.as_str()))
            .collect();
        extra.sort();
        for name in extra {
            if let Some(e) = estimate(&target, group.id, &name) {
                println!("| {} — {name} | {} |", group.title, figure(group, e));
                details.push(format!("| {}/{name} | {} |", group.id, interval(group, e)));
            }
        }
    }

    let mem = memory(&target);
    if !mem.is_empty() {
        let bytes_of = |name: &str| mem.iter().find(|(n, _, _)| n == name).map(|m| m.1);
        let mut line = String::from("| memory per idle actor (bytes) |");
        for f in FRAMEWORKS {
            match bytes_of(f) {
                Some(b) => line.push_str(&format!(" {b:.0} |")),
                None => line.push_str(" – |"),
            }
        }
        for p in PEERS {
            let r = match (bytes_of("ackor"), bytes_of(p)) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => "–".to_string(),
            };
            line.push_str(&format!(" {r} |"));
        }
        println!("{line}");
        let mut line = String::from("| allocations per idle actor |");
        for f in FRAMEWORKS {
            match mem.iter().find(|(n, _, _)| n == f) {
                Some((_, _, a)) => line.push_str(&format!(" {a:.1} |")),
                None => line.push_str(" – |"),
            }
        }
        line.push_str(&" |".repeat(PEERS.len()));
        println!("{line}");
    }

    println!(
        "\nRatios: how many times better ackor is (higher throughput, shorter time, less memory); below 1× it is worse.\n"
    );
    println!("| bench | 95 % confidence interval of the mean |\n|---|---:|");
    for d in details {
        println!("{d}");
    }

    remote(&target);
}

const REMOTE: [&str; 3] = ["ackor", "ractor_cluster", "tcp_baseline"];

const REMOTE_GROUPS: [Group; 3] = [
    Group {
        id: "remote_tell_1to1",
        title: "remote tell 1→1 (M msg/s)",
        throughput: true,
    },
    Group {
        id: "remote_tell_n_to_n",
        title: "remote tell N→N, 4 pairs (M msg/s, total)",
        throughput: true,
    },
    Group {
        id: "remote_call",
        title: "remote call round trip (ns, mean)",
        throughput: false,
    },
];

/// The remote bench's table, when it has run: criterion means, then the per-call
/// latency quantiles from its TSV.
fn remote(target: &Path) {
    let rows: Vec<(&Group, Vec<Option<Estimate>>)> = REMOTE_GROUPS
        .iter()
        .map(|g| (g, REMOTE.iter().map(|f| estimate(target, g.id, f)).collect()))
        .collect();
    if rows.iter().all(|(_, r)| r.iter().all(Option::is_none)) {
        return;
    }
    println!(
        "\n| remote operation | ackor | ractor_cluster | tcp_baseline | ackor vs ractor_cluster | ackor vs tcp_baseline |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut details = Vec::new();
    for (group, row) in &rows {
        let mut line = format!("| {} |", group.title);
        for (f, e) in REMOTE.iter().zip(row) {
            match e {
                Some(e) => {
                    line.push_str(&format!(" {} |", figure(group, *e)));
                    details.push(format!("| {}/{f} | {} |", group.id, interval(group, *e)));
                }
                None => line.push_str(" – |"),
            }
        }
        for e in &row[1..] {
            let r = match (row[0], e) {
                (Some(a), Some(p)) => ratio(a.mean_ns, p.mean_ns),
                _ => "–".to_string(),
            };
            line.push_str(&format!(" {r} |"));
        }
        println!("{line}");
    }
    let path = target.join("tmp").join("ackor-bench-remote-latency.tsv");
    if let Ok(text) = std::fs::read_to_string(path) {
        // framework, calls, min, p50, p90, p99, p99.9, max, mean (µs)
        let table: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split('\t').collect()).collect();
        let col = |name: &str, i: usize| {
            table
                .iter()
                .find(|r| r.first() == Some(&name))
                .and_then(|r| r.get(i).copied())
                .unwrap_or("–")
        };
        for (title, i) in [
            ("remote call p50 (µs)", 3),
            ("remote call p99 (µs)", 5),
            ("remote call p99.9 (µs)", 6),
        ] {
            let mut line = format!("| {title} |");
            for f in REMOTE {
                line.push_str(&format!(" {} |", col(f, i)));
            }
            for p in &REMOTE[1..] {
                let r = match (col("ackor", i).parse::<f64>(), col(p, i).parse::<f64>()) {
                    (Ok(a), Ok(b)) => ratio(a, b),
                    _ => "–".to_string(),
                };
                line.push_str(&format!(" {r} |"));
            }
            println!("{line}");
        }
        let calls: Vec<String> = REMOTE.iter().map(|f| format!("{f} {}", col(f, 1))).collect();
        println!("\nCalls in the latency histograms: {}.", calls.join(", "));
    }
    println!("\n| remote bench | 95 % confidence interval of the mean |\n|---|---:|");
    for d in details {
        println!("{d}");
    }
}
