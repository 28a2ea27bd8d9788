//! The `autosim` command: the edge where files, terminals, threads and clocks live.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use autosim::command::{Commands, CommandsRefused};
use autosim::output;
use autosim::report::view::{Brief, DecisionRec, PolicyRun, RunView};
use autosim::report::{Row, Summary};
use autosim::policy::hpa::controller::ControllerConfig;
use autosim::policy::hpa::explain::{self, ExplainError};
use autosim::plot::{self, LineChart, Series};
use autosim::scenario::{self, Scenario, ScenarioError};
use autosim::units::{parse_duration, Duration as SimDuration};
use autosim::workload::trace::{Column, TimeFormat, Trace, TraceSpec};
use autosim::Simulation;

#[derive(Parser)]
#[command(name = "autosim", version, about = "Simulate Kubernetes autoscaling on real traffic before production does")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every policy of a scenario on the same load and write the reports.
    Run {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Where to write the reports [default: reports/<scenario name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run only this policy (repeat for several).
        #[arg(long = "policy", value_name = "NAME")]
        policies: Vec<String>,
        /// No progress bar and no table.
        #[arg(long, short)]
        quiet: bool,
        /// Write no PNG or SVG figures (report.md and report.html are still written).
        #[arg(long)]
        no_plots: bool,
        /// Write into an output folder that holds other files than an earlier run's (an
        /// earlier run's outputs are always replaced; other files are left alone).
        #[arg(long)]
        force: bool,
        /// Let the scenario run the programs its policies name (`command`); also
        /// AUTOSIM_ALLOW_COMMANDS=1. Without it, such a scenario is refused.
        #[arg(long)]
        allow_commands: bool,
    },
    /// Compare runs made separately (each DIR a run's output folder, or one policy's folder)
    /// into one table, plots and report.
    Compare {
        /// Run folders (with policy folders holding summary.json) or policy folders.
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Where to write the comparison [default: reports/compare].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare runs whose load differs (different scenarios, seeds or traces).
        #[arg(long)]
        allow_different_load: bool,
        /// Write no PNG or SVG figures.
        #[arg(long)]
        no_plots: bool,
        /// No table.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check a scenario without running it.
    Validate {
        /// The scenario file (TOML).
        file: PathBuf,
    },
    /// Measure the engine: simulated requests per second on an M/M/c service.
    Bench {
        /// Arrivals per second.
        #[arg(long, default_value_t = 8000.0)]
        rate: f64,
        /// Pods.
        #[arg(long, default_value_t = 100)]
        pods: u32,
        /// Concurrency slots per pod.
        #[arg(long, default_value_t = 10)]
        concurrency: u32,
        /// Mean service time (exponential).
        #[arg(long, default_value = "100ms")]
        service_time: String,
        /// Simulated time.
        #[arg(long, default_value = "1h")]
        duration: String,
    },
    /// Look at a trace file as a scenario would replay it: its statistics or a plot of its rate.
    Trace {
        #[command(subcommand)]
        command: Box<TraceCommand>,
    },
    /// Run a scenario over a grid or samples of values (a sweep file), and answer which is best.
    Sweep(Box<SweepArgs>),
    /// Run a scenario and check its expectations (`[[expect]]`): exit 1 if any fails.
    Check {
        /// The scenario file (TOML).
        file: PathBuf,
        /// The baseline for bounds like `latency_s.p99 <= baseline + 5%` [default: <scenario stem>.baseline.json beside it].
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Expectations from this file of [[expect]] tables (instead of the scenario's own).
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        /// Write a JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write a Markdown summary here (for a pull-request comment).
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// No table.
        #[arg(long, short)]
        quiet: bool,
        /// Let the scenario run the programs its policies name (`command`); also
        /// AUTOSIM_ALLOW_COMMANDS=1. Without it, such a scenario is refused.
        #[arg(long)]
        allow_commands: bool,
    },
    /// Baselines for `autosim check`.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// Explain one decision of an autoscaler, step by step.
    Explain {
        #[command(subcommand)]
        command: ExplainCommand,
    },
    /// Replay a run's decisions on a kind cluster, record what it did, calibrate from it.
    #[cfg(feature = "live")]
    Live {
        #[command(subcommand)]
        command: autosim::live::LiveCommand,
    },
    /// Write a run's outputs in other tools' formats.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// A run's timeseries as OpenMetrics text, for `promtool tsdb create-blocks-from
    /// openmetrics` (see docs/prometheus.md).
    Openmetrics {
        /// The run's output folder (of `autosim run`), or one policy's folder.
        run: PathBuf,
        /// The file to write [default: the standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// When the run starts: RFC 3339, Unix seconds, `now` or `now-<duration>` [default:
        /// so that it ends at the last full hour].
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
    },
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// The sweep file (TOML).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Where to write sweep.csv and the answers [default: reports/sweeps/<sweep name>, and
    /// shard-I-of-N under it for a shard].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the I-th of N slices of the points (I from 0); `--shard N` takes I from
    /// JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Threads [default: RAYON_NUM_THREADS, or one per core].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run at most this many points now (resume later).
    #[arg(long, value_name = "N")]
    max_points: Option<usize>,
    /// Let the scenario run the programs its policies name (`command`); also
    /// AUTOSIM_ALLOW_COMMANDS=1. Without it, such a scenario is refused.
    #[arg(long)]
    allow_commands: bool,
    /// No progress bar and no summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Join the results of shards (their output folders) and answer.
    Merge {
        /// The shards' output folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The sweep file [default: the one recorded in the folders' sweep.json].
        #[arg(long, value_name = "FILE")]
        sweep: Option<PathBuf>,
        /// Where to write the merged sweep.csv and the answers [default: reports/sweeps/<sweep name>].
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum BaselineCommand {
    /// Run the scenario and write the baseline `autosim check` compares against.
    Update {
        /// The scenario file (TOML).
        file: PathBuf,
        /// The baseline to write [default: <scenario stem>.baseline.json beside it].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Expectations from this file (they say how many seeds to run).
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        /// Let the scenario run the programs its policies name (`command`); also
        /// AUTOSIM_ALLOW_COMMANDS=1. Without it, such a scenario is refused.
        #[arg(long)]
        allow_commands: bool,
    },
}

#[derive(Subcommand)]
enum ExplainCommand {
    /// Why the HPA scales to N: one reconcile of an HPA on a metrics snapshot, step by step.
    Hpa {
        /// The HPA: a Kubernetes manifest (YAML, several documents allowed) or a TOML file of
        /// a scenario's `[policies.pods]` table.
        spec: PathBuf,
        /// What the controller read: replicas, pods, metric values, and optionally its past
        /// recommendations and scale events (TOML; see docs/scenario.md).
        snapshot: PathBuf,
        /// Which HPA of the manifest: its scaleTargetRef.name or metadata.name.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Print a trace's span, requests, mean and peak rate, rate percentiles and gaps.
    Inspect {
        /// The trace file.
        file: PathBuf,
        #[command(flatten)]
        opts: TraceOpts,
    },
    /// Fetch a range query from Prometheus as a trace (the query_range JSON a scenario's
    /// `trace` reads as it is). Credentials from AUTOSIM_PROMETHEUS_TOKEN (bearer), or
    /// AUTOSIM_PROMETHEUS_USER and AUTOSIM_PROMETHEUS_PASSWORD (basic auth).
    Fetch {
        /// The server's URL, like http://localhost:9090 (https certificates are checked
        /// against Mozilla's roots, as webpki-roots ships them).
        #[arg(long, value_name = "URL")]
        prometheus: String,
        /// The PromQL expression, like 'sum(rate(http_requests_total{job="api"}[1m]))'.
        #[arg(long)]
        query: String,
        /// RFC 3339, Unix seconds, `now` or `now-<duration>` (now-7d).
        #[arg(long, value_name = "TIME")]
        start: String,
        /// As --start.
        #[arg(long, value_name = "TIME", default_value = "now")]
        end: String,
        /// The resolution, like 15s or 1m (long ranges are fetched in slices of at most
        /// 11,000 points per series and joined).
        #[arg(long, value_name = "DURATION")]
        step: String,
        /// The file to write [default: the standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// How long to wait for each answer.
        #[arg(long, value_name = "DURATION", default_value = "60s")]
        timeout: String,
    },
    /// Plot a trace's request rate over time to a PNG (and an SVG).
    Plot {
        /// The trace file.
        file: PathBuf,
        /// The PNG to write [default: the trace file's stem + .png, in the current folder].
        #[arg(long, value_name = "PATH.png")]
        out: Option<PathBuf>,
        /// Also write an SVG beside the PNG (same name, .svg).
        #[arg(long)]
        svg: bool,
        #[command(flatten)]
        opts: TraceOpts,
    },
}

/// How to read a trace: the keys of a scenario's `trace = { ... }` (see docs/scenario.md), as
/// flags. Durations are written as in scenarios ("1m", "1h30m").
#[derive(clap::Args)]
struct TraceOpts {
    /// series, requests, counts or prometheus [default: by the file's extension].
    #[arg(long)]
    format: Option<String>,
    /// The time column: a header name or a 0-based index.
    #[arg(long)]
    time: Option<String>,
    /// The value column of a series: a header name or a 0-based index.
    #[arg(long)]
    value: Option<String>,
    /// What the values are: count (per bin) or rate (per second).
    #[arg(long)]
    values: Option<String>,
    /// seconds, milliseconds, rfc3339 or a pattern like "%Y-%m-%d %H:%M:%S%.f".
    #[arg(long)]
    time_format: Option<String>,
    /// Whether the first row is a header [default: detected].
    #[arg(long, value_name = "true|false")]
    header: Option<bool>,
    /// The bin width (a request log given a bin is counted per bin).
    #[arg(long, value_name = "DURATION")]
    bin: Option<String>,
    /// How requests are placed in a bin: poisson, uniform or even.
    #[arg(long)]
    arrivals: Option<String>,
    /// Keep the trace from this offset after its first time.
    #[arg(long, value_name = "DURATION")]
    start: Option<String>,
    /// Keep the trace before this offset after its first time.
    #[arg(long, value_name = "DURATION")]
    end: Option<String>,
    /// zero (missing data is a rate of 0) or skip (gaps are cut out).
    #[arg(long)]
    gaps: Option<String>,
    /// With --gaps skip: the longest stretch kept.
    #[arg(long, value_name = "DURATION")]
    max_gap: Option<String>,
    /// Divide time by this factor (24 replays a day in an hour).
    #[arg(long)]
    speedup: Option<f64>,
    /// Multiply the rates by this factor.
    #[arg(long)]
    scale: Option<f64>,
    /// Scale the rates to this mean, requests per second.
    #[arg(long)]
    mean_rate: Option<f64>,
    /// Scale the rates to this peak, requests per second.
    #[arg(long)]
    peak_rate: Option<f64>,
}

/// A mistake in what the user gave us: exit code 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "live")]
        Command::Live { command } => return autosim::live::run(command),
        Command::Run { file, out, seed, policies, quiet, no_plots, allow_commands, force } => {
            run(&file, out, seed, &policies, quiet, !no_plots, Commands::from_flag_or_env(allow_commands), force)
        }
        Command::Compare { dirs, out, allow_different_load, no_plots, quiet } => {
            compare(&dirs, out, allow_different_load, !no_plots, quiet)
        }
        Command::Validate { file } => validate(&file),
        Command::Bench { rate, pods, concurrency, service_time, duration } => {
            bench(rate, pods, concurrency, &service_time, &duration)
        }
        Command::Trace { command } => match *command {
            TraceCommand::Inspect { file, opts } => trace_inspect(&file, &opts),
            TraceCommand::Plot { file, out, svg, opts } => trace_plot(&file, out, svg, &opts),
            TraceCommand::Fetch { prometheus, query, start, end, step, out, timeout } => {
                ecosystem::trace_fetch(&prometheus, &query, &start, &end, &step, out.as_deref(), &timeout)
            }
        },
        Command::Export { command: ExportCommand::Openmetrics { run, out, start } } => {
            ecosystem::export_openmetrics(&run, out, start.as_deref())
        },
        Command::Sweep(args) => gates::sweep(*args),
        Command::Check { file, baseline, expect, junit, markdown, quiet, allow_commands } => {
            gates::check(&file, baseline, expect, junit, markdown, quiet, Commands::from_flag_or_env(allow_commands))
        }
        Command::Baseline { command: BaselineCommand::Update { file, out, expect, allow_commands } } => {
            gates::baseline_update(&file, out, expect, Commands::from_flag_or_env(allow_commands))
        }
        Command::Explain { command: ExplainCommand::Hpa { spec, snapshot, target, json } } => {
            explain_hpa(&spec, &snapshot, target.as_deref(), json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let bad_input = e.downcast_ref::<ScenarioError>().is_some()
                || e.downcast_ref::<BadInput>().is_some()
                || e.downcast_ref::<output::FolderInUse>().is_some()
                || e.downcast_ref::<autosim::sweep::BadResults>().is_some()
                || e.downcast_ref::<ExplainError>().is_some()
                || e.downcast_ref::<CommandsRefused>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

mod ecosystem;
mod gates;

fn explain_hpa(spec: &Path, snapshot: &Path, target: Option<&str>, json: bool) -> Result<()> {
    let is_toml = spec.extension().is_some_and(|e| e == "toml");
    if is_toml && std::fs::read_to_string(spec).ok().and_then(|t| scenario::file_kind(&t)) == Some(scenario::FileKind::Scenario) {
        return Err(BadInput(format!(
            "{}: this is a whole scenario; `explain hpa` takes an HPA manifest (YAML) or a TOML file holding one policy's pods table (kind = \"hpa\", min_replicas, max_replicas, metrics, ...): copy the `[policies.pods]` table of the HPA you mean into a file of its own",
            spec.display()
        ))
        .into());
    }
    let report = explain::explain_files(spec, snapshot, target, &ControllerConfig::default())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&explain::render_json(&report))?);
    } else {
        print!("{}", explain::render_text(&report));
    }
    Ok(())
}

fn load(file: &Path) -> Result<Scenario> {
    Ok(scenario::load(file)?)
}

fn validate(file: &Path) -> Result<()> {
    let sc = load(file)?;
    println!(
        "{}: ok: scenario {:?}, {} of simulated time, {} service(s), {} policy alternative(s): {}",
        file.display(),
        sc.name,
        autosim::units::Duration(sc.duration_ns),
        sc.services.len(),
        sc.policies.len(),
        sc.policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    let all: Vec<usize> = (0..sc.policies.len()).collect();
    let commands = autosim::command::commands_of(&sc, &all);
    if !commands.is_empty() {
        println!("it runs programs (only with --allow-commands or {}=1):", autosim::command::ALLOW_ENV);
        for (policy, x) in commands {
            let env: Vec<&str> = autosim::command::BASE_ENV.iter().copied().chain(x.env.iter().map(String::as_str)).collect();
            let dir = if x.dir.as_os_str().is_empty() { Path::new(".") } else { x.dir.as_path() };
            println!(
                "  policy {policy:?} (service {:?}): {} in {}, with the variables {}{}",
                x.service,
                autosim::command::argv_text(&x.command),
                dir.display(),
                env.join(", "),
                x.record.as_ref().map_or(String::new(), |r| format!("; writes its exchanges to {}", r.display()))
            );
        }
    }
    Ok(())
}

/// Refuse, with the place of its first `command`, a scenario whose policies `selected` name
/// programs that `commands` does not allow.
fn refuse_commands(file: &Path, sc: &Scenario, selected: &[usize], commands: Commands) -> Result<(), ScenarioError> {
    match autosim::command::refusal(sc, selected, commands) {
        None => Ok(()),
        Some(e) => {
            let source = std::fs::read_to_string(file).unwrap_or_default();
            Err(ScenarioError::locate(file, &source, e))
        }
    }
}

/// How long a run goes before its progress bar shows (a short run prints no bar at all);
/// `AUTOSIM_PROGRESS_AFTER` (a duration such as "0s") changes it.
const PROGRESS_AFTER: Duration = Duration::from_millis(400);

/// The progress bar of `autosim run`: on a terminal, shown once the run has lasted
/// [`PROGRESS_AFTER`], with the simulated time reached and the requests simulated per second.
struct RunProgress {
    bar: ProgressBar,
    /// Whether stderr is a terminal and the bar may show.
    visible: bool,
    /// Policies run (the bar's length is their simulated seconds together).
    runs: u64,
    duration_ns: u64,
    simulated_ns: std::sync::atomic::AtomicU64,
    requests: std::sync::atomic::AtomicU64,
    started: Instant,
}

impl RunProgress {
    fn new(duration_ns: u64, runs: usize, quiet: bool) -> RunProgress {
        let visible = !quiet && std::io::stderr().is_terminal();
        let runs = runs.max(1) as u64;
        // Hidden at first: shown by `reveal` if the run lasts more than a moment.
        let bar = ProgressBar::with_draw_target(Some(duration_ns / 1_000_000 * runs), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} simulating [{bar:30}] {percent}% {msg} ({elapsed}, about {eta} left)")
                .expect("valid template")
                .progress_chars("=> "),
        );
        RunProgress {
            bar,
            visible,
            runs,
            duration_ns,
            simulated_ns: Default::default(),
            requests: Default::default(),
            started: Instant::now(),
        }
    }

    fn tick(&self, t: autosim::run::Tick) {
        use std::sync::atomic::Ordering::Relaxed;
        let simulated = self.simulated_ns.fetch_add(t.simulated_ns, Relaxed) + t.simulated_ns;
        let requests = self.requests.fetch_add(t.requests, Relaxed) + t.requests;
        self.bar.set_position(simulated / 1_000_000);
        if !self.visible {
            return;
        }
        // The simulated time reached (the mean over the policies that run side by side).
        // (whole minutes past an hour, whole seconds below).
        let mean = simulated / self.runs;
        let unit = if mean >= 3_600_000_000_000 { 60_000_000_000 } else { 1_000_000_000 };
        let reached = SimDuration(mean / unit * unit);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { requests as f64 / secs } else { 0.0 };
        self.bar.set_message(format!("{reached} of {} simulated, {} requests/s", SimDuration(self.duration_ns), per_second(rate)));
    }

    /// Show the bar after `after` unless `done` is sent (or dropped) first; the thread it
    /// starts ends as soon as the run does, so a short run never waits for it.
    fn reveal(&self, after: Duration) -> Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)> {
        if !self.visible {
            return None;
        }
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let bar = self.bar.clone();
        let handle = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(after) {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(200));
                bar.tick();
            }
        });
        Some((done, handle))
    }
}

