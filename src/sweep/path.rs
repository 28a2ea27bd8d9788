//! Scenario values by path, and setting them in the scenario's text.
//!
//! A path names a value of the TOML document: keys joined by dots, array elements by `[N]`
//! (0-based) or by `[name]` (the element whose `name` key is `name`), keys that are not bare
//! TOML keys in double quotes:
//!
//! ```text
//! policies[hpa-cpu-60].pods.metrics[0].resource.target.average_utilization
//! services[0].replicas
//! cluster.node_pools[general].max
//! ```
//!
//! A value is set by splicing its TOML text into the scenario's text, in place of the value
//! written there, or, when the key is absent, as a new key of the nearest table that is
//! written (a line after a `[table]` header, a key in an inline table, a dotted key). The rest
//! of the file is left byte for byte, so an error the scenario's validation finds elsewhere
//! keeps its line and column, and one in a spliced value is traced back to the sweep axis.

use std::ops::Range;

use toml_edit::{Item, Value};

/// A path that does not parse, or names no value (nor a place for one) in the scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    pub kind: PathErrorKind,
    message: String,
}

/// What is wrong with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathErrorKind {
    /// The path's own text: a quote or bracket not closed, an unexpected character.
    Syntax,
    /// The scenario has no such value and no place to add it.
    Place,
    /// The scenario's text is not a TOML document.
    Toml,
}

impl PathError {
    fn syntax(message: String) -> Self {
        PathError { kind: PathErrorKind::Syntax, message }
    }
    fn place(message: String) -> Self {
        PathError { kind: PathErrorKind::Place, message }
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
    /// The array element whose `name` is this.
    Named(String),
}

/// A parsed path, with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlPath {
    pub segs: Vec<Seg>,
    pub text: String,
}

fn bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl TomlPath {
    pub fn parse(text: &str) -> Result<TomlPath, PathError> {
        let mut segs = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let expected = "expected keys joined by '.', like `policies[0].pods.max_replicas` (array elements as [N] or [name])";
        let mut want_key = true;
        while i < chars.len() {
            let c = chars[i];
            if want_key {
                if c == '"' {
                    let mut key = String::new();
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        key.push(chars[i]);
                        i += 1;
                    }
                    if i == chars.len() {
                        return Err(PathError::syntax(format!("path `{text}`: a quoted key is not closed")));
                    }
                    i += 1;
                    segs.push(Seg::Key(key));
                } else if bare(c) {
                    let mut key = String::new();
                    while i < chars.len() && bare(chars[i]) {
                        key.push(chars[i]);
                        i += 1;
                    }
                    segs.push(Seg::Key(key));
                } else {
                    return Err(PathError::syntax(format!("path `{text}`: unexpected {c:?} at character {}: {expected}", i + 1)));
                }
                want_key = false;
            } else if c == '[' {
                let close = chars[i..].iter().position(|&c| c == ']').map(|p| p + i);
                let Some(close) = close else {
                    return Err(PathError::syntax(format!("path `{text}`: a '[' is not closed")));
                };
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim().trim_matches('"').to_string();
                if inner.is_empty() {
                    return Err(PathError::syntax(format!("path `{text}`: empty []: expected an index like [0] or a name like [api]")));
                }
                segs.push(match inner.parse::<usize>() {
                    Ok(n) => Seg::Index(n),
                    Err(_) => Seg::Named(inner),
                });
                i = close + 1;
            } else if c == '.' {
                want_key = true;
                i += 1;
            } else {
                return Err(PathError::syntax(format!("path `{text}`: unexpected {c:?} at character {}: {expected}", i + 1)));
            }
        }
        if want_key {
            return Err(PathError::syntax(format!("path `{text}`: {}", if text.is_empty() { "empty path" } else { "ends with '.'" })));
        }
        Ok(TomlPath { segs, text: text.to_string() })
    }
}

