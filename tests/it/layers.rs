//! The library's layering, held: each top-level module of `src/` may use only modules of
//! lower layers (so there is no import cycle), `engine/` and `scenario/` sit at the bottom, and
//! `policy/` sees the world only through its API (nothing of `sim/` or `cluster/`). Read from
//! the code itself: every `crate::<module>` path outside comments, in every file of a module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top. A module may use modules of lower layers only; the binary (`main.rs`,
/// `cli/`) is above them all. README.md's "How it is built" draws the same picture.
const LAYERS: &[&[&str]] = &[
    &["units", "quote", "confine", "engine"],
    &["dist"],
    &["workload"],
    &["scenario", "prom"],
    &["cluster", "metrics", "report"],
    &["service", "policy", "plot"],
    &["sim", "check", "export", "render"],
    &["experiment", "output"],
    &["command", "theory"],
    &["run", "sweep", "live"],
];

/// The top-level modules `file` (relative to `src/`) belongs to.
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a Rust file without its comments (line and block) and string literals'
/// insides, so that a path named in prose or in a message is not a dependency.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            // Skip a string literal (escapes included); raw strings hold no paths we use.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every `crate::name` and every name inside `crate::{...}` in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `autosim_crate::`
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// Which modules each module uses (module -> (used module -> a file that uses it)).
fn edges(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src/").to_path_buf();
            let from = module_of(&rel);
            if from == "main" || from == "cli" || from == "lib" {
                continue;
            }
            let code = code_only(&std::fs::read_to_string(&path).expect("readable"));
            for to in crate_paths(&code) {
                if to != from && !to.is_empty() {
                    out.entry(from.clone()).or_default().entry(to).or_insert_with(|| rel.display().to_string());
                }
            }
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn each_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (from, tos) in edges(&src) {
        let Some(lf) = layer_of(&from) else {
            wrong.push(format!("module {from} is in no layer: add it to LAYERS (and to the README's map)"));
            continue;
        };
        for (to, file) in tos {
            match layer_of(&to) {
                // Items of the crate root (re-exports such as `crate::Simulation`) are not modules.
                None if to.chars().next().is_some_and(char::is_uppercase) => {
                    wrong.push(format!("src/{file}: uses the crate root's `{to}`; name its module instead"))
                }
                None => {}
                Some(lt) if lt >= lf => wrong.push(format!("src/{file}: {from} (layer {lf}) uses {to} (layer {lt})")),
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "the layering is broken:\n{}", wrong.join("\n"));
}

#[test]
fn policies_see_the_world_only_through_their_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let e = edges(&src);
    let policy = e.get("policy").cloned().unwrap_or_default();
    for banned in ["sim", "cluster", "service", "report"] {
        assert!(!policy.contains_key(banned), "src/{}: policy/ uses {banned}/", policy[banned]);
    }
    let bottom: BTreeSet<&str> = ["units", "quote", "confine", "engine", "dist", "workload"].into();
    for m in ["scenario", "engine"] {
        for (to, file) in e.get(m).cloned().unwrap_or_default() {
            assert!(bottom.contains(to.as_str()), "src/{file}: {m}/ uses {to}/, which is above it");
        }
    }
}

#[test]
fn the_scanner_sees_paths_and_ignores_prose() {
    let code = code_only("use crate::{a, b::c};\n// crate::d\nlet s = \"crate::e\";\n/* crate::f */ crate::g::h();\n");
    assert_eq!(crate_paths(&code), ["a", "b", "g"].into_iter().map(String::from).collect());
}