/// "5.8 million", "950 thousand", "420".
fn per_second(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.1} million", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.0} thousand", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

/// The delay before the progress bar shows: `AUTOSIM_PROGRESS_AFTER` or [`PROGRESS_AFTER`].
fn progress_after() -> Result<Duration> {
    match std::env::var("AUTOSIM_PROGRESS_AFTER") {
        Ok(v) => {
            let d = parse_duration(&v).map_err(|e| BadInput(format!("AUTOSIM_PROGRESS_AFTER={v:?}: {e}")))?;
            Ok(Duration::from_nanos(d.0))
        }
        Err(_) => Ok(PROGRESS_AFTER),
    }
}

fn run(file: &Path, out: Option<PathBuf>, seed: Option<u64>, only: &[String], quiet: bool, plots: bool, commands: Commands, force: bool) -> Result<()> {
    let sc = load(file)?;
    let mut selected = Vec::new();
    for name in only {
        match sc.policies.iter().position(|p| &p.name == name) {
            Some(i) if !selected.contains(&i) => selected.push(i),
            Some(_) => {}
            None => {
                let known: Vec<_> = sc.policies.iter().map(|p| p.name.as_str()).collect();
                return Err(BadInput(format!("--policy {name:?}: the scenario has no such policy (it has: {})", known.join(", "))).into());
            }
        }
    }
    if selected.is_empty() {
        selected = (0..sc.policies.len()).collect();
    }
    refuse_commands(file, &sc, &selected, commands)?;
    let seed = seed.unwrap_or(sc.seed);
    let after = progress_after()?;
    // The output folder is checked before the simulation, not after it.
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&sc.name));
    let folder = output::prepare_run_folder(&dir, force)?;
    let progress = RunProgress::new(sc.duration_ns, selected.len(), quiet);
    let started = progress.started;
    let reveal = progress.reveal(after);
    let reports = autosim::run::run_policies(&sc, &selected, seed, commands, &|t| progress.tick(t));
    if let Some((done, handle)) = reveal {
        let _ = done.send(());
        let _ = handle.join();
    }
    progress.bar.finish_and_clear();
    let reports = reports.inspect_err(|_| folder.abandon())?;
    folder.clear_earlier()?;
    output::write_reports(&dir, &reports).with_context(|| format!("writing the reports to {}", dir.display()))?;
    let view = RunView::of(&sc, seed, &reports);
    output::write_brief(&dir, &view.brief).with_context(|| format!("writing the reports to {}", dir.display()))?;
    output::write_human(&dir, &view, plots).with_context(|| format!("writing the reports to {}", dir.display()))?;
    if !quiet {
        print!("{}", output::terminal_table(&reports));
        println!(
            "{} simulated in {:.2}s; reports in {}",
            autosim::units::Duration(sc.duration_ns),
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    Ok(())
}

fn bench(rate: f64, pods: u32, concurrency: u32, service_time: &str, duration: &str) -> Result<()> {
    let toml = format!(
        r#"
name = "bench"
duration = "{duration}"
step = "1m"
[[services]]
name = "mmc"
kind = "queue"
replicas = {pods}
concurrency = {concurrency}
queue_limit = 10000000
service_time = {{ dist = "exponential", mean = "{service_time}" }}
workload = {{ pattern = {{ kind = "constant", rate = {rate} }} }}
"#
    );
    let sc = scenario::parse(&toml, Path::new(".")).map_err(|e| BadInput(format!("bench settings: {}", e.message)))?;
    let t0 = Instant::now();
    let mut sim = Simulation::new(&sc, 0, sc.seed);
    sim.run_until(sc.duration_ns);
    let events = sim.events_processed();
    let report = sim.finish();
    let wall = t0.elapsed().as_secs_f64();
    let n = report.summary.requests.arrived;
    println!("simulated {} requests ({} events) of {} in {:.3}s on one thread", n, events, duration, wall);
    println!("  {:.2} million simulated requests per second", n as f64 / wall / 1e6);
    println!("  {:.2} million events per second", events as f64 / wall / 1e6);
    if let Some(rss) = peak_rss_kib() {
        println!("  peak resident memory: {:.1} MiB", rss as f64 / 1024.0);
    }
    println!(
        "  mean latency {:.4}s, p99 {:.4}s, mean wait {:.5}s",
        report.summary.latency_s.mean, report.summary.latency_s.p99, report.summary.queue_wait_s.mean
    );
    Ok(())
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}


// ---------------------------------------------------------------------------------------------
// autosim trace
// ---------------------------------------------------------------------------------------------

/// The trace keys that have a flag, as they appear in `TraceSpec`'s messages.
const TRACE_KEYS: &[&str] = &[
    "format", "time", "value", "values", "time_format", "header", "bin", "arrivals", "start", "end", "gaps",
    "max_gap", "speedup", "scale", "mean_rate", "peak_rate",
];

/// A trace message written for scenarios, with the keys named as flags: "`max_gap`" becomes
/// "--max-gap" and `gaps = "skip"` becomes "--gaps skip".
fn flag_message(msg: &str) -> String {
    let mut out = msg.to_string();
    for key in TRACE_KEYS {
        let flag = format!("--{}", key.replace('_', "-"));
        out = out.replace(&format!("`{key}`"), &flag);
        let pattern = format!("{key} = \"");
        let mut from = 0;
        while let Some(i) = out[from..].find(&pattern).map(|i| i + from) {
            let after_word = out[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let value_at = i + pattern.len();
            match out[value_at..].find('"') {
                Some(len) if after_word => {
                    let replacement = format!("{flag} {}", &out[value_at..value_at + len]);
                    out.replace_range(i..value_at + len + 1, &replacement);
                    from = i + replacement.len();
                }
                _ => from = value_at,
            }
        }
    }
    out
}

/// One of a choice enum's names, with the same message as in a scenario.
fn trace_choice<T: serde::de::DeserializeOwned>(flag: &str, value: &Option<String>) -> Result<Option<T>, BadInput> {
    use serde::de::value::{Error as DeError, StrDeserializer};
    value
        .as_deref()
        .map(|v| T::deserialize(StrDeserializer::<DeError>::new(v)).map_err(|e| BadInput(format!("--{flag}: {e}"))))
        .transpose()
}

fn trace_duration(flag: &str, value: &Option<String>) -> Result<Option<SimDuration>, BadInput> {
    value.as_deref().map(|v| parse_duration(v).map_err(|e| BadInput(format!("--{flag}: {e}")))).transpose()
}

fn trace_column(flag: &str, value: &Option<String>) -> Result<Option<Column>, BadInput> {
    match value.as_deref() {
        None => Ok(None),
        Some("") => Err(BadInput(format!("--{flag}: a column name cannot be empty (or give a 0-based index)"))),
        Some(v) => Ok(Some(v.parse::<usize>().map_or_else(|_| Column::Name(v.to_string()), Column::Index))),
    }
}

/// The spec the flags describe, checked as a scenario's `trace = { ... }` would be.
fn trace_spec(file: &Path, o: &TraceOpts) -> Result<TraceSpec, BadInput> {
    let mut spec = TraceSpec::new(file);
    spec.format = trace_choice("format", &o.format)?;
    spec.time = trace_column("time", &o.time)?;
    spec.value = trace_column("value", &o.value)?;
    spec.values = trace_choice("values", &o.values)?;
    spec.time_format = o
        .time_format
        .as_deref()
        .map(|v| TimeFormat::new(v).map_err(|e| BadInput(format!("--time-format: {e}"))))
        .transpose()?;
    spec.header = o.header;
    spec.bin = trace_duration("bin", &o.bin)?;
    spec.arrivals = trace_choice("arrivals", &o.arrivals)?;
    spec.start = trace_duration("start", &o.start)?;
    spec.end = trace_duration("end", &o.end)?;
    spec.gaps = trace_choice("gaps", &o.gaps)?;
    spec.max_gap = trace_duration("max-gap", &o.max_gap)?;
    spec.speedup = o.speedup;
    spec.scale = o.scale;
    spec.mean_rate = o.mean_rate;
    spec.peak_rate = o.peak_rate;
    spec.check().map_err(|e| BadInput(format!("{}: {}", file.display(), flag_message(&e))))?;
    Ok(spec)
}

/// Read the trace the flags describe. Errors name the file (and the line).
fn load_trace(file: &Path, opts: &TraceOpts) -> Result<(TraceSpec, Trace)> {
    let spec = trace_spec(file, opts)?;
    if let Err(e) = std::fs::metadata(file) {
        let why = if e.kind() == std::io::ErrorKind::NotFound { "no such file".to_string() } else { e.to_string() };
        return Err(BadInput(format!("{}: cannot read the trace: {why}", file.display())).into());
    }
    // `file` is used as given: relative to the current folder.
    let trace = spec.load(Path::new("")).map_err(|e| BadInput(flag_message(&e)))?;
    Ok((spec, trace))
}

/// The value column's name of a series CSV when it says "rate" (`rps`, `qps`, `rate`,
/// `per_s`...) and `--values` is not given: the values are then read as counts per bin, which
/// the name contradicts.
fn rate_named_column(file: &Path, spec: &TraceSpec) -> Option<String> {
    if spec.values.is_some() || spec.format() != autosim::workload::trace::TraceFormat::Series {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let first = text.lines().find(|l| !l.trim_start().starts_with('#'))?;
    let header: Vec<String> = first.trim_start_matches('\u{feff}').split(',').map(|c| c.trim().trim_matches('"').to_string()).collect();
    let name = match &spec.value {
        Some(Column::Name(n)) => n.clone(),
        Some(Column::Index(i)) => header.get(*i)?.clone(),
        None if header.len() == 2 => header[1].clone(),
        None => return None,
    };
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let rate_like = words.iter().any(|w| matches!(*w, "rps" | "qps" | "tps" | "rate" | "rates" | "persec" | "per_s"))
        || lower.contains("per_s")
        || lower.contains("per_sec")
        || lower.ends_with("_rate")
        || lower.ends_with("/s");
    (rate_like && name.parse::<f64>().is_err()).then_some(name)
}

/// "series (from the file's extension)".
fn format_text(spec: &TraceSpec) -> String {
    let inferred = if spec.format.is_none() { " (from the file's extension)" } else { "" };
    format!("{}{inferred}", spec.format())
}

/// Say on stderr how a rate-named column is read (see [`rate_named_column`]).
fn note_rate_named(file: &Path, spec: &TraceSpec) {
    if let Some(name) = rate_named_column(file, spec) {
        eprintln!(
            "note: {}: column {name:?} is read as requests per bin (the default for a series); if it holds requests per second, pass --values rate (in a scenario, values = \"rate\")",
            file.display()
        );
    }
}

fn trace_inspect(file: &Path, opts: &TraceOpts) -> Result<()> {
    let (spec, trace) = load_trace(file, opts)?;
    note_rate_named(file, &spec);
    let replay = match &trace {
        Trace::Bins { bin_ns, counts, .. } => format!(
            "replayed as a rate over {} bins (values read as {})",
            SimDuration(*bin_ns),
            if *counts { "requests per bin" } else { "requests per second" }
        ),
        Trace::Requests { work_ns, .. } => format!(
            "replayed request by request{}",
            if work_ns.is_some() { ", with per-request work" } else { "" }
        ),
    };
    println!("{}: format {}, {replay}", file.display(), format_text(&spec));
    println!("{}", trace.stats());
    Ok(())
}

/// At most this many points in a trace plot.
const PLOT_POINTS: usize = 2000;

fn trace_plot(file: &Path, out: Option<PathBuf>, svg: bool, opts: &TraceOpts) -> Result<()> {
    let png_path = match out {
        // A name without an extension is given one: the PNG is a .png.
        Some(p) if p.extension().is_none() && !p.as_os_str().is_empty() => p.with_extension("png"),
        Some(p) => p,
        None => {
            let stem = file.file_stem().map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
            PathBuf::from(format!("{stem}.png"))
        }
    };
    let svg_path = png_path.with_extension("svg");
    if svg && svg_path == png_path {
        let msg = format!("--out {}: with --svg, --out names the PNG (the SVG goes beside it)", png_path.display());
        return Err(BadInput(msg).into());
    }
    let (spec, trace) = load_trace(file, opts)?;
    note_rate_named(file, &spec);
    // The trace's own bins, or 1 ms for a request log, coarsened to at most PLOT_POINTS.
    let native = match &trace {
        Trace::Bins { bin_ns, .. } => *bin_ns,
        Trace::Requests { .. } => 1_000_000,
    };
    let span_ns = trace.span_ns();
    let bin_ns = plot::plot_bin_ns(span_ns, native, PLOT_POINTS);
    let rates = trace.rate_series(bin_ns);
    let bin_s = bin_ns as f64 / 1e9;
    let mut points: Vec<(f64, f64)> = rates.iter().enumerate().map(|(k, &r)| (k as f64 * bin_s, r)).collect();
    if let Some(&last) = rates.last() {
        points.push((span_ns as f64 / 1e9, last));
    }
    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let chart = LineChart::new(
        format!("{name}: request rate ({}, {} bins)", spec.format(), SimDuration(bin_ns)),
        "time since the trace's start",
        format!("requests per second (mean over {})", SimDuration(bin_ns)),
    )
    .with(Series::steps("rate", points));
    let png = plot::render_png(&chart)?;
    output::write_atomic(&png_path, &png).with_context(|| format!("writing {}", png_path.display()))?;
    println!("{}: {} points of {}", png_path.display(), rates.len(), SimDuration(bin_ns));
    if svg {
        let text = plot::render_svg(&chart)?;
        output::write_atomic(&svg_path, text.as_bytes()).with_context(|| format!("writing {}", svg_path.display()))?;
        println!("{}", svg_path.display());
    }
    Ok(())
}


// ---------------------------------------------------------------------------------------------
// autosim compare
// ---------------------------------------------------------------------------------------------

fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, row) in r.deserialize().enumerate() {
        out.push(row.map_err(|e| BadInput(format!("{}: line {}: {e}", path.display(), i + 2)))?);
    }
    Ok(out)
}

/// One policy's outputs, read back from its folder.
fn read_policy(dir: &Path) -> Result<PolicyRun> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let summary: Summary =
        serde_json::from_str(&text).map_err(|e| BadInput(format!("{}: not a summary.json of autosim: {e}", path.display())))?;
    let timeseries: Vec<Row> = read_csv(&dir.join("timeseries.csv"))?;
    let decisions: Vec<DecisionRec> = read_csv(&dir.join("decisions.csv"))?;
    let cdf_path = dir.join("latency_cdf.csv");
    let latency_cdf = if cdf_path.exists() {
        read_csv::<output::CdfRow>(&cdf_path)?.into_iter().map(|r| (r.latency_s, r.share)).collect()
    } else {
        Vec::new()
    };
    Ok(PolicyRun { label: summary.policy.clone(), summary, timeseries, decisions, latency_cdf })
}

