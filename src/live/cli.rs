//! The `autosim live` subcommands: their flags, and each one run (cluster commands on a
//! current-thread runtime of their own).

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::plan::PlanOptions;
use super::LiveError;
use crate::units::parse_duration;

#[derive(Subcommand, Debug)]
pub enum LiveCommand {
    /// Print and write plan.csv: each scale call of a run with its simulated time and its
    /// wall-clock offset (no cluster needed).
    Plan {
        /// An `autosim run` output folder.
        run: PathBuf,
        /// The policy whose decisions are replayed.
        #[arg(long)]
        policy: String,
        /// SERVICE=DEPLOYMENT (repeat); a service not named maps to a Deployment of its name.
        #[arg(long = "map", value_name = "SVC=DEPLOY")]
        map: Vec<String>,
        /// Replay this many times faster than simulated (durations divided, rates kept).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Refuse a plan that goes above this many replicas.
        #[arg(long, default_value_t = 10)]
        max_replicas: u32,
        /// Where to write plan.csv [default: RUN/<policy>/live].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Preflight, replay the decisions on the cluster, record what it did, and restore it.
    /// Dry by default: without --apply nothing is written.
    Replay(Box<ReplayArgs>),
    /// Record what a real HPA or KEDA does to Deployments (read only).
    Record {
        #[arg(long)]
        namespace: String,
        /// The Deployments to watch (repeat).
        #[arg(long = "deployment", required = true, value_name = "NAME")]
        deployments: Vec<String>,
        /// How long to record (Ctrl-C ends it early and still writes the files).
        #[arg(long, default_value = "10m")]
        duration: String,
        /// Between polls.
        #[arg(long, default_value = "1s")]
        poll: String,
        #[arg(long)]
        context: Option<String>,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Where to write observed.csv and pods.csv [default: reports/live-record].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Put back the replicas saved in DIR/journal.json (after a hard kill).
    Restore {
        /// A replay's output folder (or its journal.json).
        dir: PathBuf,
        /// The kubeconfig [default: the one the journal names].
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Allow this exact context although it is not a kind cluster on a loopback address.
        #[arg(long, value_name = "NAME")]
        allow_context: Option<String>,
    },
    /// Real against simulated, and a startup distribution fitted to the measured pods.
    Calibrate {
        /// A replay's (or a recording's) output folder.
        dir: PathBuf,
        /// The scenario whose `startup` is compared (and rewritten with --write-scenario).
        #[arg(long, requires = "service")]
        scenario: Option<PathBuf>,
        /// The service of the scenario.
        #[arg(long)]
        service: Option<String>,
        /// Write the scenario with only its service's `startup` replaced by the fit.
        #[arg(long, value_name = "OUT", requires = "scenario")]
        write_scenario: Option<PathBuf>,
        /// The fit written: lognormal (maximum likelihood) or empirical (the samples).
        #[arg(long, default_value = "lognormal")]
        fit: String,
        /// Write the scenario even from fewer than 20 samples.
        #[arg(long)]
        force: bool,
        /// Where to write calibration.json and .md [default: DIR].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a k6 script whose options.scenarios reproduce a service's load.
    K6 {
        /// The scenario file.
        scenario: PathBuf,
        #[arg(long)]
        service: String,
        /// The URL each iteration requests.
        #[arg(long)]
        url: String,
        /// Shrink durations by this factor (rates are kept).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// The script to write [default: <scenario stem>-<service>.k6.js].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// An `autosim run` output folder.
    pub run: PathBuf,
    #[arg(long)]
    pub policy: String,
    /// The namespace of the Deployments (required; kube-* refused).
    #[arg(long)]
    pub namespace: String,
    /// SERVICE=DEPLOYMENT (repeat); a service not named maps to a Deployment of its name.
    #[arg(long = "map", value_name = "SVC=DEPLOY")]
    pub map: Vec<String>,
    /// The kubeconfig context [default: its current context].
    #[arg(long)]
    pub context: Option<String>,
    /// The kubeconfig [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Allow this exact context although it is not a kind cluster on a loopback address.
    #[arg(long, value_name = "NAME")]
    pub allow_context: Option<String>,
    /// Write to the cluster (without it: every check, the plan printed, nothing written).
    #[arg(long, conflicts_with = "server_dry_run")]
    pub apply: bool,
    /// Send each patch with dryRun=All (the server checks it and writes nothing).
    #[arg(long)]
    pub server_dry_run: bool,
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    #[arg(long, default_value_t = 10)]
    pub max_replicas: u32,
    /// Leave the replicas as the replay ended (no restore at a normal end).
    #[arg(long)]
    pub keep: bool,
    /// Stop and restore when another writer changed a Deployment.
    #[arg(long)]
    pub strict: bool,
    /// Replay although an HPA targets the Deployment.
    #[arg(long)]
    pub ignore_hpa: bool,
    /// Write Deployments without the label autosim.dev/replay: "allowed".
    #[arg(long)]
    pub allow_unlabeled: bool,
    /// Where to write [default: RUN/<policy>/live].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Between polls of the recorder.
    #[arg(long, default_value = "1s")]
    pub poll: String,
    /// How long to keep recording after the last call.
    #[arg(long, default_value = "60s")]
    pub tail: String,
    /// The longest wait for the starting replicas to be ready.
    #[arg(long, default_value = "5m")]
    pub ready_timeout: String,
}

fn duration(flag: &str, v: &str) -> Result<Duration, LiveError> {
    parse_duration(v).map(|d| Duration::from_nanos(d.nanos())).map_err(|e| LiveError::refused(format!("--{flag} {v:?}: {e}")))
}

pub fn dispatch(cmd: LiveCommand) -> Result<(), LiveError> {
    match cmd {
        LiveCommand::Plan { run, policy, map, speed, max_replicas, out } => {
            let p = super::plan::build(&run, &PlanOptions { policy: policy.clone(), map, speed, max_replicas })?;
            print!("{}", super::plan::text(&p));
            let dir = out.unwrap_or_else(|| run.join(&policy).join("live"));
            let path = dir.join("plan.csv");
            crate::output::write_atomic(&path, &super::plan::csv(&p)?)?;
            println!("plan in {}", path.display());
            Ok(())
        }
        LiveCommand::Replay(a) => {
            let opts = super::replay::ReplayOptions {
                run: a.run,
                plan: PlanOptions { policy: a.policy, map: a.map, speed: a.speed, max_replicas: a.max_replicas },
                namespace: a.namespace,
                context: a.context,
                kubeconfig: a.kubeconfig,
                allow_context: a.allow_context,
                apply: a.apply,
                server_dry_run: a.server_dry_run,
                keep: a.keep,
                strict: a.strict,
                ignore_hpa: a.ignore_hpa,
                allow_unlabeled: a.allow_unlabeled,
                out: a.out,
                poll: duration("poll", &a.poll)?.max(Duration::from_millis(10)),
                tail: duration("tail", &a.tail)?,
                ready_timeout: duration("ready-timeout", &a.ready_timeout)?,
            };
            super::runtime()?.block_on(super::replay::replay(&opts))?;
            Ok(())
        }
        LiveCommand::Record { namespace, deployments, duration: d, poll, context, kubeconfig, out } => {
            if namespace.is_empty() {
                return Err(LiveError::refused("--namespace is required"));
            }
            let opts = super::recorder::RecordOptions {
                namespace: namespace.clone(),
                deployments,
                duration: duration("duration", &d)?,
                poll: duration("poll", &poll)?.max(Duration::from_millis(10)),
                out: out.unwrap_or_else(|| PathBuf::from("reports").join("live-record")),
            };
            // Read only: any context may be recorded (nothing is written to it).
            let target = super::guard::resolve(kubeconfig, context.as_deref())?;
            super::runtime()?.block_on(async {
                let kube = super::client::Kube::connect(&target, &namespace).await?;
                kube.ping().await?;
                super::recorder::record(&kube, &opts).await
            })?;
            Ok(())
        }
        LiveCommand::Restore { dir, kubeconfig, allow_context } => {
            let journal = super::journal::Journal::read(&dir)?;
            let target = super::guard::target(
                Some(kubeconfig.unwrap_or_else(|| journal.kubeconfig.clone())),
                Some(&journal.context),
                allow_context.as_deref(),
            )?;
            super::guard::check_namespace(&journal.namespace)?;
            super::runtime()?.block_on(async {
                let kube = super::client::Kube::connect(&target, &journal.namespace).await?;
                kube.ping().await?;
                let done = super::journal::restore(&kube, &journal).await;
                let mut failed = Vec::new();
                for r in &done {
                    match &r.result {
                        Ok(()) => println!("restored {}/{} to {} replicas", journal.namespace, r.deployment, r.replicas),
                        Err(e) => failed.push(e.clone()),
                    }
                }
                if failed.is_empty() {
                    let mut j = journal.clone();
                    j.restored_at_unix_s = Some(super::journal::now_unix_s());
                    let at = if dir.is_file() { dir.parent().unwrap_or(std::path::Path::new(".")).to_path_buf() } else { dir.clone() };
                    j.write(&at).map_err(|e| LiveError::refused(e.message))?;
                    Ok(())
                } else {
                    Err(LiveError::cluster(failed.join("; ")))
                }
            })?;
            Ok(())
        }
        LiveCommand::Calibrate { dir, scenario, service, write_scenario, fit, force, out } => {
            let opts = super::calibrate::CalibrateOptions { dir, scenario, service, write_scenario, fit, force, out };
            super::calibrate::calibrate(&opts)
        }
        LiveCommand::K6 { scenario, service, url, speed, out } => super::k6::export(&scenario, &service, &url, speed, out),
    }
}
