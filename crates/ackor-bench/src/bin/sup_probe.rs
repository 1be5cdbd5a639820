//! The supervision figures (issue 12): restart latency (p50/p99) and one-for-all restart
//! of many children, for ackor, kameo, ractor and bare tokio, outside criterion.
//!
//! `cargo run --release -p ackor-bench --bin sup_probe -- [--restarts N] [--children C]
//! [--rounds R] [--passes P] [--only restart|one_for_all] [--print-panics] [FRAMEWORK...]`
//! with FRAMEWORK among `ackor`, `kameo`, `ractor`, `tokio` (default: all four; `tokio`
//! has no one-for-all). Defaults: 2000 restarts, 1000 children, 5 rounds, 3 passes, both
//! parts. `--print-panics` keeps the default panic hook, which prints every crash to
//! stderr (otherwise the bench's own crashes are not printed, see
//! `ackor_bench::supervision::quiet_crash_panics`). Each pass runs every framework in
//! turn (restart latency after 200 unrecorded warm-up restarts, then one-for-all), each
//! on its own 2-worker runtime ([`ackor_bench::runtime`]), inside a task on a worker; the
//! last table sums the passes. What each figure measures: `ackor_bench::supervision`.

use std::collections::BTreeMap;

use ackor_bench::supervision::{
    Latencies, ONE_FOR_ALL_CHILDREN, Round, ackor_sup, all_up_ms, first_up_ms, kameo_sup, ractor_sup,
    tokio_sup,
};
use ackor_bench::{BenchError, ackor_impl, run_on_worker, runtime};

const FRAMEWORKS: [&str; 4] = ["ackor", "kameo", "ractor", "tokio"];
const WARM_UP: u64 = 200;

struct Options {
    restarts: u64,
    children: usize,
    rounds: usize,
    passes: usize,
    only: Option<String>,
    frameworks: Vec<String>,
}

impl Options {
    fn runs(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }
}

