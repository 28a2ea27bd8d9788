//! `autosim run`: run every policy alternative of a scenario on the same load, with a progress bar, and write the reports.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use autosim::command::Commands;
use autosim::output;
use autosim::render::view::RunView;
use autosim::units::{parse_duration, Duration as SimDuration};

use super::{load, refuse_commands, BadInput};

/// How long a run goes before its progress bar shows (a short run prints no bar at all);
/// `AUTOSIM_PROGRESS_AFTER` (a duration such as "0s") changes it.
pub(crate) const PROGRESS_AFTER: Duration = Duration::from_millis(400);

/// The progress bar of `autosim run`: on a terminal, shown once the run has lasted
/// [`PROGRESS_AFTER`], with the simulated time reached and the requests simulated per second.
pub(crate) struct RunProgress {
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
pub(crate) fn per_second(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.1} million", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.0} thousand", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

/// The delay before the progress bar shows: `AUTOSIM_PROGRESS_AFTER` or [`PROGRESS_AFTER`].
pub(crate) fn progress_after() -> Result<Duration> {
    match std::env::var("AUTOSIM_PROGRESS_AFTER") {
        Ok(v) => {
            let d = parse_duration(&v).map_err(|e| BadInput(format!("AUTOSIM_PROGRESS_AFTER={v:?}: {e}")))?;
            Ok(Duration::from_nanos(d.0))
        }
        Err(_) => Ok(PROGRESS_AFTER),
    }
}

pub(crate) fn run(file: &Path, out: Option<PathBuf>, seed: Option<u64>, only: &[String], quiet: bool, plots: bool, commands: Commands, force: bool) -> Result<()> {
    let ex = load(file)?;
    let mut selected = Vec::new();
    for name in only {
        match ex.policies.iter().position(|p| &p.name == name) {
            Some(i) if !selected.contains(&i) => selected.push(i),
            Some(_) => {}
            None => {
                let known: Vec<_> = ex.policies.iter().map(|p| p.name.as_str()).collect();
                return Err(BadInput(format!("--policy {name:?}: the scenario has no such policy (it has: {})", known.join(", "))).into());
            }
        }
    }
    if selected.is_empty() {
        selected = (0..ex.policies.len()).collect();
    }
    refuse_commands(file, &ex, &selected, commands)?;
    let sc = &ex.scenario;
    let seed = seed.unwrap_or(sc.seed);
    let after = progress_after()?;
    // The output folder is checked before the simulation, not after it.
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&sc.name));
    let folder = output::prepare_run_folder(&dir, force)?;
    let progress = RunProgress::new(sc.duration_ns, selected.len(), quiet);
    let started = progress.started;
    let reveal = progress.reveal(after);
    // Timeseries and decisions go to their files as they are produced (memory flat in the
    // run's length), as temporary files in the folder until the run is over.
    let reports = autosim::run::run_policies_streamed(&ex, &selected, seed, commands, &|t| progress.tick(t), &folder.dir);
    if let Some((done, handle)) = reveal {
        let _ = done.send(());
        let _ = handle.join();
    }
    progress.bar.finish_and_clear();
    let (reports, mut streamed) = reports.inspect_err(|_| folder.abandon())?;
    folder.clear_earlier()?;
    output::write_reports_streamed(&dir, &reports, &mut streamed).with_context(|| format!("writing the reports to {}", dir.display()))?;
    let mut view = RunView::of(sc, ex.policy_briefs(), seed, &reports);
    // The human reports read the rows back: the text only the notable decisions (a bounded
    // selection), their counts and the services' order; the figures read every row again, in
    // passes, in memory bounded by their pixels.
    for p in &mut view.policies {
        let pdir = dir.join(&p.label);
        let back = output::rows::read_back(&pdir).with_context(|| format!("writing the reports to {}", dir.display()))?;
        p.timeseries = back.timeseries;
        p.decisions = back.decisions;
        p.decisions_total = Some(back.total);
        p.shown_counts = Some(back.counts);
        p.again = Some(std::sync::Arc::new(output::rows::Again { dir: pdir }));
    }
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
