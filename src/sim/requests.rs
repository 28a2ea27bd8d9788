//! The request path: arrivals, routing, service, completion, timeouts. This is the hot loop;
//! keep it free of allocation and of work that does not change per request.

use rand::Rng as _;

use super::{Ev, Simulation};
use crate::engine::prefetch::prefetch;
use crate::cluster::PodPhase;
use crate::dist::u64_f64;
use crate::scenario::{Balancer, NoReadyPods, ServiceKind};
use crate::service::ReqState;

impl Simulation<'_> {
    /// A request from load source `i` (sent one at a time: k6's executors) arrives at its
    /// service; `origin` is the source to tell when its client is done with it, `vu` its
    /// virtual user. (Sources drawn ahead send theirs with `admit`.)
    #[inline]
    pub(super) fn issue(&mut self, i: usize, origin: u32, vu: u32) {
        let s = self.sources[i].service;
        let svc = &self.sc.services[s];
        // Work is drawn in the order the source sends its requests, from the source's own
        // stream: the n-th request of a source has the same work under every policy.
        let rng = &mut self.sources[i].work;
        let work_ns = svc.service_time.sample_ns(rng);
        let cpu_ns = match &svc.cpu_per_request {
            Some(d) => d.sample_ns(rng),
            None => work_ns,
        };
        let windowed = self.sources[i].windowed;
        self.admit(s, work_ns, cpu_ns, origin, vu, windowed);
    }

    /// A request with its work arrives at service `s`: from a load source, or a call of
    /// another service's request (`origin` `CALL_ORIGIN`).
    #[inline]
    pub(super) fn admit(&mut self, s: usize, work_ns: u64, cpu_ns: u64, origin: u32, vu: u32, windowed: bool) {
        let svc = &self.sc.services[s];
        let now = self.now;
        let req = self.world.reqs.alloc(now, work_ns, cpu_ns, origin, vu);
        let rt = &mut self.world.services[s];
        rt.arrivals_total += 1;
        rt.acc.on_arrival(now, work_ns);
        if windowed {
            rt.acc.on_windowed_arrival(now, work_ns);
        }
        if rt.ready.is_empty() {
            self.world.reqs.get_mut(req).cold = true;
            rt.acc.cold.on_arrival(now >= rt.acc.warmup_ns);
        }
        if let Some(timeout) = svc.timeout_ns {
            let gen = self.world.reqs.get(req).gen;
            rt.deadlines.push_back((req, gen, now + timeout));
            if !rt.deadline_armed {
                rt.deadline_armed = true;
                self.events.push(now + timeout, Ev::Deadline(s as u16));
            }
        }
        if self.chains.on {
            self.chain_admitted(s, req, origin);
        }
        match svc.kind {
            ServiceKind::Http { balancer, no_ready_pods } => {
                if self.world.services[s].ready.is_empty() {
                    let rt = &mut self.world.services[s];
                    if no_ready_pods == NoReadyPods::Wait && (rt.waiting.len() as u64) < svc.queue_limit {
                        rt.waiting.push_back(req);
                        rt.acc.on_cold_start_wait(now);
                    } else {
                        self.reject(s, req, None);
                    }
                } else {
                    let pod = self.pick(s, balancer);
                    self.offer(s, pod, req);
                }
            }
            ServiceKind::Queue => {
                if let Some(pod) = self.idle_worker(s) {
                    self.start(pod, req);
                } else if (self.world.services[s].waiting.len() as u64) < svc.queue_limit {
                    let rt = &mut self.world.services[s];
                    rt.waiting.push_back(req);
                    if rt.ready.is_empty() {
                        rt.acc.on_cold_start_wait(now);
                    }
                } else {
                    self.reject(s, req, None);
                }
            }
        }
    }

    /// The balancer's choice among the ready pods (there is at least one).
    ///
    /// In a large cluster it also fetches the line of the pod (or pods) the next arrival here
    /// will look at if the ready pods stay the same, from a copy of the balancer's stream: that
    /// line arrives while the events in between run, where the pods of a large cluster are
    /// otherwise each a cache miss. The draws themselves are unchanged.
    #[inline]
    fn pick(&mut self, s: usize, balancer: Balancer) -> u32 {
        let rt = &mut self.world.services[s];
        let n = rt.ready.len();
        let large = self.world.reqs.items.len() >= self.read_ahead_from;
        let pods = &self.world.pods;
        let ahead = |i: usize| prefetch(pods.get(rt.ready[i]));
        match balancer {
            Balancer::RoundRobin => {
                let i = rt.rr_next % n;
                if large {
                    ahead((i + 1) % n);
                }
                rt.rr_next = i + 1;
                rt.ready[i]
            }
            Balancer::Random => {
                let rng = &mut self.streams.balancer[s];
                let i = rng.gen_range(0..n);
                if large {
                    ahead(rng.clone().gen_range(0..n));
                }
                rt.ready[i]
            }
            Balancer::LeastRequest => {
                if n == 1 {
                    return rt.ready[0];
                }
                // Envoy's default for equal weights: the less loaded of two distinct random
                // endpoints (power of two choices).
                let rng = &mut self.streams.balancer[s];
                let (a, b) = two_distinct(rng, n);
                if large {
                    let (c, d) = two_distinct(&mut rng.clone(), n);
                    ahead(c);
                    ahead(d);
                }
                let (pa, pb) = (rt.ready[a], rt.ready[b]);
                let load = |p: u32| pods.get(p).in_pod();
                if load(pb) < load(pa) {
                    pb
                } else {
                    pa
                }
            }
        }
    }

    /// Hand a request to a pod: a free slot, else its queue, else a 503.
    #[inline]
    pub(super) fn offer(&mut self, s: usize, pod: u32, req: u32) {
        let p = self.world.pods.get_mut(pod);
        if p.slots.has_free() {
            self.start(pod, req);
        } else if (p.queue.len() as u64) < self.sc.services[s].queue_limit {
            p.queue.push_back(&mut self.world.reqs.links, req);
        } else {
            self.reject(s, req, Some(pod));
        }
    }

    /// A ready worker with a free slot (`queue` kind), longest idle first.
    #[inline]
    fn idle_worker(&mut self, s: usize) -> Option<u32> {
        while let Some((pod, gen)) = self.world.services[s].idle.pop_front() {
            let p = self.world.pods.get(pod);
            if p.alive && p.gen == gen && p.phase == PodPhase::Ready && p.slots.has_free() {
                return Some(pod);
            }
        }
        None
    }

    /// Start serving a request in a free slot of `pod`.
    #[inline]
    pub(super) fn start(&mut self, pod: u32, req: u32) {
        let now = self.now;
        let r = self.world.reqs.get_mut(req);
        r.started = now;
        let done = now + r.work_ns;
        let p = self.world.pods.get_mut(pod);
        let slot = p.slots.take(req).expect("start needs a free slot");
        self.events.push(done, Ev::Done { pod, gen: p.gen as u8, slot, req });
    }

    pub(super) fn reject(&mut self, s: usize, req: u32, pod: Option<u32>) {
        if let Some(pod) = pod {
            let p = self.world.pods.get_mut(pod);
            p.errors += 1;
        }
        let r = *self.world.reqs.get(req);
        let rt = &mut self.world.services[s];
        self.world.reqs.release(req);
        if r.state == ReqState::Active {
            rt.acc.on_reject(r.arrival, self.now);
            if r.cold && r.arrival >= rt.acc.warmup_ns {
                rt.acc.cold.rejected += 1;
            }
            self.client_done(req, r.origin, r.vu, r.arrival);
        } else {
            // Its client had already gone; it was counted as timed out.
            rt.acc.on_dropped(self.now);
        }
    }

    pub(super) fn on_done(&mut self, pod: u32, gen: u8, slot: u16, req: u32) {
        let now = self.now;
        let p = self.world.pods.get_mut(pod);
        if !p.alive || p.gen as u8 != gen {
            return; // the pod was killed; the request was counted as lost then
        }
        if self.chains.on && self.chain_on_done(pod, slot) {
            return;
        }
        let p = self.world.pods.get_mut(pod);
        let held = p.slots.release(slot);
        debug_assert_eq!(held, req, "a Done names the request in its slot");
        let s = p.service as usize;
        let r = *self.world.reqs.get(req);
        p.served += 1;
        p.duration_sum_s += u64_f64(now - r.arrival) / 1e9;
        p.cpu_done_ns += u64_f64(r.cpu_ns);
        if let Some(h) = &mut self.world.hist {
            h.observe(pod, now - r.arrival);
        }
        let rt = &mut self.world.services[s];
        self.world.reqs.release(req);
        match r.state {
            ReqState::Active => {
                rt.acc.on_complete(r.arrival, r.started, now);
                if r.cold && r.arrival >= rt.acc.warmup_ns {
                    rt.acc.cold.on_complete(r.started - r.arrival);
                }
                self.client_done(req, r.origin, r.vu, r.arrival);
            }
            _ => rt.acc.on_wasted(r.arrival, now),
        }
        self.slot_freed(s, pod);
    }

    /// A slot of `pod` (of service `s`) is free again: it takes the pod's next queued request
    /// (`http`) or the service's next waiting job (`queue`, else the worker goes idle), and a
    /// terminating pod with nothing left in it is gone.
    #[inline]
    pub(super) fn slot_freed(&mut self, s: usize, pod: u32) {
        let p = self.world.pods.get_mut(pod);
        match self.sc.services[s].kind {
            ServiceKind::Http { .. } => {
                if let Some(next) = p.queue.pop_front(&mut self.world.reqs.links) {
                    self.start(pod, next);
                }
            }
            ServiceKind::Queue => {
                if p.phase == PodPhase::Ready {
                    if let Some(next) = self.world.services[s].waiting.pop_front() {
                        self.start(pod, next);
                    } else {
                        let gen = p.gen;
                        self.world.services[s].idle.push_back((pod, gen));
                    }
                }
            }
        }
        let p = self.world.pods.get(pod);
        if p.phase == PodPhase::Terminating && p.in_pod() == 0 {
            self.pod_gone(pod);
        }
    }

    /// Clients whose deadline has passed give up. Deadlines are in arrival order, so only the
    /// front of the queue is ever due; requests already finished are dropped on the way.
    pub(super) fn on_deadline(&mut self, s: usize) {
        let now = self.now;
        while let Some(&(req, gen, deadline)) = self.world.services[s].deadlines.front() {
            let r = self.world.reqs.get(req);
            let live = r.gen == gen && r.state == ReqState::Active;
            if !live {
                self.world.services[s].deadlines.pop_front();
                continue;
            }
            if deadline > now {
                break;
            }
            self.world.services[s].deadlines.pop_front();
            let (arrival, origin, vu, cold) = (r.arrival, r.origin, r.vu, r.cold);
            self.world.reqs.get_mut(req).state = ReqState::Abandoned;
            self.world.services[s].acc.on_timeout(arrival);
            if cold && arrival >= self.world.services[s].acc.warmup_ns {
                self.world.services[s].acc.cold.timed_out += 1;
            }
            self.client_done(req, origin, vu, arrival);
        }
        let rt = &mut self.world.services[s];
        match rt.deadlines.front() {
            Some(&(_, _, deadline)) => self.events.push(deadline, Ev::Deadline(s as u16)),
            None => rt.deadline_armed = false,
        }
    }
}

