//! Requests and the per-service machinery that routes them: the request slab, the balancers,
//! the shared queue, and the clients' timeouts.

use crate::engine::{Fifo, SimTime};
use crate::report::ServiceAcc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqState {
    Free,
    /// In the system, its client still waiting.
    Active,
    /// Its client gave up (timed out); the request still holds its place and its work is wasted.
    Abandoned,
}

/// One request in the system. Freed when it leaves: memory is bounded by the requests in flight.
#[derive(Debug, Clone, Copy)]
pub struct Req {
    pub arrival: SimTime,
    pub started: SimTime,
    /// Time it holds a concurrency slot.
    pub work_ns: u64,
    /// CPU it costs, nanoseconds of one core.
    pub cpu_ns: u64,
    pub gen: u32,
    pub state: ReqState,
    /// The load source that sent it (`NO_ORIGIN` for open-loop sources nobody waits on) and
    /// its virtual user: told when the request ends for its client.
    pub origin: u32,
    pub vu: u32,
    /// It arrived while the service had no ready pod (a cold start: held or queued until one is).
    pub cold: bool,
}

/// `Req::origin` of requests no load source waits for.
pub const NO_ORIGIN: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
pub struct ReqSlab {
    pub items: Vec<Req>,
    free: Vec<u32>,
    pub live: usize,
    /// Per request: the one queued behind it in its pod (the pods' queues' links; see
    /// `cluster::PodQueue`). Apart from the requests, so that a `Req` stays 48 bytes.
    pub links: Vec<u32>,
}

impl ReqSlab {
    #[inline]
    pub fn alloc(&mut self, arrival: SimTime, work_ns: u64, cpu_ns: u64, origin: u32, vu: u32) -> u32 {
        self.live += 1;
        if let Some(id) = self.free.pop() {
            let r = &mut self.items[id as usize];
            r.arrival = arrival;
            r.started = arrival;
            r.work_ns = work_ns;
            r.cpu_ns = cpu_ns;
            r.state = ReqState::Active;
            r.origin = origin;
            r.vu = vu;
            r.cold = false;
            id
        } else {
            self.items.push(Req { arrival, started: arrival, work_ns, cpu_ns, gen: 0, state: ReqState::Active, origin, vu, cold: false });
            self.links.push(0);
            (self.items.len() - 1) as u32
        }
    }

    #[inline]
    pub fn release(&mut self, id: u32) {
        let r = &mut self.items[id as usize];
        r.state = ReqState::Free;
        r.gen = r.gen.wrapping_add(1);
        self.free.push(id);
        self.live -= 1;
    }

    #[inline]
    pub fn get(&self, id: u32) -> &Req {
        &self.items[id as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut Req {
        &mut self.items[id as usize]
    }
}

/// The running state of one service.
#[derive(Debug, Clone)]
pub struct ServiceRt {
    /// The Deployment's spec replicas.
    pub spec_replicas: u32,
    /// Live pods (every phase, terminating included), by engine id.
    pub pods: Vec<u32>,
    /// Ready pods: the balancer's endpoints, or the workers pulling jobs.
    pub ready: Vec<u32>,
    pub rr_next: usize,
    /// The shared queue (`queue` kind), or requests held while no pod is ready (`http`).
    pub waiting: Fifo<u32>,
    /// `queue` kind: one entry per free slot of a ready pod, longest idle first (pod, pod gen).
    /// Entries of pods that left are skipped when met.
    pub idle: Fifo<(u32, u32)>,
    /// Client deadlines in arrival order: (request, request gen, deadline).
    pub deadlines: Fifo<(u32, u32, SimTime)>,
    pub deadline_armed: bool,
    pub next_ordinal: u64,
    /// The service's own scrape target (ingress counter, queue length).
    pub target: u32,
    pub arrivals_total: u64,
    /// Statistics and the current timeseries step.
    pub acc: ServiceAcc,
}

impl ServiceRt {
    pub fn new(spec_replicas: u32, target: u32, acc: ServiceAcc) -> Self {
        Self {
            spec_replicas,
            pods: Vec::new(),
            ready: Vec::new(),
            rr_next: 0,
            waiting: Fifo::new(),
            idle: Fifo::new(),
            deadlines: Fifo::new(),
            deadline_armed: false,
            next_ordinal: 0,
            target,
            arrivals_total: 0,
            acc,
        }
    }
}
