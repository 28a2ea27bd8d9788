//! Running the policy alternatives of a scenario in parallel (rayon). Each run is the pure
//! engine; the threads only decide which runs go where (and, when the runs leave a core idle,
//! draw their open-loop arrivals ahead on it: the same chunks the engine would draw itself), so
//! results do not depend on the number of threads.
//!
//! When the runs take every core, the runs running at the same time draw each chunk of
//! arrivals once between them (`tape`).
//!
//! This is also the edge where a policy's external program (`command`) is started for each run
//! and handed to the policy, and where the exchanges a policy records (`record`) are written
//! at the end, whole or not at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::command::{CommandExternal, Commands, CommandsRefused, Recorder};
use crate::output::OutputError;
use crate::policy::external::{Exchange, External, ExternalSpec, Recording, FORMAT};
use crate::report::Report;
use crate::experiment::Experiment;
use crate::output::rows::Streamed;
use crate::sim::{Chunk, Chunks, Drawer, Drawn, Simulation, CHUNK};

mod tape;

/// Why the policies of a scenario could not run, or their recordings not be written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Refused(#[from] CommandsRefused),
    #[error("policies {first:?} and {second:?} both record to {path}: give each its own `record` file")]
    SharedRecording { first: String, second: String, path: PathBuf },
    #[error("serializing a recording")]
    Serialize(#[source] serde_json::Error),
    /// The recording's path left the scenario's folder since it was read.
    #[error("policy {policy:?}: `record`: {message}")]
    Confined { policy: String, message: String },
    /// The files a run's rows stream to.
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("writing the exchanges of policy {policy:?} to {path}")]
    Write { policy: String, path: PathBuf, #[source] err: OutputError },
}

impl RunError {
    /// A mistake in what the user gave (exit code 2): programs the user did not allow.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::Refused(_) => true,
            RunError::Output(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

type Log = Arc<Mutex<Vec<Exchange>>>;
/// A service's program to start, and where its exchanges are recorded.
type Attachment = Option<(ExternalSpec, Option<Log>)>;

/// What one recording file collects: the command, and each service's exchanges.
struct RecordFile {
    policy: String,
    /// The scenario's folder, which the file must stay inside.
    dir: PathBuf,
    command: Vec<String>,
    services: BTreeMap<String, Log>,
}

/// A run's progress since its last tick: what the progress bar is told, from the threads that
/// run the policies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tick {
    /// Simulated time passed, nanoseconds.
    pub simulated_ns: u64,
    /// Requests that arrived (every service, warm-up included).
    pub requests: u64,
}

/// Run the policy alternatives `selected` (indices into `ex.policies`) with `seed`, in
/// parallel, in order. `progress` is told of simulated time and requests as they pass (about
/// 200 ticks per run). External programs are started for the policies that name one, and
/// recordings are written at the end.
/// Programs run only when `commands` allows them: a scenario that names one is refused
/// otherwise ([`crate::command::CommandsRefused`]), before anything runs.
pub fn run_policies(ex: &Experiment, selected: &[usize], seed: u64, commands: Commands, progress: &(dyn Fn(Tick) + Sync)) -> Result<Vec<Report>, RunError> {
    Ok(run_policies_with(ex, selected, seed, commands, progress, None)?.into_iter().map(|(r, _)| r).collect())
}

/// As [`run_policies`], streaming each run's timeseries and decisions to temporary files in
/// `dir` (the output folder) as they are produced, so that memory does not grow with the run's
/// length: the reports' `timeseries` and `decisions` are empty, and each run's files are
/// moved into place by [`crate::output::write_reports_streamed`].
pub fn run_policies_streamed(
    ex: &Experiment,
    selected: &[usize],
    seed: u64,
    commands: Commands,
    progress: &(dyn Fn(Tick) + Sync),
    dir: &std::path::Path,
) -> Result<(Vec<Report>, Vec<Streamed>), RunError> {
    let runs = run_policies_with(ex, selected, seed, commands, progress, Some(dir))?;
    Ok(runs.into_iter().map(|(r, s)| (r, s.expect("streamed"))).unzip())
}

fn run_policies_with(
    ex: &Experiment,
    selected: &[usize],
    seed: u64,
    commands: Commands,
    progress: &(dyn Fn(Tick) + Sync),
    rows_dir: Option<&std::path::Path>,
) -> Result<Vec<(Report, Option<Streamed>)>, RunError> {
    crate::command::check_allowed(ex, selected, commands)?;
    // Per selected alternative, per service: the program and where its exchanges go.
    let mut files: BTreeMap<PathBuf, RecordFile> = BTreeMap::new();
    let mut attach: Vec<Vec<Attachment>> = Vec::new();
    for &i in selected {
        let spec = &ex.policies[i];
        let mut per = Vec::new();
        for f in &spec.pods {
            let Some(x) = f.external() else {
                per.push(None);
                continue;
            };
            let log = match &x.record {
                Some(path) => {
                    let file = files.entry(path.clone()).or_insert_with(|| RecordFile {
                        policy: spec.name.clone(),
                        dir: x.dir.clone(),
                        command: x.command.clone(),
                        services: BTreeMap::new(),
                    });
                    if file.policy != spec.name {
                        return Err(RunError::SharedRecording { first: file.policy.clone(), second: spec.name.clone(), path: path.clone() });
                    }
                    Some(Arc::clone(file.services.entry(x.service.clone()).or_default()))
                }
                None => None,
            };
            per.push(Some((x.clone(), log)));
        }
        attach.push(per);
    }
    let chunk = (ex.scenario.duration_ns / 200).max(1);
    // Cores the runs leave idle draw the open-loop arrivals ahead of them.
    let spare_cores = rayon::current_num_threads() > selected.len();
    // Otherwise runs that run at once draw each chunk once between them.
    let tapes = (!spare_cores && selected.len() > 1).then(tape::Tapes::default);
    let reports: Vec<(Report, Option<Streamed>)> = selected
        .par_iter()
        .zip(attach.par_iter())
        .enumerate()
        .map(|(k, (&i, per))| -> Result<(Report, Option<Streamed>), RunError> {
            let externals: Vec<Option<Box<dyn External>>> = per
                .iter()
                .map(|a| {
                    a.as_ref().map(|(spec, log)| {
                        let cmd: Box<dyn External> = Box::new(CommandExternal::new(spec.clone()));
                        match log {
                            Some(log) => Box::new(Recorder { inner: cmd, log: Arc::clone(log) }) as Box<dyn External>,
                            None => cmd,
                        }
                    })
                })
                .collect();
            let mut sim = Simulation::with_externals(&ex.scenario, &ex.policies[i], seed, externals);
            if spare_cores {
                draw_on_a_thread(&mut sim);
            } else if let Some(tapes) = &tapes {
                tapes.hand_over(&mut sim);
            }
            let streamed = match rows_dir {
                Some(dir) => {
                    let (sink, streamed) = crate::output::rows::stream(dir, k)?;
                    sim.stream_rows_to(sink);
                    Some(streamed)
                }
                None => None,
            };
            let mut t = 0;
            loop {
                let (before, requests_before) = (sim.now(), sim.requests_arrived());
                t = (t + chunk).min(sim.end());
                let done = sim.run_until(t);
                progress(Tick { simulated_ns: sim.now() - before, requests: sim.requests_arrived() - requests_before });
                if done {
                    break;
                }
            }
            Ok((sim.finish(), streamed))
        })
        .collect::<Result<_, RunError>>()?;
    for (path, file) in &files {
        let services = file
            .services
            .iter()
            .map(|(s, log)| (s.clone(), std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()))))
            .collect();
        let rec = Recording { format: FORMAT.into(), command: file.command.clone(), services };
        let mut text = serde_json::to_string_pretty(&rec).map_err(RunError::Serialize)?;
        text.push('\n');
        // Checked when the scenario was read; again now, in case a link appeared since.
        crate::confine::recheck(&file.dir, path, "the scenario's folder")
            .map_err(|message| RunError::Confined { policy: file.policy.clone(), message })?;
        crate::output::write_atomic(path, text.as_bytes())
            .map_err(|err| RunError::Write { policy: file.policy.clone(), path: path.clone(), err })?;
    }
    Ok(reports)
}

