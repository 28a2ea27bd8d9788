//! A HorizontalPodAutoscaler manifest for a policy of a scenario: the TOML spec keys in the
//! manifest's camelCase, as `kubectl apply -f` takes them.

use std::fmt::Write as _;

/// `average_utilization` -> `averageUtilization`.
pub fn camel(key: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in key.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'))
                && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(&s.to_ascii_lowercase().as_str());
            if plain {
                s.clone()
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f}"),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => format!("\"{d}\""),
        toml::Value::Array(_) | toml::Value::Table(_) => String::new(),
    }
}

/// A value in block style at `indent` spaces, keys in camelCase.
pub fn emit(out: &mut String, v: &toml::Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                match x {
                    toml::Value::Table(c) if !c.is_empty() => {
                        let _ = writeln!(out, "{pad}{}:", camel(k));
                        emit(out, x, indent + 2);
                    }
                    toml::Value::Array(a) if !a.is_empty() => {
                        let _ = writeln!(out, "{pad}{}:", camel(k));
                        emit(out, x, indent);
                    }
                    toml::Value::Table(_) => {
                        let _ = writeln!(out, "{pad}{}: {{}}", camel(k));
                    }
                    toml::Value::Array(_) => {
                        let _ = writeln!(out, "{pad}{}: []", camel(k));
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{}: {}", camel(k), scalar(x));
                    }
                }
            }
        }
        toml::Value::Array(a) => {
            for x in a {
                match x {
                    toml::Value::Table(_) | toml::Value::Array(_) => {
                        let mut inner = String::new();
                        emit(&mut inner, x, indent + 2);
                        // The first line of the element goes after "- ".
                        let body = inner.strip_prefix(&" ".repeat(indent + 2)).unwrap_or(&inner);
                        let _ = write!(out, "{pad}- {body}");
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", scalar(x));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

/// The spec keys of `kind = "hpa"` (the others are autosim's: `controller`, `adapter`).
const SPEC_KEYS: &[&str] = &["min_replicas", "minReplicas", "max_replicas", "maxReplicas", "metrics", "behavior"];

/// One HPA document for `service` from an inline `[policies.pods]` table (with the service's
/// `overrides` laid over it).
pub fn hpa_manifest(pods: &toml::Table, service: &str, note: &str) -> String {
    let mut spec = toml::Table::new();
    let mut merged = pods.clone();
    if let Some(toml::Value::Table(o)) = pods.get("overrides").and_then(|o| o.get(service)) {
        for (k, v) in o {
            merged.insert(k.clone(), v.clone());
        }
    }
    let mut target = toml::Table::new();
    target.insert("api_version".into(), "apps/v1".into());
    target.insert("kind".into(), "Deployment".into());
    target.insert("name".into(), service.into());
    spec.insert("scale_target_ref".into(), toml::Value::Table(target));
    for key in SPEC_KEYS {
        if let Some(v) = merged.get(*key) {
            spec.insert(key.to_string(), v.clone());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "# {note}");
    out.push_str("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n");
    let _ = writeln!(out, "  name: {}", scalar(&toml::Value::String(service.into())));
    out.push_str("spec:\n");
    // Kubernetes' field order: scaleTargetRef, minReplicas, maxReplicas, metrics, behavior.
    let order = ["scale_target_ref", "min_replicas", "minReplicas", "max_replicas", "maxReplicas", "metrics", "behavior"];
    let mut ordered = String::new();
    for key in order {
        if let Some(v) = spec.get(key) {
            let mut one = toml::Table::new();
            one.insert(key.to_string(), v.clone());
            emit(&mut ordered, &toml::Value::Table(one), 2);
        }
    }
    out.push_str(&ordered);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_reads_back_as_the_same_spec() {
        let pods: toml::Table = r#"
kind = "hpa"
min_replicas = 2
max_replicas = 12
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 65 } } } ]
behavior = { scale_down = { stabilization_window_seconds = 120, policies = [ { type = "Pods", value = 2, period_seconds = 60 } ] } }
controller = { tolerance = 0.1 }
"#
        .parse()
        .unwrap();
        let yaml = hpa_manifest(&pods, "api", "test");
        assert!(yaml.contains("averageUtilization: 65"), "{yaml}");
        assert!(yaml.contains("stabilizationWindowSeconds: 120"), "{yaml}");
        assert!(!yaml.contains("tolerance"), "{yaml}");
        #[derive(serde::Deserialize)]
        struct Doc {
            spec: crate::policy::hpa::spec::HpaSpec,
        }
        let doc: Doc = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let want: crate::policy::hpa::spec::HpaSpec = toml::Value::Table(pods.clone())
            .try_into::<toml::Table>()
            .ok()
            .and_then(|mut t| {
                t.remove("kind");
                t.remove("controller");
                toml::Value::Table(t).try_into().ok()
            })
            .unwrap();
        assert_eq!(doc.spec.min_replicas, want.min_replicas);
        assert_eq!(doc.spec.max_replicas, want.max_replicas);
        assert_eq!(doc.spec.metrics, want.metrics);
        assert_eq!(doc.spec.behavior, want.behavior);
    }
}
