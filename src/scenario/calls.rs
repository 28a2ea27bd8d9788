//! Services that call services: a service's `calls`, checked against the whole file (callees
//! named, no cycles, a load for every service).

use std::ops::Range;

use toml::Spanned;

use super::raw::{RawCall, RawCallMode};
use super::{Call, CallMode, CallTimes, ConfigError, Service};

/// Most calls one `calls` entry makes per request.
pub const MAX_CALL_COUNT: u32 = 1_000;

/// The raw `calls` of each service, in service order, with the service's span.
pub(super) type RawCalls = Vec<(Option<Spanned<Vec<Spanned<RawCall>>>>, Range<usize>)>;

/// Resolve every service's `calls` against the services' names, refuse cycles, and require a
/// load of every service that no service calls.
pub(super) fn resolve(services: &mut [Service], raw: RawCalls) -> Result<(), ConfigError> {
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let mut spans: Vec<Vec<Range<usize>>> = vec![Vec::new(); services.len()];
    for (s, (calls, _)) in raw.iter().enumerate() {
        let Some(calls) = calls else { continue };
        let caller = &names[s];
        if calls.get_ref().is_empty() {
            return Err(ConfigError::at(calls.span(), format!("service {caller:?}: `calls` is empty: expected at least one `{{ service = \"...\" }}`, or no `calls`")));
        }
        for c in calls.get_ref() {
            let RawCall { service, mode, count, probability } = c.get_ref();
            let at = |sp: Range<usize>, m: String| ConfigError::at(sp, format!("service {caller:?}: calls: {m}"));
            let callee = service.get_ref();
            let Some(idx) = names.iter().position(|n| n == callee) else {
                return Err(at(service.span(), format!("no service named {callee:?}: expected one of {}", names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "))));
            };
            let mode = match mode.as_ref().map(|m| *m.get_ref()) {
                None | Some(RawCallMode::Sync) => CallMode::Sync,
                Some(RawCallMode::Enqueue) => CallMode::Enqueue,
            };
            let times = match (count, probability) {
                (Some(_), Some(p)) => return Err(at(p.span(), "give `count` or `probability`, not both".into())),
                (None, None) => CallTimes::Count(1),
                (Some(n), None) => {
                    let v = *n.get_ref();
                    if v == 0 || v > MAX_CALL_COUNT {
                        return Err(at(n.span(), format!("`count` = {v}: expected 1 to {MAX_CALL_COUNT} calls per request (drop the entry for none)")));
                    }
                    CallTimes::Count(v)
                }
                (None, Some(p)) => {
                    let v = *p.get_ref();
                    if !(0.0..=1.0).contains(&v) {
                        return Err(at(p.span(), format!("`probability` = {v}: expected a probability in [0, 1], like 0.3")));
                    }
                    CallTimes::Probability(v)
                }
            };
            services[s].calls.push(Call { service: idx, mode, times });
            spans[s].push(service.span());
        }
    }
    // No cycles: a request would never finish.
    for start in 0..services.len() {
        let mut path = vec![start];
        if let Some((k, cycle)) = find_cycle(services, start, &mut path) {
            let shown: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            return Err(ConfigError::at(
                spans[cycle[cycle.len() - 2]][k].clone(),
                format!("service {:?}: calls form a cycle ({}): a request would call itself without end; expected calls that end", names[start], shown.join(" -> ")),
            ));
        }
    }
    for (s, (_, span)) in raw.into_iter().enumerate() {
        let called = services.iter().any(|c| c.calls.iter().any(|k| k.service == s));
        if services[s].workload.sources.is_empty() && !called {
            return Err(ConfigError::at(
                span,
                format!("service {:?} has no `workload` and no service calls it: expected `workload.pattern = {{ kind = \"constant\", rate = 10 }}` (or another source), or a `calls` entry naming it", names[s]),
            ));
        }
    }
    Ok(())
}

/// A cycle through `path`'s last service back to one on `path`: the index of the closing call
/// among its caller's calls, and the services around the cycle (the first repeated at the end).
fn find_cycle(services: &[Service], start: usize, path: &mut Vec<usize>) -> Option<(usize, Vec<usize>)> {
    let here = *path.last().expect("path starts with a service");
    for (k, c) in services[here].calls.iter().enumerate() {
        if c.service == start {
            let mut cycle = path.clone();
            cycle.push(start);
            return Some((k, cycle));
        }
        if path.contains(&c.service) {
            continue; // a cycle not through `start`: found from its own start
        }
        path.push(c.service);
        if let Some(found) = find_cycle(services, start, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}
