//! The `autosim` command: the edge where files, terminals, threads and clocks live.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use autosim::output;
use autosim::scenario::{self, Scenario, ScenarioError};
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let bad_input = e.downcast_ref::<ScenarioError>().is_some() || e.downcast_ref::<BadInput>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
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
    let reports = autosim::run::run_policies(&sc, &selected, seed, &|s| bar.inc(s));
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

