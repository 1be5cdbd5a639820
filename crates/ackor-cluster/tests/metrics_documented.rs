//! Every metric ackor-cluster records is in its table (`docs/metrics.md`), and the
//! table lists none it does not record. (ackor's own test also checks kinds and labels;
//! the cluster's metrics have no labels.)

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeSet;

#[test]
fn every_metric_recorded_is_documented() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut recorded = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for marker in ["metrics::counter!(", "metrics::gauge!("] {
            for (at, _) in text.match_indices(marker) {
                let rest = text[at + marker.len()..].trim_start();
                if let Some(rest) = rest.strip_prefix('"') {
                    recorded.insert(rest[..rest.find('"').unwrap()].to_string());
                }
            }
        }
    }
    let documented: BTreeSet<String> = ackor_cluster::telemetry::metrics()
        .map(|m| m.name.to_string())
        .collect();
    assert!(!recorded.is_empty());
    assert_eq!(recorded, documented);
}
