#!/usr/bin/env bash
# autosim against the bare M/M/c floor, back to back: the ratio the README quotes.
#
#   bash benches/floor.sh [ROUNDS] [--callgrind]
#
# Builds ../shared/perf/mmc-floor (in a copy under target/, since ../shared may be read-only),
# then runs, alternating, ROUNDS times (default 3): `autosim bench` (8,000 requests per second
# into 100 pods of 10 slots, one simulated hour) and `mmc-floor 8000 10 1000 3600` (the same
# model with nothing but a heap and a FIFO). Prints each run's simulated requests per second,
# the medians and the ratio autosim / floor. Wall time on a shared machine moves by a third
# from run to run; the ratio of runs made in the same minute moves much less.
#
# --callgrind (needs valgrind) adds the repeatable measure: instructions per simulated request
# of each, under callgrind, over two simulated minutes.
#
# A measurement, not a test: nothing fails on a slow result. Exits 0 with a message when
# ../shared is absent. AUTOSIM names the binary (default: target/release/autosim, built if
# missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
rounds=3
callgrind=0
for a in "$@"; do
    case "$a" in
        --callgrind) callgrind=1 ;;
        *[!0-9]* | '') echo "usage: bash benches/floor.sh [ROUNDS] [--callgrind]" >&2; exit 2 ;;
        *) rounds=$a ;;
    esac
done
src=../shared/perf/mmc-floor
if [ ! -f "$src/Cargo.toml" ]; then
    echo "skipped: $src is absent (the floor lives in the shared folder beside the project)"
    exit 0
fi
bin=${AUTOSIM:-target/release/autosim}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet
fi
# The floor is built in a copy under target/ (its own target folder), refreshed when the
# source changes.
copy=target/mmc-floor
mkdir -p "$copy"
if ! diff -rq "$src/src" "$copy/src" >/dev/null 2>&1 || ! cmp -s "$src/Cargo.toml" "$copy/Cargo.toml"; then
    rm -rf "$copy/src"
    cp -r "$src/src" "$src/Cargo.toml" "$copy/"
    [ -f "$src/Cargo.lock" ] && cp "$src/Cargo.lock" "$copy/"
    chmod -R u+w "$copy"
fi
floor="$copy/target/release/mmc-floor"
if [ ! -x "$floor" ] || [ "$copy/src/main.rs" -nt "$floor" ]; then
    (cd "$copy" && cargo build --release --quiet) || (cd "$copy" && cargo build --release --quiet --offline)
fi

host_line
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

a_rates=()
f_rates=()
for ((i = 1; i <= rounds; i++)); do
    # autosim: "simulated N requests (...) of 1h in W s on one thread"
    out=$("$bin" bench)
    n=$(awk '/^simulated/ { print $2 }' <<<"$out")
    w=$(awk '/^simulated/ { for (i = 1; i <= NF; i++) if ($i == "in") { sub("s$", "", $(i + 1)); print $(i + 1) } }' <<<"$out")
    a=$(awk -v n="$n" -v w="$w" 'BEGIN { printf "%.0f", n / w }')
    # the floor: "requests=N wall_s=W requests_per_s=R"
    f=$("$floor" 8000 10 1000 3600 | sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p')
    printf 'round %d: autosim %.2f M req/s, floor %.2f M req/s, ratio %.3f\n' "$i" \
        "$(awk -v a="$a" 'BEGIN { print a / 1e6 }')" "$(awk -v f="$f" 'BEGIN { print f / 1e6 }')" \
        "$(awk -v a="$a" -v f="$f" 'BEGIN { print a / f }')"
    a_rates+=("$a")
    f_rates+=("$f")
done
am=$(printf '%s\n' "${a_rates[@]}" | median)
fm=$(printf '%s\n' "${f_rates[@]}" | median)
printf 'median: autosim %.2f M req/s, floor %.2f M req/s, ratio autosim/floor %.3f\n' \
    "$(awk -v a="$am" 'BEGIN { print a / 1e6 }')" "$(awk -v f="$fm" 'BEGIN { print f / 1e6 }')" \
    "$(awk -v a="$am" -v f="$fm" 'BEGIN { print a / f }')"

if [ "$callgrind" = 1 ]; then
    if ! command -v valgrind >/dev/null; then
        echo "callgrind: skipped (valgrind is not installed)"
        exit 0
    fi
    cg() { # instructions of "$@" under callgrind
        local f; f=$(mktemp)
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >/dev/null 2>"$f" || true
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$f" | tail -n 1
        rm -f "$f"
    }
    ai=$(cg "$bin" bench --duration 2m)
    an=$("$bin" bench --duration 2m | awk '/^simulated/ { print $2 }')
    fi_=$(cg "$floor" 8000 10 1000 120)
    fn=$("$floor" 8000 10 1000 120 | sed -n 's/^requests=\([0-9]*\).*/\1/p')
    printf 'callgrind, 2 simulated minutes: autosim %d instructions per request, floor %d, ratio floor/autosim %.3f\n' \
        "$(awk -v i="$ai" -v n="$an" 'BEGIN { printf "%.0f", i / n }')" \
        "$(awk -v i="$fi_" -v n="$fn" 'BEGIN { printf "%.0f", i / n }')" \
        "$(awk -v a="$ai" -v an="$an" -v f="$fi_" -v fn="$fn" 'BEGIN { print (f / fn) / (a / an) }')"
fi
