//! A stable-Rust smoke run of the fuzz targets, without libFuzzer or sanitizers: each
//! target gets `ACKOR_FUZZ_SMOKE_ITERS` (default 100 000; CI sets a smaller count)
//! inputs from a fixed seed — random bytes and mutations of valid frames / handshake
//! messages. What is checked is what the decoders promise for bytes from the network:
//! no input panics, every input ends (a watchdog fails the test, naming the input, if
//! one takes longer than [`STALL`]), frames never decode out of nothing, and the
//! handshake responder refuses every input with a handshake error, never accepts. So
//! that these checks cannot pass vacuously, the seeds are checked to be what they claim
//! (every frame seed decodes; the valid handshake seed gets through to the responder's
//! last check, the Proof), the runs must reach the deep paths, and a real initiator
//! that knows the cookie must be accepted by the same responder code.
//!
//! `cargo test --release --manifest-path fuzz/Cargo.toml`

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ackor_fuzz::{Rng, frame_seeds, handshake_seeds, length_prefixed, mutate};

/// The longest one input may take before the run counts it as a hang. Every input takes
/// microseconds; this is generous for a loaded CI machine and a debug build.
const STALL: Duration = Duration::from_secs(10);

fn iterations() -> usize {
    std::env::var("ACKOR_FUZZ_SMOKE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which input a watched run is on, and since when.
#[derive(Default)]
struct Watch(Mutex<Option<(usize, Vec<u8>, Instant)>>);

impl Watch {
    fn start(&self, i: usize, input: &[u8]) {
        if let Ok(mut current) = self.0.lock() {
            *current = Some((i, input.to_vec(), Instant::now()));
        }
    }
}

/// Runs `work` on its own thread and waits for it. Fails the test, naming the input,
/// if one input (from one `Watch::start` to the next) takes longer than [`STALL`]; a
/// panic in `work` fails the test as itself.
fn watched<R: Send + 'static>(name: &str, work: impl FnOnce(&Watch) -> R + Send + 'static) -> R {
    let watch = Arc::new(Watch::default());
    let worker = {
        let watch = Arc::clone(&watch);
        std::thread::spawn(move || work(&watch))
    };
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(current) = watch.0.lock()
            && let Some((i, input, since)) = current.as_ref()
            && since.elapsed() > STALL
        {
            // The worker is left behind, stuck; the test fails.
            panic!(
                "{name}: input #{i} did not end within {STALL:?} ({} bytes): {}",
                input.len(),
                hex(input)
            );
        }
    }
    match worker.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Feeds `target` `iterations()` inputs from `next`, watched for hangs; on a panic,
/// fails with the input. `classify` sorts outcomes, to show how deep the inputs got.
/// Returns the tally.
fn run<T: 'static>(
    name: &'static str,
    seed: u64,
    target: fn(&[u8]) -> T,
    classify: fn(&T) -> String,
    mut next: impl FnMut(&mut Rng) -> Vec<u8> + Send + 'static,
) -> BTreeMap<String, usize> {
    let n = iterations();
    let started = Instant::now();
    let (bytes, tally) = watched(name, move |watch| {
        let mut rng = Rng::new(seed);
        let mut bytes = 0usize;
        let mut tally = BTreeMap::new();
        for i in 0..n {
            let input = next(&mut rng);
            bytes += input.len();
            watch.start(i, &input);
            match catch_unwind(AssertUnwindSafe(|| target(&input))) {
                Ok(outcome) => *tally.entry(classify(&outcome)).or_insert(0) += 1,
                Err(_) => panic!(
                    "{name}: input #{i} panicked ({} bytes): {}",
                    input.len(),
                    hex(&input)
                ),
            }
        }
        (bytes, tally)
    });
    eprintln!(
        "{name}: {n} inputs, {bytes} bytes in {:.2?}, no panic, no hang; outcomes: {tally:?}",
        started.elapsed()
    );
    tally
}

fn frames(n: &usize) -> String {
    match n {
        0 => "0 frames".into(),
        1 => "1 frame".into(),
        _ => "2+ frames".into(),
    }
}

/// Refused at the responder's last check: the peer's Hello passed and its Proof decoded,
/// but the digest is not the HMAC over the responder's nonce.
const WRONG_PROOF: &str = "wrong proof";

