//! Live mode (`autosim live`) against the loopback fake Kubernetes API server of
//! [`crate::fake_kube`]: the plan, the exact writes, timing anchored to t0, dry runs, every
//! guard rail, cluster errors and retries, signals and restore, another writer, calibration,
//! the k6 export, and kubectl against the fake (skipped without kubectl).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{autosim, root};
use crate::fake_kube::{kubeconfig, Fault, FakeKube, Knobs};

const NS: &str = "autosim-live";

/// A run folder with policy `hpa`: pod decisions for service `api` at `times` (seconds),
/// replicas going through `steps` (the first is where it started), plus a held decision and a
/// node decision that must not be replayed.
fn run_dir(dir: &Path, times: &[f64], steps: &[u32]) -> PathBuf {
    let run = dir.join("run");
    let p = run.join("hpa");
    std::fs::create_dir_all(&p).unwrap();
    let mut d = String::from("time_s,controller,kind,target,from,to,verdict,reason\n");
    d.push_str(&format!("0,pods,hpa,api,{0},{0},hold,within tolerance\n", steps[0]));
    for (i, t) in times.iter().enumerate() {
        d.push_str(&format!("{t},pods,hpa,api,{},{},apply,cpu 90% of 60%\n", steps[i], steps[i + 1]));
        if i == 0 {
            d.push_str(&format!("{t},nodes,cluster-autoscaler,general,3,4,apply,pending pods\n"));
        }
    }
    std::fs::write(p.join("decisions.csv"), d).unwrap();
    let mut ts = String::from("time_s,service,pods_ready\n");
    let mut ready = steps[0];
    for k in 0..=((times.last().unwrap() / 15.0) as usize + 2) {
        let t = k as f64 * 15.0;
        for (i, &ti) in times.iter().enumerate() {
            if ti + 20.0 <= t {
                ready = steps[i + 1];
            }
        }
        ts.push_str(&format!("{t},api,{ready}\n"));
    }
    std::fs::write(p.join("timeseries.csv"), ts).unwrap();
    run
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    run: PathBuf,
    kc: PathBuf,
    fake: FakeKube,
}

fn setup(knobs: Knobs, replicas: u32, times: &[f64], steps: &[u32]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let fake = FakeKube::start(knobs);
    fake.add_deployment(NS, "web", replicas, true);
    let kc = kubeconfig(&dir, "kind-test", &fake.url());
    let run = run_dir(&dir, times, steps);
    Setup { _tmp: tmp, dir, run, kc, fake }
}

fn replay_args(s: &Setup, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "live".into(),
        "replay".into(),
        s.run.display().to_string(),
        "--policy".into(),
        "hpa".into(),
        "--namespace".into(),
        NS.into(),
        "--map".into(),
        "api=web".into(),
        "--kubeconfig".into(),
        s.kc.display().to_string(),
        "--poll".into(),
        "100ms".into(),
        "--tail".into(),
        "0s".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn live_dir(s: &Setup) -> PathBuf {
    s.run.join("hpa").join("live")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn csv_rows(p: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    r.deserialize().map(|x| x.unwrap()).collect()
}

fn scale_path(name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}/scale")
}

fn body_replicas(b: &str) -> u64 {
    let v: Value = serde_json::from_str(b).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "only spec: {b}");
    assert_eq!(v["spec"].as_object().unwrap().len(), 1, "only spec.replicas: {b}");
    v["spec"]["replicas"].as_u64().unwrap()
}

// 1 ---------------------------------------------------------------------------------------------

