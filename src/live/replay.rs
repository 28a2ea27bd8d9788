//! `autosim live replay`: preflight, then the run's decisions sent to the cluster on the
//! clock, the cluster recorded meanwhile, and the replicas put back.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::client::{self, Kube};
use super::guard::{self, REPLAY_LABEL, REPLAY_LABEL_VALUE};
use super::journal::{self, Journal, Saved};
use super::plan::{self, Plan, PlanOptions};
use super::recorder::{self, round_ms, Recorder, Watched};
use super::timing::{self, Clock};
use super::LiveError;
use crate::output::OutputError;

/// Options of `autosim live replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub run: PathBuf,
    pub plan: PlanOptions,
    pub namespace: String,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub allow_context: Option<String>,
    pub apply: bool,
    pub server_dry_run: bool,
    pub keep: bool,
    pub strict: bool,
    pub ignore_hpa: bool,
    pub allow_unlabeled: bool,
    pub out: Option<PathBuf>,
    /// Between polls of the recorder (wall clock).
    pub poll: Duration,
    /// Recording after the last call.
    pub tail: Duration,
    /// The longest wait for the starting replicas to be ready.
    pub ready_timeout: Duration,
}

/// A row of `requests.csv`: one scale call (or the start and restore calls around them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// `start`, `scale` or `restore`.
    pub kind: String,
    /// The plan's index for `scale`, 0 otherwise.
    pub index: usize,
    pub deployment: String,
    pub from: u32,
    pub to: u32,
    /// Seconds after t0 (negative for the start, which comes before it).
    pub scheduled_s: Option<f64>,
    pub sent_s: f64,
    pub answered_s: f64,
    /// `sent_s - scheduled_s`.
    pub lateness_s: Option<f64>,
    /// The HTTP status of the last attempt; 0 when there was no answer.
    pub status: u16,
    pub retries: u32,
    pub dry_run: bool,
    /// `spec.replicas` just before the call, when checked (another writer if not `from`).
    pub replicas_before: Option<u32>,
    pub error: String,
}

/// `live.json`: what the replay was and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveSummary {
    pub run: PathBuf,
    pub policy: String,
    pub speed: f64,
    /// `apply` or `server-dry-run`.
    pub mode: String,
    pub context: String,
    pub server: String,
    pub namespace: String,
    /// t0 as Unix seconds (this machine's clock): every `_s` time in the files is after it.
    pub t0_unix_s: Option<f64>,
    pub deployments: Vec<plan::Start>,
    pub calls_planned: usize,
    pub calls_sent: usize,
    pub calls_failed: usize,
    pub retries: u32,
    pub lateness_p50_s: Option<f64>,
    pub lateness_p99_s: Option<f64>,
    pub lateness_max_s: Option<f64>,
    pub other_writer_seen: usize,
    pub node_decisions_skipped: usize,
    /// `completed`, `interrupted`, `stopped` (another writer, --strict) or `failed`.
    pub outcome: String,
    pub error: Option<String>,
    pub restored: bool,
    pub kept: bool,
    pub polls_failed: u32,
}

