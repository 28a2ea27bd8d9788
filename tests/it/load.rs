//! The load layer in the engine: k6 executors (open and closed models), trace replay and
//! patterns, checked against what each must produce.

use std::io::Write as _;

use autosim::theory::mva_closed;

use crate::common::{assert_conserved, run, run_seed, scenario};

/// A scenario with one `http` service of `replicas` pods x `concurrency` slots (round robin),
/// `service_time` as given, and the workload `workload` (TOML for the `[services.workload]`
/// table's body).
fn one_service(duration: &str, replicas: u32, concurrency: u32, service_time: &str, workload: &str) -> String {
    format!(
        r#"
name = "load"
duration = "{duration}"
step = "1m"
[[services]]
name = "api"
replicas = {replicas}
concurrency = {concurrency}
queue_limit = 1000000
service_time = {service_time}
[services.workload]
{workload}
"#
    )
}

#[test]
fn constant_arrival_rate_starts_rate_times_duration_iterations() {
    // k6 spaces iterations evenly: 50/s for 10 min is 30000 iterations, exactly.
    let sc = scenario(&one_service(
        "15m",
        20,
        10,
        "\"50ms\"",
        r#"k6 = { executor = "constant-arrival-rate", rate = 50, time_unit = "1s", duration = "10m", pre_allocated_vus = 100 }"#,
    ));
    let r = run(&sc, 0);
    assert_conserved(&r);
    assert_eq!(r.summary.requests.arrived, 30_000);
    assert_eq!(r.summary.requests.dropped_iterations, 0);
    // Nothing after the scenario's duration.
    let late: f64 = r.timeseries.iter().filter(|row| row.time_s > 600.0).map(|row| row.load_rps).sum();
    assert_eq!(late, 0.0);
}

#[test]
fn ramping_arrival_rate_starts_the_area_under_its_stages() {
    // 0 -> 100/s over 5 min, 100/s for 5 min, 100 -> 0 over 2 min:
    // 0.5 * 100 * 300 + 100 * 300 + 0.5 * 100 * 120 = 51000 iterations.
    let k6 = r#"k6 = { executor = "ramping-arrival-rate", start_rate = 0, time_unit = "1s", pre_allocated_vus = 50, max_vus = 200,
        stages = [ { duration = "5m", target = 100 }, { duration = "5m", target = 100 }, { duration = "2m", target = 0 } ] }"#;
    let sc = scenario(&one_service("12m", 20, 10, "\"20ms\"", k6));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let n = r.summary.requests.arrived as i64;
    assert!((n - 51_000).abs() <= 1, "{n}");
    // The same area with Poisson spacing, within four standard deviations.
    let poisson = k6.replace("max_vus = 200,", "max_vus = 200, arrivals = \"poisson\",");
    let sc = scenario(&one_service("12m", 20, 10, "\"20ms\"", &poisson));
    let n = run(&sc, 0).summary.requests.arrived as f64;
    assert!((n - 51_000.0).abs() < 4.0 * 51_000f64.sqrt(), "{n}");
}

#[test]
fn too_few_vus_cap_throughput_and_count_dropped_iterations() {
    // 100 iterations/s, but only 10 VUs, each busy 0.5 s per request (ample pods, no queueing):
    // at most 10 / 0.5 = 20 iterations/s start; the other 80/s are dropped, as k6 drops them.
    let sc = scenario(&one_service(
        "10m",
        50,
        10,
        "\"500ms\"",
        r#"k6 = { executor = "constant-arrival-rate", rate = 100, duration = "10m", pre_allocated_vus = 10, max_vus = 10 }"#,
    ));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let q = r.summary.requests;
    assert_eq!(q.arrived + q.dropped_iterations, 60_000, "{q:?}");
    let rate = q.arrived as f64 / 600.0;
    assert!((rate - 20.0).abs() < 0.1, "{rate}");
    // With think time each VU is busy longer: 0.5 s + 0.5 s -> 10 iterations/s.
    let sc = scenario(&one_service(
        "10m",
        50,
        10,
        "\"500ms\"",
        r#"k6 = { executor = "constant-arrival-rate", rate = 100, duration = "10m", max_vus = 10, pre_allocated_vus = 10, think_time = "500ms" }"#,
    ));
    let q = run(&sc, 0).summary.requests;
    assert!((q.arrived as f64 / 600.0 - 10.0).abs() < 0.1, "{q:?}");
}

