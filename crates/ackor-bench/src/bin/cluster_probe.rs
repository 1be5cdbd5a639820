//! The cluster figures (`ackor-cluster`): time to detect a killed member, time for a
//! cluster name to be resolvable everywhere, gossip traffic of a quiet cluster, latency
//! of a grain's first message (activation) against later ones. All
//! members in this process, on loopback. What each part measures:
//! `ackor_bench::cluster`.
//!
//! `cargo run --release -p ackor-bench --bin cluster_probe -- [--only detect|names|traffic|grains]
//! [--detect-rounds N] [--fast-rounds N] [--warm-up S] [--fast-warm-up S]
//! [--name-rounds N] [--name-sizes 8,32] [--name-gossip-ms 500,100]
//! [--traffic-nodes 32] [--traffic-gossip-ms 500] [--window S] [--pcap FILE]
//! [--grain-keys 200] [--grain-gossip-ms 100]`
//!
//! Defaults: detection with the default settings (gossip 500 ms, phi 8, initial
//! interval 1 s) over 10 rounds with a 10 s warm-up, and with fast settings (gossip
//! 100 ms, phi 6, initial 100 ms) over 20 rounds with a 2 s warm-up; names over 10
//! rounds for 8 and 32 members at gossip 500 and 100 ms; traffic of 32 members at
//! gossip 500 ms over a 10 s window (after 3 s of settling), captured to
//! `/tmp/cluster_probe.pcap`; grains: 200 keys per phase at gossip 100 ms. Everything runs on one 2-worker runtime
//! ([`ackor_bench::runtime`]); each detection victim on its own 1-worker runtime.

use std::time::Duration;

use ackor_bench::cluster::detect::{self, Detector};
use ackor_bench::cluster::{Summary, grains, ms, names, traffic};
use ackor_bench::{BenchError, run_on_worker, runtime};

struct Options {
    only: Option<String>,
    detect_rounds: usize,
    fast_rounds: usize,
    warm_up: Duration,
    fast_warm_up: Duration,
    name_rounds: usize,
    name_sizes: Vec<usize>,
    name_gossip: Vec<Duration>,
    traffic_nodes: usize,
    traffic_gossip: Duration,
    window: Duration,
    pcap: String,
    grain_keys: usize,
    grain_gossip: Duration,
}

impl Options {
    fn runs(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }
}

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, BenchError>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.split(',').map(|v| Ok(v.trim().parse::<T>()?)).collect()
}

