//! The `autosim` command: the edge where files, terminals, threads and clocks live.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use autosim::output;
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
    /// Explain one decision of an autoscaler, step by step.
    Explain {
        #[command(subcommand)]
        command: ExplainCommand,
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
        Command::Run { file, out, seed, policies, quiet } => run(&file, out, seed, &policies, quiet),
        Command::Validate { file } => validate(&file),
        Command::Bench { rate, pods, concurrency, service_time, duration } => {
            bench(rate, pods, concurrency, &service_time, &duration)
        }
        Command::Trace { command } => match *command {
            TraceCommand::Inspect { file, opts } => trace_inspect(&file, &opts),
            TraceCommand::Plot { file, out, svg, opts } => trace_plot(&file, out, svg, &opts),
        },
        Command::Explain { command: ExplainCommand::Hpa { spec, snapshot, target, json } } => {
            explain_hpa(&spec, &snapshot, target.as_deref(), json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let bad_input = e.downcast_ref::<ScenarioError>().is_some()
                || e.downcast_ref::<BadInput>().is_some()
                || e.downcast_ref::<ExplainError>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

fn explain_hpa(spec: &Path, snapshot: &Path, target: Option<&str>, json: bool) -> Result<()> {
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
    Ok(())
}

fn progress_bar(total_s: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    // Hidden at first: shown only if the run lasts more than a moment (see `reveal`).
    let bar = ProgressBar::with_draw_target(Some(total_s), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} simulating [{bar:40}] {percent}% ({elapsed} elapsed, about {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

fn run(file: &Path, out: Option<PathBuf>, seed: Option<u64>, only: &[String], quiet: bool) -> Result<()> {
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
    let seed = seed.unwrap_or(sc.seed);
    let total = sc.duration_ns / 1_000_000_000 * selected.len() as u64;
    let bar = progress_bar(total, quiet);
    let started = Instant::now();
    let reveal = {
        let bar = bar.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            if !bar.is_finished() && !bar.is_hidden() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
        })
    };
    let reports = autosim::run::run_policies(&sc, &selected, seed, &|s| bar.inc(s))?;
    bar.finish_and_clear();
    let _ = reveal.join();
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&sc.name));
    output::write_reports(&dir, &reports).with_context(|| format!("writing the reports to {}", dir.display()))?;
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

/// "series (from the file's extension)".
fn format_text(spec: &TraceSpec) -> String {
    let inferred = if spec.format.is_none() { " (from the file's extension)" } else { "" };
    format!("{}{inferred}", spec.format())
}

fn trace_inspect(file: &Path, opts: &TraceOpts) -> Result<()> {
    let (spec, trace) = load_trace(file, opts)?;
    let replay = match &trace {
        Trace::Bins { bin_ns, counts, .. } => format!(
            "replayed as a rate over {} bins (from {} per bin)",
            SimDuration(*bin_ns),
            if *counts { "counts" } else { "rates" }
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