/// The policies of a run folder (in `comparison.csv`'s order when there is one), or the one
/// policy of a policy folder; with the run's brief when it has `run.json`.
fn read_run(dir: &Path) -> Result<(Vec<PolicyRun>, Option<Brief>)> {
    if !dir.is_dir() {
        return Err(BadInput(format!("{}: no such folder", dir.display())).into());
    }
    if dir.join("summary.json").is_file() {
        let brief = dir.parent().and_then(|p| read_brief(&p.join("run.json")));
        return Ok((vec![read_policy(dir)?], brief));
    }
    let mut names: Vec<String> = Vec::new();
    let cmp = dir.join("comparison.csv");
    if cmp.is_file() {
        #[derive(serde::Deserialize)]
        struct P {
            policy: String,
        }
        names = read_csv::<P>(&cmp)?.into_iter().map(|p| p.policy).filter(|p| dir.join(p).join("summary.json").is_file()).collect();
    }
    if names.is_empty() {
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("summary.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        names = found;
    }
    if names.is_empty() {
        return Err(BadInput(format!("{}: no autosim run here (no summary.json in it or its folders)", dir.display())).into());
    }
    let runs = names.iter().map(|n| read_policy(&dir.join(n))).collect::<Result<Vec<_>>>()?;
    Ok((runs, read_brief(&dir.join("run.json"))))
}

fn read_brief(path: &Path) -> Option<Brief> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn compare(dirs: &[PathBuf], out: Option<PathBuf>, allow_different_load: bool, plots: bool, quiet: bool) -> Result<()> {
    let mut policies: Vec<PolicyRun> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut briefs: Vec<Brief> = Vec::new();
    for dir in dirs {
        let (runs, brief) = read_run(dir)?;
        for r in runs {
            sources.push(dir.display().to_string());
            policies.push(r);
        }
        if let Some(b) = brief {
            briefs.push(b);
        }
    }
    // The same load, or a clear refusal.
    let first = policies[0].summary.clone();
    let first = &first;
    let differing: Vec<String> = policies
        .iter()
        .zip(&sources)
        .filter(|(p, _)| p.summary.load_fingerprint != first.load_fingerprint)
        .map(|(p, src)| {
            format!(
                "{} from {src} (scenario {:?}, seed {}, {}s, load {})",
                p.summary.policy, p.summary.scenario, p.summary.seed, p.summary.duration_s, p.summary.load_fingerprint
            )
        })
        .collect();
    if !differing.is_empty() && !allow_different_load {
        let msg = format!(
            "the runs differ in load: {} from {} (scenario {:?}, seed {}, {}s) has load {}, but {}; their numbers are not comparable. Pass --allow-different-load to compare them anyway",
            first.policy,
            sources[0],
            first.scenario,
            first.seed,
            first.duration_s,
            first.load_fingerprint,
            differing.join("; ")
        );
        return Err(BadInput(msg).into());
    }
    // Metrics computed under the same settings (step, reversal window, demand utilization,
    // definitions), or a clear refusal: elasticity and flapping figures are not comparable
    // across them. A different load can be allowed; different settings cannot.
    let settings = |s: &Summary| {
        let m = &s.metric_settings;
        format!(
            "metrics version {}, step {}s, reversal window {}s, demand utilization {}, demand window {}s",
            m.version, m.step_s, m.reversal_window_s, m.demand_utilization, m.demand_window_s
        )
    };
    let mismatched: Vec<String> = policies
        .iter()
        .zip(&sources)
        .filter(|(p, _)| p.summary.metric_settings != first.metric_settings)
        .map(|(p, src)| format!("{} from {src} ({})", p.summary.policy, settings(&p.summary)))
        .collect();
    if !mismatched.is_empty() {
        let msg = format!(
            "the runs' metrics were computed under different settings: {} from {} has {}, but {}; their elasticity and flapping figures are not comparable. Run them again with the same `step` and `[report]` settings (and the same autosim version)",
            first.policy,
            sources[0],
            settings(first),
            mismatched.join("; ")
        );
        return Err(BadInput(msg).into());
    }
    // Unique labels: a name seen twice gets its folder's name.
    let labels: Vec<String> = policies.iter().map(|p| p.label.clone()).collect();
    for (i, p) in policies.iter_mut().enumerate() {
        if labels.iter().filter(|l| **l == p.label).count() > 1 {
            let src = Path::new(&sources[i]);
            let tag = src.file_name().map_or_else(|| format!("{i}"), |n| n.to_string_lossy().into_owned());
            let tag = if tag == p.label { src.parent().and_then(|q| q.file_name()).map_or(format!("{i}"), |n| n.to_string_lossy().into_owned()) } else { tag };
            p.label = format!("{tag}-{}", p.label);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in policies.iter_mut().enumerate() {
        if !seen.insert(p.label.clone()) {
            p.label = format!("{}-{}", p.label, i + 1);
            seen.insert(p.label.clone());
        }
    }
    let mut brief = briefs.into_iter().next().unwrap_or_else(|| Brief::from_summary(first));
    brief.policies.clear();
    if !differing.is_empty() {
        brief.load_fingerprint = format!("{} (runs differ in load: compared with --allow-different-load)", first.load_fingerprint);
    }
    let view = RunView { brief, policies, sources };
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join("compare"));
    let summaries: Vec<Summary> = view
        .policies
        .iter()
        .map(|p| {
            let mut s = p.summary.clone();
            s.policy = p.label.clone();
            s
        })
        .collect();
    let refs: Vec<&Summary> = summaries.iter().collect();
    output::write_comparison(&dir, &refs).with_context(|| format!("writing the comparison to {}", dir.display()))?;
    output::write_human(&dir, &view, plots).with_context(|| format!("writing the comparison to {}", dir.display()))?;
    if !quiet {
        print!("{}", output::summary_table(&refs));
        let runs = if refs.len() == 1 { "policy run" } else { "policy runs" };
        println!("compared {} {runs}; report in {}", refs.len(), dir.join("report.html").display());
    }
    Ok(())
}
