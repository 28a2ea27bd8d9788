//! The human side of a run's results: what the reports and figures are drawn from (`view`),
//! the Markdown and HTML reports, the figures (`charts`, on `crate::plot`), and numbers for
//! people (`format`). Reads `crate::report`'s results; writes no files (`crate::output` does).

pub mod charts;
pub mod format;
pub mod html;
pub mod markdown;
pub mod passes;
pub mod view;