fn options() -> Result<Options, BenchError> {
    let mut o = Options {
        only: None,
        detect_rounds: 10,
        fast_rounds: 20,
        warm_up: Duration::from_secs(10),
        fast_warm_up: Duration::from_secs(2),
        name_rounds: 10,
        name_sizes: vec![8, 32],
        name_gossip: vec![Duration::from_millis(500), Duration::from_millis(100)],
        traffic_nodes: 32,
        traffic_gossip: Duration::from_millis(500),
        window: Duration::from_secs(10),
        pcap: "/tmp/cluster_probe.pcap".into(),
        grain_keys: 200,
        grain_gossip: Duration::from_millis(100),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--only" => match value()?.as_str() {
                part @ ("detect" | "names" | "traffic" | "grains") => o.only = Some(part.to_string()),
                other => {
                    return Err(format!("--only detect, names, traffic or grains, not {other}").into());
                }
            },
            "--detect-rounds" => o.detect_rounds = value()?.parse()?,
            "--fast-rounds" => o.fast_rounds = value()?.parse()?,
            "--warm-up" => o.warm_up = Duration::from_secs_f64(value()?.parse()?),
            "--fast-warm-up" => o.fast_warm_up = Duration::from_secs_f64(value()?.parse()?),
            "--name-rounds" => o.name_rounds = value()?.parse()?,
            "--name-sizes" => o.name_sizes = list(&value()?)?,
            "--name-gossip-ms" => {
                o.name_gossip = list::<u64>(&value()?)?
                    .into_iter()
                    .map(Duration::from_millis)
                    .collect()
            }
            "--traffic-nodes" => o.traffic_nodes = value()?.parse()?,
            "--traffic-gossip-ms" => o.traffic_gossip = Duration::from_millis(value()?.parse()?),
            "--window" => o.window = Duration::from_secs_f64(value()?.parse()?),
            "--pcap" => o.pcap = value()?,
            "--grain-keys" => o.grain_keys = value()?.parse()?,
            "--grain-gossip-ms" => o.grain_gossip = Duration::from_millis(value()?.parse()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(o)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn summary(samples: &[Duration]) -> String {
    Summary::of(samples).map_or_else(|| "no samples".into(), |s| s.ms())
}

/// Like [`summary`], in microseconds (grain calls are well under a millisecond).
fn summary_us(samples: &[Duration]) -> String {
    Summary::of(samples).map_or_else(
        || "no samples".into(),
        |s| {
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            format!(
                "n={} min {:.0} p50 {:.0} p99 {:.0} max {:.0} mean {:.0} us",
                s.n,
                us(s.min),
                us(s.p50),
                us(s.p99),
                us(s.max),
                us(s.mean)
            )
        },
    )
}

fn main() -> Result<(), BenchError> {
    let o = options()?;
    let rt = runtime()?;
    println!("cluster_probe: loadavg at start {}", loadavg());

    if o.runs("detect") {
        let settings = [
            (
                "default",
                Detector {
                    gossip: Duration::from_millis(500),
                    phi: 8.0,
                    initial: Duration::from_secs(1),
                },
                o.detect_rounds,
                o.warm_up,
            ),
            (
                "fast",
                Detector {
                    gossip: Duration::from_millis(100),
                    phi: 6.0,
                    initial: Duration::from_millis(100),
                },
                o.fast_rounds,
                o.fast_warm_up,
            ),
        ];
        for (label, d, rounds, warm_up) in settings {
            let load = loadavg();
            let r = run_on_worker(&rt, detect::run(d, rounds, warm_up))??;
            println!(
                "detect {label}: gossip {} ms, phi {}, initial {} ms, {rounds} rounds, warm-up {:.1} s, 3 members (2 survivors); loadavg {load} -> {}",
                d.gossip.as_millis(),
                d.phi,
                d.initial.as_millis(),
                warm_up.as_secs_f64(),
                loadavg()
            );
            println!("  kill -> Down on a survivor: {}", summary(&r.samples));
            println!("  kill -> victim runtime dropped: {}", summary(&r.drop_times));
            println!("  false Down events: {} {:?}", r.false_downs.len(), r.false_downs);
        }
    }

    if o.runs("names") {
        for &gossip in &o.name_gossip {
            for &n in &o.name_sizes {
                let load = loadavg();
                let r = run_on_worker(&rt, names::run(n, o.name_rounds, gossip))??;
                println!(
                    "names: {n} members, gossip {} ms, {} rounds; full membership {:.0} ms after the last join; loadavg {load} -> {}",
                    gossip.as_millis(),
                    o.name_rounds,
                    ms(r.convergence),
                    loadavg()
                );
                println!(
                    "  register -> found on one other member: {}",
                    summary(&r.per_member)
                );
                println!(
                    "  register -> found on every member:     {}",
                    summary(&r.all_members)
                );
            }
        }
    }

    if o.runs("traffic") {
        let load = loadavg();
        let r = run_on_worker(
            &rt,
            traffic::run(
                o.traffic_nodes,
                o.traffic_gossip,
                Duration::from_secs(3),
                o.window,
                o.pcap.clone(),
            ),
        )??;
        let secs = r.window.as_secs_f64();
        let per_node: Vec<(f64, f64)> = r
            .sent
            .values()
            .map(|&(d, b)| (d as f64 / secs, b as f64 / secs))
            .collect();
        let total_d: f64 = per_node.iter().map(|p| p.0).sum();
        let total_b: f64 = per_node.iter().map(|p| p.1).sum();
        let n = per_node.len().max(1) as f64;
        let min_b = per_node.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max_b = per_node.iter().map(|p| p.1).fold(0.0, f64::max);
        let datagrams: u64 = r.sent.values().map(|v| v.0).sum();
        let bytes: u64 = r.sent.values().map(|v| v.1).sum();
        println!(
            "traffic: {} members, gossip {} ms, window {secs:.2} s; loadavg {load} -> {}",
            r.nodes,
            o.traffic_gossip.as_millis(),
            loadavg()
        );
        println!(
            "  captured: {datagrams} datagrams, {bytes} UDP payload bytes ({} IP bytes), {} outside the cluster's ports; tcpdump: {}",
            bytes + 28 * datagrams,
            r.foreign,
            r.tcpdump_summary
        );
        println!(
            "  per member sent: {:.1} datagrams/s, {:.0} payload B/s ({:.0} IP B/s) mean; payload B/s min {min_b:.0} max {max_b:.0}; mean datagram {:.0} B payload",
            total_d / n,
            total_b / n,
            (total_b + 28.0 * total_d) / n,
            if datagrams > 0 {
                bytes as f64 / datagrams as f64
            } else {
                0.0
            }
        );
        if let Some((out, inn)) = r.snmp_out_in {
            println!(
                "  /proc/net/snmp (system-wide) over the window: OutDatagrams +{out}, InDatagrams +{inn} (capture: {datagrams})"
            );
        }
    }
    if o.runs("grains") {
        let load = loadavg();
        let r = run_on_worker(&rt, grains::run(o.grain_keys, o.grain_gossip))??;
        println!(
            "grains: {} keys per phase (after {} uncounted), gossip {} ms; 3 members listed all {:.0} ms after the last join; loadavg {load} -> {}",
            o.grain_keys,
            grains::WARM_UP_KEYS,
            o.grain_gossip.as_millis(),
            ms(r.convergence),
            loadavg()
        );
        let rows: [(&str, &[Duration]); 9] = [
            ("local, first call (activation here)", &r.local_first),
            ("local, second call (running activation)", &r.local_second),
            ("local, ActorRef::call floor", &r.local_floor),
            ("remote, first call (activation there)", &r.remote_first),
            (
                "remote, second call at once (name not yet gossiped)",
                &r.remote_early,
            ),
            ("remote, first reply -> name in caller's view", &r.name_visible),
            (
                "remote, ActorRef::call after that wait (idle)",
                &r.floor_after_idle,
            ),
            (
                "remote, call once the name is known (running activation)",
                &r.remote_steady,
            ),
            ("remote, ActorRef::call floor (resolved)", &r.remote_floor),
        ];
        for (label, samples) in rows {
            println!("  {label}: {}", summary_us(samples));
        }
        println!(
            "  early second calls that found the name already known: {} of {}",
            r.early_with_name,
            r.remote_early.len()
        );
    }
    println!("cluster_probe: loadavg at end {}", loadavg());
    Ok(())
}
