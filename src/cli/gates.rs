//! The command line of `autosim sweep`, `autosim check` and `autosim baseline`: files,
//! threads and the progress bar around the library's `sweep` and `check`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use autosim::check::{self, metric, Baseline, BaselinePolicy, Expectation};
use autosim::command::{self, Commands};
use autosim::output;
use autosim::scenario::{self, ConfigError, ScenarioError};
use autosim::Experiment;
use autosim::sweep::{self, answer, Progress, Sweep};

use clap::Subcommand;

use super::{refuse_commands, BadInput};

fn pool(jobs: Option<usize>) -> Result<Option<rayon::ThreadPool>> {
    match jobs {
        None => Ok(None),
        Some(0) => Err(BadInput("--jobs must be at least 1".into()).into()),
        Some(n) => Ok(Some(rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| anyhow!("cannot start {n} threads: {e}"))?)),
    }
}

fn sweep_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} sweeping [{bar:40}] {pos}/{len} runs, {msg} ({elapsed} elapsed, about {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

fn default_out(sw: &Sweep) -> PathBuf {
    PathBuf::from("reports").join("sweeps").join(&sw.name)
}

pub fn sweep(args: SweepArgs) -> Result<()> {
    if let Some(SweepCommand::Merge { dirs, sweep: file, out, quiet }) = args.command {
        return merge(&dirs, file, out, quiet);
    }
    let file = args.file.expect("clap requires the file");
    let sw = Sweep::load(&file)?;
    let shard = match &args.shard {
        None => None,
        Some(text) => {
            let job = std::env::var("JOB_COMPLETION_INDEX").ok();
            Some(sweep::parse_shard(text, job.as_deref()).map_err(BadInput)?)
        }
    };
    let out = match (&args.out, shard) {
        (Some(o), _) => o.clone(),
        (None, Some((i, n))) => default_out(&sw).join(format!("shard-{i}-of-{n}")),
        (None, None) => default_out(&sw),
    };
    let commands = Commands::from_flag_or_env(args.allow_commands);
    let policies: Vec<usize> = sw.policies.iter().map(|(i, _)| *i).collect();
    refuse_commands(&sw.base_file, &sw.base, &policies, commands)?;
    let opts = sweep::Options { out: out.clone(), shard, max_points: args.max_points, commands };
    let bar = sweep_bar(args.quiet);
    let started = Instant::now();
    let points_total = sw.points.len();
    let progress = |p: Progress| match p {
        Progress::Start { runs, points, skipped } => {
            bar.set_length(runs);
            bar.set_message(format!("{points} point(s){}", if skipped > 0 { format!(", {skipped} run(s) kept from before") } else { String::new() }));
        }
        Progress::RunDone => bar.inc(1),
    };
    let outcome = match pool(args.jobs)? {
        Some(p) => p.install(|| sweep::run(&sw, &opts, &progress)),
        None => sweep::run(&sw, &opts, &progress),
    };
    bar.finish_and_clear();
    let outcome = outcome?;
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        println!(
            "{}: {} run(s) in {:.1}s ({:.1} points per minute){}{}",
            out.join(sweep::CSV).display(),
            outcome.ran,
            secs,
            if secs > 0.0 { outcome.ran as f64 / (sw.seeds.len() * sw.policies.len()).max(1) as f64 / secs * 60.0 } else { 0.0 },
            if outcome.kept > 0 { format!("; {} kept from an earlier run", outcome.kept) } else { String::new() },
            if outcome.failed > 0 { format!("; {} failed (see the error column)", outcome.failed) } else { String::new() },
        );
    }
    if !outcome.complete {
        if !args.quiet {
            println!("stopped after {} point(s) (--max-points): run the same command again to go on", args.max_points.unwrap_or(0));
        }
        return Ok(());
    }
    if let Some((i, n)) = shard {
        if !args.quiet {
            let mine = (0..points_total).filter(|p| p % n == i).count();
            println!("shard {i}/{n} done ({mine} of {points_total} points): join the shards with `autosim sweep merge DIR...`");
        }
        return Ok(());
    }
    answers(&sw, &outcome.rows, &out, args.quiet)
}

fn answers(sw: &Sweep, rows: &[sweep::Row], out: &Path, quiet: bool) -> Result<()> {
    let a = answer::analyze(sw, rows);
    let files = answer::write(sw, &a, out)?;
    if !quiet {
        print!("{}", answer::summary_text(sw, &a));
        let names: Vec<String> = files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        println!("in {}: {}, {}", out.display(), sweep::CSV, names.join(", "));
    }
    Ok(())
}

fn merge(dirs: &[PathBuf], file: Option<PathBuf>, out: Option<PathBuf>, quiet: bool) -> Result<()> {
    let file = match file {
        Some(f) => f,
        None => {
            let recorded = dirs.iter().find_map(|d| sweep::read_manifest(d).and_then(|m| m.get("sweep_file").and_then(|v| v.as_str()).map(PathBuf::from)));
            recorded.ok_or_else(|| BadInput(format!("{}: no {} names the sweep file: give --sweep FILE", dirs[0].display(), sweep::MANIFEST)))?
        }
    };
    let sw = Sweep::load(&file)?;
    let out = out.unwrap_or_else(|| default_out(&sw));
    let outcome = sweep::merge(&sw, dirs, &out)?;
    let expected = sw.points.len() * sw.seeds.len() * sw.policies.len();
    if !quiet {
        println!("{}: {} of {} run(s) from {} folder(s)", out.join(sweep::CSV).display(), outcome.rows.len(), expected, dirs.len());
    }
    if !outcome.complete {
        return Err(anyhow!(
            "{} of {expected} run(s) are missing (a shard not run or not finished?): sweep.csv is written, the answers are not",
            expected - outcome.rows.len()
        ));
    }
    answers(&sw, &outcome.rows, &out, quiet)
}

// ---------------------------------------------------------------------------------------------
// autosim check / baseline update
// ---------------------------------------------------------------------------------------------

/// Expectations and where their text is (for errors about them).
struct Expectations {
    list: Vec<Expectation>,
    file: PathBuf,
    source: String,
}

fn expectations(file: &Path, sc: &Experiment, expect: Option<&Path>) -> Result<Expectations> {
    match expect {
        Some(path) => {
            let source = std::fs::read_to_string(path).map_err(|e| ScenarioError::whole_file(path, format!("cannot read the expectations: {e}")))?;
            let list = sc.parse_expectations(&source).map_err(|e| ScenarioError::locate(path, &source, e))?;
            Ok(Expectations { list, file: path.to_path_buf(), source })
        }
        None => {
            let source = std::fs::read_to_string(file).unwrap_or_default();
            Ok(Expectations { list: sc.expectations.clone(), file: file.to_path_buf(), source })
        }
    }
}

fn applies(e: &Expectation, policy: &str) -> bool {
    e.policies.is_empty() || e.policies.iter().any(|p| p == policy)
}

/// The `autosim baseline update` command that writes the baseline this check reads (with the
/// same `--expect` and `--out` as the check's `--expect` and `--baseline`).
fn update_command(file: &Path, expect: Option<&Path>, baseline: Option<&Path>) -> String {
    let mut cmd = format!("autosim baseline update {}", file.display());
    if let Some(x) = expect {
        cmd.push_str(&format!(" --expect {}", x.display()));
    }
    if let Some(b) = baseline {
        cmd.push_str(&format!(" --out {}", b.display()));
    }
    cmd
}

fn update_hint(file: &Path, expect: Option<&Path>, baseline: Option<&Path>) -> String {
    format!("run `{}`", update_command(file, expect, baseline))
}

fn default_baseline(file: &Path) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    scenario::base_dir(file).join(format!("{stem}.baseline.json"))
}

