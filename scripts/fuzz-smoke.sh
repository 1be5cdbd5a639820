#!/usr/bin/env bash
# A bounded fuzz run of ackor's decoders of network bytes (opt-in; CI runs only the
# stable smoke tests, with 50k inputs per target: see .ci/run and fuzz/README.md).
#
#   scripts/fuzz-smoke.sh [SECONDS]     default 60 seconds per target
#
# With cargo-fuzz and a nightly toolchain, runs each libFuzzer target (frame_decoder,
# envelope, handshake) for SECONDS, starting from the seed corpus (valid frames of every
# body kind, handshake messages), with a 5-second per-input timeout to catch hangs.
# Crashes land in fuzz/artifacts/<target>/. Otherwise (or with ACKOR_FUZZ_STABLE=1),
# runs the stable smoke tests instead: 100k fixed-seed inputs per target
# (ACKOR_FUZZ_SMOKE_ITERS to change), no sanitizers, no coverage feedback; they check
# that no input panics or hangs, that the handshake responder refuses every input, and
# that the seeds and the runs reach the deep paths (see fuzz/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-60}"
targets=(frame_decoder envelope handshake)
manifest=fuzz/Cargo.toml

if [[ "${ACKOR_FUZZ_STABLE:-0}" != 1 ]] && cargo +nightly --version >/dev/null 2>&1 \
    && cargo fuzz --version >/dev/null 2>&1; then
    echo "== seed corpus -> fuzz/corpus/"
    ACKOR_FUZZ_SEED_DIR="$PWD/fuzz/corpus" cargo test --release --manifest-path "$manifest" \
        --test smoke write_seed_corpus -- --ignored --quiet
    for t in "${targets[@]}"; do
        echo "== cargo fuzz run $t (${secs}s)"
        (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -timeout=5 -print_final_stats=1)
    done
    echo "fuzz-smoke: ${#targets[@]} targets, ${secs}s each, no crash"
else
    echo "== cargo-fuzz or nightly not available: stable smoke tests (no sanitizers)"
    cargo test --release --manifest-path "$manifest" --test smoke
fi
