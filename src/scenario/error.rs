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
    pub fn locate(file: &Path, source: &str, mut err: ConfigError) -> Self {
        if let Some(end) = err.span.as_ref().and_then(|span| unclosed_inline_table(source, span.start, &err.message)) {
            err.span = Some(end..end);
            err.message = format!("unclosed inline table: a `{{` on this line has no `}}` (an inline table ends on its own line); {}", err.message);
        }
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

/// Where an unclosed inline table really is. TOML reports a missing `,` or `}` where the next
/// line begins (after blank and comment lines, often at the next table), but an inline table
/// must end on the line it opens on: the place is the end of the last line with content before
/// the error, when that line has more `{` than `}` outside strings.
fn unclosed_inline_table(source: &str, at: usize, message: &str) -> Option<usize> {
    if !message.contains("expected `,`") && !message.contains("expected `}`") {
        return None;
    }
    let at = floor_char_boundary(source, at.min(source.len()));
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    if !source[line_start..at].trim().is_empty() {
        return None;
    }
    let mut end = line_start;
    while end > 0 {
        let prev_start = source[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        let line = &source[prev_start..end - 1];
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            end = prev_start;
            continue;
        }
        let (mut open, mut quote) = (0i32, None::<char>);
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '{') => open += 1,
                (None, '}') => open -= 1,
                _ => {}
            }
        }
        return (open > 0).then_some(prev_start + line.trim_end().len());
    }
    None
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

    /// An unclosed inline table is placed at the end of its own line, not where TOML noticed
    /// it (the next line with content, past blank and comment lines).
    #[test]
    fn an_unclosed_inline_table_is_placed_on_its_own_line() {
        let src = "a = 1\nt = { dist = \"x{\", mean = \"5s\"  \n\n# note\n[[policies]]\n";
        let toml_err: toml::de::Error = toml::from_str::<toml::Table>(src).unwrap_err();
        let e = ScenarioError::locate(Path::new("s.toml"), src, toml_err.into());
        assert_eq!(e.position, Some((2, 31)), "{e}");
        assert!(e.message.starts_with("unclosed inline table"), "{e}");
        // A closed table followed by a real missing comma stays where TOML put it.
        let src = "t = { a = 1 }\nb = 2 3\n";
        let toml_err: toml::de::Error = toml::from_str::<toml::Table>(src).unwrap_err();
        let e = ScenarioError::locate(Path::new("s.toml"), src, toml_err.into());
        assert!(!e.message.starts_with("unclosed"), "{e}");
    }
}
