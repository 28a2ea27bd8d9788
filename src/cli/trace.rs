//! `autosim trace inspect` and `autosim trace plot`: a trace file as a scenario would replay it, with the keys of `trace = { ... }` as flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use autosim::output;
use autosim::plot::{self, LineChart, Series};
use autosim::units::{parse_duration, Duration as SimDuration};
use autosim::workload::trace::{Column, TimeFormat, Trace, TraceSpec};

use super::BadInput;

#[derive(Subcommand)]
pub(crate) enum TraceCommand {
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
pub(crate) struct TraceOpts {
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

/// The trace keys that have a flag, as they appear in `TraceSpec`'s messages.
pub(crate) const TRACE_KEYS: &[&str] = &[
    "format", "time", "value", "values", "time_format", "header", "bin", "arrivals", "start", "end", "gaps",
    "max_gap", "speedup", "scale", "mean_rate", "peak_rate",
];

/// A trace message written for scenarios, with the keys named as flags: "`max_gap`" becomes
/// "--max-gap" and `gaps = "skip"` becomes "--gaps skip".
pub(crate) fn flag_message(msg: &str) -> String {
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
pub(crate) fn trace_choice<T: serde::de::DeserializeOwned>(flag: &str, value: &Option<String>) -> Result<Option<T>, BadInput> {
    use serde::de::value::{Error as DeError, StrDeserializer};
    value
        .as_deref()
        .map(|v| T::deserialize(StrDeserializer::<DeError>::new(v)).map_err(|e| BadInput(format!("--{flag}: {e}"))))
        .transpose()
}

pub(crate) fn trace_duration(flag: &str, value: &Option<String>) -> Result<Option<SimDuration>, BadInput> {
    value.as_deref().map(|v| parse_duration(v).map_err(|e| BadInput(format!("--{flag}: {e}")))).transpose()
}

pub(crate) fn trace_column(flag: &str, value: &Option<String>) -> Result<Option<Column>, BadInput> {
    match value.as_deref() {
        None => Ok(None),
        Some("") => Err(BadInput(format!("--{flag}: a column name cannot be empty (or give a 0-based index)"))),
        Some(v) => Ok(Some(v.parse::<usize>().map_or_else(|_| Column::Name(v.to_string()), Column::Index))),
    }
}

/// The spec the flags describe, checked as a scenario's `trace = { ... }` would be.
pub(crate) fn trace_spec(file: &Path, o: &TraceOpts) -> Result<TraceSpec, BadInput> {
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
pub(crate) fn load_trace(file: &Path, opts: &TraceOpts) -> Result<(TraceSpec, Trace)> {
    let spec = trace_spec(file, opts)?;
    if let Err(e) = std::fs::metadata(file) {
        let why = if e.kind() == std::io::ErrorKind::NotFound { "no such file".to_string() } else { e.to_string() };
        return Err(BadInput(format!("{}: cannot read the trace: {why}", file.display())).into());
    }
    // `file` is used as given: relative to the current folder.
    let trace = spec.load(Path::new("")).map_err(|e| BadInput(flag_message(&e.to_string())))?;
    Ok((spec, trace))
}

/// The value column's name of a series CSV when it says "rate" (`rps`, `qps`, `rate`,
/// `per_s`...) and `--values` is not given: the values are then read as counts per bin, which
/// the name contradicts.
pub(crate) fn rate_named_column(file: &Path, spec: &TraceSpec) -> Option<String> {
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
pub(crate) fn format_text(spec: &TraceSpec) -> String {
    let inferred = if spec.format.is_none() { " (from the file's extension)" } else { "" };
    format!("{}{inferred}", spec.format())
}

/// Say on stderr how a rate-named column is read (see [`rate_named_column`]).
pub(crate) fn note_rate_named(file: &Path, spec: &TraceSpec) {
    if let Some(name) = rate_named_column(file, spec) {
        eprintln!(
            "note: {}: column {name:?} is read as requests per bin (the default for a series); if it holds requests per second, pass --values rate (in a scenario, values = \"rate\")",
            file.display()
        );
    }
}

pub(crate) fn trace_inspect(file: &Path, opts: &TraceOpts) -> Result<()> {
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
pub(crate) const PLOT_POINTS: usize = 2000;

pub(crate) fn trace_plot(file: &Path, out: Option<PathBuf>, svg: bool, opts: &TraceOpts) -> Result<()> {
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
