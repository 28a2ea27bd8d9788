//! A run's `timeseries.csv` and `decisions.csv` streamed to disk as the engine produces them:
//! the sink the run layer hands each simulation, so that memory does not grow with the run's
//! length. Rows go to temporary files in the output folder; [`Streamed::commit`] renames them
//! into the policy's folder once the run has succeeded (whole files or none, as
//! [`super::write_atomic`] gives the others), and they are removed if it never does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::render::view::{AgainError, DecisionRec, RowsAgain, ShownCounts};
use crate::report::{DecisionRow, Row, RowSink};

use super::{OutputError, Result, DECISIONS_HEADER, TIMESERIES_HEADER};

/// One CSV file being written: its temporary path, its writer, the first error met.
struct Part {
    path: PathBuf,
    w: Option<csv::Writer<BufWriter<File>>>,
    rows: u64,
    header_if_empty: &'static [&'static str],
    error: Option<String>,
}

impl Part {
    fn create(path: PathBuf, header_if_empty: &'static [&'static str]) -> Result<Part> {
        let _ = fs::remove_file(&path);
        let f = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|err| OutputError::Create { path: path.clone(), err })?;
        let w = csv::WriterBuilder::new().has_headers(true).from_writer(BufWriter::with_capacity(1 << 16, f));
        Ok(Part { path, w: Some(w), rows: 0, header_if_empty, error: None })
    }

    fn write<T: Serialize>(&mut self, row: &T) {
        if self.error.is_some() {
            return;
        }
        if let Some(w) = &mut self.w {
            match w.serialize(row) {
                Ok(()) => self.rows += 1,
                Err(e) => self.error = Some(e.to_string()),
            }
        }
    }

    /// Write the header of an empty file, flush, and close.
    fn close(&mut self) {
        let Some(mut w) = self.w.take() else { return };
        if self.error.is_none() && self.rows == 0 {
            if let Err(e) = w.write_record(self.header_if_empty) {
                self.error = Some(e.to_string());
            }
        }
        match w.into_inner() {
            Ok(mut b) => {
                if let Err(e) = b.flush() {
                    self.error.get_or_insert(e.to_string());
                }
            }
            Err(e) => {
                self.error.get_or_insert(e.to_string());
            }
        }
    }
}

struct State {
    timeseries: Part,
    decisions: Part,
    closed: bool,
}

impl State {
    fn close(&mut self) {
        self.timeseries.close();
        self.decisions.close();
        self.closed = true;
    }
}

/// The files of one policy's rows, to commit once the run is over.
pub struct Streamed {
    state: Arc<Mutex<State>>,
    committed: bool,
}

/// The sink handed to the engine: writes each row as it comes.
struct CsvRows {
    state: Arc<Mutex<State>>,
}

/// Start streaming the rows of one run to temporary files in `dir` (the output folder, so that
/// the final rename stays on one file system); `tag` tells the runs of one folder apart.
/// Returns the sink for the engine and the handle that commits the files.
pub fn stream(dir: &Path, tag: usize) -> Result<(Box<dyn RowSink>, Streamed)> {
    fs::create_dir_all(dir).map_err(|err| OutputError::CreateFolder { dir: dir.to_path_buf(), err })?;
    let pid = std::process::id();
    let ts = Part::create(dir.join(format!(".autosim-{tag}-timeseries.csv.tmp-{pid}")), TIMESERIES_HEADER)?;
    let dec = match Part::create(dir.join(format!(".autosim-{tag}-decisions.csv.tmp-{pid}")), DECISIONS_HEADER) {
        Ok(d) => d,
        Err(e) => {
            let _ = fs::remove_file(&ts.path);
            return Err(e);
        }
    };
    let state = Arc::new(Mutex::new(State { timeseries: ts, decisions: dec, closed: false }));
    Ok((Box::new(CsvRows { state: Arc::clone(&state) }), Streamed { state, committed: false }))
}

impl RowSink for CsvRows {
    fn timeseries(&mut self, row: Row) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).timeseries.write(&row);
    }

    fn decision(&mut self, row: DecisionRow) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).decisions.write(&row);
    }

    fn into_kept(self: Box<Self>) -> (Vec<Row>, Vec<DecisionRow>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).close();
        (Vec::new(), Vec::new())
    }
}

