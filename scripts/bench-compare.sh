#!/usr/bin/env bash
# Before/after benchmark comparison of two source trees of ackor, in one session.
#
#   scripts/bench-compare.sh [ROUNDS]            default 3 rounds
#   scripts/bench-compare.sh --report OUT_DIR    re-print the table of an earlier run
#
# Environment (all optional):
#   BASE=/work/baseline  NEW=/work/main           the two source trees ("before", "after")
#   TARGET_BASE=/work/target-base  TARGET_NEW=/work/target-new   their CARGO_TARGET_DIRs
#                                                  (kept between runs, so builds are cached)
#   OUT=/tmp/ackor-bench-compare-<date>            logs, criterion JSON, latency TSVs, table
#   STAT=median                                    criterion estimate per run: median | mean | slope
#   QUIET_PCT=25 QUIET_MAX=20                      before each bench process, wait up to
#                                                  QUIET_MAX s for the CPUs to be < QUIET_PCT %
#                                                  busy for 2 s (0 to skip); the busy % seen
#                                                  at the start is logged
#   NO_BUILD=1                                     use the bench executables already built
#   LOCAL_FILTER REMOTE_FILTER IMPORTANT_FILTER    criterion regexes (defaults below)
#
# What it does: builds the `local`, `remote` and `important` criterion benches of
# `ackor-bench` in each tree (`cargo bench --no-run`, `bench` profile), then runs the
# compiled executables directly (`<exe> --bench <filter>`), ROUNDS times, each bench
# base then new, and prints a markdown table: per figure the median over the rounds of
# the base, of the new, and new/base. Only the ackor functions run (no kameo, ractor,
# actix, ractor_cluster, raw TCP), i.e. per round and tree:
#   local      tell_1to1/ackor, tell_n_to_n/ackor, ask/ackor
#   remote     remote_tell_1to1/ackor, remote_call/ackor (+ p50/p99 of every call, from
#              the bench's HDR histogram, <target>/tmp/ackor-bench-remote-latency.tsv)
#   important  important_throughput/send_plain, important_throughput/send_important_w1024
#              (+ their ratio within the run, the "≥ 50 % of plain" target)
# Each function runs 0.5 s warm-up + 2 s measurement, 10 samples (set in the benches;
# criterion's command-line times cannot override a group's own settings).
# ≈ 25 s of benches per tree and round, so 3 rounds ≈ 2.5–3 min plus the quiet waits.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
self="$here/$(basename "$0")"

LOCAL_FILTER="${LOCAL_FILTER:-^(tell_1to1|tell_n_to_n|ask)/ackor\$}"
REMOTE_FILTER="${REMOTE_FILTER:-^remote_(tell_1to1|call)/ackor\$}"
IMPORTANT_FILTER="${IMPORTANT_FILTER:-^important_throughput/(send_plain|send_important_w1024)\$}"
STAT="${STAT:-median}"
BENCHES=(local remote important)

