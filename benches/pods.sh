#!/usr/bin/env bash
# Cost per request against cluster size: 1,000 and 10,000 one-slot pods at 40 requests per
# second per pod, with each balancer (`autosim bench --balancer`).
#
#   bash benches/pods.sh [SERVICE_TIME] [ROUNDS]   (defaults: 20ms, 3)
#
# The time per request is (time of a long run - time of a short one) / (requests between them),
# from the bench's own wall time, so that set-up (creating the pods) is left out: 25 and 5
# simulated seconds at 10,000 pods, ten times as long at 1,000 (the same 8 million requests
# between them). Each round measures 1,000 then 10,000 pods back to back, so that the machine's
# drift (wall time here moves by 15 % between minutes) falls on both alike; the costs printed are
# the medians of ROUNDS rounds, and the ratio is the median of the rounds' own ratios (with the
# lowest and highest beside it). With a mean service time of 20 ms a pod is 80 % busy and the queues stay
# short; at the bench's default of 100 ms (SERVICE_TIME=100ms) each pod gets four times what it
# can serve, its queue grows all along, and the figure measures that growth (millions of queued
# requests) more than the cluster's size. Prints per balancer the two costs and their ratio.
# A measurement, not a test: nothing here fails on time. AUTOSIM names the binary (default:
# target/release/autosim, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
st=${1:-20ms}
rounds=${2:-3}
bin=${AUTOSIM:-target/release/autosim}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet
fi
# Prints "requests seconds" of one bench run.
one() {
    "$bin" bench --balancer "$1" --pods "$2" --concurrency 1 --rate $((40 * $2)) --service-time "$st" --duration "$3" |
        sed -n 's/^simulated \([0-9]*\) requests .* in \([0-9.]*\)s on one thread$/\1 \2/p'
}
per_request() {
    local a b k=$((10000 / $2))
    a=$(one "$1" "$2" $((5 * k))s)
    b=$(one "$1" "$2" $((25 * k))s)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.4f\n", (y[2] - x[2]) / (y[1] - x[1]) * 1e6 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
host_line
echo "service time $st, $rounds rounds; microseconds per request (long run minus short run)"
for b in round-robin random least-request; do
    smalls=() larges=() ratios=()
    for _ in $(seq "$rounds"); do
        s=$(per_request "$b" 1000)
        l=$(per_request "$b" 10000)
        smalls+=("$s") larges+=("$l")
        ratios+=("$(awk -v s="$s" -v l="$l" 'BEGIN { printf "%.4f\n", l / s }')")
    done
    small=$(printf '%s\n' "${smalls[@]}" | median)
    large=$(printf '%s\n' "${larges[@]}" | median)
    ratio=$(printf '%s\n' "${ratios[@]}" | median)
    lo=$(printf '%s\n' "${ratios[@]}" | sort -g | head -1)
    hi=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)
    awk -v b="$b" -v s="$small" -v l="$large" -v r="$ratio" -v lo="$lo" -v hi="$hi" \
        'BEGIN { printf "%-14s 1,000 pods %.3f us, 10,000 pods %.3f us, ratio %.2f (rounds %.2f to %.2f)\n", b, s, l, r, lo, hi }'
done
