//! Queueing theory the engine is checked against (and that users can compare a run with).

/// Erlang C: the probability that an arrival waits in an M/M/c queue with offered load
/// `a = lambda / mu` (in Erlangs) and `c` servers. 1 when the queue is unstable (`a >= c`).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a >= f64::from(c) {
        return 1.0;
    }
    // Erlang B by its stable recurrence, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho + rho * b)
}

/// Mean wait in queue of an M/M/c queue (seconds), arrival rate `lambda`, service rate `mu`
/// per server (per second).
pub fn mmc_mean_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    if a >= f64::from(c) {
        return f64::INFINITY;
    }
    erlang_c(c, a) / (f64::from(c) * mu - lambda)
}

/// Mean time in system of an M/M/c queue (seconds).
pub fn mmc_mean_response(c: u32, lambda: f64, mu: f64) -> f64 {
    mmc_mean_wait(c, lambda, mu) + 1.0 / mu
}

/// Exact mean value analysis of a closed system: `n` users, each alternating a think time of
/// mean `think` seconds with a request to one queueing station (a single FCFS server with
/// exponential service of mean `demand` seconds; the think stage is a delay station, for which
/// any think-time distribution gives the same means). Returns (throughput per second, mean
/// response time in seconds). This is k6's closed model (`constant-vus`) against one pod with
/// concurrency 1.
pub fn mva_closed(n: u32, demand: f64, think: f64) -> (f64, f64) {
    let (mut x, mut r, mut q) = (0.0, 0.0, 0.0);
    for k in 1..=n {
        r = demand * (1.0 + q);
        x = f64::from(k) / (r + think);
        q = x * r;
    }
    (x, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // a = 3 Erlangs on 4 servers: C = 13.5 / 26.5.
        assert!((erlang_c(4, 3.0) - 13.5 / 26.5).abs() < 1e-12);
        // M/M/1: C = rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // M/M/1 mean wait rho / (mu - lambda).
        assert!((mmc_mean_wait(1, 7.0, 10.0) - 0.7 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn mva_limits() {
        // One user: no queueing, X = 1 / (D + Z).
        let (x, r) = mva_closed(1, 0.1, 0.4);
        assert!((x - 2.0).abs() < 1e-12 && (r - 0.1).abs() < 1e-12);
        // Many users saturate the server: X -> 1 / D, and R = N / X - Z (the response time law).
        let (x, r) = mva_closed(200, 0.1, 0.5);
        assert!((x - 10.0).abs() < 1e-6, "{x}");
        assert!((r - (200.0 / x - 0.5)).abs() < 1e-9);
    }
}