/// Where and how a path's value goes into the text: the bytes `range` of the source are
/// replaced by `prefix + value + suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub range: Range<usize>,
    pub prefix: String,
    pub suffix: String,
    /// True when the key is written in the file (its value is replaced).
    pub replaces: bool,
}

fn key_text(k: &str) -> String {
    if !k.is_empty() && k.chars().all(bare) {
        k.to_string()
    } else {
        render_str(k)
    }
}

/// How keys are added to a container found on the way.
#[derive(Clone)]
enum Insert {
    /// At this byte, as `prefix dotted = value suffix`.
    At { pos: usize, prefix: String, suffix: String },
    /// Not possible here (say, inside an array of plain values).
    Nowhere(String),
}

fn header_insert(source: &str, header: Option<Range<usize>>) -> Insert {
    match header {
        Some(span) => {
            let line_end = source[span.end..].find('\n').map_or(source.len(), |i| span.end + i);
            // Before a '\r' of a CRLF line end.
            let pos = if line_end > 0 && source.as_bytes().get(line_end - 1) == Some(&b'\r') { line_end - 1 } else { line_end };
            Insert::At { pos, prefix: "\n".into(), suffix: String::new() }
        }
        None => Insert::Nowhere("a table without a place in the file".into()),
    }
}

fn inline_insert(t: &toml_edit::InlineTable) -> Insert {
    match t.span() {
        Some(span) => Insert::At {
            pos: span.start + 1,
            prefix: " ".into(),
            suffix: if t.is_empty() { " ".into() } else { ",".into() },
        },
        None => Insert::Nowhere("an inline table without a place in the file".into()),
    }
}

/// Find where `path`'s value is in `source` (a TOML document), or where it would go.
pub fn slot(source: &str, path: &TomlPath) -> Result<Slot, PathError> {
    let doc = toml_edit::Document::parse(source).map_err(|e| PathError { kind: PathErrorKind::Toml, message: e.to_string() })?;
    let root = Insert::At { pos: 0, prefix: String::new(), suffix: "\n".into() };
    table_rest(source, doc.as_table(), root, &path.segs, &path.text, "")
}

fn extend(shown: &str, seg: &Seg) -> String {
    match seg {
        Seg::Key(k) if shown.is_empty() => key_text(k),
        Seg::Key(k) => format!("{shown}.{}", key_text(k)),
        other => format!("{shown}{}", seg_text(other)),
    }
}

fn seg_text(seg: &Seg) -> String {
    match seg {
        Seg::Key(k) => key_text(k),
        Seg::Index(i) => format!("[{i}]"),
        Seg::Named(n) => format!("[{n}]"),
    }
}