#[test]
fn closed_loop_without_queueing_follows_the_response_time_law() {
    // 20 VUs, think 1 s (exponential), response 0.2 s (exponential), no queueing:
    // X = N / (R + Z) = 20 / 1.2 = 16.67 per second.
    let sc = scenario(&one_service(
        "1h",
        50,
        10,
        r#"{ dist = "exponential", mean = "200ms" }"#,
        r#"k6 = { executor = "constant-vus", vus = 20, duration = "1h", think_time = { dist = "exponential", mean = "1s" } }"#,
    ));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let x = r.summary.requests.arrived as f64 / 3600.0;
    // About 60000 requests: the relative standard error of X is below 1%.
    assert!((x - 20.0 / 1.2).abs() / (20.0 / 1.2) < 0.02, "{x}");
    assert!((r.summary.latency_s.mean - 0.2).abs() < 0.01, "{}", r.summary.latency_s.mean);
}

#[test]
fn closed_loop_against_one_server_matches_mean_value_analysis() {
    // 5 VUs, think 0.5 s, one pod with one slot, exponential service 0.1 s: the machine
    // repairman model, solved exactly by MVA.
    let (x_theory, r_theory) = mva_closed(5, 0.1, 0.5);
    let toml = one_service(
        "2h",
        1,
        1,
        r#"{ dist = "exponential", mean = "100ms" }"#,
        r#"k6 = { executor = "constant-vus", vus = 5, duration = "2h", think_time = { dist = "exponential", mean = "500ms" } }"#,
    );
    let sc = scenario(&toml);
    let (mut xs, mut rs) = (Vec::new(), Vec::new());
    for seed in 1..=5 {
        let r = run_seed(&sc, 0, seed);
        assert_conserved(&r);
        xs.push(r.summary.requests.completed as f64 / 7200.0);
        rs.push(r.summary.latency_s.mean);
    }
    let x = xs.iter().sum::<f64>() / 5.0;
    let rt = rs.iter().sum::<f64>() / 5.0;
    // The interactive response time law on the measured values of each run: X = N / (R + Z).
    for (x, r) in xs.iter().zip(&rs) {
        let law = 5.0 / (r + 0.5);
        assert!((x - law).abs() / law < 0.01, "X {x} vs N / (R + Z) = {law}");
    }
    eprintln!("MVA: X {x_theory:.4} vs {x:.4}; R {r_theory:.4} vs {rt:.4}");
    // About 5 x 50000 requests: both within 2%.
    assert!((x - x_theory).abs() / x_theory < 0.02, "X {x} vs {x_theory}");
    assert!((rt - r_theory).abs() / r_theory < 0.03, "R {rt} vs {r_theory}");
}

#[test]
fn ramping_vus_follow_their_stages() {
    // 0 -> 10 VUs over 10 min, then 10 for 10 min; each VU sends one request per second
    // (think 1 s minus nothing: responses take 10 ms, so the cycle is 1.01 s).
    let sc = scenario(&one_service(
        "20m",
        20,
        10,
        "\"10ms\"",
        r#"k6 = { executor = "ramping-vus", start_vus = 0, stages = [ { duration = "10m", target = 10 }, { duration = "10m", target = 10 } ], think_time = "990ms" }"#,
    ));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let rows: Vec<_> = r.timeseries.iter().filter(|row| row.service == "api").collect();
    // During the hold each minute has 10 VUs at one request per second.
    for row in rows.iter().filter(|row| row.time_s > 660.0) {
        assert!((row.load_rps - 10.0).abs() < 0.2, "{} {}", row.time_s, row.load_rps);
    }
    // During the ramp the rate rises: the k-th minute has about k VUs on average (k - 0.5).
    let ramp: Vec<f64> = rows.iter().filter(|row| row.time_s <= 600.0).map(|row| row.load_rps).collect();
    assert!(ramp.windows(2).all(|w| w[1] >= w[0]), "{ramp:?}");
    assert!(ramp[0] < 1.0 && ramp[9] > 8.5, "{ramp:?}");
}