/// Run each policy with its seeds; summary JSON per (policy index, seed index). Programs the
/// policies name are attached (no recording: `record` is `autosim run`'s), and must be allowed.
fn run_seeds(sc: &Experiment, seeds: &[(usize, u32)], commands: Commands) -> Result<BTreeMap<(usize, u32), serde_json::Value>> {
    let jobs: Vec<(usize, u32)> = seeds.iter().flat_map(|&(p, n)| (0..n).map(move |k| (p, k))).collect();
    jobs.par_iter()
        .map(|&(p, k)| {
            let mut sim = command::simulation(sc, p, sc.scenario.seed.wrapping_add(k as u64), commands)?;
            // The gates read the summary only: the rows are not kept.
            sim.stream_rows_to(Box::new(autosim::report::DropRows));
            let r = sim.run();
            Ok(((p, k), metric::summary_json(&r.summary)))
        })
        .collect()
}

fn plan_policies(plan: &[(usize, u32)]) -> Vec<usize> {
    plan.iter().map(|&(p, _)| p).collect()
}

fn seeds_per_policy(sc: &Experiment, ex: &[Expectation], at_least_one: bool) -> Vec<(usize, u32)> {
    sc.policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let n = ex.iter().filter(|e| applies(e, &p.name)).map(|e| e.seeds).max();
            match n {
                Some(n) => Some((i, n)),
                None if at_least_one => Some((i, 1)),
                None => None,
            }
        })
        .collect()
}