impl Streamed {
    /// Move the finished files into `pdir` as `timeseries.csv` and `decisions.csv`; returns
    /// their paths. Fails if the run did not finish or a write failed (the files are then
    /// removed and whatever was in `pdir` is left as it was).
    pub fn commit(&mut self, pdir: &Path) -> Result<Vec<PathBuf>> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !st.closed {
            return Err(OutputError::RowsUnfinished);
        }
        for p in [&st.timeseries, &st.decisions] {
            if let Some(e) = &p.error {
                return Err(OutputError::RowsWrite { path: p.path.clone(), message: e.clone() });
            }
        }
        fs::create_dir_all(pdir).map_err(|err| OutputError::CreateFolder { dir: pdir.to_path_buf(), err })?;
        let mut out = Vec::new();
        for (p, name) in [(&st.timeseries, "timeseries.csv"), (&st.decisions, "decisions.csv")] {
            if let Ok(f) = File::open(&p.path) {
                f.sync_all().ok();
            }
            let to = pdir.join(name);
            fs::rename(&p.path, &to).map_err(|err| OutputError::Rename { path: to.clone(), err })?;
            out.push(to);
        }
        drop(st);
        self.committed = true;
        Ok(out)
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if !self.committed {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.timeseries.w = None;
            st.decisions.w = None;
            let _ = fs::remove_file(&st.timeseries.path);
            let _ = fs::remove_file(&st.decisions.path);
        }
    }
}

/// A policy's rows read back from its folder for the human reports.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// The timeseries' first step (enough for the reports' text, which needs the services'
    /// order; the figures read the rows again, through [`Again`]).
    pub timeseries: Vec<Row>,
    /// A bounded selection of the decisions, in file order: the ones the reports list (the
    /// largest scale-ups and -downs, the first blocked decisions and fallbacks).
    pub decisions: Vec<DecisionRec>,
    /// How many decisions there were in all.
    pub total: usize,
    /// How many of each kind the reports count.
    pub counts: ShownCounts,
}

/// A policy's folder, its rows read again from the start for each pass a figure makes over
/// them (so the figures of a long run are drawn in memory bounded by their pixels).
#[derive(Debug, Clone)]
pub struct Again {
    pub dir: PathBuf,
}

impl Again {
    fn read<T: serde::de::DeserializeOwned + 'static>(&self, name: &str) -> std::result::Result<Box<dyn Iterator<Item = std::result::Result<T, AgainError>>>, AgainError> {
        let path = self.dir.join(name);
        let r = csv::Reader::from_path(&path).map_err(|err| OutputError::Read { path: path.clone(), err })?;
        Ok(Box::new(r.into_deserialize().map(move |row| row.map_err(|err| OutputError::Read { path: path.clone(), err }.into()))))
    }
}

impl RowsAgain for Again {
    fn timeseries(&self) -> std::result::Result<Box<dyn Iterator<Item = std::result::Result<Row, AgainError>> + '_>, AgainError> {
        self.read("timeseries.csv")
    }

    fn decisions(&self) -> std::result::Result<Box<dyn Iterator<Item = std::result::Result<DecisionRec, AgainError>> + '_>, AgainError> {
        self.read("decisions.csv")
    }
}

/// Keep the `keep` largest changes (`size`), the earliest first among equals (the order
/// [`crate::render::markdown::notable`] lists them in), as decisions stream past.
fn keep_top(top: &mut Vec<(u32, f64, usize, DecisionRec)>, keep: usize, size: u32, idx: usize, d: &DecisionRec) {
    // Before the new entry: larger changes, then earlier ones (or earlier in the file).
    let pos = top.partition_point(|e| e.0.cmp(&size).reverse().then(e.1.total_cmp(&d.time_s)).then(e.2.cmp(&idx)).is_lt());
    if pos < keep {
        top.insert(pos, (size, d.time_s, idx, d.clone()));
        top.truncate(keep);
    }
}