report() {
    local out="$1"
    STAT="$STAT" python3 - "$out" <<'PY'
import json, os, statistics, sys, glob

out = sys.argv[1]
stat = os.environ.get("STAT", "median")
# (round, side) -> {metric key: value}
runs = {}
failed = []
meta = {}
for line in open(os.path.join(out, "runs.tsv")):
    rnd, side, bench, status, rundir = line.rstrip("\n").split("\t")
    if status != "ok":
        failed.append(f"round {rnd} {side} {bench}: {status}")
    d = runs.setdefault((int(rnd), side), {})
    for bj in glob.glob(os.path.join(out, rundir, "criterion", "**", "benchmark.json"), recursive=True):
        b = json.load(open(bj))
        e = json.load(open(os.path.join(os.path.dirname(bj), "estimates.json")))
        est = e.get(stat) or e["mean"]
        elements = (b.get("throughput") or {}).get("Elements", 1)
        d[b["full_id"]] = est["point_estimate"] / elements  # ns per element
    tsv = os.path.join(out, rundir, "ackor-bench-remote-latency.tsv")
    if os.path.exists(tsv):
        rows = [l.rstrip("\n").split("\t") for l in open(tsv)]
        head = rows[0]
        for r in rows[1:]:
            if r[0] == "ackor":
                row = dict(zip(head, r))
                d["remote_call/ackor p50"] = float(row["p50_us"]) * 1000
                d["remote_call/ackor p99"] = float(row["p99_us"]) * 1000

THRPT = ("tell_1to1/", "tell_n_to_n/", "remote_tell_1to1/", "remote_tell_n_to_n/", "important_throughput/")
LABEL = {
    "tell_1to1/ackor": "local tell 1→1",
    "tell_n_to_n/ackor": "local tell N→N, 4 pairs (total)",
    "ask/ackor": "local ask round trip",
    "spawn_stop/ackor": "local spawn + stop",
    "remote_tell_1to1/ackor": "remote tell 1→1",
    "remote_tell_n_to_n/ackor": "remote tell N→N (total)",
    "remote_call/ackor": "remote call",
    "remote_call/ackor p50": "remote call p50 (histogram)",
    "remote_call/ackor p99": "remote call p99 (histogram)",
    "important_throughput/send_plain": "plain remote send (important bench)",
    "important_throughput/send_important_w1024": "important send, window 1024",
    "important_throughput/call_w1024": "call, window 1024",
    "important_throughput/send_important_seq": "important send, sequential",
}

def figure(key, ns):
    """(value, unit, higher_is_better) of a metric, from ns per element."""
    if key.startswith(THRPT) and " " not in key:
        return 1e3 / ns, "M msg/s", True
    if ns >= 10_000:
        return ns / 1e3, "µs", False
    return ns, "ns", False

# derived: important pipelined / plain, in the same run
for d in runs.values():
    p, i = d.get("important_throughput/send_plain"), d.get("important_throughput/send_important_w1024")
    if p and i:
        d["~ratio"] = p / i * 100  # throughput ratio = time ratio inverted

keys = []
for (_, _), d in sorted(runs.items()):
    for k in d:
        if k not in keys:
            keys.append(k)
order = list(LABEL) + ["~ratio"]
keys.sort(key=lambda k: (order.index(k) if k in order else len(order), k))
rounds = sorted({r for r, _ in runs})

def fmt(v):
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"

print(f"\n| figure (criterion {stat} per run; median of {len(rounds)} rounds) | unit | better | base | new | new/base | base per round | new per round |")
print("|---|---|---|---:|---:|---:|---|---|")
for k in keys:
    vals = {}
    for side in ("base", "new"):
        xs = []
        for r in rounds:
            ns = runs.get((r, side), {}).get(k)
            if ns is None:
                xs.append(None)
            elif k == "~ratio":
                xs.append(ns)
            else:
                xs.append(figure(k, ns)[0])
        vals[side] = xs
    if k == "~ratio":
        label, unit, hib = "important w1024 / plain send, same run", "%", True
    else:
        _, unit, hib = figure(k, runs[next(x for x in sorted(runs) if k in runs[x])][k])
        label = LABEL.get(k, k)
    med = {s: statistics.median([x for x in vals[s] if x is not None]) if any(x is not None for x in vals[s]) else None for s in vals}
    ratio = f"{med['new'] / med['base']:.3f}" if med["base"] and med["new"] else "–"
    per = {s: " / ".join("–" if x is None else fmt(x) for x in vals[s]) for s in vals}
    print(f"| {label} | {unit} | {'higher' if hib else 'lower'} | "
          f"{fmt(med['base']) if med['base'] is not None else '–'} | {fmt(med['new']) if med['new'] is not None else '–'} | "
          f"{ratio} | {per['base']} | {per['new']} |")
if failed:
    print("\nFAILED runs (no figures from them):")
    for f in failed:
        print("  " + f)
PY
}

if [[ "${1:-}" == "--report" ]]; then
    out="${2:?usage: $0 --report OUT_DIR}"
    cat "$out/header.txt"
    report "$out"
    exit 0
fi

ROUNDS="${1:-${ROUNDS:-3}}"
BASE="$(cd "${BASE:-/work/baseline}" && pwd)"
NEW="$(cd "${NEW:-/work/main}" && pwd)"
TARGET_BASE="${TARGET_BASE:-/work/target-base}"
TARGET_NEW="${TARGET_NEW:-/work/target-new}"
OUT="${OUT:-${TMPDIR:-/tmp}/ackor-bench-compare-$(date -u +%Y%m%d-%H%M%S)}"
QUIET_PCT="${QUIET_PCT:-25}"
QUIET_MAX="${QUIET_MAX:-20}"
mkdir -p "$OUT"
: >"$OUT/runs.tsv"

t_start=$(date +%s)

describe() {
    # commit of a tree, and whether the library or the bench crate has uncommitted changes
    local tree="$1" commit dirty
    commit="$(git -C "$tree" rev-parse --short=12 HEAD)"
    dirty="$(git -C "$tree" status --porcelain -- crates/ackor crates/ackor-bench Cargo.toml Cargo.lock | wc -l)"
    if [[ "$dirty" != 0 ]]; then
        echo "$commit + $dirty uncommitted file(s) under crates/ackor, crates/ackor-bench, Cargo.*: $(git -C "$tree" log -1 --format=%s HEAD | cut -c1-80)"
    else
        echo "$commit (clean): $(git -C "$tree" log -1 --format=%s HEAD | cut -c1-80)"
    fi
}

{
    echo "bench-compare: $ROUNDS round(s), criterion $STAT per run; output in $OUT"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host:    $(nproc) CPUs, $(uname -r), $(rustc --version)"
    echo "uptime: $(uptime)"
    echo "base:    $BASE  $(describe "$BASE")  [target $TARGET_BASE]"
    echo "new:     $NEW  $(describe "$NEW")  [target $TARGET_NEW]"
    echo "filters: local '$LOCAL_FILTER'  remote '$REMOTE_FILTER'  important '$IMPORTANT_FILTER'"
} | tee "$OUT/header.txt"

