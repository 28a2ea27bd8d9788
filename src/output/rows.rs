//! A run's `timeseries.csv` and `decisions.csv` streamed to disk as the engine produces them:
//! the sink the run layer hands each simulation, so that memory does not grow with the run's
//! length. Rows go to temporary files in the output folder; [`Streamed::commit`] renames them
//! into the policy's folder once the run has succeeded (whole files or none, as
//! [`super::write_atomic`] gives the others), and they are removed if it never does.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::render::view::DecisionRec;
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

/// A policy's rows read back from its folder for the human reports: the decisions they show
/// ([`DecisionRec::shown`]) and how many there were in all, and the timeseries whole
/// (`all_steps`, for the figures) or only its first step (enough for the reports' text, which
/// needs the services' order).
pub fn read_back(pdir: &Path, all_steps: bool) -> Result<(Vec<Row>, Vec<DecisionRec>, usize)> {
    let path = pdir.join("timeseries.csv");
    let mut r = csv::Reader::from_path(&path).map_err(|err| OutputError::Read { path: path.clone(), err })?;
    let mut timeseries: Vec<Row> = Vec::new();
    for row in r.deserialize() {
        let row: Row = row.map_err(|err| OutputError::Read { path: path.clone(), err })?;
        if !all_steps && timeseries.first().is_some_and(|f| f.time_s != row.time_s) {
            break;
        }
        timeseries.push(row);
    }
    let path = pdir.join("decisions.csv");
    let mut r = csv::Reader::from_path(&path).map_err(|err| OutputError::Read { path: path.clone(), err })?;
    let mut decisions = Vec::new();
    let mut total = 0;
    for row in r.deserialize() {
        let d: DecisionRec = row.map_err(|err| OutputError::Read { path: path.clone(), err })?;
        total += 1;
        if d.shown() {
            decisions.push(d);
        }
    }
    Ok((timeseries, decisions, total))
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
        let (ts, shown, total) = read_back(&d.path().join("p"), false).unwrap();
        assert_eq!(ts.iter().map(|r| r.service.as_str()).collect::<Vec<_>>(), ["api", "db"]);
        assert_eq!((shown.len(), total), (2, 2));
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
}