/// Read back a policy's rows from its folder for the human reports, in memory that does not
/// grow with the run's length. The selection gives the reports exactly what all the decisions
/// would ([`crate::render::markdown::notable`] takes its counts from [`ReadBack::counts`]).
pub fn read_back(pdir: &Path) -> Result<ReadBack> {
    use crate::render::markdown::{NOTABLE_BLOCKED, NOTABLE_DOWNS, NOTABLE_FALLBACKS, NOTABLE_UPS};
    let path = pdir.join("timeseries.csv");
    let mut r = csv::Reader::from_path(&path).map_err(|err| OutputError::Read { path: path.clone(), err })?;
    let mut timeseries: Vec<Row> = Vec::new();
    for row in r.deserialize() {
        let row: Row = row.map_err(|err| OutputError::Read { path: path.clone(), err })?;
        if timeseries.first().is_some_and(|f| f.time_s != row.time_s) {
            break;
        }
        timeseries.push(row);
    }
    let path = pdir.join("decisions.csv");
    let mut r = csv::Reader::from_path(&path).map_err(|err| OutputError::Read { path: path.clone(), err })?;
    let mut counts = ShownCounts::default();
    let (mut ups, mut downs) = (Vec::new(), Vec::new());
    // Kept (listed by the reports): by position in the file.
    let mut kept: BTreeMap<usize, DecisionRec> = BTreeMap::new();
    let mut total = 0;
    for row in r.deserialize() {
        let d: DecisionRec = row.map_err(|err| OutputError::Read { path: path.clone(), err })?;
        let idx = total;
        total += 1;
        if d.verdict == "apply" && d.from != d.to {
            counts.applied += 1;
            if d.to > d.from {
                keep_top(&mut ups, NOTABLE_UPS, d.to - d.from, idx, &d);
            } else {
                keep_top(&mut downs, NOTABLE_DOWNS, d.from - d.to, idx, &d);
            }
        }
        if d.verdict == "blocked" {
            counts.blocked += 1;
            if counts.blocked <= NOTABLE_BLOCKED {
                kept.insert(idx, d.clone());
            }
        }
        if d.reason.to_lowercase().contains("fallback") {
            counts.fallbacks += 1;
            if counts.fallbacks <= NOTABLE_FALLBACKS {
                kept.insert(idx, d.clone());
            }
        }
    }
    for (_, _, idx, d) in ups.into_iter().chain(downs) {
        kept.insert(idx, d);
    }
    Ok(ReadBack { timeseries, decisions: kept.into_values().collect(), total, counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f64, service: &str) -> Row {
        Row { time_s: t, service: service.into(), load_rps: t / 3.0, completed: 7, cpu_utilization: 0.1 + t, ..Row::default() }
    }

    fn decision(t: f64, reason: &str) -> DecisionRow {
        DecisionRow { time_s: t, controller: "pods", kind: "hpa", target: "api".into(), from: 2, to: 3, verdict: "apply", reason: reason.into() }
    }

    #[test]
    fn streamed_files_are_the_bytes_of_the_kept_rows() {
        let d = tempfile::tempdir().unwrap();
        let rows = vec![row(30.0, "api"), row(30.0, "db"), row(60.0, "api"), row(60.0, "db")];
        let decisions = vec![decision(15.0, "cpu 80% of 60%, \"quoted\""), decision(30.0, "")];
        let (mut sink, mut streamed) = stream(d.path(), 0).unwrap();
        for r in &rows {
            sink.timeseries(r.clone());
        }
        for r in &decisions {
            sink.decision(r.clone());
        }
        let (kept_rows, kept_decisions) = sink.into_kept();
        assert!(kept_rows.is_empty() && kept_decisions.is_empty());
        let written = streamed.commit(&d.path().join("p")).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(fs::read(d.path().join("p/timeseries.csv")).unwrap(), super::super::csv_bytes(&rows, TIMESERIES_HEADER).unwrap());
        assert_eq!(fs::read(d.path().join("p/decisions.csv")).unwrap(), super::super::csv_bytes(&decisions, DECISIONS_HEADER).unwrap());
        // Nothing temporary is left beside the policy's folder.
        let left: Vec<_> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("p")]);
        // Read back for the reports: the first step only, and the decisions they show.
        let back = read_back(&d.path().join("p")).unwrap();
        assert_eq!(back.timeseries.iter().map(|r| r.service.as_str()).collect::<Vec<_>>(), ["api", "db"]);
        assert_eq!((back.decisions.len(), back.total, back.counts.applied), (2, 2, 2));
    }

    #[test]
    fn empty_runs_get_the_headers_and_unfinished_ones_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let (sink, mut streamed) = stream(d.path(), 3).unwrap();
        let _ = sink.into_kept();
        streamed.commit(&d.path().join("p")).unwrap();
        assert_eq!(fs::read(d.path().join("p/timeseries.csv")).unwrap(), super::super::csv_bytes::<Row>(&[], TIMESERIES_HEADER).unwrap());
        assert_eq!(fs::read(d.path().join("p/decisions.csv")).unwrap(), super::super::csv_bytes::<DecisionRow>(&[], DECISIONS_HEADER).unwrap());
        // A run that never finished: its commit fails, and dropping it removes its files.
        let e = tempfile::tempdir().unwrap();
        let (mut sink, mut streamed) = stream(e.path(), 0).unwrap();
        sink.timeseries(row(1.0, "api"));
        assert!(streamed.commit(&e.path().join("p")).is_err());
        drop(sink);
        drop(streamed);
        assert_eq!(fs::read_dir(e.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_selection_read_back_gives_the_reports_what_all_decisions_give() {
        use crate::render::markdown::policy_notes;
        use crate::render::view::PolicyRun;
        // Ties in size and time, long runs of holds, blocked decisions and fallbacks, two
        // controllers: more of each than the reports list.
        let mut all = Vec::new();
        for k in 0..400u32 {
            let t = f64::from(k / 3) * 15.0;
            let (from, to, verdict, reason, controller) = match k % 9 {
                0 => (2, 2 + k % 7, "apply", "cpu high".to_string(), "pods"),
                1 => (9, 9 - k % 5, "apply", "cpu low".to_string(), "pods"),
                2 => (3, 3, "apply", String::new(), "pods"),
                3 => (3, 5, "blocked", format!("budget {k}"), "pods"),
                4 => (4, 6, "apply", format!("Fallback to the HPA {k}"), "pods"),
                5 => (1, 2, "apply", "a node".to_string(), "nodes"),
                _ => (3, 3, "hold", "within tolerance".to_string(), "pods"),
            };
            all.push(DecisionRec { time_s: t, controller: controller.into(), kind: "hpa".into(), target: "api".into(), from, to, verdict: verdict.into(), reason });
        }
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("timeseries.csv"), super::super::csv_bytes(&[row(60.0, "api"), row(120.0, "api")], TIMESERIES_HEADER).unwrap()).unwrap();
        fs::write(d.path().join("decisions.csv"), super::super::csv_bytes(&all, DECISIONS_HEADER).unwrap()).unwrap();
        let run = |decisions: Vec<DecisionRec>, total: Option<usize>, counts: Option<ShownCounts>| PolicyRun {
            label: "p".into(),
            summary: Default::default(),
            timeseries: Vec::new(),
            decisions,
            latency_cdf: Vec::new(),
            decisions_total: total,
            shown_counts: counts,
            again: None,
        };
        let whole = policy_notes(&run(all.clone(), None, None));
        let back = read_back(d.path()).unwrap();
        assert_eq!(back.total, all.len());
        assert_eq!(back.timeseries.len(), 1);
        assert!(back.decisions.len() <= 16, "{} decisions kept", back.decisions.len());
        let notes = policy_notes(&run(back.decisions, Some(back.total), Some(back.counts)));
        assert_eq!(notes.lines, whole.lines);
        assert_eq!(notes.lists, whole.lists);
        // Read again, every row comes back, in order.
        let again = Again { dir: d.path().to_path_buf() };
        assert_eq!(again.decisions().unwrap().map(Result::unwrap).collect::<Vec<_>>(), all);
        assert_eq!(again.timeseries().unwrap().map(|r| r.unwrap().time_s).collect::<Vec<_>>(), [60.0, 120.0]);
    }
}