/// Continue from a table (an element of an array of tables).
fn table_rest(source: &str, t: &toml_edit::Table, insert: Insert, rest: &[Seg], p: &str, shown: &str) -> Result<Slot, PathError> {
    let mut insert = insert;
    let mut dotted: Vec<String> = Vec::new();
    let mut table = t;
    let mut shown = shown.to_string();
    for (k, seg) in rest.iter().enumerate() {
        let here = if shown.is_empty() { "the scenario".to_string() } else { format!("`{shown}`") };
        let Seg::Key(key) = seg else {
            return Err(PathError::place(format!("path `{p}`: {here} is a table, not an array: expected a key after it")));
        };
        match table.get(key) {
            None => return missing(&insert, &dotted, &rest[k..], p, &here),
            Some(Item::Table(child)) => {
                if child.is_dotted() || child.is_implicit() {
                    dotted.push(key_text(key));
                } else {
                    insert = header_insert(source, child.span());
                    dotted.clear();
                }
                table = child;
            }
            Some(Item::ArrayOfTables(arr)) => {
                let shown2 = extend(&shown, seg);
                let Some(next) = rest.get(k + 1) else {
                    return Err(PathError::place(format!("path `{p}`: `{shown2}` is an array of tables: name one of its values")));
                };
                let elem = match next {
                    Seg::Index(i) => arr.get(*i).ok_or_else(|| PathError::place(format!("path `{p}`: `{shown2}` has {} elements, so no [{i}]", arr.len())))?,
                    Seg::Named(n) => arr
                        .iter()
                        .find(|t| t.get("name").and_then(|v| v.as_str()) == Some(n.as_str()))
                        .ok_or_else(|| PathError::place(format!("path `{p}`: `{shown2}` has no element with name = {n:?}")))?,
                    Seg::Key(_) => return Err(PathError::place(format!("path `{p}`: `{shown2}` is an array: expected [N] or [name] after it"))),
                };
                let ins = header_insert(source, elem.span());
                return table_rest(source, elem, ins, &rest[k + 2..], p, &format!("{shown2}{}", seg_text(next)));
            }
            Some(Item::Value(Value::InlineTable(it))) if k + 1 < rest.len() => {
                return inline_rest(it, &rest[k + 1..], p, &extend(&shown, seg));
            }
            Some(Item::Value(Value::Array(a))) if k + 1 < rest.len() => {
                return array_rest(a, &rest[k + 1..], p, &extend(&shown, seg));
            }
            Some(item) => {
                if k + 1 < rest.len() {
                    return Err(PathError::place(format!("path `{p}`: `{}` is a single value, not a table", extend(&shown, seg))));
                }
                return value_slot(item, p);
            }
        }
        shown = extend(&shown, seg);
    }
    Err(PathError::place(format!("path `{p}`: `{shown}` is a table: name one of its keys")))
}

fn inline_rest(t: &toml_edit::InlineTable, rest: &[Seg], p: &str, shown: &str) -> Result<Slot, PathError> {
    let Some((seg, tail)) = rest.split_first() else {
        return Err(PathError::place(format!("path `{p}`: `{shown}` is a table: name one of its keys")));
    };
    let Seg::Key(key) = seg else {
        return Err(PathError::place(format!("path `{p}`: `{shown}` is a table, not an array")));
    };
    match t.get(key) {
        None => missing(&inline_insert(t), &[], rest, p, &format!("`{shown}`")),
        Some(v) => value_rest(v, tail, p, &extend(shown, seg)),
    }
}

fn array_rest(a: &toml_edit::Array, rest: &[Seg], p: &str, shown: &str) -> Result<Slot, PathError> {
    let Some((seg, tail)) = rest.split_first() else {
        return Err(PathError::place(format!("path `{p}`: `{shown}` is an array")));
    };
    let v = match seg {
        Seg::Index(i) => a.get(*i).ok_or_else(|| PathError::place(format!("path `{p}`: `{shown}` has {} elements, so no [{i}]", a.len())))?,
        Seg::Named(n) => a
            .iter()
            .find(|v| v.as_inline_table().and_then(|t| t.get("name")).and_then(|v| v.as_str()) == Some(n.as_str()))
            .ok_or_else(|| PathError::place(format!("path `{p}`: `{shown}` has no element with name = {n:?}")))?,
        Seg::Key(k) => return Err(PathError::place(format!("path `{p}`: `{shown}` is an array, so it has no key `{k}`: expected [N] or [name]"))),
    };
    value_rest(v, tail, p, &format!("{shown}{}", seg_text(seg)))
}

fn value_rest(v: &Value, rest: &[Seg], p: &str, shown: &str) -> Result<Slot, PathError> {
    if rest.is_empty() {
        return match v.span() {
            Some(range) => Ok(Slot { range, prefix: String::new(), suffix: String::new(), replaces: true }),
            None => Err(PathError::place(format!("path `{p}`: `{shown}` has no place in the file"))),
        };
    }
    match v {
        Value::InlineTable(t) => inline_rest(t, rest, p, shown),
        Value::Array(a) => array_rest(a, rest, p, shown),
        _ => Err(PathError::place(format!("path `{p}`: `{shown}` is a single value, not a table or an array"))),
    }
}