/// Ctrl-C and SIGTERM, listened to from the moment this is made.
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// Ctrl-C or SIGTERM (for `live record`, which only stops).
pub async fn stop_signal() {
    match Signals::listen() {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// The output folder: `--out`, else `RUN/<policy>/live`.
pub fn out_dir(opts: &ReplayOptions) -> PathBuf {
    opts.out.clone().unwrap_or_else(|| opts.run.join(&opts.plan.policy).join("live"))
}

/// Preflight: every check that needs the cluster, before anything is written. Gives the
/// watched Deployments and their replicas now.
async fn preflight(kube: &Kube, plan: &Plan, opts: &ReplayOptions) -> Result<Vec<(Watched, u32)>, LiveError> {
    let mut out = Vec::new();
    for s in &plan.start {
        let d = kube.get_deployment(&s.deployment).await.map_err(|e| kube.explain(e, "get", "deployments", Some(&s.deployment)))?;
        let labels = d.metadata.labels.clone().unwrap_or_default();
        if labels.get(REPLAY_LABEL).map(String::as_str) != Some(REPLAY_LABEL_VALUE) && !opts.allow_unlabeled {
            return Err(LiveError::refused(format!(
                "refusing the Deployment {}/{}: it lacks the label {REPLAY_LABEL}: \"{REPLAY_LABEL_VALUE}\" that opts it into replays \
                 (kubectl -n {} label deployment {} {REPLAY_LABEL}={REPLAY_LABEL_VALUE}, or pass --allow-unlabeled)",
                kube.namespace, s.deployment, kube.namespace, s.deployment
            )));
        }
        let selector = recorder::selector_of(&d)
            .ok_or_else(|| LiveError::cluster(format!("the Deployment {:?} has no label selector", s.deployment)))?;
        let replicas = d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1).max(0) as u32;
        out.push((Watched { deployment: s.deployment.clone(), selector }, replicas));
    }
    let hpas = kube.list_hpas().await.map_err(|e| kube.explain(e, "list", "horizontalpodautoscalers", None))?;
    for h in &hpas {
        let Some(spec) = &h.spec else { continue };
        let r = &spec.scale_target_ref;
        if r.kind == "Deployment" && plan.start.iter().any(|s| s.deployment == r.name) && !opts.ignore_hpa {
            return Err(LiveError::refused(format!(
                "refusing the Deployment {}/{}: the HorizontalPodAutoscaler {:?} targets it, and two writers would fight over its replicas \
                 (delete or retarget the HPA, or pass --ignore-hpa)",
                kube.namespace,
                r.name,
                h.metadata.name.clone().unwrap_or_default()
            )));
        }
    }
    Ok(out)
}

/// What the replay has done so far; kept outside the part a signal interrupts.
struct State {
    requests: Vec<Request>,
    recorder: Option<Recorder>,
    t0: Option<(Instant, f64)>,
    other_writer: usize,
}

/// `autosim live replay`.
pub async fn replay(opts: &ReplayOptions) -> Result<(), LiveError> {
    let plan = plan::build(&opts.run, &opts.plan)?;
    guard::check_namespace(&opts.namespace)?;
    if opts.apply && opts.server_dry_run {
        return Err(LiveError::refused("--apply and --server-dry-run exclude each other"));
    }
    let target = guard::target(opts.kubeconfig.clone(), opts.context.as_deref(), opts.allow_context.as_deref())?;
    let dir = out_dir(opts);
    let kube = Kube::connect(&target, &opts.namespace).await?;
    let version = kube.ping().await?;
    let watched = preflight(&kube, &plan, opts).await?;
    print!("{}", plan::text(&plan));
    let write = |name: &str, bytes: &[u8]| {
        crate::output::write_atomic(&dir.join(name), bytes)
            .map_err(|e| LiveError::refused(format!("writing {}: {}", dir.join(name).display(), super::causes(&e))))
    };
    write("plan.csv", &plan::csv(&plan).map_err(|e| LiveError::refused(e.to_string()))?)?;
    if !opts.apply && !opts.server_dry_run {
        println!(
            "dry run: every check passed against {} ({}, Kubernetes {version}, namespace {}); nothing was written to the cluster. \
             Pass --apply to replay, or --server-dry-run to send each patch with dryRun=All. Plan in {}",
            kube.context,
            kube.server,
            kube.namespace,
            dir.join("plan.csv").display()
        );
        return Ok(());
    }
    let mut signals = Signals::listen().map_err(|e| LiveError::refused(format!("cannot listen for signals: {e}")))?;
    let journal = Journal {
        kubeconfig: target.kubeconfig_path.clone(),
        context: kube.context.clone(),
        server: kube.server.clone(),
        namespace: kube.namespace.clone(),
        written_at_unix_s: journal::now_unix_s(),
        deployments: watched.iter().map(|(w, r)| Saved { deployment: w.deployment.clone(), replicas: *r }).collect(),
        restored_at_unix_s: None,
    };
    if opts.apply {
        journal.write(&dir).map_err(|e| LiveError::refused(format!("writing the journal in {}: {}", dir.display(), e.message)))?;
    }
    let mut state = State { requests: Vec::new(), recorder: None, t0: None, other_writer: 0 };
    let watched: Vec<Watched> = watched.into_iter().map(|(w, _)| w).collect();
    let result: Result<(), LiveError> = tokio::select! {
        r = body(&kube, &plan, opts, &watched, &mut state) => r,
        sig = signals.recv() => Err(LiveError::interrupted(format!("stopped by {sig}"))),
    };
    // Put back what was changed: at the end (unless --keep), after an error or a signal.
    let restore = opts.apply && (result.is_err() || !opts.keep);
    let mut restored = false;
    if restore {
        let at = Instant::now();
        let done = journal::restore(&kube, &journal).await;
        let answered = Instant::now();
        let (t0, _) = state.t0.unwrap_or((at, 0.0));
        let secs = |i: Instant| round_ms(Clock::start(t0).secs(i));
        restored = done.iter().all(|r| r.result.is_ok());
        for r in &done {
            if let Err(e) = &r.result {
                eprintln!("error: restoring {}: {e}; run `autosim live restore {}`", r.deployment, dir.display());
            }
            state.requests.push(Request {
                kind: "restore".into(),
                index: 0,
                deployment: r.deployment.clone(),
                from: 0,
                to: r.replicas,
                scheduled_s: None,
                sent_s: secs(at),
                answered_s: secs(answered),
                lateness_s: None,
                status: if r.result.is_ok() { 200 } else { 0 },
                retries: 0,
                dry_run: false,
                replicas_before: None,
                error: r.result.clone().err().unwrap_or_default(),
            });
        }
        if restored {
            let mut j = journal.clone();
            j.restored_at_unix_s = Some(journal::now_unix_s());
            let _ = j.write(&dir);
            let list: Vec<String> = journal.deployments.iter().map(|s| format!("{} to {}", s.deployment, s.replicas)).collect();
            println!("restored {}", list.join(", "));
        }
    }
    let summary = summarize(&plan, opts, &kube, &state, &result, restored);
    write_outputs(&dir, &plan, &state, &summary)?;
    match &result {
        Ok(()) => println!(
            "replayed {} call(s) ({}); lateness p50 {}, max {}; files in {}",
            summary.calls_sent,
            summary.mode,
            fmt_opt(summary.lateness_p50_s),
            fmt_opt(summary.lateness_max_s),
            dir.display()
        ),
        Err(_) => eprintln!("the replay did not complete; what was recorded is in {}", dir.display()),
    }
    result
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.3}s", v))
}

