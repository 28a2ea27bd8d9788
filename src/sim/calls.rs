//! Services that call services: a request's calls to other services (`calls`), the caller's
//! slot held through its sync calls, and the end-to-end latency of each request tree.
//!
//! A request of a service with `calls` does its `service_time`, then its calls in order (an
//! `enqueue` call goes on as soon as the callee has accepted the job; a `sync` call waits for
//! the callee's answer, holding the caller's slot), then its `service_time_after_calls`. A
//! rejected call, or a sync call that fails (rejected, timed out, lost), fails the caller: it
//! answers its own client with an error (counted as rejected) at once.
//!
//! Randomness: every request of a tree has a key, derived from the seed, the entry service and
//! the request's rank among that service's external arrivals, then from its parent's key and
//! the call's rank. How many calls a request makes and the callee's work are drawn from
//! generators seeded by these keys: the n-th external request of a service makes the same calls
//! with the same work under every policy, and no other stream is drawn from.

use rand::{Rng as _, SeedableRng};

use super::{Ev, Simulation};
use crate::engine::rng::{self, Rng};
use crate::engine::SimTime;
use crate::report::{EndToEnd, Latency, LatencyHist};
use crate::scenario::{CallMode, CallTimes, Scenario};
use crate::service::ReqState;

/// `Req::origin` of a request made by another request (a call).
pub(crate) const CALL_ORIGIN: u32 = u32::MAX - 1;
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// A request of a service without calls.
    #[default]
    Plain,
    /// Doing its `service_time`.
    Before,
    /// Making its calls (its slot held).
    Calling,
    /// Doing its `service_time_after_calls` (or leaving its slot).
    After,
}

/// What the calls machinery knows of one request, by request index.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// The entry belongs to the request now at this index.
    tracked: bool,
    answered: bool,
    /// It completed (the last answer its client got was a success).
    ok: bool,
    phase: Phase,
    key: u64,
    /// Its tree (`NONE`: none counted).
    tree: u32,
    /// A call: its caller (index and gen) and whether the caller waits for it.
    child: bool,
    sync: bool,
    parent: u32,
    parent_gen: u32,
    /// A caller: where it holds its slot, its progress through its calls.
    pod: u32,
    pod_gen: u32,
    slot: u16,
    spec: u16,
    left: u32,
    ordinal: u32,
    waiting: bool,
    failed: bool,
    in_advance: bool,
    /// Its start in its slot, kept while its after-work runs.
    started: SimTime,
}

#[derive(Debug, Clone, Copy)]
struct Tree {
    service: u32,
    arrival: SimTime,
    outstanding: u32,
    failed: bool,
    counted: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    parent: u32,
    parent_gen: u32,
    key: u64,
    tree: u32,
    sync: bool,
}

/// Per entry service: the end-to-end latency of its request trees.
#[derive(Debug, Clone, Default)]
struct E2eAcc {
    latency: LatencyHist,
    failed: u64,
}

/// The calls' state of one run. Inert (`on` false) when no service has calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chains {
    pub(crate) on: bool,
    meta: Vec<Meta>,
    trees: Vec<Tree>,
    free_trees: Vec<u32>,
    /// Per service: the key base of its external requests, and how many it has had.
    root_base: Vec<u64>,
    roots: Vec<u64>,
    e2e: Vec<Option<E2eAcc>>,
    pending: Option<Pending>,
    admitting: bool,
}

impl Chains {
    pub(crate) fn new(sc: &Scenario, seed: u64) -> Self {
        let on = sc.services.iter().any(|s| !s.calls.is_empty());
        if !on {
            return Self::default();
        }
        Self {
            on,
            root_base: sc.services.iter().map(|s| seed ^ rng::fnv1a(&format!("calls/{}", s.name)).rotate_left(17)).collect(),
            roots: vec![0; sc.services.len()],
            e2e: sc.services.iter().map(|s| (!s.calls.is_empty()).then(E2eAcc::default)).collect(),
            ..Self::default()
        }
    }
}

/// A well-mixed 64-bit value of two (splitmix64's finalizer over their combination).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const SALT_WORK: u64 = 1;
const SALT_AFTER: u64 = 2;
const SALT_TIMES: u64 = 3;

