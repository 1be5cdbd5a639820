//! ackor's metrics in one place: the table of the crate docs' "Metrics" section
//! (`docs/metrics.md`) is the list, and [`describe`] reads it, so the two cannot part.
//!
//! With the feature `otlp`, the module `otlp` exports the `ackor.handle` spans (see
//! [`trace`](crate::trace)) to an OpenTelemetry collector, with ackor's own trace and
//! span ids.

#[cfg(feature = "otlp")]
pub mod otlp;

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution of observed values (exported as a histogram or summary).
    Histogram,
}

/// One metric ackor records: a row of the table in the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metric {
    /// Its name, e.g. `ackor_important_acked_total`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Its labels, comma-separated (empty: none).
    pub labels: &'static str,
    /// What it counts.
    pub help: &'static str,
}

const TABLE: &str = include_str!("../../docs/metrics.md");

/// Every metric ackor records, from the table in the crate docs.
///
/// ```
/// let names: Vec<_> = ackor::telemetry::metrics().map(|m| m.name).collect();
/// assert!(names.contains(&"ackor_important_acked_total"));
/// ```
pub fn metrics() -> impl Iterator<Item = Metric> {
    parse(TABLE)
}

/// The metric rows of a markdown table whose rows read
/// `` | `name` | counter, gauge or histogram | labels | help | `` (other lines are skipped): how the
/// crates of ackor keep their metrics in their docs and read them from there.
///
/// ```
/// let table = "| metric | kind | labels | what |\n|---|---|---|---|\n| `x_total` | counter | `reason` | xs |\n";
/// let rows: Vec<_> = ackor::telemetry::parse(table).collect();
/// assert_eq!((rows[0].name, rows[0].labels, rows[0].help), ("x_total", "reason", "xs"));
/// ```
pub fn parse(table: &'static str) -> impl Iterator<Item = Metric> {
    table.lines().filter_map(|line| {
        let mut cells = line.strip_prefix("| `")?.split('|').map(str::trim);
        let name = cells.next()?.strip_suffix('`')?;
        let kind = match cells.next()? {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "histogram" => MetricKind::Histogram,
            _ => return None,
        };
        let labels = cells.next()?.trim_matches('`');
        let help = cells.next()?;
        Some(Metric {
            name,
            kind,
            labels,
            help,
        })
    })
}

/// Describes every metric ackor records to the installed `metrics` recorder (its help
/// text) and registers each at zero, so an exporter lists them all before anything
/// happened. Call it once after installing a recorder.
///
/// ```
/// ackor::telemetry::describe(); // with no recorder installed: does nothing
/// ```
pub fn describe() {
    describe_all(metrics());
}

/// [`describe`] for any list of metrics (other crates of ackor have their own table).
pub fn describe_all(list: impl IntoIterator<Item = Metric>) {
    for m in list {
        match m.kind {
            MetricKind::Counter => {
                metrics::describe_counter!(m.name, m.help);
                metrics::counter!(m.name).increment(0);
            }
            MetricKind::Gauge => {
                metrics::describe_gauge!(m.name, m.help);
                metrics::gauge!(m.name).increment(0.0);
            }
            // Registered without a value: an exporter lists it once something is
            // observed (a histogram has no neutral value to record).
            MetricKind::Histogram => {
                metrics::describe_histogram!(m.name, m.help);
                drop(metrics::histogram!(m.name));
            }
        }
    }
}