/// The part a signal may interrupt: start, calls, recording.
async fn body(kube: &Kube, plan: &Plan, opts: &ReplayOptions, watched: &[Watched], state: &mut State) -> Result<(), LiveError> {
    let dry = opts.server_dry_run;
    // Start: each Deployment at the replicas the run started with, and t0 when all are ready.
    let before = Instant::now();
    for s in &plan.start {
        let d = kube.get_deployment(&s.deployment).await.map_err(|e| kube.explain(e, "get", "deployments", Some(&s.deployment)))?;
        let now = d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1).max(0) as u32;
        if now != s.replicas {
            let sent = Instant::now();
            let r = kube.patch_scale(&s.deployment, s.replicas, dry).await;
            let answered = Instant::now();
            let status = match &r {
                Ok(_) => 200,
                Err(e) => client::status_of(e),
            };
            state.requests.push(Request {
                kind: "start".into(),
                index: 0,
                deployment: s.deployment.clone(),
                from: now,
                to: s.replicas,
                scheduled_s: None,
                sent_s: -(answered - sent).as_secs_f64(), // fixed below, once t0 is known
                answered_s: 0.0,
                lateness_s: None,
                status,
                retries: 0,
                dry_run: dry,
                replicas_before: Some(now),
                error: r.as_ref().err().map(|e| client::chain(e)).unwrap_or_default(),
            });
            state.requests.last_mut().unwrap().answered_s = (answered - before).as_secs_f64();
            state.requests.last_mut().unwrap().sent_s = (sent - before).as_secs_f64();
            r.map_err(|e| kube.explain(e, "patch", "deployments/scale", Some(&s.deployment)))?;
        }
    }
    if !dry {
        let deadline = Instant::now() + opts.ready_timeout;
        loop {
            let mut all = true;
            for s in &plan.start {
                let d = kube.get_deployment(&s.deployment).await.map_err(|e| kube.explain(e, "get", "deployments", Some(&s.deployment)))?;
                let st = d.status.unwrap_or_default();
                let ready = st.ready_replicas.unwrap_or(0).max(0) as u32;
                let total = st.replicas.unwrap_or(0).max(0) as u32;
                all &= ready == s.replicas && total == s.replicas;
            }
            if all {
                break;
            }
            if Instant::now() >= deadline {
                return Err(LiveError::cluster(format!(
                    "the Deployments were not ready at their starting replicas after {}s (kubectl -n {} get pods shows why)",
                    opts.ready_timeout.as_secs(),
                    kube.namespace
                )));
            }
            tokio::time::sleep(opts.poll.min(Duration::from_millis(500))).await;
        }
    }
    let t0 = Instant::now();
    let t0_unix = journal::now_unix_s();
    state.t0 = Some((t0, t0_unix));
    // The start requests happened before t0: their times become negative.
    let shift = (t0 - before).as_secs_f64();
    for r in state.requests.iter_mut().filter(|r| r.kind == "start") {
        r.sent_s = round_ms(r.sent_s - shift);
        r.answered_s = round_ms(r.answered_s - shift);
    }
    let clock = Clock::start(t0);
    state.recorder = Some(Recorder::new(t0, t0_unix));
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let State { requests, recorder, other_writer, .. } = state;
    let rec = recorder.as_mut().unwrap();
    let polls = async {
        let mut k = 0u32;
        loop {
            if let Err(e) = rec.poll(kube, watched).await {
                rec.failed_polls += 1;
                eprintln!("warning: a poll failed: {}", client::chain(&e));
            }
            if *done_rx.borrow() {
                break;
            }
            k += 1;
            tokio::select! {
                _ = tokio::time::sleep_until(clock.due(opts.poll.as_secs_f64() * k as f64).into()) => {}
                _ = done_rx.changed() => {}
            }
        }
    };
    let stop = Cell::new(None::<LiveError>);
    let calls = async {
        let r = calls(kube, plan, opts, &clock, requests, other_writer).await;
        if r.is_ok() {
            tokio::time::sleep(opts.tail).await;
        }
        stop.set(r.err());
        let _ = done_tx.send(true);
    };
    tokio::join!(polls, calls);
    match stop.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The timed calls.