impl Simulation<'_> {
    /// A request was admitted at service `s` (before it is routed): note what it is to the
    /// calls machinery.
    pub(super) fn chain_admitted(&mut self, s: usize, req: u32, origin: u32) {
        let now = self.now;
        let ch = &mut self.chains;
        let i = req as usize;
        if ch.meta.len() <= i {
            ch.meta.resize(i + 1, Meta::default());
        }
        let calls = !self.sc.services[s].calls.is_empty();
        let mut m = Meta { phase: if calls { Phase::Before } else { Phase::Plain }, tree: NONE, ..Meta::default() };
        if origin == CALL_ORIGIN {
            let p = ch.pending.take().expect("a call's request is admitted with its caller");
            m.tracked = true;
            m.child = true;
            m.sync = p.sync;
            m.parent = p.parent;
            m.parent_gen = p.parent_gen;
            m.key = p.key;
            m.tree = p.tree;
        } else if calls {
            m.tracked = true;
            m.key = mix(ch.root_base[s], ch.roots[s]);
            ch.roots[s] += 1;
            let t = Tree { service: s as u32, arrival: now, outstanding: 1, failed: false, counted: now >= self.sc.warmup_ns };
            m.tree = match ch.free_trees.pop() {
                Some(id) => {
                    ch.trees[id as usize] = t;
                    id
                }
                None => {
                    ch.trees.push(t);
                    (ch.trees.len() - 1) as u32
                }
            };
        }
        ch.meta[i] = m;
    }

    /// A request's work in its slot is done. True when the calls machinery takes it over (the
    /// request goes on to its calls, or fails); false to complete it as usual.
    pub(super) fn chain_on_done(&mut self, pod: u32, slot: u16) -> bool {
        let req = self.world.pods.get(pod).slots.req(slot);
        let i = req as usize;
        let Some(m) = self.chains.meta.get(i).copied() else { return false };
        if !m.tracked {
            return false;
        }
        let state = self.world.reqs.get(req).state;
        match m.phase {
            Phase::Plain => {
                self.chains.meta[i].ok = state == ReqState::Active;
                false
            }
            Phase::Before => {
                if state != ReqState::Active {
                    return false; // its client is gone: it makes no calls
                }
                let s = self.world.pods.get(pod).service as usize;
                let r = self.world.reqs.get_mut(req);
                let cpu = std::mem::take(&mut r.cpu_ns);
                let p = self.world.pods.get_mut(pod);
                p.cpu_done_ns += cpu as f64;
                let pod_gen = p.gen;
                let left = self.draw_times(s, m.key, 0);
                let m = &mut self.chains.meta[i];
                m.phase = Phase::Calling;
                m.pod = pod;
                m.pod_gen = pod_gen;
                m.slot = slot;
                m.spec = 0;
                m.left = left;
                self.advance(req);
                true
            }
            Phase::Calling => true,
            Phase::After => {
                self.world.reqs.get_mut(req).started = m.started;
                if state == ReqState::Active && m.failed {
                    self.fail_in_slot(pod, slot, req);
                    return true;
                }
                self.chains.meta[i].ok = state == ReqState::Active;
                false
            }
        }
    }

    /// How many calls entry `spec` of service `s`'s calls makes for the request of `key`.
    fn draw_times(&self, s: usize, key: u64, spec: usize) -> u32 {
        match self.sc.services[s].calls[spec].times {
            CallTimes::Count(n) => n,
            CallTimes::Probability(p) => {
                let mut rng = Rng::seed_from_u64(mix(mix(key, SALT_TIMES), spec as u64));
                u32::from(rng.gen::<f64>() < p)
            }
        }
    }

    /// Make the caller's calls until it waits for one, fails or is done.
    fn advance(&mut self, req: u32) {
        let i = req as usize;
        self.chains.meta[i].in_advance = true;
        loop {
            let m = self.chains.meta[i];
            if m.waiting {
                break;
            }
            let s = self.world.pods.get(m.pod).service as usize;
            let active = self.world.reqs.get(req).state == ReqState::Active;
            if m.failed || !active {
                self.leave_calls(req, 0, 0);
                break;
            }
            if m.left == 0 {
                let next = m.spec as usize + 1;
                if next >= self.sc.services[s].calls.len() {
                    let (after, cpu) = match &self.sc.services[s].service_time_after_calls {
                        Some(d) => {
                            let mut rng = Rng::seed_from_u64(mix(m.key, SALT_AFTER));
                            let w = d.sample_ns(&mut rng);
                            (w, w)
                        }
                        None => (0, 0),
                    };
                    self.leave_calls(req, after, cpu);
                    break;
                }
                let left = self.draw_times(s, m.key, next);
                let m = &mut self.chains.meta[i];
                m.spec = next as u16;
                m.left = left;
                continue;
            }
            let call = self.sc.services[s].calls[m.spec as usize];
            let m = &mut self.chains.meta[i];
            m.left -= 1;
            m.ordinal += 1;
            let key = mix(m.key, u64::from(m.ordinal));
            let tree = m.tree;
            let sync = call.mode == CallMode::Sync;
            if sync {
                m.waiting = true;
            }
            if tree != NONE {
                self.chains.trees[tree as usize].outstanding += 1;
            }
            let callee = &self.sc.services[call.service];
            let mut rng = Rng::seed_from_u64(mix(key, SALT_WORK));
            let work_ns = callee.service_time.sample_ns(&mut rng);
            let cpu_ns = match &callee.cpu_per_request {
                Some(d) => d.sample_ns(&mut rng),
                None => work_ns,
            };
            let parent_gen = self.world.reqs.get(req).gen;
            self.chains.pending = Some(Pending { parent: req, parent_gen, key, tree, sync });
            self.chains.admitting = true;
            self.admit(call.service, work_ns, cpu_ns, CALL_ORIGIN, 0, false);
            self.chains.admitting = false;
        }
        self.chains.meta[i].in_advance = false;
    }

    /// The caller is done with its calls: its after-work (`work_ns`, `cpu_ns`) runs in its slot,
    /// then its Done completes it (or fails it, or wastes it).
    fn leave_calls(&mut self, req: u32, work_ns: u64, cpu_ns: u64) {
        let now = self.now;
        let m = &mut self.chains.meta[req as usize];
        m.phase = Phase::After;
        let (pod, gen, slot) = (m.pod, m.pod_gen, m.slot);
        let r = self.world.reqs.get_mut(req);
        m.started = r.started;
        r.started = now;
        r.work_ns = work_ns;
        r.cpu_ns = cpu_ns;
        self.events.push(now + work_ns, Ev::Done { pod, gen: gen as u8, slot, req });
    }

    /// A request's client has its answer (`client_done`): close its part of its tree, and tell
    /// its caller.
    pub(super) fn chain_answered(&mut self, req: u32) {
        let i = req as usize;
        let Some(m) = self.chains.meta.get(i).copied() else { return };
        if !m.tracked || m.answered {
            return;
        }
        self.chains.meta[i].answered = true;
        if m.tree != NONE {
            let now = self.now;
            let t = &mut self.chains.trees[m.tree as usize];
            t.failed |= !m.ok;
            t.outstanding -= 1;
            if t.outstanding == 0 {
                let t = *t;
                self.chains.free_trees.push(m.tree);
                if t.counted {
                    if let Some(acc) = &mut self.chains.e2e[t.service as usize] {
                        if t.failed {
                            acc.failed += 1;
                        } else {
                            acc.latency.record(now - t.arrival);
                        }
                    }
                }
            }
        }
        if !m.child || self.world.reqs.get(m.parent).gen != m.parent_gen {
            return; // a request of the load, or its caller is gone
        }
        let pi = m.parent as usize;
        if self.chains.meta[pi].phase != Phase::Calling {
            return;
        }
        if m.sync {
            let pm = &mut self.chains.meta[pi];
            pm.waiting = false;
            pm.failed |= !m.ok;
            if !pm.in_advance {
                self.advance(m.parent);
            }
        } else if self.chains.admitting && !m.ok {
            self.chains.meta[pi].failed = true; // the callee refused the job
        }
    }

    /// A caller whose call failed answers its client with an error and frees its slot.
    fn fail_in_slot(&mut self, pod: u32, slot: u16, req: u32) {
        let now = self.now;
        let p = self.world.pods.get_mut(pod);
        p.slots.release(slot);
        p.errors += 1;
        let s = p.service as usize;
        let r = *self.world.reqs.get(req);
        p.cpu_done_ns += r.cpu_ns as f64;
        self.world.reqs.release(req);
        let rt = &mut self.world.services[s];
        rt.acc.on_reject(r.arrival, now);
        if r.cold && r.arrival >= rt.acc.warmup_ns {
            rt.acc.cold.rejected += 1;
        }
        self.client_done(req, r.origin, r.vu, r.arrival);
        // The freed slot takes the next request, as in `on_done`.
        self.slot_freed(s, pod);
    }

    /// The end-to-end latency of service `s`'s request trees, when it has calls.
    pub(super) fn end_to_end(&self, s: usize) -> Option<EndToEnd> {
        let acc = self.chains.e2e.get(s)?.as_ref()?;
        // Freed trees have nothing outstanding.
        let open = self.chains.trees.iter().filter(|t| t.service as usize == s && t.counted && t.outstanding > 0).count() as u64;
        Some(EndToEnd { completed: acc.latency.count(), failed: acc.failed, in_flight_at_end: open, latency_s: Latency::from_hist(&acc.latency) })
    }
}
