# What the bench scripts beside this one share (each sources it).

# The machine a measurement ran on, as one line: wall-time figures depend on it (the same build
# has run 56 % faster on one host of this project's kind than on another), so each script
# prints it with its results.
host_line() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ { m = $2 } /^cpu family/ { f = $2 } /^model\t/ { n = $2 }
        END { if (m != "") printf "%s (family %s, model %s)", m, f, n }' /proc/cpuinfo 2>/dev/null || true)
    echo "host: ${cpu:-unknown CPU}, $(nproc 2>/dev/null || echo '?') cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
}

# The peak resident set in KiB of "$@" (the kernel's maximum RSS, from GNU time, or VmHWM
# from /proc when GNU time is absent); the command's output goes to stderr.
peak_kib() {
    if [ -x /usr/bin/time ]; then
        local f; f=$(mktemp)
        /usr/bin/time -f '%M' -o "$f" "$@" >&2
        tail -n 1 "$f"; rm -f "$f"
    else
        "$@" >&2 &
        local pid=$! hwm=0 v
        while kill -0 "$pid" 2>/dev/null; do
            v=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
            [ -n "$v" ] && hwm=$v
            sleep 0.05
        done
        wait "$pid"
        echo "$hwm"
    fi
}
