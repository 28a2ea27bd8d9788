//! Errors in scenario files, reported with the file, line and column and what was expected.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem found while reading or validating a scenario, located by a byte span in its source.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { span: None, message: message.into() }
    }

    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Self { span: Some(span), message: message.into() }
    }

    /// Attach a span if the error has none yet.
    pub fn or_at(mut self, span: Range<usize>) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }
}

impl From<toml::de::Error> for ConfigError {
    fn from(e: toml::de::Error) -> Self {
        // Values are quoted short: the text may be a file a scenario names.
        Self { span: e.span(), message: crate::quote::shorten(&plain_words(e.message().trim())) }
    }
}

/// Serde's messages in the words of a scenario file: keys and values, whole numbers.
pub fn plain_words(message: &str) -> String {
    let mut m = message
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace("unknown variant", "unknown value")
        .replace("duplicate field", "duplicate key");
    for (t, words) in [
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected u16", "expected a whole number (0 or more)"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a table"),
        ("expected a string", "expected a text string"),
    ] {
        m = m.replace(t, words);
    }
    m
}

/// A `ConfigError` placed in its file: what the user sees.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column (in characters), when the error has a place.
    pub position: Option<(usize, usize)>,
    pub message: String,
    /// The offending source line and a caret marker under the span.
    pub snippet: Option<String>,
}

impl ScenarioError {
    pub fn locate(file: &Path, source: &str, err: ConfigError) -> Self {
        let (position, snippet) = match err.span {
            Some(span) => {
                let (line, col, text) = line_col(source, span.start);
                let width = span.end.saturating_sub(span.start).max(1);
                let line_end = text.chars().count() + 1;
                let width = width.min(line_end.saturating_sub(col)).max(1);
                let gutter = line.to_string().len();
                let snippet = format!(
                    "{:gutter$} |\n{line} | {text}\n{:gutter$} | {}{}",
                    "",
                    "",
                    " ".repeat(col - 1),
                    "^".repeat(width),
                );
                (Some((line, col)), Some(snippet))
            }
            None => (None, None),
        };
        Self { file: file.to_path_buf(), position, message: err.message, snippet }
    }

    /// An error about the file as a whole (it cannot be read, say).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), position: None, message: message.into(), snippet: None }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset, and the text of that line.
pub fn line_col(source: &str, offset: usize) -> (usize, usize, &str) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..floor_char_boundary(source, offset)].chars().count() + 1;
    let line_end = source[line_start..].find('\n').map_or(source.len(), |i| line_start + i);
    (line, col, source[line_start..line_end].trim_end_matches('\r'))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let src = "a = 1\nbb = \"x\"\n";
        let e = ScenarioError::locate(Path::new("s.toml"), src, ConfigError::at(11..14, "bad"));
        assert_eq!(e.position, Some((2, 6)));
        let shown = e.to_string();
        assert!(shown.starts_with("s.toml:2:6: bad"), "{shown}");
        assert!(shown.contains("2 | bb = \"x\""), "{shown}");
        assert!(shown.contains("^^^"), "{shown}");
    }
}