# build SIDE TREE TARGET: builds the three benches, records their executables in $OUT/exe-SIDE.tsv
build() {
    local side="$1" tree="$2" target="$3"
    echo "== build $side ($tree -> $target)"
    local t0=$(date +%s)
    (cd "$tree" && CARGO_TARGET_DIR="$target" cargo bench -p ackor-bench \
        --bench local --bench remote --bench important --no-run \
        --message-format=json-render-diagnostics) >"$OUT/build-$side.json" 2>"$OUT/build-$side.log" || {
        tail -30 "$OUT/build-$side.log"; echo "build of $side failed"; exit 1; }
    python3 - "$OUT/build-$side.json" >"$OUT/exe-$side.tsv" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(f"{m['target']['name']}\t{m['executable']}")
PY
    echo "   done in $(( $(date +%s) - t0 )) s: $(cut -f2 "$OUT/exe-$side.tsv" | xargs -n1 basename | tr '\n' ' ')"
}

exe() { awk -F'\t' -v b="$2" '$1 == b { print $2 }' "$OUT/exe-$1.tsv"; }

if [[ "${NO_BUILD:-0}" == 1 ]]; then
    for side in base new; do
        target=$([[ $side == base ]] && echo "$TARGET_BASE" || echo "$TARGET_NEW")
        for b in "${BENCHES[@]}"; do
            f=$(ls -t "$target"/release/deps/"$b"-* 2>/dev/null | grep -v '\.d$' | head -1)
            [[ -x "$f" ]] || { echo "no $b executable in $target; run without NO_BUILD"; exit 1; }
            printf '%s\t%s\n' "$b" "$f"
        done >"$OUT/exe-$side.tsv"
    done
else
    build base "$BASE" "$TARGET_BASE"
    build new "$NEW" "$TARGET_NEW"
fi
for side in base new; do for b in "${BENCHES[@]}"; do
    [[ -n "$(exe "$side" "$b")" ]] || { echo "no $b executable for $side"; exit 1; }
done; done

cpu_busy() {  # % of all CPUs busy over $1 seconds
    local a b
    a=($(head -1 /proc/stat)); sleep "$1"; b=($(head -1 /proc/stat))
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

wait_quiet() {
    [[ "$QUIET_MAX" == 0 ]] && { echo "-"; return; }
    local t0=$(date +%s) busy
    while :; do
        busy=$(cpu_busy 2)
        if (( busy < QUIET_PCT )) || (( $(date +%s) - t0 >= QUIET_MAX )); then
            echo "$busy"; return
        fi
    done
}

run_one() {  # run_one ROUND SIDE BENCH
    local r="$1" side="$2" b="$3"
    local target filter rundir status=ok
    target=$([[ $side == base ]] && echo "$TARGET_BASE" || echo "$TARGET_NEW")
    case "$b" in
        local) filter="$LOCAL_FILTER" ;;
        remote) filter="$REMOTE_FILTER" ;;
        important) filter="$IMPORTANT_FILTER" ;;
    esac
    rundir="r$r-$side-$b"
    mkdir -p "$OUT/$rundir"
    local busy; busy=$(wait_quiet)
    local marker="$OUT/$rundir/.start"
    touch "$marker"
    local t0=$(date +%s)
    printf '   round %s %-4s %-9s start %s, CPU busy %s%%, load %s ... ' "$r" "$side" "$b" \
        "$(date -u +%H:%M:%S)" "$busy" "$(cut -d' ' -f1-3 /proc/loadavg)"
    # run from the tree, as cargo bench would; criterion writes under $target/criterion
    (cd "$([[ $side == base ]] && echo "$BASE" || echo "$NEW")/crates/ackor-bench" && \
        CARGO_TARGET_DIR="$target" "$(exe "$side" "$b")" --bench "$filter") \
        >"$OUT/$rundir/stdout.log" 2>"$OUT/$rundir/stderr.log" || status="exit $?"
    echo "$status, $(( $(date +%s) - t0 )) s"
    # keep what this run wrote: criterion's JSON of the functions it ran, the latency TSVs
    local f t
    for f in $(cd "$target" && find criterion -path '*/new/*.json' -newer "$marker" 2>/dev/null || true); do
        mkdir -p "$OUT/$rundir/$(dirname "$f")"
        cp "$target/$f" "$OUT/$rundir/$f"
    done
    for t in ackor-bench-remote-latency.tsv ackor-bench-important-latency.tsv; do
        if [[ "$target/tmp/$t" -nt "$marker" ]]; then cp "$target/tmp/$t" "$OUT/$rundir/"; fi
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$side" "$b" "$status" "$rundir" >>"$OUT/runs.tsv"
}

echo "== benches"
for r in $(seq 1 "$ROUNDS"); do
    echo "-- round $r/$ROUNDS, $(uptime)"
    for b in "${BENCHES[@]}"; do
        run_one "$r" base "$b"
        run_one "$r" new "$b"
    done
done
echo "-- end, $(uptime)"
echo "total $(( $(date +%s) - t_start )) s (builds included)" | tee -a "$OUT/header.txt"

report "$OUT" | tee "$OUT/table.md"
echo
echo "raw output, criterion JSON and latency TSVs: $OUT (re-print: $self --report $OUT)"
if grep -qv $'\tok\t' "$OUT/runs.tsv"; then exit 1; fi
