//! A stable-Rust smoke run of the fuzz targets, without libFuzzer or sanitizers: each
//! target gets `ACKOR_FUZZ_SMOKE_ITERS` (default 100 000) inputs from a fixed seed —
//! random bytes and mutations of valid frames / handshake messages — and must not
//! panic. Run it in release: `cargo test --release --manifest-path fuzz/Cargo.toml`.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ackor_fuzz::{Rng, frame_seeds, handshake_seeds, length_prefixed, mutate};

fn iterations() -> usize {
    std::env::var("ACKOR_FUZZ_SMOKE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `target` `iterations()` inputs from `next`; on a panic, fails with the input.
/// `classify` sorts outcomes, to show how deep the inputs got. Returns the tally.
fn run<T>(
    name: &str,
    seed: u64,
    target: fn(&[u8]) -> T,
    classify: fn(&T) -> String,
    mut next: impl FnMut(&mut Rng) -> Vec<u8>,
) -> BTreeMap<String, usize> {
    let mut rng = Rng::new(seed);
    let n = iterations();
    let mut bytes = 0usize;
    let mut tally = BTreeMap::new();
    for i in 0..n {
        let input = next(&mut rng);
        bytes += input.len();
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(outcome) => *tally.entry(classify(&outcome)).or_insert(0) += 1,
            Err(_) => panic!(
                "{name}: input #{i} panicked ({} bytes): {}",
                input.len(),
                hex(&input)
            ),
        }
    }
    eprintln!("{name}: {n} inputs, {bytes} bytes, no panic; outcomes: {tally:?}");
    tally
}

fn frames(n: &usize) -> String {
    match n {
        0 => "0 frames".into(),
        1 => "1 frame".into(),
        _ => "2+ frames".into(),
    }
}

/// The refusal, without the details (lengths, names) that vary per input.
fn refusal(e: &ackor::Error) -> String {
    let text = e.to_string();
    let text = text.split(':').take(2).collect::<Vec<_>>().join(":");
    text.split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Random bytes: short ones (mostly rejected early) and longer ones.
fn random(rng: &mut Rng) -> Vec<u8> {
    let len = if rng.below(4) == 0 {
        rng.below(4096)
    } else {
        rng.below(64)
    };
    rng.bytes(len)
}

#[test]
fn frame_decoder_does_not_panic() {
    let seeds: Vec<Vec<u8>> = frame_seeds().iter().map(|s| length_prefixed(s)).collect();
    let tally = run(
        "frame_decoder",
        0x00ac_0001,
        ackor_fuzz::frame_decoder,
        frames,
        |rng| {
            if rng.below(8) == 0 {
                return random(rng);
            }
            // One to four valid frames back to back, then mutated.
            let mut input = Vec::new();
            for _ in 0..1 + rng.below(4) {
                input.extend_from_slice(&seeds[rng.below(seeds.len())]);
            }
            mutate(rng, &mut input, &seeds);
            input
        },
    );
    // The inputs reach the protobuf decoder, not only the length check.
    assert!(
        tally.contains_key("1 frame") && tally.contains_key("2+ frames"),
        "{tally:?}"
    );
}

#[test]
fn envelope_does_not_panic() {
    let seeds = frame_seeds();
    let tally = run("envelope", 0x00ac_0002, ackor_fuzz::envelope, frames, |rng| {
        if rng.below(8) == 0 {
            return random(rng);
        }
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(rng, &mut input, &seeds);
        input
    });
    assert!(
        tally.contains_key("1 frame") && tally.contains_key("0 frames"),
        "{tally:?}"
    );
}

#[test]
fn handshake_does_not_panic() {
    let seeds = handshake_seeds();
    let tally = run("handshake", 0x00ac_0003, ackor_fuzz::handshake, refusal, |rng| {
        if rng.below(8) == 0 {
            return random(rng);
        }
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(rng, &mut input, &seeds);
        input
    });
    // Some inputs pass the Hello checks (the responder then fails writing its own Hello:
    // `respond_to_handshake` closes the peer's side once the input is written).
    assert!(tally.contains_key("handshake failed: i/o"), "{tally:?}");
}

#[test]
fn every_frame_seed_is_a_valid_frame() {
    let seeds = frame_seeds();
    let mut all = Vec::new();
    for (i, s) in seeds.iter().enumerate() {
        let framed = length_prefixed(s);
        assert_eq!(
            ackor::testing::decode_frames(&framed, 64 * 1024),
            1,
            "seed {i}: {}",
            hex(s)
        );
        all.extend_from_slice(&framed);
    }
    assert_eq!(ackor::testing::decode_frames(&all, 64 * 1024), seeds.len());
    // The heartbeat ackor itself encodes is one of the seeds, byte for byte.
    let heartbeat = ackor::testing::heartbeat_frame();
    assert!(seeds.iter().any(|s| length_prefixed(s) == heartbeat));
}

#[test]
fn handshake_inputs_are_refused() {
    let seeds = handshake_seeds();
    for s in &seeds {
        ackor_fuzz::handshake(s);
    }
    // A valid Hello gets past the checks; the responder then finds the peer gone.
    let e = ackor_fuzz::handshake(&seeds[0]);
    assert!(
        matches!(&e, ackor::Error::Handshake(m) if m.starts_with("i/o")),
        "{e}"
    );
    // The input limit itself, and past it (cut, not a hang).
    ackor_fuzz::handshake(&vec![0u8; ackor_fuzz::HANDSHAKE_INPUT_LIMIT + 1]);
}

/// Writes the seeds as a starting corpus for cargo-fuzz into
/// `$ACKOR_FUZZ_SEED_DIR/<target>/` (used by scripts/fuzz-smoke.sh).
#[test]
#[ignore = "writes files; run by scripts/fuzz-smoke.sh"]
fn write_seed_corpus() {
    let Ok(dir) = std::env::var("ACKOR_FUZZ_SEED_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let frames = frame_seeds();
    let sets: [(&str, Vec<Vec<u8>>); 3] = [
        (
            "frame_decoder",
            frames.iter().map(|s| length_prefixed(s)).collect(),
        ),
        ("envelope", frames.clone()),
        ("handshake", handshake_seeds()),
    ];
    for (target, seeds) in sets {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
}
