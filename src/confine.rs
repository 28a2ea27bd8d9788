//! Files a scenario makes autosim write (a `record` file, say) stay inside a folder: no
//! absolute paths, no `..` that leaves it, no symbolic link followed out of it.
//!
//! The check is on the path as written (each `..` taken back lexically, so `a/../b` is `b`
//! whatever `a` is) and on the disk: every part of the path that exists is resolved, and must
//! resolve inside the folder. The path returned is the lexical one, so the file written is the
//! one checked.

use std::path::{Component, Path, PathBuf};

/// `rel` (as the scenario writes it) inside `base`, or why not. `what` names the folder in
/// messages ("the scenario's folder").
pub fn inside(base: &Path, rel: &str, what: &str) -> Result<PathBuf, String> {
    if rel.is_empty() {
        return Err("expected a file name, like \"exchanges.json\"".into());
    }
    let p = Path::new(rel);
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => {
                return Err(format!("{rel:?} is an absolute path: autosim writes only inside {what}; give a path relative to it"));
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("{rel:?} leaves {what} (through `..`): autosim writes only inside it"));
                }
            }
            Component::Normal(n) => parts.push(n),
        }
    }
    if parts.is_empty() {
        return Err(format!("{rel:?} names {what} itself: expected a file name inside it"));
    }
    let lexical: PathBuf = parts.iter().collect();
    check_links(base, &lexical, rel, what)?;
    Ok(base.join(lexical))
}

/// Each existing prefix of `base/lexical` must resolve inside `base`.
fn check_links(base: &Path, lexical: &Path, rel: &str, what: &str) -> Result<(), String> {
    let base_dir = if base.as_os_str().is_empty() { Path::new(".") } else { base };
    let root = std::fs::canonicalize(base_dir).map_err(|e| format!("cannot resolve {what} {}: {e}", base_dir.display()))?;
    let mut at = base_dir.to_path_buf();
    for part in lexical.components() {
        at.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&at) else {
            // Not there yet: nothing below it exists either.
            return Ok(());
        };
        if meta.file_type().is_symlink() {
            match std::fs::canonicalize(&at) {
                Ok(target) if target.starts_with(&root) => {}
                Ok(target) => {
                    return Err(format!(
                        "{rel:?} goes through the symbolic link {} to {}, outside {what}: autosim writes only inside it",
                        at.display(),
                        target.display()
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "{rel:?} goes through the symbolic link {}, which points nowhere autosim can check: autosim writes only inside {what}",
                        at.display()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Check again, just before writing, a path [`inside`] returned for `base`.
pub fn recheck(base: &Path, path: &Path, what: &str) -> Result<(), String> {
    let rel = path.strip_prefix(base).map_err(|_| format!("{} is not inside {what} {}", path.display(), base.display()))?;
    inside(base, &rel.to_string_lossy(), what).map(|_| ())
}

/// A file name a policy gives one of its exports (`cronjobs-<name>.yaml`): one plain name,
/// with no folder in it, not hidden.
pub fn plain_file_name(name: &str) -> bool {
    let mut c = Path::new(name).components();
    matches!((c.next(), c.next()), (Some(Component::Normal(n)), None) if n == name)
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("s");
        std::fs::create_dir_all(base.join("sub")).unwrap();
        assert_eq!(inside(&base, "x.json", "the folder").unwrap(), base.join("x.json"));
        assert_eq!(inside(&base, "./sub/../sub/x.json", "the folder").unwrap(), base.join("sub/x.json"));
        assert_eq!(inside(&base, "new/deeper/x.json", "the folder").unwrap(), base.join("new/deeper/x.json"));
        assert!(inside(&base, "/tmp/x.json", "the folder").unwrap_err().contains("absolute path"));
        assert!(inside(&base, "../x.json", "the folder").unwrap_err().contains("leaves the folder"));
        assert!(inside(&base, "sub/../../x.json", "the folder").unwrap_err().contains("leaves"));
        assert!(inside(&base, "", "the folder").is_err());
        assert!(inside(&base, "sub/..", "the folder").is_err());
        #[cfg(unix)]
        {
            let outside = dir.path().join("outside");
            std::fs::create_dir_all(&outside).unwrap();
            std::os::unix::fs::symlink(&outside, base.join("out-link")).unwrap();
            std::os::unix::fs::symlink(base.join("sub"), base.join("in-link")).unwrap();
            std::os::unix::fs::symlink(outside.join("f.json"), base.join("file-link.json")).unwrap();
            assert!(inside(&base, "out-link/x.json", "the folder").unwrap_err().contains("symbolic link"));
            assert!(inside(&base, "file-link.json", "the folder").unwrap_err().contains("symbolic link"));
            assert_eq!(inside(&base, "in-link/x.json", "the folder").unwrap(), base.join("in-link/x.json"));
            // `..` is taken back on the text: the file written is base/x.json.
            assert_eq!(inside(&base, "out-link/../x.json", "the folder").unwrap(), base.join("x.json"));
        }
    }

    #[test]
    fn plain_names() {
        assert!(plain_file_name("cronjobs-api.yaml"));
        assert!(!plain_file_name("cronjobs-../../x.yaml"));
        assert!(!plain_file_name(".hidden"));
        assert!(!plain_file_name("a/b"));
        assert!(!plain_file_name(""));
    }
}
