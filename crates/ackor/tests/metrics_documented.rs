//! Every metric the code records is in the table of the crate docs (`docs/metrics.md`,
//! which `ackor::telemetry` reads), with its kind and labels, and the table lists no
//! metric the code does not record.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::Path;

use ackor::telemetry::MetricKind;

/// `name -> (kind, labels)` of every `metrics::counter!`/`gauge!`/`histogram!` call under `dir`.
fn recorded(dir: &Path, found: &mut BTreeMap<String, (MetricKind, Vec<String>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            recorded(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (kind, marker) in [
            (MetricKind::Counter, "metrics::counter!("),
            (MetricKind::Gauge, "metrics::gauge!("),
            (MetricKind::Histogram, "metrics::histogram!("),
        ] {
            for (at, _) in text.match_indices(marker) {
                let rest = text[at + marker.len()..].trim_start();
                // `metrics::counter!(m.name)` in telemetry.rs itself is no metric.
                let Some(rest) = rest.strip_prefix('"') else {
                    continue;
                };
                let name = &rest[..rest.find('"').unwrap()];
                let call = &rest[..rest.find(')').unwrap()];
                // A label is the string literal just before a `=>`.
                let labels: Vec<String> = call
                    .match_indices("=>")
                    .filter_map(|(arrow, _)| {
                        let before = call[..arrow].trim_end().strip_suffix('"')?;
                        before.rsplit('"').next().map(str::to_string)
                    })
                    .collect();
                let entry = found.entry(name.to_string()).or_insert((kind, Vec::new()));
                for l in labels {
                    if !entry.1.contains(&l) {
                        entry.1.push(l);
                    }
                }
            }
        }
    }
}

#[test]
fn every_metric_recorded_is_documented_with_its_kind_and_labels() {
    let mut found = BTreeMap::new();
    recorded(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    assert!(found.len() > 20, "the scan found too few metrics: {found:?}");
    let documented: BTreeMap<&str, (MetricKind, &str)> = ackor::telemetry::metrics()
        .map(|m| (m.name, (m.kind, m.labels)))
        .collect();
    for (name, (kind, labels)) in &found {
        let (doc_kind, doc_labels) = documented
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} is recorded but not in docs/metrics.md"));
        assert_eq!(doc_kind, kind, "{name}: kind");
        let doc_labels: Vec<&str> = doc_labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let mut labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        labels.sort();
        let mut doc_sorted = doc_labels.clone();
        doc_sorted.sort();
        assert_eq!(doc_sorted, labels, "{name}: labels");
    }
    for name in documented.keys() {
        assert!(
            found.contains_key(*name),
            "{name} is documented but never recorded"
        );
    }
}
