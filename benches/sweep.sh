#!/usr/bin/env bash
# The speed-up of `autosim sweep` from one thread to two, and sweep.csv the same whatever --jobs.
#
#   bash benches/sweep.sh [SWEEP] [ROUNDS]   (defaults: scenarios/sweeps/hpa-target.toml, 3)
#
# Runs the sweep with `--jobs 1` and with `--jobs 2` alternately, ROUNDS times, each time into a
# fresh folder (a sweep resumes from an existing sweep.csv), and prints each round's wall times,
# the medians and their ratio (jobs 1 / jobs 2). It is a measurement, not a test: nothing is
# asserted about time; it exits 1 only if a sweep.csv differs from the first one (results must
# not depend on the number of threads). Run it on a quiet machine: wall time is what it reads.
# AUTOSIM names the binary (default: target/release/autosim, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
sweep=${1:-scenarios/sweeps/hpa-target.toml}
rounds=${2:-3}
bin=${AUTOSIM:-target/release/autosim}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

wall() { # seconds of wall time of "$@"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

host_line
one=() two=()
for r in $(seq 1 "$rounds"); do
    for j in 1 2; do
        out="$work/r$r-j$j"
        t=$(wall "$bin" sweep "$sweep" --jobs "$j" --out "$out" --quiet)
        if [ "$j" = 1 ]; then one+=("$t"); else two+=("$t"); fi
        if [ -e "$work/first.csv" ]; then
            cmp -s "$work/first.csv" "$out/sweep.csv" || { echo "sweep.csv of round $r, --jobs $j differs" >&2; exit 1; }
        else
            cp "$out/sweep.csv" "$work/first.csv"
        fi
    done
    echo "round $r: --jobs 1 ${one[-1]} s, --jobs 2 ${two[-1]} s"
done
m1=$(printf '%s\n' "${one[@]}" | median)
m2=$(printf '%s\n' "${two[@]}" | median)
echo "median: --jobs 1 $m1 s, --jobs 2 $m2 s; speed-up $(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2f", a / b }')"
echo "sweep.csv byte-identical in all $((rounds * 2)) runs ($(($(wc -l <"$work/first.csv") - 1)) rows)"
