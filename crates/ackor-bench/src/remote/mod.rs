//! Remote benchmarks: two nodes in one process, talking over loopback TCP.
//!
//! Three implementations of the same operations, side by side in `benches/remote.rs`:
//!
//! | module                      | what                                                        |
//! |-----------------------------|-------------------------------------------------------------|
//! | [`ackor_remote`]            | two ackor [`Node`](ackor::Node)s, a counter on B, its remote handle on A |
//! | [`ractor_cluster_remote`]   | two `ractor_cluster` `NodeServer`s, a counter on one, reached through the `RemoteActor` the other node's session made for it |
//! | [`tcp_baseline`]            | a bare tokio `TcpStream` pair: length-prefixed 16-byte frames, batched writes; the floor |
//!
//! The operations, each a plain async function returning the time of the measured part:
//!
//! | function        | what is timed                                                     |
//! |-----------------|-------------------------------------------------------------------|
//! | `tell_1to1`     | one sender sends `n` small messages to one counter on the other node, then one call returns the count, which must be `n` |
//! | `tell_n_to_n`   | [`PAIRS`] senders, each to its own counter, `n` messages each, same check per counter |
//! | `call_latency`  | `n` sequential calls; each call's own time also goes into a [`Latencies`] histogram; the last reply must be `n` |
//!
//! End-to-end delivery of ackor alone (important sends acknowledged on arrival or after
//! handling, streams with a memory or file outbox) is in [`ackor_stream`], run by the
//! `stream_probe` binary.
//!
//! Each implementation runs on its own 2-worker tokio runtime ([`crate::runtime`]), both
//! of its nodes on that runtime, every operation inside a task on one of its workers.

pub mod ackor_remote;
pub mod ackor_stream;
pub mod ractor_cluster_remote;
pub mod tcp_baseline;

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::BenchError;

pub use crate::PAIRS;

/// Per-call latencies in nanoseconds, 1 ns to 60 s, 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Self {
        // 1 ns .. 60 s at 3 significant digits: valid bounds, cannot fail.
        match Histogram::new_with_bounds(1, 60_000_000_000, 3) {
            Ok(hist) => Latencies { hist },
            Err(e) => panic!("hdrhistogram refused its bounds: {e:?}"),
        }
    }

    /// Runs `op` `n` times, one after another, each timed into a new histogram: the
    /// total time, the histogram, and the last output (`None` for no run). Every
    /// `*_latency` operation of every framework times its calls this one way.
    /// (`op` makes each run's future: an `AsyncFnMut` would be simpler to pass, but
    /// the futures it makes are not known to be `Send`, and these run in spawned tasks.)
    pub async fn time_each<T, F>(
        n: u64,
        mut op: impl FnMut() -> F,
    ) -> Result<(Duration, Latencies, Option<T>), BenchError>
    where
        F: Future<Output = Result<T, BenchError>>,
    {
        let mut latencies = Latencies::new();
        let mut last = None;
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            last = Some(op().await?);
            latencies.record(t.elapsed());
        }
        Ok((start.elapsed(), latencies, last))
    }

    /// Records one call's time (saturating at the upper bound).
    pub fn record(&mut self, d: Duration) {
        self.hist
            .saturating_record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1));
    }

    /// Adds every value of `other`.
    pub fn add(&mut self, other: &Latencies) -> Result<(), BenchError> {
        self.hist
            .add(&other.hist)
            .map_err(|e| format!("histogram: {e:?}").into())
    }

    /// Number of recorded calls.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The value at `quantile` (0..=1), in microseconds.
    pub fn quantile_us(&self, quantile: f64) -> f64 {
        self.hist.value_at_quantile(quantile) as f64 / 1e3
    }

    /// Mean in microseconds.
    pub fn mean_us(&self) -> f64 {
        self.hist.mean() / 1e3
    }

    /// Largest value in microseconds.
    pub fn max_us(&self) -> f64 {
        self.hist.max() as f64 / 1e3
    }

    /// Smallest value in microseconds.
    pub fn min_us(&self) -> f64 {
        self.hist.min() as f64 / 1e3
    }
}

/// One row of the latency table: `name`, then count, min, p50, p90, p99, p99.9, max,
/// mean (µs).
pub fn latency_row(name: &str, l: &Latencies) -> String {
    format!(
        "{name}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
        l.count(),
        l.min_us(),
        l.quantile_us(0.50),
        l.quantile_us(0.90),
        l.quantile_us(0.99),
        l.quantile_us(0.999),
        l.max_us(),
        l.mean_us()
    )
}

/// Header of [`latency_row`].
pub const LATENCY_HEADER: &str =
    "framework\tcalls\tmin_us\tp50_us\tp90_us\tp99_us\tp99_9_us\tmax_us\tmean_us";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn latencies_report_quantiles_in_microseconds() {
        let mut l = Latencies::new();
        for us in 1..=100u64 {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.count(), 100);
        assert!((l.quantile_us(0.5) - 50.0).abs() < 0.1, "{}", l.quantile_us(0.5));
        assert!(
            (l.quantile_us(0.99) - 99.0).abs() < 0.1,
            "{}",
            l.quantile_us(0.99)
        );
        let mut sum = Latencies::new();
        sum.add(&l).unwrap();
        sum.add(&l).unwrap();
        assert_eq!(sum.count(), 200);
        assert!(latency_row("x", &sum).starts_with("x\t200\t1.0\t50.0"));
    }
}
