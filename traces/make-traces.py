#!/usr/bin/env python3
"""Make the small synthetic traces shipped in traces/ (see traces/README.md).

Deterministic: run `python3 traces/make-traces.py` from the repository root and the files
come out byte for byte the same (Python's `random` with a fixed seed is stable across
versions). Standard library only.
"""
import json
import math
import random
from datetime import datetime, timedelta, timezone

OUT = "traces"


def daily_peaks():
    """One weekday of a consumer web API, counts per minute: a night low, a morning peak
    around 09:30 and a higher evening peak around 20:00, with Poisson-like noise."""
    rng = random.Random(3)
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday
    rows = ["time,requests"]
    for m in range(24 * 60):
        h = m / 60.0
        base = 20.0 + 25.0 * (1 + math.cos(2 * math.pi * (h - 14) / 24)) / 2
        morning = 120.0 * math.exp(-0.5 * ((h - 9.5) / 1.0) ** 2)
        evening = 160.0 * math.exp(-0.5 * ((h - 20.0) / 1.3) ** 2)
        rate = base + morning + evening  # requests per second
        mean = rate * 60
        count = max(0, round(rng.gauss(mean, math.sqrt(mean))))
        t = start + timedelta(minutes=m)
        rows.append(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{count}")
    write("daily-peaks.csv", "\n".join(rows) + "\n")


def weekly():
    """Seven days from a Monday, requests per second averaged over 5 minutes: a daily cycle
    peaking at 14:00, and weekends 60% lower (the seed's weekend scenario)."""
    rng = random.Random(7)
    rows = ["unix_seconds,rps"]
    t0 = 1772409600  # 2026-03-02T00:00:00Z, a Monday
    for i in range(7 * 24 * 12):
        t = i * 300
        day = t // 86400
        h = (t % 86400) / 3600.0
        rate = 30.0 * (1 + 0.7 * math.cos(2 * math.pi * (h - 14) / 24))
        if day >= 5:
            rate *= 0.4
        rate *= 1 + rng.gauss(0, 0.04)
        rows.append(f"{t0 + t},{max(rate, 0.0):.3f}")
    write("weekly.csv", "\n".join(rows) + "\n")


def flash_sale():
    """A Prometheus range-query export (`/api/v1/query_range`, step 30s) of
    `sum(rate(http_requests_total[1m]))` over 3 hours: 40 req/s, a flash sale at 01:00 that
    jumps to 400 req/s within two minutes, decays over half an hour, then back to normal."""
    rng = random.Random(11)
    t0 = 1772452800  # 2026-03-02T12:00:00Z
    values = []
    for i in range(3 * 3600 // 30):
        t = i * 30
        rate = 40.0
        if t >= 3600:
            dt = t - 3600
            rise = min(dt / 120.0, 1.0)
            rate += 360.0 * rise * math.exp(-max(dt - 600, 0) / 900.0)
        rate *= 1 + rng.gauss(0, 0.03)
        values.append([t0 + t, f"{rate:.4f}"])
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {"job": "shop-frontend"}, "values": values}],
        },
    }
    write("flash-sale.json", json.dumps(doc, separators=(",", ":")) + "\n")


def bursty():
    """One hour of counts per second, whitespace-separated (the NASA-HTTP layout): a low
    base rate with bursts (a Markov-modulated Poisson process with two states)."""
    rng = random.Random(5)
    counts, burst = [], False
    for _ in range(3600):
        if burst and rng.random() < 1 / 20:
            burst = False
        elif not burst and rng.random() < 1 / 120:
            burst = True
        lam = 60.0 if burst else 8.0
        # Poisson by inversion (small means).
        x, p, s, u = 0, math.exp(-lam), math.exp(-lam), rng.random()
        while u > s:
            x += 1
            p *= lam / x
            s += p
        counts.append(x)
    lines = [" ".join(str(c) for c in counts[i:i + 60]) for i in range(0, 3600, 60)]
    write("bursty-counts.txt", "\n".join(lines) + "\n")


def request_log():
    """Five minutes of an access log, one row per request: arrival time (RFC 3339, ms) and the
    measured service time in milliseconds (lognormal, median 30 ms), at about 25 req/s."""
    rng = random.Random(13)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    rows = ["timestamp,duration_ms"]
    t = 0.0
    while True:
        t += rng.expovariate(25.0)
        if t >= 300:
            break
        ms = math.exp(math.log(30.0) + 0.6 * rng.gauss(0, 1))
        stamp = (start + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        rows.append(f"{stamp},{ms:.2f}")
    write("access-log.csv", "\n".join(rows) + "\n")


def write(name, text):
    with open(f"{OUT}/{name}", "w", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    daily_peaks()
    weekly()
    flash_sale()
    bursty()
    request_log()
