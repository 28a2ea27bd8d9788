#!/usr/bin/env bash
# Peak memory at two run lengths: "memory flat in the length of the run" (README) as numbers.
#
#   bash benches/memory.sh [SHORT LONG]     (defaults: 15m and 60m of simulated time)
#   bash benches/memory.sh --hpa [SCENARIO] [SHORT LONG]   (defaults: benches/hpa-days.toml,
#                                            10d and 90d)
#   bash benches/memory.sh --hpa --plots [SCENARIO] [SHORT LONG]   (the same with the figures
#                                            drawn, as `autosim run` does by default)
#
# Runs `autosim bench` (an M/M/c service: 8,000 requests per second into 100 pods of 10 slots)
# for SHORT and for LONG simulated time; with --hpa, `autosim run --no-plots` of SCENARIO (a
# policy that decides often: the HPA writes a decision every 15 s) with its `duration` set to
# SHORT and to LONG (with --plots, without --no-plots). Prints each run's peak resident set
# (the kernel's maximum RSS, from GNU time, or VmHWM from /proc when GNU time is absent), and
# their ratio. It is a measurement, not a test: nothing is timed, and it exits 1 only if the
# long run's peak exceeds the short one's by more than 25 % (memory growing with run length).
# AUTOSIM names the binary (default: target/release/autosim, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
hpa=
plots=--no-plots
if [ "${1:-}" = "--hpa" ]; then
    shift
    hpa=benches/hpa-days.toml
    if [ "${1:-}" = "--plots" ]; then
        plots=
        shift
    fi
    case "${1:-}" in *.toml) hpa=$1; shift ;; esac
    short=${1:-10d}
    long=${2:-90d}
else
    short=${1:-15m}
    long=${2:-60m}
fi
bin=${AUTOSIM:-target/release/autosim}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet
fi

measure() { # peak RSS in KiB of a run of DURATION
    if [ -z "$hpa" ]; then
        peak_kib "$bin" bench --duration "$1"
    else
        local d; d=$(mktemp -d)
        sed "s/^duration = .*/duration = \"$1\"/" "$hpa" >"$d/scenario.toml"
        peak_kib "$bin" run "$d/scenario.toml" --out "$d/out" $plots --quiet
        echo "  ($1: $(wc -l <"$d"/out/*/decisions.csv) decision rows, $(wc -l <"$d"/out/*/timeseries.csv) timeseries rows)" >&2
        rm -rf "$d"
    fi
}
host_line
a=$(measure "$short")
b=$(measure "$long")
ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
printf 'peak RSS, %s simulated: %d KiB (%.1f MiB)\n' "$short" "$a" "$(awk -v a="$a" 'BEGIN { print a / 1024 }')"
printf 'peak RSS, %s simulated: %d KiB (%.1f MiB)\n' "$long" "$b" "$(awk -v b="$b" 'BEGIN { print b / 1024 }')"
echo "ratio long / short: $ratio"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.25) }' || { echo "memory grows with the run's length" >&2; exit 1; }
