//! The guard rails: which cluster, namespace and Deployments a live command may touch, checked
//! before anything is written. A refusal is exit 2. Kind's default user is cluster-admin, so
//! none of this relies on RBAC.

use std::net::IpAddr;
use std::path::PathBuf;

use kube::config::Kubeconfig;

use super::LiveError;

/// The Deployments' opt-in label.
pub const REPLAY_LABEL: &str = "autosim.dev/replay";
pub const REPLAY_LABEL_VALUE: &str = "allowed";

/// Where to connect: a kubeconfig file and one of its contexts.
#[derive(Debug, Clone)]
pub struct Target {
    pub kubeconfig_path: PathBuf,
    pub kubeconfig: Kubeconfig,
    pub context: String,
    /// The context's API server URL.
    pub server: String,
}

/// The kubeconfig: `--kubeconfig`, else `$KUBECONFIG` (its first file), else `~/.kube/config`.
/// Never an in-cluster configuration.
pub fn kubeconfig_path(flag: Option<PathBuf>) -> Result<PathBuf, LiveError> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        if let Some(first) = std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()) {
            return Ok(first);
        }
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".kube").join("config")),
        None => Err(LiveError::refused("no kubeconfig: pass --kubeconfig FILE or set KUBECONFIG (HOME is not set)")),
    }
}

/// Read the kubeconfig and pick the context (`--context`, else its current context), checking
/// that it is a kind cluster on this machine or the one named by `--allow-context`.
pub fn target(kubeconfig: Option<PathBuf>, context: Option<&str>, allow_context: Option<&str>) -> Result<Target, LiveError> {
    let t = resolve(kubeconfig, context)?;
    check_context(&t.context, &t.server, allow_context)?;
    Ok(t)
}

/// Read the kubeconfig and pick the context, without the write guard rails (for reading only).
pub fn resolve(kubeconfig: Option<PathBuf>, context: Option<&str>) -> Result<Target, LiveError> {
    let path = kubeconfig_path(kubeconfig)?;
    if !path.is_file() {
        return Err(LiveError::refused(format!(
            "{}: no such kubeconfig (for kind: `kind create cluster --config deploy/kind/kind-config.yaml` writes one; or pass --kubeconfig FILE)",
            path.display()
        )));
    }
    let kc = Kubeconfig::read_from(&path).map_err(|e| LiveError::refused(format!("{}: not a kubeconfig: {e}", path.display())))?;
    let context = match context {
        Some(c) => c.to_string(),
        None => kc.current_context.clone().filter(|c| !c.is_empty()).ok_or_else(|| {
            LiveError::refused(format!("{}: no current context; pass --context NAME", path.display()))
        })?,
    };
    let named = kc.contexts.iter().find(|c| c.name == context).ok_or_else(|| {
        let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        LiveError::refused(format!("{}: no context {context:?} (it has: {})", path.display(), names.join(", ")))
    })?;
    let cluster_name = named.context.as_ref().map(|c| c.cluster.clone()).unwrap_or_default();
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| LiveError::refused(format!("{}: the context {context:?} names no cluster with a server URL", path.display())))?;
    Ok(Target { kubeconfig_path: path, kubeconfig: kc, context, server })
}

/// Only `kind-*` contexts whose server is on a loopback address, unless `--allow-context`
/// names this exact context.
pub fn check_context(context: &str, server: &str, allow_context: Option<&str>) -> Result<(), LiveError> {
    if allow_context == Some(context) {
        return Ok(());
    }
    if !context.starts_with("kind-") {
        return Err(LiveError::refused(format!(
            "refusing the context {context:?} (server {server}): live mode writes only to kind clusters (contexts named kind-*) \
             unless --allow-context {context} names it"
        )));
    }
    if !is_loopback_url(server) {
        return Err(LiveError::refused(format!(
            "refusing the context {context:?}: its server {server} is not on a loopback address, so it is not a kind cluster \
             on this machine; pass --allow-context {context} if it is the cluster you mean"
        )));
    }
    Ok(())
}

/// Whether a URL's host is `localhost` or a loopback IP address.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `--namespace`: required, an RFC 1123 label, not `kube-*`.
pub fn check_namespace(ns: &str) -> Result<(), LiveError> {
    if !super::plan::is_dns_label(ns) {
        return Err(LiveError::refused(format!("--namespace {ns:?}: not a namespace name (lowercase letters, digits and '-')")));
    }
    if ns.starts_with("kube-") {
        return Err(LiveError::refused(format!("refusing the namespace {ns:?}: live mode never writes to kube-* namespaces")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers() {
        for u in ["https://127.0.0.1:6443", "http://localhost:8080", "https://[::1]:6443", "https://127.1.2.3"] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in ["https://10.0.0.1:6443", "https://example.com", "https://172.18.0.2:6443", "https://[::2]:1"] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }

    #[test]
    fn contexts() {
        assert!(check_context("kind-x", "https://127.0.0.1:1", None).is_ok());
        assert_eq!(check_context("prod", "https://127.0.0.1:1", None).unwrap_err().code, 2);
        assert!(check_context("kind-x", "https://10.1.1.1:1", None).is_err());
        assert!(check_context("prod", "https://10.1.1.1:1", Some("prod")).is_ok());
        assert!(check_context("prod", "https://10.1.1.1:1", Some("prod2")).is_err());
    }

    #[test]
    fn namespaces() {
        assert!(check_namespace("autosim-live").is_ok());
        assert!(check_namespace("kube-system").is_err());
        assert!(check_namespace("Bad").is_err());
    }
}