#[test]
fn plan_has_applied_pod_decisions_at_wall_times_with_the_mapping_and_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(tmp.path(), &[30.0, 60.0, 90.0], &[2, 4, 6, 3]);
    let out = tmp.path().join("plan");
    let (code, stdout, stderr) = autosim([
        "live", "plan", run.to_str().unwrap(), "--policy", "hpa", "--map", "api=web", "--speed", "60", "--out", out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 node decision(s) skipped"), "{stdout}");
    let rows = csv_rows(&out.join("plan.csv"));
    assert_eq!(rows.len(), 3, "the held and the node decisions are not replayed");
    let got: Vec<(String, String, String, String, String)> = rows
        .iter()
        .map(|r| (r["time_s"].clone(), r["wall_offset_s"].clone(), r["deployment"].clone(), r["from"].clone(), r["to"].clone()))
        .collect();
    let want = [("30", "0.5", "web", "2", "4"), ("60", "1", "web", "4", "6"), ("90", "1.5", "web", "6", "3")];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.2, w.2);
        assert_eq!((g.3.as_str(), g.4.as_str()), (w.3, w.4));
        assert_eq!(g.0.parse::<f64>().unwrap(), w.0.parse::<f64>().unwrap());
        assert_eq!(g.1.parse::<f64>().unwrap(), w.1.parse::<f64>().unwrap());
    }
    // Without --map, the Deployment is the service's name.
    let (code, stdout, _) = autosim(["live", "plan", run.to_str().unwrap(), "--policy", "hpa", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("start: api (service api) at 2 replicas"), "{stdout}");
    // The cap: the plan goes to 6.
    let (code, _, stderr) = autosim(["live", "plan", run.to_str().unwrap(), "--policy", "hpa", "--max-replicas", "5"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("above --max-replicas 5") && stderr.contains("6 replicas"), "{stderr}");
    // An unknown policy names the ones there are.
    let (code, _, stderr) = autosim(["live", "plan", run.to_str().unwrap(), "--policy", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("the run has: hpa"), "{stderr}");
}

// 2 ---------------------------------------------------------------------------------------------

#[test]
fn apply_sends_exactly_the_start_the_calls_and_the_restore() {
    let s = setup(Knobs::default(), 1, &[30.0, 60.0, 90.0], &[2, 4, 6, 3]);
    let (code, stdout, stderr) = autosim(replay_args(&s, &["--apply", "--speed", "60"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let writes = s.fake.writes();
    let replicas: Vec<u64> = writes.iter().map(|w| body_replicas(&w.body)).collect();
    assert_eq!(replicas, [2, 4, 6, 3, 1], "start at 2, the three calls, the restore to 1");
    for w in &writes {
        assert_eq!(w.method, "PATCH");
        assert_eq!(w.path(), scale_path("web"));
        assert_eq!(w.content_type.as_deref(), Some("application/merge-patch+json"));
        assert!(w.query().split('&').any(|kv| kv == "fieldManager=autosim"), "{}", w.target);
        assert!(!w.query().contains("dryRun"), "{}", w.target);
    }
    let all = s.fake.requests();
    assert_eq!(all.last().unwrap().target, writes.last().unwrap().target);
    assert!(all.last().unwrap().is_write(), "the restore is the last request");
    assert_eq!(s.fake.replicas("web"), 1);
    let dir = live_dir(&s);
    let journal = read_json(&dir.join("journal.json"));
    assert_eq!(journal["deployments"][0]["deployment"], "web");
    assert_eq!(journal["deployments"][0]["replicas"], 1);
    assert!(journal["restored_at_unix_s"].is_number());
    let summary = read_json(&dir.join("live.json"));
    assert_eq!(summary["outcome"], "completed");
    assert_eq!(summary["calls_sent"], 3);
    assert_eq!(summary["node_decisions_skipped"], 1);
    for f in ["plan.csv", "requests.csv", "observed.csv", "pods.csv", "live.md", "ready-api.svg"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let req = csv_rows(&dir.join("requests.csv"));
    let kinds: Vec<&str> = req.iter().map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["start", "scale", "scale", "scale", "restore"]);
    let pods = csv_rows(&dir.join("pods.csv"));
    assert!(pods.len() >= 6, "the pods the replay made were recorded: {pods:?}");
}

// 3 ---------------------------------------------------------------------------------------------

#[test]
fn calls_arrive_on_time_from_t0_without_drift_under_api_latency() {
    let times: Vec<f64> = (1..=8).map(|i| i as f64 * 30.0).collect();
    let steps = [2, 3, 4, 5, 6, 5, 4, 3, 2];
    let knobs = Knobs { latency: Duration::from_millis(200), ..Knobs::default() };
    let s = setup(knobs, 2, &times, &steps);
    let (code, stdout, stderr) = autosim(replay_args(&s, &["--apply", "--speed", "60"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let t0 = read_json(&live_dir(&s).join("live.json"))["t0_unix_s"].as_f64().unwrap();
    let calls: Vec<f64> = s.fake.writes().iter().map(|w| w.at - t0).collect();
    // No start patch (already at 2); the last write is the restore.
    assert_eq!(calls.len(), times.len() + 1);
    for (i, at) in calls[..times.len()].iter().enumerate() {
        let due = times[i] / 60.0;
        assert!((at - due).abs() < 0.1, "call {} arrived {at:.3}s after t0, due at {due}s (all: {calls:?})", i + 1);
    }
    for w in calls[..times.len()].windows(2) {
        assert!((w[1] - w[0] - 0.5).abs() < 0.1, "{calls:?}");
    }
}

// 4 ---------------------------------------------------------------------------------------------

#[test]
fn a_dry_run_writes_nothing_and_a_server_dry_run_sends_dry_run_all() {
    let s = setup(Knobs::default(), 2, &[30.0, 60.0], &[2, 4, 3]);
    let (code, stdout, stderr) = autosim(replay_args(&s, &["--speed", "60"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("dry run") && stdout.contains("nothing was written"), "{stdout}");
    assert!(s.fake.writes().is_empty());
    assert!(!s.fake.requests().is_empty(), "the checks ran against the server");
    assert!(!live_dir(&s).join("journal.json").exists());

    let (code, _, stderr) = autosim(replay_args(&s, &["--speed", "60", "--server-dry-run"]));
    assert_eq!(code, 0, "{stderr}");
    let writes = s.fake.writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    for w in &writes {
        assert!(w.query().split('&').any(|kv| kv == "dryRun=All"), "{}", w.target);
    }
    assert_eq!(s.fake.replicas("web"), 2, "nothing changed");
    let summary = read_json(&live_dir(&s).join("live.json"));
    assert_eq!(summary["mode"], "server-dry-run");
}

// 5 ---------------------------------------------------------------------------------------------

#[test]
fn every_guard_rail_refuses_with_exit_2_before_writing() {
    let s = setup(Knobs::default(), 2, &[30.0], &[2, 3]);
    // A context not named kind-*, though on loopback.
    let prod = kubeconfig(&s.dir, "prod", &s.fake.url());
    let mut a = replay_args(&s, &["--apply", "--speed", "60"]);
    let k = a.iter().position(|x| x == "--kubeconfig").unwrap();
    a[k + 1] = prod.display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("refusing the context \"prod\"") && stderr.contains("kind-*"), "{stderr}");
    // --allow-context names it: accepted.
    a.extend(["--allow-context".to_string(), "prod".to_string(), "--keep".to_string()]);
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 0, "{stderr}");
    let before = s.fake.requests().len();
    // A kind context whose server is not on loopback.
    let remote = kubeconfig(&s.dir, "kind-remote", "https://10.255.255.1:6443");
    a = replay_args(&s, &["--apply"]);
    a[k + 1] = remote.display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not on a loopback address"), "{stderr}");
    // kube-system.
    a = replay_args(&s, &["--apply"]);
    let n = a.iter().position(|x| x == "--namespace").unwrap();
    a[n + 1] = "kube-system".into();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("kube-* namespaces"), "{stderr}");
    assert_eq!(s.fake.requests().len(), before, "refused before any request");
    // A missing label.
    let f2 = FakeKube::start(Knobs::default());
    f2.add_deployment(NS, "web", 2, false);
    let kc2 = kubeconfig(&s.dir, "kind-test", &f2.url());
    a = replay_args(&s, &["--apply"]);
    a[k + 1] = kc2.display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("autosim.dev/replay: \"allowed\""), "{stderr}");
    assert!(f2.writes().is_empty());
    // An HPA on the target.
    let f3 = FakeKube::start(Knobs { hpas: vec![("web-hpa".into(), "web".into())], ..Knobs::default() });
    f3.add_deployment(NS, "web", 2, true);
    let kc3 = kubeconfig(&s.dir, "kind-test", &f3.url());
    a[k + 1] = kc3.display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("HorizontalPodAutoscaler \"web-hpa\""), "{stderr}");
    assert!(f3.writes().is_empty());
    // The cap, at replay.
    let (code, _, stderr) = autosim(replay_args(&s, &["--apply", "--max-replicas", "2"]));
    assert_eq!(code, 2, "{stderr}");
}

// 6 ---------------------------------------------------------------------------------------------

#[test]
fn unreachable_and_forbidden_exit_3_with_what_to_do_and_a_503_is_retried_once() {
    let s = setup(Knobs::default(), 2, &[30.0, 60.0], &[2, 4, 3]);
    // A closed port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let closed = kubeconfig(&s.dir, "kind-closed", &format!("http://127.0.0.1:{port}"));
    let mut a = replay_args(&s, &["--apply"]);
    let k = a.iter().position(|x| x == "--kubeconfig").unwrap();
    a[k + 1] = closed.display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(&format!("cannot reach the Kubernetes API server at http://127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("context \"kind-closed\"") && stderr.contains("Is the cluster up?"), "{stderr}");
    // A 403 on the first patch.
    let f = FakeKube::start(Knobs { faults: vec![Fault { method: Some("PATCH"), nth: 1, status: 403 }], ..Knobs::default() });
    f.add_deployment(NS, "web", 2, true);
    a[k + 1] = kubeconfig(&s.dir, "kind-test", &f.url()).display().to_string();
    a.extend(["--speed".to_string(), "60".to_string()]);
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("forbidden") && stderr.contains("patch on deployments/scale"), "{stderr}");
    assert!(stderr.contains("namespace \"autosim-live\"") && stderr.contains("deploy/kind/rbac.yaml"), "{stderr}");
    // A 503 on the second patch: retried once, and the replay goes on.
    let f = FakeKube::start(Knobs { faults: vec![Fault { method: Some("PATCH"), nth: 2, status: 503 }], ..Knobs::default() });
    f.add_deployment(NS, "web", 2, true);
    a[k + 1] = kubeconfig(&s.dir, "kind-test", &f.url()).display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 0, "{stderr}");
    let replicas: Vec<u64> = f.writes().iter().map(|w| body_replicas(&w.body)).collect();
    assert_eq!(replicas, [4, 3, 3, 2], "call 2 (to 3) twice, then the restore");
    let req = csv_rows(&live_dir(&s).join("requests.csv"));
    let retries: Vec<&str> = req.iter().filter(|r| r["kind"] == "scale").map(|r| r["retries"].as_str()).collect();
    assert_eq!(retries, ["0", "1"]);
    // A missing Deployment.
    let f = FakeKube::start(Knobs::default());
    a[k + 1] = kubeconfig(&s.dir, "kind-test", &f.url()).display().to_string();
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("\"web\" does not exist in the namespace \"autosim-live\""), "{stderr}");
}

// 7 ---------------------------------------------------------------------------------------------

fn spawn(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_autosim")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn wait_for_writes(f: &FakeKube, n: usize) {
    let until = Instant::now() + Duration::from_secs(60);
    while f.writes().len() < n {
        assert!(Instant::now() < until, "the replay never made {n} writes");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigint_restores_last_and_exits_130_and_restore_works_after_a_kill() {
    let times: Vec<f64> = (1..=6).map(|i| i as f64 * 30.0).collect();
    let s = setup(Knobs::default(), 2, &times, &[2, 3, 4, 5, 6, 5, 4]);
    let child = spawn(&replay_args(&s, &["--apply", "--speed", "10"]));
    wait_for_writes(&s.fake, 2);
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let all = s.fake.requests();
    let last = all.last().unwrap();
    assert!(last.is_write() && body_replicas(&last.body) == 2, "the restore is the last request: {last:?}");
    assert_eq!(s.fake.writes().len(), 3);
    assert_eq!(s.fake.replicas("web"), 2);
    assert_eq!(read_json(&live_dir(&s).join("live.json"))["outcome"], "interrupted");

    // A hard kill: nothing restores, until `live restore`.
    let s = setup(Knobs::default(), 2, &times, &[2, 3, 4, 5, 6, 5, 4]);
    let mut child = spawn(&replay_args(&s, &["--apply", "--speed", "10"]));
    wait_for_writes(&s.fake, 2);
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.fake.replicas("web"), 4);
    let n = s.fake.requests().len();
    let (code, stdout, stderr) = autosim(["live", "restore", live_dir(&s).to_str().unwrap(), "--kubeconfig", s.kc.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("restored autosim-live/web to 2 replicas"), "{stdout}");
    assert_eq!(s.fake.replicas("web"), 2);
    let writes: Vec<_> = s.fake.requests()[n..].iter().filter(|r| r.is_write()).cloned().collect();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path(), scale_path("web"));
}

// 8 ---------------------------------------------------------------------------------------------

#[test]
fn another_writer_is_a_warning_or_with_strict_a_stop_and_restore() {
    let times = [30.0, 60.0, 90.0];
    let steps = [2, 4, 6, 3];
    // After the first patch, someone sets 5 replicas.
    let knobs = || Knobs { other_writer: Some((1, 5)), ..Knobs::default() };
    let s = setup(knobs(), 2, &times, &steps);
    let (code, _, stderr) = autosim(replay_args(&s, &["--apply", "--speed", "60"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning: another writer: the Deployment web has 5 replicas where the replay left 4"), "{stderr}");
    assert_eq!(s.fake.writes().len(), 4, "all three calls and the restore");
    assert_eq!(read_json(&live_dir(&s).join("live.json"))["other_writer_seen"], 1);

    let s = setup(knobs(), 2, &times, &steps);
    let (code, _, stderr) = autosim(replay_args(&s, &["--apply", "--speed", "60", "--strict"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("stopped (--strict): another writer"), "{stderr}");
    let replicas: Vec<u64> = s.fake.writes().iter().map(|w| body_replicas(&w.body)).collect();
    assert_eq!(replicas, [4, 2], "the first call, then the restore");
    assert_eq!(s.fake.replicas("web"), 2);
    assert_eq!(read_json(&live_dir(&s).join("live.json"))["outcome"], "stopped");
}

// 9 ---------------------------------------------------------------------------------------------

#[test]
fn calibration_recovers_a_lognormal_and_rewrites_only_startup() {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    std::fs::create_dir_all(&dir).unwrap();
    // 500 startups from a lognormal of median 30s and p95 75s.
    let (median, p95) = (30.0f64, 75.0f64);
    let sigma = (p95 / median).ln() / 1.6448536269514722;
    let ln = rand_distr::LogNormal::new(median.ln(), sigma).unwrap();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(12);
    let mut pods = String::from("deployment,pod,uid,created_s,scheduled_s,ready_s,deletion_s,gone_s,censored\n");
    for i in 0..500 {
        let x: f64 = ln.sample(&mut rng);
        let t = i as f64 * 2.0;
        pods.push_str(&format!("web,web-{i},u{i},{t},{},{:.3},,,false\n", t + 1.0, t + 1.0 + x));
    }
    // A censored pod (never ready) is not a sample.
    pods.push_str("web,web-x,ux,5,6,,,,true\n");
    std::fs::write(dir.join("pods.csv"), pods).unwrap();
    let scenario = tmp.path().join("spike.toml");
    std::fs::copy(root().join("scenarios/high-load-spike.toml"), &scenario).unwrap();
    let out = tmp.path().join("calibrated.toml");
    let (code, stdout, stderr) = autosim([
        "live", "calibrate", dir.to_str().unwrap(), "--scenario", scenario.to_str().unwrap(), "--service", "api",
        "--write-scenario", out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("500 samples"), "{stdout}");
    let cal = read_json(&dir.join("calibration.json"));
    let fit = &cal["startup"]["lognormal"];
    let (m, p) = (fit["median_s"].as_f64().unwrap(), fit["p95_s"].as_f64().unwrap());
    assert!((m / median - 1.0).abs() < 0.05, "median {m} against {median}");
    assert!((p / p95 - 1.0).abs() < 0.05, "p95 {p} against {p95}");
    let (ks_old, ks_fit) = (cal["startup"]["ks_scenario"].as_f64().unwrap(), cal["startup"]["ks_fitted"].as_f64().unwrap());
    assert!(ks_fit < 0.06 && ks_old > ks_fit, "KS {ks_old} (scenario) against {ks_fit} (fitted)");
    // The rewritten scenario validates and differs only in `startup`.
    let (code, _, stderr) = autosim(["validate", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let (a, b) = (std::fs::read_to_string(&scenario).unwrap(), std::fs::read_to_string(&out).unwrap());
    let diff: Vec<(&str, &str)> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).collect();
    assert_eq!(a.lines().count(), b.lines().count());
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].0.starts_with("startup = ") && diff[0].1.starts_with("startup = { dist = \"lognormal\", median = \""), "{diff:?}");
    // Fewer than 20 samples: refused without --force.
    let few = tmp.path().join("few");
    std::fs::create_dir_all(&few).unwrap();
    std::fs::write(few.join("pods.csv"), "deployment,pod,uid,created_s,scheduled_s,ready_s,deletion_s,gone_s,censored\nweb,a,a,0,1,21,,,false\n").unwrap();
    let (code, _, stderr) = autosim([
        "live", "calibrate", few.to_str().unwrap(), "--scenario", scenario.to_str().unwrap(), "--service", "api",
        "--write-scenario", out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("fewer than 20"), "{stderr}");
    // The empirical fit writes the samples beside the scenario.
    let out2 = tmp.path().join("empirical.toml");
    let (code, _, stderr) = autosim([
        "live", "calibrate", dir.to_str().unwrap(), "--scenario", scenario.to_str().unwrap(), "--service", "api",
        "--write-scenario", out2.to_str().unwrap(), "--fit", "empirical",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::read_to_string(&out2).unwrap().contains("startup = { dist = \"empirical\", file = \"empirical.startup-samples.csv\" }"));
    let (code, _, stderr) = autosim(["validate", out2.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn calibration_of_a_replay_reports_lags_and_the_gap() {
    // A replay against the fake whose pods schedule after 1s and are ready 2s later, and take
    // 2s to go once deleted.
    let knobs = Knobs {
        schedule_after: Duration::from_secs(1),
        ready_after: Duration::from_secs(3),
        gone_after: Duration::from_secs(2),
        ..Knobs::default()
    };
    let s = setup(knobs, 2, &[30.0, 150.0], &[2, 4, 3]);
    let mut a = replay_args(&s, &["--apply", "--speed", "30"]);
    for (flag, v) in [("--tail", "5s"), ("--poll", "250ms")] {
        let i = a.iter().position(|x| x == flag).unwrap();
        a[i + 1] = v.to_string();
    }
    let (code, _, stderr) = autosim(&a);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = autosim(["live", "calibrate", live_dir(&s).to_str().unwrap(), "--service", "api"]);
    assert_eq!(code, 0, "{stderr}");
    let cal = read_json(&live_dir(&s).join("calibration.json"));
    let up = &cal["scale_ups"][0];
    assert_eq!(up["to"], 4);
    let startup = up["startup_s"].as_f64().unwrap();
    assert!((1.0..=3.0).contains(&startup), "startup {startup} (2s, whole-second timestamps): {stdout}");
    assert!(up["to_target_s"].as_f64().unwrap() >= 2.0);
    assert!(up["simulated_to_target_s"].is_number());
    let down = &cal["scale_downs"][0];
    assert!(down["to_deletion_mark_s"].as_f64().is_some_and(|t| t <= 1.0), "{down}");
    assert!(down["until_gone_s"].as_f64().is_some_and(|t| (1.0..=4.0).contains(&t)), "{down}");
    assert!(!cal["gaps"].as_array().unwrap().is_empty());
}

// 10 --------------------------------------------------------------------------------------------

#[test]
fn the_k6_export_reads_back_to_the_same_stages() {
    use autosim::workload::k6::{parse_options_json, Executor};
    use autosim::workload::Source;
    let tmp = tempfile::tempdir().unwrap();
    // k6 tables pass through.
    let file = root().join("scenarios/k6-load-test.toml");
    let sc = autosim::load(&file).unwrap();
    for speed in [1.0, 4.0] {
        let out = tmp.path().join(format!("k6-{speed}.js"));
        let (code, _, stderr) = autosim([
            "live", "k6", file.to_str().unwrap(), "--service", "api", "--url", "http://web.autosim-live/", "--speed", &speed.to_string(),
            "--out", out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let js = std::fs::read_to_string(&out).unwrap();
        let opts = autosim::live::k6::options_of_script(&js).expect("an options object");
        let back = parse_options_json(opts).unwrap();
        let want: Vec<_> = sc.scenario.services[0].workload.sources.iter().filter_map(|s| if let Source::K6(k) = s { Some(k) } else { None }).collect();
        assert_eq!(back.len(), want.len());
        for (name, spec) in &back {
            let k = spec.validate(name, Path::new(".")).unwrap();
            let w = want.iter().find(|w| &w.name == name).unwrap();
            assert_eq!(k.start_ns as f64, (w.start_ns as f64 / speed).round(), "{name}");
            match (&k.exec, &w.exec) {
                (Executor::ArrivalRate { stages: a, max_vus: ma, .. }, Executor::ArrivalRate { stages: b, max_vus: mb, .. }) => {
                    assert_eq!(ma, mb);
                    assert_eq!(a.start_rate(), b.start_rate());
                    let sb: Vec<(u64, u64)> = b.stages().iter().map(|&(d, t)| ((d as f64 / speed).round() as u64, t)).collect();
                    assert_eq!(a.stages(), sb, "{name}");
                }
                (Executor::Vus { vu_stages: a, .. }, Executor::Vus { vu_stages: b, .. }) => {
                    assert_eq!(a.start_vus(), b.start_vus());
                    let sb: Vec<(u64, u32)> = b.stages().iter().map(|&(d, t)| ((d as f64 / speed).round() as u64, t)).collect();
                    assert_eq!(a.stages(), sb, "{name}");
                    if speed == 1.0 {
                        assert_eq!(a, b);
                    }
                }
                (a, b) => panic!("{name}: {a:?} against {b:?}"),
            }
        }
    }
    // A pattern becomes ramping-arrival-rate stages holding the simulation's rate bins.
    let file = root().join("scenarios/high-load-spike.toml");
    let sc = autosim::load(&file).unwrap();
    let out = tmp.path().join("spike.js");
    let (code, _, stderr) = autosim([
        "live", "k6", file.to_str().unwrap(), "--service", "api", "--url", "http://web/", "--speed", "4", "--out", out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let js = std::fs::read_to_string(&out).unwrap();
    let back = parse_options_json(autosim::live::k6::options_of_script(&js).unwrap()).unwrap();
    assert_eq!(back.len(), 1);
    let k = back[0].1.validate(&back[0].0, Path::new(".")).unwrap();
    let Executor::ArrivalRate { stages, .. } = &k.exec else { panic!("{:?}", k.exec) };
    let Source::Pattern { spec, resolution_ns } = &sc.scenario.services[0].workload.sources[0] else { panic!() };
    let key = autosim::engine::rng::fnv1a("load/api/0") ^ sc.scenario.seed;
    assert_eq!(stages.total_duration_ns(), sc.scenario.duration_ns / 4);
    // The simulation's bins (the pattern at each bin's middle), merged in groups so that there
    // are at most MAX_STAGES stages: each group's mean rate, at a sixtieth of a request per second.
    let n = (sc.scenario.duration_ns / resolution_ns) as usize;
    let group = n.div_ceil(autosim::live::k6::MAX_STAGES / 2);
    let rates: Vec<f64> = (0..n).map(|b| spec.rate_at((b as f64 + 0.5) * *resolution_ns as f64 / 1e9, key)).collect();
    for (g, chunk) in rates.chunks(group).enumerate() {
        let want = chunk.iter().sum::<f64>() / chunk.len() as f64;
        let mid = (g as f64 + 0.5) * (group as u64 * resolution_ns) as f64 / 4.0;
        let got = stages.rate_at(mid as u64);
        assert!((got - want).abs() <= 1.0 / 60.0, "group {g}: {got} against {want}");
    }
    // The same requests, in a quarter of the time.
    let total: f64 = rates.iter().sum::<f64>() * *resolution_ns as f64 / 1e9;
    let back = stages.expected_iterations(stages.total_duration_ns()) * 4.0;
    assert!((back / total - 1.0).abs() < 0.001, "{back} against {total} requests");
}

// 11 --------------------------------------------------------------------------------------------

#[test]
fn kubectl_agrees_with_the_fake() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        eprintln!("skipped: kubectl is not on the PATH");
        return;
    }
    let s = setup(Knobs::default(), 2, &[30.0], &[2, 3]);
    let kc = s.kc.to_str().unwrap();
    let out = Command::new("kubectl").args(["--kubeconfig", kc, "-n", NS, "get", "deployment", "web", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["metadata"]["labels"]["autosim.dev/replay"], "allowed");
    let out = Command::new("kubectl").args(["--kubeconfig", kc, "-n", NS, "scale", "deployment", "web", "--replicas=3"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.fake.replicas("web"), 3);
    let out = Command::new("kubectl").args(["--kubeconfig", kc, "-n", NS, "get", "pods", "-l", "app=web", "-o", "name"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

// A real kind cluster -----------------------------------------------------------------------------

/// Replays the high-load spike's HPA on a kind cluster made from deploy/kind (see docs/live.md):
/// AUTOSIM_KIND_CONTEXT=kind-autosim cargo test --test it live::real_kind -- --ignored
#[test]
#[ignore = "needs a kind cluster: set AUTOSIM_KIND_CONTEXT (see docs/live.md)"]
fn real_kind() {
    let Ok(context) = std::env::var("AUTOSIM_KIND_CONTEXT") else {
        eprintln!("skipped: AUTOSIM_KIND_CONTEXT is not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("spike");
    let file = root().join("scenarios/high-load-spike.toml");
    let (code, _, stderr) = autosim(["run", file.to_str().unwrap(), "--policy", "hpa-cpu-60", "--out", run.to_str().unwrap(), "--quiet", "--no-plots"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = autosim([
        "live", "replay", run.to_str().unwrap(), "--policy", "hpa-cpu-60", "--namespace", NS, "--map", "api=web", "--context", &context,
        "--apply", "--speed", "30", "--max-replicas", "30", "--tail", "60s",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let dir = run.join("hpa-cpu-60").join("live");
    let (code, stdout, stderr) = autosim(["live", "calibrate", dir.to_str().unwrap(), "--service", "api", "--scenario", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    println!("{stdout}");
}
