# The machine a measurement ran on, as one line (sourced by the scripts beside it): wall-time
# figures depend on it (the same build has run 56 % faster on one host of this project's
# kind than on another), so each script prints it with its results.
host_line() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ { m = $2 } /^cpu family/ { f = $2 } /^model\t/ { n = $2 }
        END { if (m != "") printf "%s (family %s, model %s)", m, f, n }' /proc/cpuinfo 2>/dev/null || true)
    echo "host: ${cpu:-unknown CPU}, $(nproc 2>/dev/null || echo '?') cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
}
