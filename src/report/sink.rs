//! Where a run's rows go as the engine produces them: the timeseries (one row per service per
//! step) and the decisions (one row per policy call's decision). The caller hands the engine a
//! sink; the engine only calls it, so it stays free of files. [`KeepRows`], the default, keeps
//! them for the report (tests, sweeps); the run layer streams them to their CSV files instead,
//! so a run's memory does not grow with its length.

use super::{DecisionRow, Row};

/// Takes the rows of one run, in the order they are produced.
pub trait RowSink: Send {
    /// A timeseries row (rows of one step come in service order, with the same time).
    fn timeseries(&mut self, row: Row);
    /// A decision of a policy, applied or not.
    fn decision(&mut self, row: DecisionRow);
    /// The end of the run: the rows this sink kept for the report (none for a sink that
    /// wrote them elsewhere).
    fn into_kept(self: Box<Self>) -> (Vec<Row>, Vec<DecisionRow>);
}

/// Keeps every row in memory, for the report's `timeseries` and `decisions`.
#[derive(Debug, Default)]
pub struct KeepRows {
    pub timeseries: Vec<Row>,
    pub decisions: Vec<DecisionRow>,
}

impl RowSink for KeepRows {
    fn timeseries(&mut self, row: Row) {
        self.timeseries.push(row);
    }

    fn decision(&mut self, row: DecisionRow) {
        self.decisions.push(row);
    }

    fn into_kept(self: Box<Self>) -> (Vec<Row>, Vec<DecisionRow>) {
        (self.timeseries, self.decisions)
    }
}

/// Drops every row: for callers that read only the summary (sweeps, CI gates), whose memory
/// then does not grow with the run's length either. The summary does not depend on the rows
/// kept.
#[derive(Debug, Default)]
pub struct DropRows;

impl RowSink for DropRows {
    fn timeseries(&mut self, _row: Row) {}

    fn decision(&mut self, _row: DecisionRow) {}

    fn into_kept(self: Box<Self>) -> (Vec<Row>, Vec<DecisionRow>) {
        (Vec::new(), Vec::new())
    }
}