/// The step a refusal came from (for the tally; only [`WRONG_PROOF`] and "not a
/// handshake error" are asserted on, the rest shows how the inputs spread).
fn refusal(e: &ackor::Error) -> String {
    let ackor::Error::Handshake(why) = e else {
        return format!("not a handshake error: {e}");
    };
    [
        (WRONG_PROOF, "does not know our cookie"),
        ("peer closed", "closed the connection"),
        ("message too long", "handshake message of"),
        ("undecodable message", "undecodable"),
        ("protocol version", "protocol version"),
        ("no node name", "no node name"),
    ]
    .iter()
    .find(|(_, text)| why.contains(text))
    .map_or_else(|| format!("other: {why}"), |(step, _)| (*step).to_string())
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
    let pool = seeds.clone();
    let tally = run(
        "frame_decoder",
        0x00ac_0001,
        ackor_fuzz::frame_decoder,
        frames,
        move |rng| {
            if rng.below(8) == 0 {
                return random(rng);
            }
            // One to four valid frames back to back, then mutated.
            let mut input = Vec::new();
            for _ in 0..1 + rng.below(4) {
                input.extend_from_slice(&seeds[rng.below(seeds.len())]);
            }
            mutate(rng, &mut input, &pool);
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
    let pool = seeds.clone();
    let tally = run(
        "envelope",
        0x00ac_0002,
        ackor_fuzz::envelope,
        frames,
        move |rng| {
            if rng.below(8) == 0 {
                return random(rng);
            }
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(rng, &mut input, &pool);
            input
        },
    );
    assert!(
        tally.contains_key("1 frame") && tally.contains_key("0 frames"),
        "{tally:?}"
    );
}

#[test]
fn handshake_refuses_every_input() {
    let seeds = handshake_seeds();
    let pool = seeds.clone();
    // `ackor_fuzz::handshake` panics if the responder accepts.
    let tally = run(
        "handshake",
        0x00ac_0003,
        ackor_fuzz::handshake,
        refusal,
        move |rng| {
            if rng.below(8) == 0 {
                return random(rng);
            }
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(rng, &mut input, &pool);
            input
        },
    );
    // Every refusal is a failed handshake, not some other error.
    assert!(
        !tally.keys().any(|k| k.starts_with("not a handshake error")),
        "{tally:?}"
    );
    // Some inputs get through every check but the last (a valid Hello, a decodable
    // Proof): refusing them is the cookie check at work, not an early bail-out.
    assert!(tally.contains_key(WRONG_PROOF), "{tally:?}");
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
fn handshake_seeds_are_refused_where_expected() {
    let outcomes = watched("handshake seeds", |watch| {
        let mut seeds = handshake_seeds();
        // Long inputs end too: the responder stops reading after two messages, and the
        // writer of the rest gives up when it does.
        let mut valid_then_more = seeds[0].clone();
        valid_then_more.extend(std::iter::repeat_n(0xa5, 1 << 20));
        seeds.push(valid_then_more);
        seeds.push(vec![0; 1 << 20]);
        seeds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                watch.start(i, s);
                refusal(&ackor_fuzz::handshake(s))
            })
            .collect::<Vec<_>>()
    });
    assert!(
        !outcomes.iter().any(|k| k.starts_with("not a handshake error")),
        "{outcomes:?}"
    );
    // The valid seed (Hello, then a Proof) is refused for its proof alone, also when
    // more bytes follow; the same Hello with no Proof after it is refused earlier.
    let n = outcomes.len();
    assert_eq!(outcomes[0], WRONG_PROOF, "{outcomes:?}");
    assert_eq!(outcomes[n - 2], WRONG_PROOF, "{outcomes:?}");
    assert_ne!(outcomes[2], WRONG_PROOF, "{outcomes:?}");
}

/// The control for the two tests above: the responder code they drive does accept a
/// peer that proves it knows the cookie (a real initiator over loopback TCP), and
/// refuses the same initiator with another cookie. So "every input is refused" means
/// the inputs are refused, not that the responder refuses everything.
#[test]
fn the_responder_accepts_a_real_initiator() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cookie = "fuzz";
        let (name, peer) = ackor::testing::mute_peer("responder", cookie).await.unwrap();
        let addr = name.split_once('@').unwrap().1;
        let dial = |cookie: &'static str| {
            let (addr, name) = (addr.to_string(), name.clone());
            async move {
                let attempt =
                    ackor::testing::handshaken_stream(&addr, "initiator@127.0.0.1:1", cookie, &name);
                tokio::time::timeout(STALL, attempt)
                    .await
                    .expect("the handshake ends")
            }
        };
        let accepted = dial(cookie).await;
        assert!(accepted.is_ok(), "{:?}", accepted.err());
        let refused = dial("not the cookie").await;
        assert!(
            matches!(&refused, Err(ackor::Error::Handshake(why)) if why.contains("cookie")),
            "{:?}",
            refused.err()
        );
        peer.abort();
    });
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
