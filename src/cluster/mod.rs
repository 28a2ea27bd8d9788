//! Pods and nodes: the objects the Kubernetes API shows, with the engine's bookkeeping beside
//! them. Slots are reused (a free list) with a generation number, so memory stays flat over a
//! long run with churn and stale events are recognised and ignored.

use crate::engine::{Fifo, SimTime};

/// Lifecycle of a pod as the engine models it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PodPhase {
    /// Created, not bound to a node (no node has room).
    Pending,
    /// Bound to a node, pulling, booting, waiting for readiness.
    Starting,
    /// In the load balancer (or pulling jobs).
    Ready,
    /// Deleted: out of the balancer, finishing in-flight work within the grace period.
    Terminating,
}

/// A request executing in one of a pod's concurrency slots.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Index in the request slab; `u32::MAX` when free.
    pub req: u32,
}

pub const FREE: u32 = u32::MAX;

/// Fields in the order the request path touches them, each pod on its own cache lines: the
/// first line holds what an arrival and a completion read (liveness, phase, free slots,
/// slots and the response counter), the second the other per-request counters.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct Pod {
    pub gen: u32,
    pub alive: bool,
    pub phase: PodPhase,
    pub service: u16,
    /// Concurrency slots; `free` lists the indices of free ones.
    pub free: Vec<u16>,
    pub slots: Vec<Slot>,
    // Counters exported to the metrics pipeline.
    /// Responses sent, any status (HTTP `http_requests_total`).
    pub responses: u64,
    /// Requests served, and the sum of their durations in seconds.
    pub served: u64,
    pub duration_sum_s: f64,
    /// CPU nanoseconds of requests finished here (the in-progress part is added when read).
    pub cpu_done_ns: f64,
    /// Requests waiting in this pod (kind `http`).
    pub queue: Fifo<u32>,
    /// Responses that were errors (queue full: 503).
    pub errors: u64,
    /// The pod's ordinal in its service, for its name (`<service>-<ordinal>`).
    pub ordinal: u64,
    pub node: Option<u32>,
    pub created_at: SimTime,
    pub bound_at: SimTime,
    pub ready_at: Option<SimTime>,
    pub deleted_at: Option<SimTime>,
    /// Index in the service's ready list while Ready.
    pub ready_index: usize,
    /// Its scrape target in the metrics store while Ready or Terminating.
    pub target: u32,
}

// The first cache line holds what every request reads and writes.
const _: () = assert!(std::mem::offset_of!(Pod, responses) + 8 <= 64);
const _: () = assert!(std::mem::offset_of!(Pod, queue) + std::mem::size_of::<Fifo<u32>>() <= 128);

impl Pod {
    pub fn busy(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Requests in the pod: executing and waiting.
    pub fn in_pod(&self) -> usize {
        self.busy() + self.queue.len()
    }

    pub fn is_bound(&self) -> bool {
        self.node.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Requested from the provider; not yet joined.
    Provisioning,
    Ready,
    /// Cordoned and being drained before removal.
    Draining,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub gen: u32,
    pub alive: bool,
    pub pool: u16,
    pub ordinal: u64,
    pub state: NodeState,
    pub permanent: bool,
    pub requested_at: SimTime,
    pub ready_at: Option<SimTime>,
    pub cpu_used_m: u64,
    pub mem_used: u64,
    pub pods: u32,
}

/// A slab of items with reusable slots and generation counters.
#[derive(Debug, Clone)]
pub struct Slab<T> {
    pub items: Vec<T>,
    pub free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    pub fn get(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    pub fn get_mut(&mut self, id: u32) -> &mut T {
        &mut self.items[id as usize]
    }
}

/// The ReplicaSet's preference when it deletes pods on scale-down (`ActivePodsWithRanks` with
/// `LogarithmicScaleDown`, as upstream orders them): unscheduled before scheduled; not ready
/// before ready; pods doubled up on a node (more replicas of the service on the same node)
/// before others; pods ready for a shorter time (compared in powers of two of seconds) before
/// older ones; then newer before older. Smaller keys are deleted first. `colocated` is the
/// number of the service's pods on the pod's node.
pub type DeletionRank = (u8, u8, std::cmp::Reverse<u32>, i64, std::cmp::Reverse<SimTime>, std::cmp::Reverse<u64>);

pub fn deletion_rank(p: &Pod, colocated: u32, now: SimTime) -> DeletionRank {
    let scheduled = u8::from(p.node.is_some());
    let ready = u8::from(p.phase == PodPhase::Ready);
    let ready_bucket = match p.ready_at {
        Some(t) if ready == 1 => {
            let s = (now.saturating_sub(t) / 1_000_000_000).max(1);
            i64::from(63 - s.leading_zeros())
        }
        _ => -1,
    };
    (
        scheduled,
        ready,
        std::cmp::Reverse(colocated),
        ready_bucket,
        std::cmp::Reverse(p.created_at),
        std::cmp::Reverse(p.ordinal),
    )
}