#[test]
fn iteration_executors_do_their_iterations() {
    // shared-iterations: 1000 iterations on 10 VUs, 10 ms each: done in about 1 s.
    let sc = scenario(&one_service(
        "5m",
        10,
        10,
        "\"10ms\"",
        r#"k6 = { executor = "shared-iterations", vus = 10, iterations = 1000 }"#,
    ));
    let q = run(&sc, 0).summary.requests;
    assert_eq!((q.arrived, q.completed, q.dropped_iterations), (1000, 1000, 0));
    // per-vu-iterations cut by max_duration: 4 VUs x 100 iterations of 1 s, but only 30 s.
    let sc = scenario(&one_service(
        "5m",
        10,
        10,
        "\"1s\"",
        r#"k6 = { executor = "per-vu-iterations", vus = 4, iterations = 100, max_duration = "30s" }"#,
    ));
    let q = run(&sc, 0).summary.requests;
    assert_eq!(q.arrived, 4 * 30, "{q:?}");
    assert_eq!(q.dropped_iterations, 400 - 4 * 30, "{q:?}");
}

#[test]
fn several_k6_scenarios_run_at_once_with_start_times() {
    let sc = scenario(&one_service(
        "20m",
        20,
        10,
        "\"10ms\"",
        r#"
[services.workload.k6.base]
executor = "constant-arrival-rate"
rate = 10
duration = "20m"
pre_allocated_vus = 10
[services.workload.k6.burst]
executor = "constant-arrival-rate"
rate = 30
start_time = "10m"
duration = "5m"
pre_allocated_vus = 10
"#,
    ));
    let r = run(&sc, 0);
    assert_eq!(r.summary.requests.arrived, 10 * 1200 + 30 * 300);
    // Steps cover (t - 1m, t]: the burst's iterations at 600 s, 600 s + 1/30 s, ... 899.97 s.
    let per_minute: Vec<f64> = r.timeseries.iter().map(|row| row.load_rps * 60.0).collect();
    let mut want = vec![600.0; 20];
    want[0] += 1.0; // the first step is [0, 60 s]: the iteration at 0 is in it
    want[19] -= 1.0; // and the one at 1200 s is past the run's end
    want[9] += 1.0; // the burst's first iteration, at exactly 600 s
    for w in &mut want[10..14] {
        *w += 1800.0;
    }
    want[14] += 1799.0; // (840 s, 900 s): the one at 840 s went to the minute before
    for (got, want) in per_minute.iter().zip(&want) {
        assert!((got - want).abs() < 1e-6, "{per_minute:?}");
    }
}