fn value_slot(item: &Item, p: &str) -> Result<Slot, PathError> {
    match item {
        Item::Value(v) => value_rest(v, &[], p, p),
        Item::Table(_) => Err(PathError::place(format!("path `{p}` is a table: name one of its keys"))),
        Item::ArrayOfTables(_) => Err(PathError::place(format!("path `{p}` is an array of tables: name a value inside one, like `{p}[0].name`"))),
        Item::None => Err(PathError::place(format!("path `{p}` has no value"))),
    }
}

/// The slot for keys `rest` that are not written, added at `insert` after the `dotted` keys
/// that lead there.
fn missing(insert: &Insert, dotted: &[String], rest: &[Seg], p: &str, here: &str) -> Result<Slot, PathError> {
    let mut keys: Vec<String> = dotted.to_vec();
    for seg in rest {
        match seg {
            Seg::Key(k) => keys.push(key_text(k)),
            other => {
                return Err(PathError::place(format!("path `{p}`: {here} has no such array, so it has no element {}", seg_text(other))))
            }
        }
    }
    match insert {
        Insert::At { pos, prefix, suffix } => Ok(Slot {
            range: *pos..*pos,
            prefix: format!("{prefix}{} = ", keys.join(".")),
            suffix: suffix.clone(),
            replaces: false,
        }),
        Insert::Nowhere(why) => Err(PathError::place(format!("path `{p}`: cannot add the key there ({why})"))),
    }
}

/// A TOML basic string.
pub fn render_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as TOML text (inline).
pub fn render(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => render_str(s),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            if f.is_nan() {
                "nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 { "inf".into() } else { "-inf".into() }
            } else {
                format!("{f:?}")
            }
        }
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        toml::Value::Table(t) => {
            if t.is_empty() {
                "{}".into()
            } else {
                let kv: Vec<String> = t.iter().map(|(k, v)| format!("{} = {}", key_text(k), render(v))).collect();
                format!("{{ {} }}", kv.join(", "))
            }
        }
    }
}

/// Where a byte of the edited text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// This byte range of the original text.
    Base(Range<usize>),
    /// Inside the text spliced in for this edit (by index).
    Edit(usize),
}

/// Text edits applied to a source, with the map back to the source.
#[derive(Debug, Clone)]
pub struct Edited {
    pub text: String,
    /// (start in `text`, end in `text`, range in the original, edit index), in order.
    pieces: Vec<(usize, usize, Range<usize>, usize)>,
}

impl Edited {
    /// Apply `edits` (a slot and its full replacement text, by edit index). Slots must not
    /// overlap (two insertions at one place are applied in the given order).
    pub fn apply(source: &str, edits: &[(Range<usize>, String)]) -> Edited {
        let mut order: Vec<usize> = (0..edits.len()).collect();
        order.sort_by_key(|&i| (edits[i].0.start, edits[i].0.end, i));
        let mut text = String::with_capacity(source.len() + 64);
        let mut pieces = Vec::new();
        let mut at = 0;
        for i in order {
            let (range, new) = &edits[i];
            let start = range.start.max(at);
            text.push_str(&source[at..start]);
            let s = text.len();
            text.push_str(new);
            pieces.push((s, text.len(), range.clone(), i));
            at = range.end.max(start);
        }
        text.push_str(&source[at..]);
        Edited { text, pieces }
    }

    /// Where a range of the edited text came from: the edit it starts in, or the original
    /// bytes it maps to.
    pub fn origin(&self, span: Range<usize>) -> Origin {
        let mut shift: isize = 0;
        for (s, e, orig, i) in &self.pieces {
            if span.start < *s {
                break;
            }
            if span.start < *e {
                return Origin::Edit(*i);
            }
            shift = orig.end as isize - *e as isize;
        }
        let start = (span.start as isize + shift).max(0) as usize;
        let end = (span.end as isize + shift).max(start as isize) as usize;
        Origin::Base(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"name = "x"
duration = "1m"

[[services]]
name = "api"
replicas = 2
workload = { pattern = { kind = "constant", rate = 5 } }

[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa" # the HPA
max_replicas = 8
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 60 } } } ]