/// Two distinct indices below `n` (at least 2), uniformly: least-request's probes.
#[inline]
fn two_distinct(rng: &mut crate::engine::rng::Rng, n: usize) -> (usize, usize) {
    let a = rng.gen_range(0..n);
    let mut b = rng.gen_range(0..n - 1);
    if b >= a {
        b += 1;
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use crate::sim::Simulation;

    /// Fetching ahead (a large cluster's next completions, and the pods the balancer's next
    /// pick will look at, from a copy of its stream) changes nothing a run reports: the same
    /// run with it off gives the same report, with each balancer.
    #[test]
    fn fetching_ahead_changes_nothing() {
        for balancer in ["round-robin", "random", "least-request"] {
            let toml = format!(
                r#"
name = "large"
duration = "3s"
step = "1s"
[[services]]
name = "s"
kind = "http"
balancer = "{balancer}"
queue_limit = 1000
replicas = 1000
concurrency = 1
service_time = {{ dist = "exponential", mean = "20ms" }}
workload = {{ pattern = {{ kind = "constant", rate = 45000 }} }}
"#
            );
            let ex = crate::parse(&toml, std::path::Path::new(".")).unwrap();
            let sc = &ex.scenario;
            let report = |ahead: bool| {
                let mut sim = Simulation::new(sc, &ex.policies[0], sc.seed);
                if !ahead {
                    sim.read_ahead_from = usize::MAX;
                }
                sim.run_until(sc.duration_ns);
                // Each pod is 90 % busy: thousands of requests are in flight, past the mark.
                assert!(sim.world.reqs.items.len() >= super::super::READ_AHEAD_REQUESTS, "{balancer}: {}", sim.world.reqs.items.len());
                format!("{:?}", sim.finish())
            };
            assert!(report(true) == report(false), "{balancer}: fetching ahead changed the report");
        }
    }
}
