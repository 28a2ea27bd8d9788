//! The optional series' side of the engine: switching them on for a run, and the scrape of
//! kube-state-metrics, which reads the API objects as KSM does (Deployments, Pods, Nodes and
//! the HorizontalPodAutoscalers of the pod policies).
//!
//! Pod phase as KSM reports it: an unscheduled pod is `Pending` without a `Ready` condition;
//! a scheduled pod whose startup is not over is still `Pending` (its containers are being
//! pulled and created; the engine does not split `startup` into pulling and booting), with
//! `Ready` false; a ready pod is `Running` and ready; a terminating pod stays `Running`, not
//! ready (it has left the endpoints). Nodes appear once they joined (not while provisioning)
//! and are `Ready` until removed, draining included (cordoning does not change conditions).

use super::{Ev, Simulation};
use crate::cluster::{NodeState, PodPhase};
use crate::metrics::histogram::Histograms;
use crate::metrics::kube_state::{Phase, State, JOB};
use crate::metrics::Optional;

impl Simulation<'_> {
    /// Record the optional series `o` asks for from now on (those already recorded stay).
    /// Before the run starts, so that the histograms count every request.
    pub(super) fn record_optional(&mut self, o: Optional) {
        let had = self.world.metrics.optional();
        self.world.metrics.enable(o, &self.sc.metrics.buckets);
        if o.buckets && self.world.hist.is_none() {
            let mut h = Histograms::new(&self.sc.metrics.buckets);
            for id in 0..self.world.pods.items.len() as u32 {
                h.reset(id);
            }
            self.world.hist = Some(h);
        }
        if o.kube_state && !had.kube_state {
            let interval = self.sc.metrics.scrape_interval_ns;
            let offset = self.scrape_offset(JOB);
            let first = self.now - self.now % interval + offset;
            let first = if first < self.now { first + interval } else { first };
            self.events.push(first, Ev::KubeStateScrape);
        }
    }

    /// kube-state-metrics is scraped: what it reads of every object now. Out of line, so that
    /// the event dispatch stays small enough to inline into the run loop.
    #[cold]
    #[inline(never)]
    pub(super) fn on_kube_state_scrape(&mut self) {
        let now = self.now;
        let sc = self.sc;
        // Each HPA object, by the service it scales.
        let hpas: Vec<(usize, crate::policy::HpaStatus)> =
            self.instances.iter().filter_map(|i| Some((i.target?, i.policy.hpa_status()?))).collect();
        let world = &mut self.world;
        let Some(k) = world.metrics.kube_state_mut() else { return };
        k.begin_scrape(now);
        for (s, rt) in world.services.iter().enumerate() {
            let name = &sc.services[s].name;
            let mut available = 0;
            for &id in &rt.pods {
                let p = world.pods.get(id);
                let (phase, ready) = match p.phase {
                    PodPhase::Pending => (Phase::Pending, None),
                    PodPhase::Starting => (Phase::Pending, Some(false)),
                    PodPhase::Ready => (Phase::Running, Some(true)),
                    PodPhase::Terminating => (Phase::Running, Some(false)),
                };
                available += u32::from(p.phase == PodPhase::Ready);
                // Pod names (`<service>-<ordinal>`) are unique within a run.
                let key = ((s as u64) << 44) | p.ordinal;
                k.put(key, || format!("{name}-{}", p.ordinal), now, State::Pod { phase, ready });
            }
            k.put(s as u64, || name.clone(), now, State::Deployment { spec_replicas: rt.spec_replicas, available });
        }
        for n in world.nodes.items.iter().filter(|n| n.alive && n.state != NodeState::Provisioning) {
            let key = ((n.pool as u64) << 44) | n.ordinal;
            let pool = &sc.cluster.pools[n.pool as usize].name;
            k.put(key, || format!("{pool}-{}", n.ordinal), now, State::Node { ready: true });
        }
        for (s, h) in hpas {
            let desired = h.desired_replicas.unwrap_or(world.services[s].spec_replicas);
            k.put(s as u64, || h.name, now, State::Hpa { desired });
        }
        self.events.push(now + sc.metrics.scrape_interval_ns, Ev::KubeStateScrape);
    }
}