pub fn baseline_update(file: &Path, out: Option<PathBuf>, expect: Option<PathBuf>, commands: Commands) -> Result<()> {
    let sc = autosim::load(file)?;
    let ex = expectations(file, &sc, expect.as_deref())?;
    let plan = seeds_per_policy(&sc, &ex.list, true);
    refuse_commands(file, &sc, &plan_policies(&plan), commands)?;
    let results = run_seeds(&sc, &plan, commands)?;
    let mut policies = BTreeMap::new();
    for &(p, n) in &plan {
        let mut metrics: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for k in 0..n {
            for (m, v) in metric::flatten(&results[&(p, k)]) {
                metrics.entry(m).or_default().push(v);
            }
        }
        let seeds = (0..n).map(|k| sc.scenario.seed.wrapping_add(k as u64)).collect();
        policies.insert(sc.policies[p].name.clone(), BaselinePolicy { seeds, metrics });
    }
    let b = Baseline { autosim_baseline: 1, scenario: sc.scenario.name.clone(), policies };
    let path = out.unwrap_or_else(|| default_baseline(file));
    let mut text = serde_json::to_vec_pretty(&b)?;
    text.push(b'\n');
    output::write_atomic(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    println!("{}: baseline of {} of {:?} ({})", path.display(), autosim::units::count(plan.len(), "policy", "policies"), sc.scenario.name, plan.iter().map(|&(p, n)| format!("{} x{n}", sc.policies[p].name)).collect::<Vec<_>>().join(", "));
    Ok(())
}

pub fn check(
    file: &Path,
    baseline: Option<PathBuf>,
    expect: Option<PathBuf>,
    junit: Option<PathBuf>,
    markdown: Option<PathBuf>,
    quiet: bool,
    commands: Commands,
) -> Result<()> {
    let sc = autosim::load(file)?;
    let ex = expectations(file, &sc, expect.as_deref())?;
    if ex.list.is_empty() {
        return Err(BadInput(format!(
            "{}: no expectations: add [[expect]] tables (checks = [\"sla.attainment >= 0.999\"]) or give --expect FILE",
            ex.file.display()
        ))
        .into());
    }
    let plan = seeds_per_policy(&sc, &ex.list, false);
    refuse_commands(file, &sc, &plan_policies(&plan), commands)?;
    let locate = |span: &std::ops::Range<usize>, m: String| -> anyhow::Error { ScenarioError::locate(&ex.file, &ex.source, ConfigError::at(span.clone(), m)).into() };
    let needs_baseline = ex.list.iter().any(|e| e.bounds.iter().any(|(b, _)| b.needs_baseline()));
    let base: Option<Baseline> = if needs_baseline {
        let path = baseline.clone().unwrap_or_else(|| default_baseline(file));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            BadInput(format!("{}: cannot read the baseline ({e}); a bound against `baseline` needs one: write it with `{}`", path.display(), update_command(file, expect.as_deref(), baseline.as_deref())))
        })?;
        Some(serde_json::from_str(&text).map_err(|e| BadInput(format!("{}: not an autosim baseline: {e}", path.display())))?)
    } else {
        None
    };
    let results = run_seeds(&sc, &plan, commands)?;
    let mut outcomes = Vec::new();
    for e in &ex.list {
        for (p, pol) in sc.policies.iter().enumerate() {
            if !applies(e, &pol.name) {
                continue;
            }
            for (b, span) in &e.bounds {
                let mut values = Vec::new();
                for k in 0..e.seeds {
                    values.push(metric::number(&results[&(p, k)], &b.metric).map_err(|m| locate(span, m.to_string()))?);
                }
                let mut paired = false;
                let base_values = match (&base, b.needs_baseline()) {
                    (Some(bl), true) => {
                        let hint = update_hint(file, expect.as_deref(), baseline.as_deref());
                        let bp = bl.policies.get(&pol.name).ok_or_else(|| BadInput(format!("the baseline has no policy {:?}: {hint}", pol.name)))?;
                        let v = bp.metrics.get(&b.metric).ok_or_else(|| BadInput(format!("the baseline of {:?} has no metric `{}`: {hint}", pol.name, b.metric)))?;
                        if v.len() < e.seeds as usize {
                            return Err(BadInput(format!("the baseline of {:?} has {} seed(s) of `{}`, the check needs {}: {hint}", pol.name, v.len(), b.metric, e.seeds)).into());
                        }
                        // The check runs the scenario's seed and the ones after it.
                        let seeds: Vec<u64> = (0..e.seeds).map(|k| sc.scenario.seed.wrapping_add(u64::from(k))).collect();
                        paired = bp.seeds.len() >= seeds.len() && bp.seeds[..seeds.len()] == seeds[..];
                        Some(v[..e.seeds as usize].to_vec())
                    }
                    _ => None,
                };
                outcomes.push(check::judge(b, &values, base_values.as_deref(), paired, e.by, e.confidence, &pol.name));
            }
        }
    }
    if let Some(path) = &junit {
        output::write_atomic(path, check::junit(&sc.scenario.name, &outcomes).as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &markdown {
        output::write_atomic(path, check::markdown(&sc.scenario.name, &outcomes).as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    if !quiet {
        print!("{}", check::table(&outcomes));
    }
    let failed: Vec<&check::Outcome> = outcomes.iter().filter(|o| !o.pass).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{} of {} check(s) failed: {}", failed.len(), outcomes.len(), failed.iter().map(|o| o.why()).collect::<Vec<_>>().join("; ")))
    }
}
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct SweepArgs {
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
pub(crate) enum SweepCommand {
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
pub(crate) enum BaselineCommand {
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