fn options() -> Result<Options, BenchError> {
    let mut o = Options {
        restarts: 2000,
        children: ONE_FOR_ALL_CHILDREN,
        rounds: 5,
        passes: 3,
        only: None,
        frameworks: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--restarts" => o.restarts = value()?.parse()?,
            "--children" => o.children = value()?.parse()?,
            "--rounds" => o.rounds = value()?.parse()?,
            "--passes" => o.passes = value()?.parse()?,
            "--print-panics" => ackor_bench::supervision::print_crash_panics(),
            "--only" => match value()?.as_str() {
                part @ ("restart" | "one_for_all") => o.only = Some(part.to_string()),
                other => return Err(format!("--only restart or one_for_all, not {other}").into()),
            },
            f if FRAMEWORKS.contains(&f) => o.frameworks.push(f.to_string()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if o.frameworks.is_empty() {
        o.frameworks = FRAMEWORKS.iter().map(|f| f.to_string()).collect();
    }
    Ok(o)
}

/// One framework's runtime (and, for ackor, its node).
struct Env {
    rt: tokio::runtime::Runtime,
    node: Option<ackor::Node>,
}

impl Env {
    fn new(framework: &str) -> Result<Env, BenchError> {
        let rt = runtime()?;
        let node = if framework == "ackor" {
            Some(run_on_worker(&rt, ackor_impl::start_node())??)
        } else {
            None
        };
        Ok(Env { rt, node })
    }

    fn restart_latency(&self, framework: &str, n: u64) -> Result<Latencies, BenchError> {
        let node = self.node.clone();
        let framework = framework.to_string();
        run_on_worker(&self.rt, async move {
            match (framework.as_str(), node) {
                ("ackor", Some(node)) => ackor_sup::restart_latency(&node, n).await,
                ("kameo", _) => kameo_sup::restart_latency(n).await,
                ("ractor", _) => ractor_sup::restart_latency(n).await,
                ("tokio", _) => tokio_sup::restart_latency(n).await,
                (other, _) => Err(format!("unknown framework {other}").into()),
            }
        })?
    }

    fn one_for_all(
        &self,
        framework: &str,
        children: usize,
        rounds: usize,
    ) -> Result<Option<Vec<Round>>, BenchError> {
        let node = self.node.clone();
        let framework = framework.to_string();
        run_on_worker(&self.rt, async move {
            Ok(Some(match (framework.as_str(), node) {
                ("ackor", Some(node)) => ackor_sup::one_for_all(&node, children, rounds).await?,
                ("kameo", _) => kameo_sup::one_for_all(children, rounds).await?,
                ("ractor", _) => ractor_sup::one_for_all(children, rounds).await?,
                _ => return Ok(None),
            }))
        })?
    }
}

fn latency_header() {
    println!("framework\trestarts\tmin_us\tp50_us\tp90_us\tp99_us\tp99_9_us\tmax_us\tmean_us");
}

fn latency_row(framework: &str, l: &Latencies) {
    println!("{}", ackor_bench::remote::latency_row(framework, l));
}

fn rounds_header(children: usize) {
    println!(
        "framework\trounds\tall {children} up: mean_ms\tmin_ms\tmax_ms\tfirst up: mean_ms\tmin_ms\tmax_ms\tper round (all up, ms)"
    );
}

fn rounds_row(framework: &str, rounds: &[Round]) {
    let (mean, min, max) = all_up_ms(rounds);
    let (fmean, fmin, fmax) = first_up_ms(rounds);
    let each: Vec<String> = rounds
        .iter()
        .map(|r| format!("{:.2}", r.all_up.as_secs_f64() * 1e3))
        .collect();
    println!(
        "{framework}\t{}\t{mean:.2}\t{min:.2}\t{max:.2}\t{fmean:.2}\t{fmin:.2}\t{fmax:.2}\t{}",
        rounds.len(),
        each.join(" ")
    );
}

fn main() -> Result<(), BenchError> {
    let o = options()?;
    let envs: Vec<(String, Env)> = o
        .frameworks
        .iter()
        .map(|f| Ok((f.clone(), Env::new(f)?)))
        .collect::<Result<_, BenchError>>()?;
    let mut all_lat: BTreeMap<String, Latencies> = BTreeMap::new();
    let mut all_rounds: BTreeMap<String, Vec<Round>> = BTreeMap::new();
    for pass in 1..=o.passes {
        if o.runs("restart") {
            println!(
                "## pass {pass} of {}: restart latency, crash → next message handled",
                o.passes
            );
            latency_header();
            for (f, env) in &envs {
                env.restart_latency(f, WARM_UP)?;
                let lat = env.restart_latency(f, o.restarts)?;
                latency_row(f, &lat);
                all_lat.entry(f.clone()).or_default().add(&lat)?;
            }
        }
        if o.runs("one_for_all") {
            println!("## pass {pass}: one-for-all restart of {} children", o.children);
            rounds_header(o.children);
            for (f, env) in &envs {
                if let Some(rounds) = env.one_for_all(f, o.children, o.rounds)? {
                    rounds_row(f, &rounds);
                    all_rounds.entry(f.clone()).or_default().extend(rounds);
                }
            }
        }
    }
    if !all_lat.is_empty() {
        println!("## all {} passes: restart latency", o.passes);
        latency_header();
        for (f, _) in &envs {
            if let Some(l) = all_lat.get(f) {
                latency_row(f, l);
            }
        }
    }
    if !all_rounds.is_empty() {
        println!(
            "## all {} passes: one-for-all restart of {} children",
            o.passes, o.children
        );
        rounds_header(o.children);
        for (f, _) in &envs {
            if let Some(r) = all_rounds.get(f) {
                rounds_row(f, r);
            }
        }
    }
    for (_, env) in envs {
        if let Some(node) = env.node.clone() {
            run_on_worker(&env.rt, async move { node.shutdown().await })?;
        }
    }
    Ok(())
}
