//! Memory per idle actor, for each framework, with a counting global allocator:
//! `cargo bench -p ackor-bench --bench memory`.
//!
//! Not a timing bench. For each framework: warm up (one actor spawned, called and
//! stopped), spawn `N` = 10 000 counters, wait until each has answered one request
//! (so all have started and are idle), read the live heap growth / `N`, stop them.
//! Prints a table and writes it as TSV to `<target>/tmp/ackor-bench-memory.tsv` for
//! the `summary` binary. Run without `--bench` (as `cargo test --benches` does) or with
//! `--test` (`cargo bench -- --test`) it only checks itself with `N` = 200.

#![allow(clippy::expect_used)]

use std::fmt::Write as _;

use ackor_bench::alloc_counter::{CountingAlloc, MemoryReport};
use ackor_bench::{
    BenchError, ackor_impl, actix_impl, kameo_impl, ractor_impl, run_on_worker, runtime, tokio_impl,
};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn on_tokio<F>(op: F) -> Result<MemoryReport, BenchError>
where
    F: std::future::Future<Output = Result<MemoryReport, BenchError>> + Send + 'static,
{
    let rt = runtime()?;
    run_on_worker(&rt, op)?
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let n = if full { 10_000 } else { 200 };
    let mut rows: Vec<(&str, MemoryReport)> = Vec::new();

    let report = on_tokio(async move {
        let node = ackor_impl::start_node().await?;
        let report = ackor_impl::idle_memory(&node, n).await;
        node.shutdown().await;
        report
    });
    rows.push(("ackor", report.expect("ackor")));
    rows.push(("kameo", on_tokio(kameo_impl::idle_memory(n)).expect("kameo")));
    rows.push(("ractor", on_tokio(ractor_impl::idle_memory(n)).expect("ractor")));
    let system = actix_rt::System::new();
    rows.push((
        "actix",
        system.block_on(actix_impl::idle_memory(n)).expect("actix"),
    ));
    rows.push((
        "tokio_baseline",
        on_tokio(tokio_impl::idle_memory(n)).expect("tokio"),
    ));

    println!("memory per idle actor, N = {n} (live heap growth / N, counting global allocator)");
    println!(
        "{:<16} {:>14} {:>18}",
        "framework", "bytes/actor", "allocations/actor"
    );
    let mut tsv = String::from("framework\tbytes_per_actor\tallocations_per_actor\tactors\n");
    for (name, r) in &rows {
        println!(
            "{name:<16} {:>14.0} {:>18.1}",
            r.bytes_per_item, r.allocations_per_item
        );
        let _ = writeln!(
            tsv,
            "{name}\t{:.1}\t{:.2}\t{}",
            r.bytes_per_item, r.allocations_per_item, r.items
        );
    }
    if full {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ackor-bench-memory.tsv");
        match std::fs::write(&path, tsv) {
            Ok(()) => println!("written to {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}