#[test]
fn k6_options_json_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("options.json"),
        r#"{"scenarios": {"api": {"executor": "ramping-arrival-rate", "startRate": 0, "timeUnit": "1s",
            "preAllocatedVUs": 20, "stages": [{"duration": "2m", "target": 60}]}}}"#,
    )
    .unwrap();
    let toml = one_service("5m", 10, 10, "\"10ms\"", r#"k6_options = "options.json""#);
    let sc = autosim::parse(&toml, dir.path()).unwrap();
    let n = run(&sc, 0).summary.requests.arrived as i64;
    assert!((n - 3600).abs() <= 1, "{n}");
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn count_traces_replay_their_counts_per_bin() {
    let dir = tempfile::tempdir().unwrap();
    // Counts per minute.
    let counts = [120u64, 0, 300, 60, 600, 30];
    let csv: String = std::iter::once("minute,requests\n".to_string())
        .chain(counts.iter().enumerate().map(|(i, c)| format!("{},{c}\n", i * 60)))
        .collect();
    write(dir.path(), "t.csv", &csv);
    for arrivals in ["even", "uniform"] {
        let toml = one_service(
            "6m",
            20,
            10,
            "\"10ms\"",
            &format!(r#"trace = {{ file = "t.csv", bin = "1m", arrivals = "{arrivals}" }}"#),
        );
        let sc = autosim::parse(&toml, dir.path()).unwrap();
        let r = run(&sc, 0);
        let got: Vec<u64> = r.timeseries.iter().map(|row| (row.load_rps * 60.0).round() as u64).collect();
        assert_eq!(got, counts, "{arrivals}");
    }
    // Looped: the 6-minute trace fills 18 minutes, three times the total.
    let toml = one_service("18m", 20, 10, "\"10ms\"", r#"trace = { file = "t.csv", bin = "1m", arrivals = "even", loop = true }"#);
    let sc = autosim::parse(&toml, dir.path()).unwrap();
    assert_eq!(run(&sc, 0).summary.requests.arrived, 3 * counts.iter().sum::<u64>());
    // Compressed 6x into one minute with a target mean rate: every request kept per bin, then
    // scaled to 10/s on average.
    let toml = one_service("1m", 20, 10, "\"10ms\"", r#"trace = { file = "t.csv", bin = "1m", arrivals = "even", speedup = 6, mean_rate = 10 }"#);
    let sc = autosim::parse(&toml, dir.path()).unwrap();
    let n = run(&sc, 0).summary.requests.arrived as i64;
    assert!((n - 600).abs() <= 6, "{n}");
}

#[test]
fn request_logs_replay_arrivals_and_work() {
    let dir = tempfile::tempdir().unwrap();
    // 1000 requests, one every 100 ms, with work 10..=19 ms from a column.
    let mut csv = String::from("ts,latency_ms\n");
    for i in 0..1000 {
        csv += &format!("{:.1},{}\n", 1_700_000_000.0 + i as f64 * 0.1, 10 + i % 10);
    }
    write(dir.path(), "log.csv", &csv);
    let toml = one_service(
        "2m",
        2,
        10,
        "\"1s\"",
        r#"trace = { file = "log.csv", format = "requests", work = { column = "latency_ms", unit = "ms" } }"#,
    );
    let sc = autosim::parse(&toml, dir.path()).unwrap();
    let r = run(&sc, 0);
    assert_conserved(&r);
    assert_eq!(r.summary.requests.arrived, 1000);
    // No queueing: latency is the logged work (HDR precision).
    assert!((r.summary.latency_s.mean - 0.0145).abs() < 0.0001, "{}", r.summary.latency_s.mean);
    assert!((r.summary.latency_s.max - 0.019).abs() < 0.0001, "{}", r.summary.latency_s.max);
}

#[test]
fn every_policy_sees_the_same_trace_arrivals() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.txt", "5 0 3 9 12 1 0 0 4 7\n");
    let toml = format!(
        "{}\n[[policies]]\nname = \"few\"\npods = {{ kind = \"static\", replicas = 1 }}\n[[policies]]\nname = \"many\"\npods = {{ kind = \"static\", replicas = 5 }}\n",
        one_service("10s", 1, 1, "\"300ms\"", r#"trace = { file = "c.txt", loop = true }"#)
    );
    let sc = autosim::parse(&toml, dir.path()).unwrap();
    let a = run(&sc, 0);
    let b = run(&sc, 1);
    assert_eq!(a.summary.requests.arrived, b.summary.requests.arrived);
    assert!(a.summary.latency_s.mean > b.summary.latency_s.mean);
}

#[test]
fn patterns_have_their_mean() {
    // A diurnal cycle averages to its mean over whole periods (here a 1 h period).
    let sc = scenario(&one_service(
        "2h",
        50,
        10,
        "\"10ms\"",
        r#"pattern = { kind = "diurnal", mean = 20, amplitude = 0.8, period = "1h" }"#,
    ));
    let n = run(&sc, 0).summary.requests.arrived as f64;
    assert!((n - 144_000.0).abs() < 4.0 * 144_000f64.sqrt(), "{n}");
    // A flash sale: base 10/s for 1 h plus a spike to 110/s, rising over 1 min, held 5 min,
    // falling over 2 min: 36000 + 100 * (30 + 300 + 60) = 75000.
    let sc = scenario(&one_service(
        "1h",
        50,
        10,
        "\"10ms\"",
        r#"pattern = { kind = "spike", base = 10, peak = 110, at = "20m", rise = "1m", hold = "5m", fall = "2m" }"#,
    ));
    let n = run(&sc, 0).summary.requests.arrived as f64;
    assert!((n - 75_000.0).abs() < 4.0 * 75_000f64.sqrt(), "{n}");
}

#[test]
fn open_loop_arrivals_do_not_depend_on_response_times() {
    // A Poisson arrival-rate executor whose VUs think for a random time: its arrival times
    // must be the same under a slow and a fast policy (common random numbers), although its
    // VUs are busy for different times.
    let toml = format!(
        "{}\n[[policies]]\nname = \"slow\"\npods = {{ kind = \"static\", replicas = 1 }}\n[[policies]]\nname = \"fast\"\npods = {{ kind = \"static\", replicas = 10 }}\n",
        one_service(
            "20m",
            1,
            2,
            r#"{ dist = "exponential", mean = "150ms" }"#,
            r#"k6 = { executor = "constant-arrival-rate", rate = 10, duration = "20m", pre_allocated_vus = 1000, arrivals = "poisson", think_time = { dist = "exponential", mean = "2s" } }"#
        )
    );
    let sc = scenario(&toml);
    let (slow, fast) = (run(&sc, 0), run(&sc, 1));
    assert_eq!(slow.summary.requests.dropped_iterations + fast.summary.requests.dropped_iterations, 0);
    assert!(slow.summary.latency_s.mean > 2.0 * fast.summary.latency_s.mean, "the policies must differ");
    let loads = |r: &autosim::report::Report| r.timeseries.iter().map(|row| row.load_rps).collect::<Vec<_>>();
    assert_eq!(loads(&slow), loads(&fast));
}

/// k6's graceful stop (grafana.com/docs/k6/latest/using-k6/scenarios/concepts/graceful-stop):
/// at the end of a scenario's duration no iteration starts; those in progress have
/// `graceful_stop` to finish, and whatever still runs then is interrupted: counted as
/// interrupted, not complete. The service still serves the request (a server does not see the
/// client go), so every request is accounted for as before.
#[test]
fn the_graceful_stop_interrupts_iterations_still_running() {
    // 10 VUs for 10 s, requests of exactly 4 s and no think time: each VU's iterations run
    // 0-4 s, 4-8 s and 8-12 s (the third starts before the end at 10 s).
    let vus = |stop: &str| {
        let k6 = format!(r#"k6 = {{ executor = "constant-vus", vus = 10, duration = "10s", graceful_stop = "{stop}" }}"#);
        let r = run(&scenario(&one_service("1m", 10, 10, "\"4s\"", &k6)), 0);
        assert_conserved(&r);
        let q = r.summary.requests;
        assert_eq!((q.arrived, q.completed), (30, 30), "{stop}: the service serves every request");
        (q.iterations.unwrap(), q.interrupted_iterations.unwrap())
    };
    // 30 s (k6's default): the third iterations end at 12 s, within the grace.
    assert_eq!(vus("30s"), (30, 0));
    // 1 s: at 11 s the third iterations are still running: 10 interrupted.
    assert_eq!(vus("1s"), (20, 10));
    assert_eq!(vus("0s"), (20, 10));

    // The think time is part of the iteration (k6's sleep() at the end of the default
    // function): 1 VU, 1 s requests, 3 s think, 5 s: iterations 0-4 s and 4-8 s; a 1 s grace
    // cuts the second one in its think time, at 6 s.
    let k6 = r#"k6 = { executor = "constant-vus", vus = 1, duration = "5s", graceful_stop = "1s", think_time = "3s" }"#;
    let q = run(&scenario(&one_service("1m", 1, 1, "\"1s\"", k6)), 0).summary.requests;
    assert_eq!((q.arrived, q.completed, q.iterations, q.interrupted_iterations), (2, 2, Some(1), Some(1)));

    // Arrival rate: 1 iteration a second for 5 s (at 0, 1, 2, 3 and 4 s) of 3.5 s each, ending
    // at 3.5 to 7.5 s; a 2 s grace ends at 7 s and interrupts the last one.
    let k6 = r#"k6 = { executor = "constant-arrival-rate", rate = 1, duration = "5s", pre_allocated_vus = 10, graceful_stop = "2s" }"#;
    let q = run(&scenario(&one_service("1m", 10, 10, "\"3500ms\"", k6)), 0).summary.requests;
    assert_eq!((q.arrived, q.completed, q.iterations, q.interrupted_iterations), (5, 5, Some(4), Some(1)));

    // The command line's table says so.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, one_service("1m", 10, 10, "\"3500ms\"", k6) + "[[policies]]\nname = \"ten\"\npods = { kind = \"static\", replicas = 10 }\n").unwrap();
    let (code, out, err) = crate::common::autosim([std::ffi::OsStr::new("run"), file.as_os_str(), std::ffi::OsStr::new("--no-plots"), std::ffi::OsStr::new("--out"), dir.path().join("out").as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("k6 interrupted iterations (graceful stop or ramp-down ran out): ten 1"), "{out}");

    // A service without k6 load has no iteration counts (absent from summary.json).
    let q = run(&scenario(&one_service("1m", 1, 1, "\"10ms\"", r#"pattern = { kind = "constant", rate = 1 }"#)), 0).summary.requests;
    assert_eq!((q.iterations, q.interrupted_iterations), (None, None));
}

/// k6's `gracefulRampDown` (ramping-vus): a VU stopped by a ramp-down starts no new iteration
/// and has `graceful_ramp_down` to finish its current one, unless the scenario's graceful stop
/// comes first. As k6's TestRampingVUsGracefulRampDown: 2 VUs for 1 s, down to 0 over the
/// next second (the second VU is stopped at 1.5 s, the first at 2 s), iterations of 6.8 s.
#[test]
fn the_graceful_ramp_down_gives_stopped_vus_time_to_finish() {
    let ramp = |ramp_down: &str, stop: &str| {
        let k6 = format!(
            r#"k6 = {{ executor = "ramping-vus", start_vus = 2, stages = [ {{ duration = "1s", target = 2 }}, {{ duration = "1s", target = 0 }} ], graceful_ramp_down = "{ramp_down}", graceful_stop = "{stop}" }}"#
        );
        let r = run(&scenario(&one_service("1m", 2, 1, "\"6800ms\"", &k6)), 0);
        assert_conserved(&r);
        let q = r.summary.requests;
        assert_eq!((q.arrived, q.completed), (2, 2), "{ramp_down} {stop}");
        (q.iterations.unwrap(), q.interrupted_iterations.unwrap())
    };
    // 5 s of ramp-down: the second VU's iteration is interrupted at 1.5 + 5 = 6.5 s; the
    // first VU, stopped at 2 s, has until 7 s (its ramp-down's grace and the scenario's
    // graceful stop both end then), and its iteration ends at 6.8 s.
    assert_eq!(ramp("5s", "5s"), (1, 1));
    // No ramp-down grace: each VU is interrupted when the ramp-down stops it.
    assert_eq!(ramp("0s", "5s"), (0, 2));
    // The defaults (30 s each): both finish.
    assert_eq!(ramp("30s", "30s"), (2, 0));
    // A graceful stop shorter than the ramp-down cuts it short: at 2 s, both interrupted.
    assert_eq!(ramp("30s", "0s"), (0, 2));
}
