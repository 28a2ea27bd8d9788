//! The Kubernetes client of the live commands, made from a kubeconfig context (never from an
//! in-cluster configuration), and its errors worded for the user: which URL, context, verb,
//! resource and namespace, and what to check. The library's own retry (exponential back-off
//! on 429/503/504) is off: a timed replay retries once itself, never past the next call.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::{HorizontalPodAutoscaler, Scale};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::KubeConfigOptions;
use kube::{Client, Config};

use super::guard::Target;
use super::LiveError;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "autosim";
/// Where the shipped RBAC manifest is.
pub const RBAC_MANIFEST: &str = "deploy/kind/rbac.yaml";

/// A client bound to one context and namespace.
#[derive(Clone)]
pub struct Kube {
    client: Client,
    pub context: String,
    pub server: String,
    pub namespace: String,
}

impl Kube {
    /// A client for the target's context; connection and read time-outs bounded, no retry layer.
    pub async fn connect(target: &Target, namespace: &str) -> Result<Kube, LiveError> {
        let opts = KubeConfigOptions { context: Some(target.context.clone()), cluster: None, user: None };
        let mut config = Config::from_custom_kubeconfig(target.kubeconfig.clone(), &opts).await.map_err(|e| {
            LiveError::refused(format!(
                "{}: cannot use the context {:?}: {e}",
                target.kubeconfig_path.display(),
                target.context
            ))
        })?;
        config.default_retry = false;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(15));
        config.write_timeout = Some(Duration::from_secs(15));
        let client = Client::try_from(config)
            .map_err(|e| LiveError::refused(format!("cannot make a client for the context {:?}: {e}", target.context)))?;
        Ok(Kube { client, context: target.context.clone(), server: target.server.clone(), namespace: namespace.to_string() })
    }

    /// `GET /version`: whether the API server answers at all.
    pub async fn ping(&self) -> Result<String, LiveError> {
        match self.client.apiserver_version().await {
            Ok(v) => Ok(v.git_version),
            Err(e) => Err(self.explain(e, "get", "the server version", None)),
        }
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn get_deployment(&self, name: &str) -> Result<Deployment, kube::Error> {
        self.deployments().get(name).await
    }

    /// A merge patch `{"spec":{"replicas":N}}` of the Deployment's `scale` subresource, with
    /// the field manager `autosim` and, for a server-side dry run, `dryRun=All`.
    pub async fn patch_scale(&self, name: &str, replicas: u32, dry_run: bool) -> Result<Scale, kube::Error> {
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), dry_run, ..PatchParams::default() };
        let body = serde_json::json!({ "spec": { "replicas": replicas } });
        self.deployments().patch_scale(name, &params, &Patch::Merge(&body)).await
    }

    pub async fn list_pods(&self, selector: &str) -> Result<Vec<Pod>, kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        Ok(api.list(&ListParams::default().labels(selector)).await?.items)
    }

    pub async fn list_hpas(&self) -> Result<Vec<HorizontalPodAutoscaler>, kube::Error> {
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &self.namespace);
        Ok(api.list(&ListParams::default()).await?.items)
    }

    /// An error as the user should read it (exit 3).
    pub fn explain(&self, e: kube::Error, verb: &str, resource: &str, name: Option<&str>) -> LiveError {
        let ns = &self.namespace;
        match &e {
            kube::Error::Api(s) if s.code == 403 => LiveError::cluster(format!(
                "forbidden: the API server at {} (context {:?}) does not allow {verb} on {resource} in the namespace {ns:?}: {}. \
                 The ServiceAccount needs the Role and RoleBinding of {RBAC_MANIFEST} (kubectl apply -f {RBAC_MANIFEST}; see docs/live.md)",
                self.server, self.context, s.message
            )),
            kube::Error::Api(s) if s.code == 401 => LiveError::cluster(format!(
                "unauthorized: the API server at {} (context {:?}) did not accept the credentials: {}",
                self.server, self.context, s.message
            )),
            kube::Error::Api(s) if s.code == 404 => match name {
                Some(n) => LiveError::cluster(format!(
                    "the {} {n:?} does not exist in the namespace {ns:?} (context {:?}); create it (kubectl apply -f deploy/kind/) or give --map SERVICE=DEPLOYMENT",
                    if resource.starts_with("deployments") { "Deployment" } else { resource },
                    self.context
                )),
                None => LiveError::cluster(format!("{resource} not found in the namespace {ns:?} (context {:?}): {}", self.context, s.message)),
            },
            kube::Error::Api(s) => LiveError::cluster(format!(
                "the API server at {} (context {:?}) answered {verb} on {resource} in {ns:?} with {} {}: {}",
                self.server, self.context, s.code, s.reason, s.message
            )),
            _ if is_transport(&e) => self.unreachable(&e),
            _ => LiveError::cluster(format!("{verb} {resource} in {ns:?} (context {:?}): {e}", self.context)),
        }
    }

    fn unreachable(&self, e: &kube::Error) -> LiveError {
        LiveError::cluster(format!(
            "cannot reach the Kubernetes API server at {} (context {:?}): {}. Is the cluster up? Check with \
             `kubectl --context {} cluster-info`; for kind, `kind get clusters` and `docker ps` (the control-plane container must be running)",
            self.server,
            self.context,
            chain(e),
            self.context
        ))
    }
}

/// Whether an error is the connection's, not an answer of the server.
pub fn is_transport(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}

/// Whether a failed call may be retried once: no connection, a time-out, 429 or a 5xx.
pub fn is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        _ => is_transport(e),
    }
}

/// The HTTP status of an error, 0 when there was no answer.
pub fn status_of(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        _ => 0,
    }
}

/// An error with its causes.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}
