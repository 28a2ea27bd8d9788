//! The `autosim` command line: its arguments (clap), which subcommand runs, and how errors
//! become exit codes (2: bad input, 1: anything else). One module per subcommand; the
//! library does the work, these modules hold the files, terminals, threads and clocks.

mod bench;
mod compare;
mod ecosystem;
mod explain;
mod gates;
mod run;
mod trace;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use autosim::command::{Commands, CommandsRefused};
use autosim::output;
use autosim::policy::hpa::explain::ExplainError;
use autosim::scenario::ScenarioError;
use autosim::Experiment;

use ecosystem::ExportCommand;
use explain::ExplainCommand;
use gates::{BaselineCommand, SweepArgs};
use trace::TraceCommand;

#[derive(Parser)]
#[command(name = "autosim", version, about = "Simulate Kubernetes autoscaling on real traffic before production does")]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// Route each request to a pod with this balancer (`round-robin`, `random`,
        /// `least-request`; an `http` service, a queue per pod) instead of one shared queue.
        #[arg(long)]
        balancer: Option<String>,
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

/// A mistake in what the user gave us: exit code 2.
#[derive(Debug)]
pub(crate) struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Parse the command line, run the subcommand, and map its outcome to an exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "live")]
        Command::Live { command } => return autosim::live::run(command),
        Command::Run { file, out, seed, policies, quiet, no_plots, allow_commands, force } => {
            run::run(&file, out, seed, &policies, quiet, !no_plots, Commands::from_flag_or_env(allow_commands), force)
        }
        Command::Compare { dirs, out, allow_different_load, no_plots, quiet } => {
            compare::compare(&dirs, out, allow_different_load, !no_plots, quiet)
        }
        Command::Validate { file } => validate::validate(&file),
        Command::Bench { rate, pods, concurrency, service_time, duration, balancer } => {
            bench::bench(rate, pods, concurrency, &service_time, &duration, balancer.as_deref())
        }
        Command::Trace { command } => match *command {
            TraceCommand::Inspect { file, opts } => trace::trace_inspect(&file, &opts),
            TraceCommand::Plot { file, out, svg, opts } => trace::trace_plot(&file, out, svg, &opts),
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
            explain::explain_hpa(&spec, &snapshot, target.as_deref(), json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let bad_input = e.downcast_ref::<ScenarioError>().is_some()
                || e.downcast_ref::<BadInput>().is_some()
                || e.downcast_ref::<output::OutputError>().is_some_and(|e| e.is_bad_input())
                || e.downcast_ref::<autosim::run::RunError>().is_some_and(|e| e.is_bad_input())
                || e.downcast_ref::<autosim::sweep::SweepError>().is_some_and(|e| e.is_bad_input())
                || e.downcast_ref::<ExplainError>().is_some()
                || e.downcast_ref::<CommandsRefused>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

/// Read a scenario file with its policies and expectations.
pub(crate) fn load(file: &Path) -> Result<Experiment> {
    Ok(autosim::load(file)?)
}

/// Refuse, with the place of its first `command`, a scenario whose policies `selected` name
/// programs that `commands` does not allow.
pub(crate) fn refuse_commands(file: &Path, ex: &Experiment, selected: &[usize], commands: Commands) -> Result<(), ScenarioError> {
    match autosim::command::refusal(ex, selected, commands) {
        None => Ok(()),
        Some(e) => {
            let source = std::fs::read_to_string(file).unwrap_or_default();
            Err(ScenarioError::locate(file, &source, e))
        }
    }
}