/// Chunks of a source's arrivals drawn on the run's drawing thread, at most `AHEAD_CHUNKS`
/// ahead of the engine; the buffers read go back to be reused.
struct Threaded {
    rx: Receiver<Vec<Drawn>>,
    back: SyncSender<Vec<Drawn>>,
}

/// Chunks drawn ahead per source, at most (24 KiB each).
const AHEAD_CHUNKS: usize = 8;

impl Chunks for Threaded {
    fn next(&mut self, buf: &mut Chunk) {
        // The drawer only computes; it stops early only by a panic, which is a bug to surface.
        let next = self.rx.recv().expect("the thread drawing arrivals stopped");
        let read = std::mem::replace(buf, Arc::new(next));
        if let Ok(read) = Arc::try_unwrap(read) {
            let _ = self.back.try_send(read);
        }
    }
}

/// One source's drawing on the drawing thread: its drawer, the chunk drawn and not yet taken.
struct Pipe {
    drawer: Drawer,
    tx: SyncSender<Vec<Drawn>>,
    spare: Receiver<Vec<Drawn>>,
    drawn: Option<Vec<Drawn>>,
    over: bool,
}

/// Have the run's open-loop arrivals drawn on a thread of its own, one for all its sources
/// (nothing changes when no thread can be started: they are drawn in line).
fn draw_on_a_thread(sim: &mut Simulation) {
    let (give, take) = std::sync::mpsc::channel::<Vec<Pipe>>();
    let started = std::thread::Builder::new().name("autosim-arrivals".into()).spawn(move || {
        if let Ok(pipes) = take.recv() {
            serve(pipes);
        }
    });
    if started.is_err() {
        return;
    }
    let mut pipes = Vec::new();
    sim.draw_arrivals_with(|drawer| {
        let (tx, rx) = sync_channel(AHEAD_CHUNKS);
        let (back, spare) = sync_channel(AHEAD_CHUNKS + 2);
        pipes.push(Pipe { drawer, tx, spare, drawn: None, over: false });
        Box::new(Threaded { rx, back })
    });
    // Nothing to draw: the thread ends at once (the pipes' list is empty).
    let _ = give.send(pipes);
}

/// Keep every source's chunks coming until its last is taken or the run is gone. When every
/// source is `AHEAD_CHUNKS` ahead, wait a little and look again rather than block: a blocked
/// sender would cost the engine a wake-up call per chunk. The wait (200 µs) is a quarter of
/// what eight chunks last the engine at its fastest (about 100 ns per arrival).
fn serve(mut pipes: Vec<Pipe>) {
    while pipes.iter().any(|p| !p.over) {
        let mut progress = false;
        for p in pipes.iter_mut().filter(|p| !p.over) {
            let buf = match p.drawn.take() {
                Some(b) => b,
                None => {
                    let mut b = p.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                    p.drawer.fill(&mut b);
                    b
                }
            };
            let last = buf.len() < CHUNK;
            match p.tx.try_send(buf) {
                Ok(()) => {
                    progress = true;
                    p.over = last;
                }
                Err(TrySendError::Full(b)) => p.drawn = Some(b),
                Err(TrySendError::Disconnected(_)) => p.over = true,
            }
        }
        if !progress {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}