async fn calls(
    kube: &Kube,
    plan: &Plan,
    opts: &ReplayOptions,
    clock: &Clock,
    requests: &mut Vec<Request>,
    other_writer: &mut usize,
) -> Result<(), LiveError> {
    let dry = opts.server_dry_run;
    let offsets: Vec<f64> = plan.calls.iter().map(|c| c.wall_offset_s).collect();
    // How long a GET takes: the check of another writer starts that much before the call is due,
    // so that the patch itself leaves on time.
    let mut get_rtt = Duration::ZERO;
    if let (false, Some(c)) = (dry, plan.calls.first()) {
        let at = Instant::now();
        let _ = kube.get_deployment(&c.deployment).await;
        get_rtt = at.elapsed();
    }
    for (i, c) in plan.calls.iter().enumerate() {
        let due = clock.due(c.wall_offset_s);
        let mut replicas_before = None;
        if !dry {
            let lead = get_rtt.min(Duration::from_secs(1));
            tokio::time::sleep_until(due.checked_sub(lead).unwrap_or(due).into()).await;
            let at = Instant::now();
            let d = kube.get_deployment(&c.deployment).await.map_err(|e| kube.explain(e, "get", "deployments", Some(&c.deployment)))?;
            get_rtt = at.elapsed();
            let now = d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1).max(0) as u32;
            replicas_before = Some(now);
            if now != c.from {
                *other_writer += 1;
                eprintln!(
                    "warning: another writer: the Deployment {} has {now} replicas where the replay left {} (call {} scales {} -> {})",
                    c.deployment, c.from, c.index, c.from, c.to
                );
                if opts.strict {
                    return Err(LiveError::cluster(format!(
                        "stopped (--strict): another writer changed the Deployment {}/{} to {now} replicas before call {} \
                         (the replay expected {}); is an HPA or a person scaling it?",
                        kube.namespace, c.deployment, c.index, c.from
                    )));
                }
            }
        }
        tokio::time::sleep_until(due.into()).await;
        let deadline = clock.due(timing::retry_deadline(&offsets, i, 5.0));
        let sent = Instant::now();
        let mut r = kube.patch_scale(&c.deployment, c.to, dry).await;
        let mut retries = 0;
        if let Err(e) = &r {
            if client::is_retryable(e) && Instant::now() < deadline {
                eprintln!("warning: call {} failed ({}); retrying once", c.index, client::chain(e));
                retries = 1;
                r = match tokio::time::timeout_at(deadline.into(), kube.patch_scale(&c.deployment, c.to, dry)).await {
                    Ok(r) => r,
                    Err(_) => r,
                };
            }
        }
        let answered = Instant::now();
        let (status, error) = match &r {
            Ok(_) => (200, String::new()),
            Err(e) => (client::status_of(e), client::chain(e)),
        };
        requests.push(Request {
            kind: "scale".into(),
            index: c.index,
            deployment: c.deployment.clone(),
            from: c.from,
            to: c.to,
            scheduled_s: Some(round_ms(c.wall_offset_s)),
            sent_s: round_ms(clock.secs(sent)),
            answered_s: round_ms(clock.secs(answered)),
            lateness_s: Some(round_ms(clock.secs(sent) - c.wall_offset_s)),
            status,
            retries,
            dry_run: dry,
            replicas_before,
            error,
        });
        if let Err(e) = r {
            if matches!(status, 401 | 403 | 404) {
                return Err(kube.explain(e, "patch", "deployments/scale", Some(&c.deployment)));
            }
            eprintln!("warning: call {} to scale {} to {} failed: {}", c.index, c.deployment, c.to, kube.explain(e, "patch", "deployments/scale", Some(&c.deployment)));
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let x = p * (sorted.len() - 1) as f64;
    let i = x.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    Some(round_ms(sorted[i] + (sorted[j] - sorted[i]) * (x - i as f64)))
}

fn summarize(plan: &Plan, opts: &ReplayOptions, kube: &Kube, state: &State, result: &Result<(), LiveError>, restored: bool) -> LiveSummary {
    let scale: Vec<&Request> = state.requests.iter().filter(|r| r.kind == "scale").collect();
    let mut late: Vec<f64> = scale.iter().filter_map(|r| r.lateness_s).collect();
    late.sort_by(f64::total_cmp);
    let outcome = match result {
        Ok(()) => "completed",
        Err(e) if e.code == 130 => "interrupted",
        Err(e) if e.message.starts_with("stopped (--strict)") => "stopped",
        Err(_) => "failed",
    };
    LiveSummary {
        run: plan.run.clone(),
        policy: plan.policy.clone(),
        speed: plan.speed,
        mode: if opts.server_dry_run { "server-dry-run" } else { "apply" }.into(),
        context: kube.context.clone(),
        server: kube.server.clone(),
        namespace: kube.namespace.clone(),
        t0_unix_s: state.t0.map(|t| t.1),
        deployments: plan.start.clone(),
        calls_planned: plan.calls.len(),
        calls_sent: scale.len(),
        calls_failed: scale.iter().filter(|r| r.status != 200).count(),
        retries: scale.iter().map(|r| r.retries).sum(),
        lateness_p50_s: percentile(&late, 0.5),
        lateness_p99_s: percentile(&late, 0.99),
        lateness_max_s: late.last().copied(),
        other_writer_seen: state.other_writer,
        node_decisions_skipped: plan.node_decisions_skipped,
        outcome: outcome.into(),
        error: result.as_ref().err().map(|e| e.message.clone()),
        restored,
        kept: opts.apply && opts.keep && result.is_ok(),
        polls_failed: state.recorder.as_ref().map_or(0, |r| r.failed_polls),
    }
}

/// The simulated ready pods of a service over simulated time, from the run's timeseries.csv.
pub fn simulated_ready(run: &Path, policy: &str, service: &str) -> Vec<(f64, f64)> {
    #[derive(Deserialize)]
    struct Row {
        time_s: f64,
        service: String,
        pods_ready: u32,
    }
    let path = run.join(policy).join("timeseries.csv");
    let Ok(mut r) = csv::Reader::from_path(&path) else { return Vec::new() };
    r.deserialize::<Row>().filter_map(|x| x.ok()).filter(|x| x.service == service).map(|x| (x.time_s, x.pods_ready as f64)).collect()
}

fn write_outputs(dir: &Path, plan: &Plan, state: &State, summary: &LiveSummary) -> Result<(), LiveError> {
    let w = |name: &str, bytes: Result<Vec<u8>, OutputError>| -> Result<(), LiveError> {
        let path = dir.join(name);
        bytes
            .and_then(|b| crate::output::write_atomic(&path, &b))
            .map_err(|e| LiveError::refused(format!("writing {}: {}", path.display(), super::causes(&e))))
    };
    w(
        "requests.csv",
        crate::output::csv_bytes(
            &state.requests,
            &[
                "kind", "index", "deployment", "from", "to", "scheduled_s", "sent_s", "answered_s", "lateness_s", "status", "retries",
                "dry_run", "replicas_before", "error",
            ],
        ),
    )?;
    let empty = Recorder::new(Instant::now(), 0.0);
    let rec = state.recorder.as_ref().unwrap_or(&empty);
    w("observed.csv", rec.observed_csv())?;
    w("pods.csv", rec.pods_csv())?;
    w("live.json", serde_json::to_vec_pretty(summary).map(|mut v| {
        v.push(b'\n');
        v
    }).map_err(Into::into))?;
    // The figure: real ready replicas (wall time x speed, on the simulated time axis) against
    // the simulated ready pods.
    let mut figures = Vec::new();
    for s in &plan.start {
        let real: Vec<(f64, f64)> = rec
            .observed
            .iter()
            .filter(|o| o.deployment == s.deployment)
            .map(|o| (o.time_s * plan.speed, o.ready_replicas as f64))
            .collect();
        let sim = simulated_ready(&plan.run, &plan.policy, &s.service);
        if real.is_empty() && sim.is_empty() {
            continue;
        }
        let chart = crate::plot::LineChart::new(
            format!("{}: ready replicas, real ({}) against simulated ({})", s.service, s.deployment, plan.policy),
            format!("simulated time (real time x {})", plan.speed),
            "ready replicas",
        )
        .with(crate::plot::Series::steps("real (kind)", real))
        .with(crate::plot::Series::steps("simulated", sim));
        if let Ok(svg) = crate::plot::render_svg(&chart) {
            let name = format!("ready-{}.svg", s.service);
            w(&name, Ok(svg.into_bytes()))?;
            figures.push(name);
        }
    }
    w("live.md", Ok(markdown(summary, &figures).into_bytes()))?;
    Ok(())
}

fn markdown(s: &LiveSummary, figures: &[String]) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let _ = writeln!(m, "# Live replay of `{}`\n", s.policy);
    let _ = writeln!(m, "- run: `{}`, speed {}, mode `{}`", s.run.display(), s.speed, s.mode);
    let _ = writeln!(m, "- cluster: context `{}` ({}), namespace `{}`", s.context, s.server, s.namespace);
    let _ = writeln!(m, "- outcome: **{}**{}", s.outcome, s.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default());
    let _ = writeln!(
        m,
        "- calls: {} of {} sent, {} failed, {} retried; lateness p50 {}, p99 {}, max {}",
        s.calls_sent,
        s.calls_planned,
        s.calls_failed,
        s.retries,
        fmt_opt(s.lateness_p50_s),
        fmt_opt(s.lateness_p99_s),
        fmt_opt(s.lateness_max_s)
    );
    let _ = writeln!(m, "- another writer seen: {} time(s); node decisions skipped: {}", s.other_writer_seen, s.node_decisions_skipped);
    let _ = writeln!(
        m,
        "- replicas {}",
        if s.restored {
            "restored from journal.json"
        } else if s.kept {
            "kept (--keep)"
        } else if s.mode == "server-dry-run" {
            "unchanged (server-side dry run)"
        } else {
            "NOT restored: run `autosim live restore` on this folder"
        }
    );
    let _ = writeln!(m);
    for f in figures {
        let _ = writeln!(m, "![ready replicas, real against simulated]({f})\n");
    }
    let _ = writeln!(
        m,
        "Files: `plan.csv` (the calls), `requests.csv` (each call's times and status), `observed.csv` (replicas per poll), \
         `pods.csv` (each pod's life), `journal.json` (the replicas before). `autosim live calibrate` on this folder compares them \
         with the simulation."
    );
    m
}