[[policies]]
name = "fixed"
pods.kind = "static"
"#;

    fn set(path: &str, value: &str) -> String {
        let s = slot(SRC, &TomlPath::parse(path).unwrap()).unwrap_or_else(|e| panic!("{e}"));
        let new = format!("{}{value}{}", s.prefix, s.suffix);
        Edited::apply(SRC, &[(s.range, new)]).text
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn replaces_and_inserts() {
        let t = table(&set("policies[0].pods.metrics[0].resource.target.average_utilization", "75"));
        let pods = &t["policies"][0]["pods"];
        assert_eq!(pods["metrics"][0]["resource"]["target"]["average_utilization"].as_integer(), Some(75));
        let t = table(&set("policies[hpa].pods.min_replicas", "3"));
        assert_eq!(t["policies"][0]["pods"]["min_replicas"].as_integer(), Some(3));
        assert_eq!(t["policies"][0]["pods"]["kind"].as_str(), Some("hpa"));
        let t = table(&set("policies[fixed].pods.replicas", "4"));
        assert_eq!(t["policies"][1]["pods"]["replicas"].as_integer(), Some(4));
        let t = table(&set("services[api].workload.pattern.rate", "7.5"));
        assert_eq!(t["services"][0]["workload"]["pattern"]["rate"].as_float(), Some(7.5));
        let t = table(&set("services[0].workload.resolution", "\"2s\""));
        assert_eq!(t["services"][0]["workload"]["resolution"].as_str(), Some("2s"));
        let t = table(&set("seed", "9"));
        assert_eq!(t["seed"].as_integer(), Some(9));
        let t = table(&set("metrics.scrape_interval", "\"30s\""));
        assert_eq!(t["metrics"]["scrape_interval"].as_str(), Some("30s"));
        let t = table(&set("policies[0].pods.behavior", "{ scale_down = { stabilization_window_seconds = 60 } }"));
        assert_eq!(t["policies"][0]["pods"]["behavior"]["scale_down"]["stabilization_window_seconds"].as_integer(), Some(60));
    }

    #[test]
    fn bad_paths_say_why() {
        for (p, want) in [
            ("services[3].replicas", "has 1 elements"),
            ("policies[nope].pods", "no element with name"),
            ("name.x", "single value"),
            ("policies[0].pods", "is a table"),
            ("services", "array of tables"),
        ] {
            let e = slot(SRC, &TomlPath::parse(p).unwrap()).unwrap_err();
            assert!(e.to_string().contains(want), "{p}: {e}");
            assert_eq!(e.kind, PathErrorKind::Place, "{p}");
        }
        assert_eq!(TomlPath::parse("a..b").unwrap_err().kind, PathErrorKind::Syntax);
        assert_eq!(TomlPath::parse("a.").unwrap_err().kind, PathErrorKind::Syntax);
        assert_eq!(TomlPath::parse("a[").unwrap_err().kind, PathErrorKind::Syntax);
        assert_eq!(TomlPath::parse("a.\"b.c\"[2]").unwrap().segs, vec![Seg::Key("a".into()), Seg::Key("b.c".into()), Seg::Index(2)]);
    }

    #[test]
    fn origins_map_back() {
        let s = slot(SRC, &TomlPath::parse("services[0].replicas").unwrap()).unwrap();
        let at = s.range.clone();
        let e = Edited::apply(SRC, &[(s.range, "12345".into())]);
        assert_eq!(e.origin(at.start..at.start + 2), Origin::Edit(0));
        let later = e.text.find("max_replicas").unwrap();
        let orig = SRC.find("max_replicas").unwrap();
        assert_eq!(e.origin(later..later + 3), Origin::Base(orig..orig + 3));
        let early = e.text.find("duration").unwrap();
        assert_eq!(e.origin(early..early + 1), Origin::Base(early..early + 1));
    }
}
