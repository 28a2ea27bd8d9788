//! Kubernetes YAML manifests: the files users already have (`kubectl apply -f hpa.yaml`).
//! A file may hold several documents (`---`) of any kinds; the ones asked for are picked by
//! `kind`, the others are skipped. Errors name the file, line and column.

use std::path::Path;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

/// A manifest that cannot be read or parsed: the file, the line and column in it when the YAML
/// says where, and what is wrong. Its message is `file:line:column: problem`.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
pub struct ManifestError {
    pub path: String,
    /// 1-based line in the file and column, when known.
    pub at: Option<(usize, usize)>,
    pub problem: ManifestProblem,
}

/// What is wrong with a manifest.
#[derive(Debug)]
pub enum ManifestProblem {
    NotFound,
    Unreadable(std::io::Error),
    /// The YAML does not parse, or a document does not have the shape its kind needs.
    Yaml(String),
}

/// Parsers of documents that still report plain text take the error's message.
impl From<ManifestError> for String {
    fn from(e: ManifestError) -> String {
        e.to_string()
    }
}

impl ManifestError {
    fn message(&self) -> String {
        let problem = match &self.problem {
            ManifestProblem::NotFound => "manifest not found (the path is relative to the scenario's folder)".to_string(),
            ManifestProblem::Unreadable(e) => format!("cannot read the manifest: {e}"),
            ManifestProblem::Yaml(m) => m.clone(),
        };
        match self.at {
            Some((line, column)) => format!("{}:{line}:{column}: {problem}", self.path),
            None => format!("{}: {problem}", self.path),
        }
    }
}

/// One document of a manifest file: its kind, name and where it starts.
pub struct Document<'a> {
    pub kind: String,
    pub api_version: String,
    pub name: String,
    /// The document's text and its first line in the file (1-based).
    text: &'a str,
    first_line: usize,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    metadata: Option<HeadMeta>,
    // Everything else is read by the typed pass.
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct HeadMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, IgnoredAny>,
}

/// `metadata`, as far as autosim reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, IgnoredAny>,
}

/// A whole file, split into documents.
pub struct Manifest {
    pub path: String,
    text: String,
}

impl Manifest {
    /// Read `file` (relative to `base_dir`).
    pub fn read(base_dir: &Path, file: &str) -> Result<Manifest, ManifestError> {
        let path = base_dir.join(file);
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let problem = match e.kind() {
                std::io::ErrorKind::NotFound => ManifestProblem::NotFound,
                _ => ManifestProblem::Unreadable(e),
            };
            ManifestError { path: shown.clone(), at: None, problem }
        })?;
        Ok(Manifest { path: shown, text })
    }

    /// From text (for tests and for `autosim explain`).
    pub fn from_text(path: &str, text: &str) -> Manifest {
        Manifest { path: path.to_string(), text: text.to_string() }
    }

    /// The documents with a `kind`, in order.
    pub fn documents(&self) -> Result<Vec<Document<'_>>, ManifestError> {
        let mut out = Vec::new();
        for (text, first_line) in split_documents(&self.text) {
            if text.trim().lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
                continue;
            }
            let head: Head = from_str(text).map_err(|e| self.error(&e, first_line))?;
            let Some(kind) = head.kind else { continue };
            out.push(Document {
                kind,
                api_version: head.api_version.unwrap_or_default(),
                name: head.metadata.and_then(|m| m.name).unwrap_or_default(),
                text,
                first_line,
            });
        }
        Ok(out)
    }

    /// Deserialize a document as `T` (unknown fields refused by `T`).
    pub fn parse<T: DeserializeOwned>(&self, doc: &Document<'_>) -> Result<T, ManifestError> {
        from_str(doc.text).map_err(|e| self.error(&e, doc.first_line))
    }

    fn error(&self, e: &serde_saphyr::Error, first_line: usize) -> ManifestError {
        let msg = e.to_string();
        // The message may carry its own "at line L, column C"; the place is given in front.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).trim().to_string();
        // The file may be any file: its values are quoted short.
        let msg = crate::quote::shorten(&msg);
        let at = e.location().map(|l| (l.line() as usize + first_line - 1, l.column() as usize));
        ManifestError { path: self.path.clone(), at, problem: ManifestProblem::Yaml(msg) }
    }

    /// Where a document starts, for messages about its content.
    pub fn place(&self, doc: &Document<'_>) -> String {
        format!("{}:{}", self.path, doc.first_line)
    }
}

/// Deserialize one document without a source snippet in errors: the message names the file's
/// own line and column (a snippet would number the document's lines, and repeat the place).
fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { with_snippet: false })
}

/// The documents of a YAML stream with their first line (1-based): split at lines that are
/// `---` (optionally followed by a space or a comment) and at `...`.
fn split_documents(text: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let l = line.trim_end();
        let is_marker = l == "---" || l.starts_with("--- ") || l.starts_with("---\t") || l == "...";
        if is_marker {
            out.push((&text[start..offset], start_line));
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    out.push((&text[start..], start_line));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        #[serde(rename = "apiVersion")]
        _api: String,
        kind: String,
        metadata: Metadata,
        spec: Spec,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Spec {
        size: u32,
    }

    const TEXT: &str = "# a comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: []\n---\napiVersion: x/v1\nkind: Thing\nmetadata:\n  name: a\n  labels: {app: a}\nspec:\n  size: 3\n---\n\n---\napiVersion: x/v1\nkind: Thing\nmetadata:\n  name: b\nspec:\n  sise: 3\n";

    #[test]
    fn picks_documents_by_kind() {
        let m = Manifest::from_text("m.yaml", TEXT);
        let docs = m.documents().unwrap();
        let kinds: Vec<_> = docs.iter().map(|d| (d.kind.as_str(), d.name.as_str())).collect();
        assert_eq!(kinds, vec![("Service", "web"), ("Thing", "a"), ("Thing", "b")]);
        let a: Thing = m.parse(&docs[1]).unwrap();
        assert_eq!((a.kind.as_str(), a.metadata.name.as_str(), a.spec.size), ("Thing", "a", 3));
        assert_eq!(m.place(&docs[2]), "m.yaml:19");
    }

    #[test]
    fn errors_carry_the_file_line_and_column() {
        let m = Manifest::from_text("m.yaml", TEXT);
        let docs = m.documents().unwrap();
        let e = m.parse::<Thing>(&docs[2]).unwrap_err();
        assert_eq!(e.at.map(|(line, _)| line), Some(24));
        assert!(matches!(e.problem, ManifestProblem::Yaml(_)));
        let e = e.to_string();
        assert!(e.starts_with("m.yaml:24:"), "{e}");
        assert!(e.contains("sise"), "{e}");
        // The place once, in front: no snippet numbering the document's own lines.
        assert!(!e.contains("-->") && !e.contains("line ") && !e.contains('\n'), "{e}");
        let bad = Manifest::from_text("b.yaml", "kind: X\nmetadata: [\n");
        let e = bad.documents().map(|_| ()).unwrap_err().to_string();
        assert!(e.starts_with("b.yaml:"), "{e}");
        assert!(!e.contains("-->") && !e.contains('\n'), "{e}");
    }
}
