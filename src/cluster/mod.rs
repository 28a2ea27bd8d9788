//! Pods and nodes: the objects the Kubernetes API shows, with the engine's bookkeeping beside
//! them. Slots are reused (a free list) with a generation number, so memory stays flat over a
//! long run with churn and stale events are recognised and ignored.

mod queue;

pub use queue::{all_queued, PodQueue};

use crate::engine::SimTime;

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

/// `Slots`'s request of a free slot.
pub const FREE: u32 = u32::MAX;

/// Pods of up to this many slots keep them inline, in the pod's first cache line.
const INLINE: usize = 1;

/// A pod's concurrency slots: the request in each (`FREE` when none), and a stack of the free
/// ones (the last freed is taken first). One buffer holds both, the requests first, then the
/// stack: inline for small pods, else one allocation, so that a request touches the pod's
/// first cache line and at most one more.
#[derive(Debug, Clone, Default)]
pub struct Slots {
    n: u32,
    nfree: u32,
    buf: SlotBuf,
}

/// The slots' buffer: inline or allocated, never both (16 bytes: the inline words sit beside
/// the allocation's non-null pointer, so the pod's queue and counters fit in its first cache
/// line beside them).
#[derive(Debug, Clone)]
enum SlotBuf {
    Inline([u32; 2 * INLINE]),
    Big(Box<[u32]>),
}

impl Default for SlotBuf {
    fn default() -> Self {
        SlotBuf::Inline([0; 2 * INLINE])
    }
}

impl Slots {
    /// `n` free slots, taken from the first.
    pub fn new(n: usize) -> Self {
        let mut s = Self::default();
        s.reset(n);
        s
    }

    /// Make it `n` free slots again (a pod slot reused), taken from the first.
    pub fn reset(&mut self, n: usize) {
        assert!(n <= u16::MAX as usize + 1, "a pod's concurrency fits in 16 bits");
        self.n = n as u32;
        self.nfree = n as u32;
        match &self.buf {
            SlotBuf::Inline(_) if n <= INLINE => {}
            SlotBuf::Big(b) if n > INLINE && b.len() == 2 * n => {}
            _ if n <= INLINE => self.buf = SlotBuf::default(),
            _ => self.buf = SlotBuf::Big(vec![0; 2 * n].into_boxed_slice()),
        }
        let buf = self.buf_mut();
        let (reqs, stack) = buf.split_at_mut(n);
        reqs.fill(FREE);
        for (k, v) in stack[..n].iter_mut().enumerate() {
            *v = (n - 1 - k) as u32;
        }
    }

    #[inline(always)]
    fn buf(&self) -> &[u32] {
        match &self.buf {
            SlotBuf::Inline(b) => b,
            SlotBuf::Big(b) => b,
        }
    }

    #[inline(always)]
    fn buf_mut(&mut self) -> &mut [u32] {
        match &mut self.buf {
            SlotBuf::Inline(b) => b,
            SlotBuf::Big(b) => b,
        }
    }

    /// Concurrency: the number of slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.n as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Free slots.
    #[inline]
    pub fn free(&self) -> usize {
        self.nfree as usize
    }

    #[inline]
    pub fn has_free(&self) -> bool {
        self.nfree > 0
    }

    /// Put `req` in the last freed slot; `None` when none is free.
    #[inline]
    pub fn take(&mut self, req: u32) -> Option<u16> {
        if self.nfree == 0 {
            return None;
        }
        self.nfree -= 1;
        let (n, top) = (self.n as usize, self.nfree as usize);
        let buf = self.buf_mut();
        let slot = buf[n + top] as usize;
        buf[slot] = req;
        Some(slot as u16)
    }

    /// The request in `slot` (`FREE` when none).
    #[inline]
    pub fn req(&self, slot: u16) -> u32 {
        self.buf()[slot as usize]
    }

    /// Free `slot`, returning the request it held.
    #[inline]
    pub fn release(&mut self, slot: u16) -> u32 {
        let (n, top) = (self.n as usize, self.nfree as usize);
        self.nfree += 1;
        let buf = self.buf_mut();
        let req = std::mem::replace(&mut buf[slot as usize], FREE);
        buf[n + top] = u32::from(slot);
        req
    }

    /// The request in each slot, in slot order (`FREE` for free ones).
    pub fn reqs(&self) -> &[u32] {
        &self.buf()[..self.n as usize]
    }

    /// Empty every slot without freeing it (the pod is gone: its requests were lost).
    pub fn clear_reqs(&mut self) {
        let n = self.n as usize;
        self.buf_mut()[..n].fill(FREE);
    }
}

/// Fields in the order the request path touches them, each pod on its own cache lines: the
/// first line holds everything an arrival and a completion read and write (liveness, phase,
/// slots, the queue, the counters a completion adds to), the second what changes seldom (an
/// error response adds to `errors` there).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct Pod {
    pub gen: u32,
    pub alive: bool,
    pub phase: PodPhase,
    pub service: u16,
    /// Concurrency slots.
    pub slots: Slots,
    /// Requests waiting in this pod (kind `http`), linked through the request slab.
    pub queue: PodQueue,
    // Counters exported to the metrics pipeline (responses sent: `responses()`).
    /// Requests served, and the sum of their durations in seconds.
    pub served: u64,
    pub duration_sum_s: f64,
    /// CPU nanoseconds of requests finished here (the in-progress part is added when read).
    pub cpu_done_ns: f64,
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
const _: () = assert!(std::mem::size_of::<Slots>() == 24);
const _: () = assert!(std::mem::offset_of!(Pod, cpu_done_ns) + 8 <= 64);

impl Pod {
    /// Responses sent, any status (HTTP `http_requests_total`): every served request and
    /// every error.
    pub fn responses(&self) -> u64 {
        self.served + self.errors
    }

    pub fn busy(&self) -> usize {
        self.slots.len() - self.slots.free()
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `Slots` behaves as the slot array and free stack it replaces, inline or not.
    #[test]
    fn slots_behave_as_an_array_and_a_stack() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        for n in [1usize, 2, 3, 4, 10, 64] {
            let mut slots = Slots::new(n);
            let mut reqs = vec![FREE; n];
            let mut free: Vec<u16> = (0..n as u16).rev().collect();
            for i in 0..5_000u32 {
                if rng.gen_bool(0.5) {
                    let want = free.pop();
                    if let Some(k) = want {
                        reqs[k as usize] = i;
                    }
                    assert_eq!(slots.take(i), want);
                } else {
                    let busy: Vec<u16> = (0..n as u16).filter(|&k| reqs[k as usize] != FREE).collect();
                    if let Some(&k) = busy.get(rng.gen_range(0..busy.len().max(1))) {
                        assert_eq!(slots.release(k), std::mem::replace(&mut reqs[k as usize], FREE));
                        free.push(k);
                    }
                }
                assert_eq!(slots.reqs(), &reqs[..]);
                assert_eq!(slots.free(), free.len());
                if rng.gen_bool(0.001) {
                    let m = [1usize, 3, 5][rng.gen_range(0..3)];
                    slots.reset(m);
                    slots.reset(n);
                    reqs = vec![FREE; n];
                    free = (0..n as u16).rev().collect();
                }
            }
        }
    }
}
