//! The event queue: a 4-ary min-heap keyed by (time, insertion sequence), so that events at the
//! same instant run in the order they were scheduled (FIFO ties), which makes runs
//! deterministic. Four children per node halve the depth of a binary heap and keep siblings in
//! one cache line or two; the queue is the engine's hottest structure.

use super::time::SimTime;

/// The order of an event: its time in the high 64 bits, its insertion sequence in the low.
pub type Key = u128;

/// The key of an event at `time` with sequence number `seq`.
#[inline(always)]
pub fn key(time: SimTime, seq: u64) -> Key {
    (u128::from(time) << 64) | u128::from(seq)
}

/// The time of a key.
#[inline(always)]
pub fn key_time(k: Key) -> SimTime {
    (k >> 64) as SimTime
}

#[derive(Clone, Copy)]
struct Entry<E> {
    key: Key,
    event: E,
}

impl<E> Entry<E> {
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        self.key < other.key
    }
}

const D: usize = 4;

/// A priority queue of events ordered by time, ties broken by insertion order.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    seq: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn new() -> Self {
        Self { heap: Vec::with_capacity(1024), seq: 0 }
    }

    #[inline]
    pub fn push(&mut self, time: SimTime, event: E) {
        let k = key(time, self.take_seq());
        self.push_key(k, event);
    }

    /// Push an event that comes after every other event at the same time, whenever scheduled
    /// (a boundary, such as the end of a reporting step: the step covers `(time - step, time]`
    /// and sees the state after everything that happens at `time`). Several such events at
    /// one time come in an unspecified but deterministic order.
    pub fn push_last(&mut self, time: SimTime, event: E) {
        self.push_key(key(time, u64::MAX), event);
    }

    #[inline]
    fn push_key(&mut self, key: Key, event: E) {
        let entry = Entry { key, event };
        // Sift up with a hole: move parents down until the entry's place is found.
        let mut i = self.heap.len();
        self.heap.push(entry);
        while i > 0 {
            let parent = (i - 1) / D;
            if entry.before(&self.heap[parent]) {
                self.heap[i] = self.heap[parent];
                i = parent;
            } else {
                break;
            }
        }
        self.heap[i] = entry;
    }

    /// A sequence number for an event kept outside the queue, so that it is ordered with the
    /// queue's events exactly as if it were in it.
    #[inline]
    pub fn take_seq(&mut self) -> u64 {
        let s = self.seq;
        self.seq += 1;
        s
    }

    /// The time of the next event, if any.
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.first().map(|e| key_time(e.key))
    }

    /// The key of the next event (`Key::MAX` when empty).
    #[inline]
    pub fn peek_key(&self) -> Key {
        self.heap.first().map_or(Key::MAX, |e| e.key)
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let last = self.heap.pop()?;
        let Some(&top) = self.heap.first() else {
            return Some((key_time(last.key), last.event));
        };
        // Bottom-up deletion: move the hole from the root to a leaf along the smaller
        // children (no comparison with `last` on the way: it came from a leaf and usually
        // belongs near one), then sift `last` up from there. It ends where a top-down sift
        // would put it, equal keys included: among equal children the one of lowest index
        // wins, and `last` rises above keys equal to its own.
        let heap = &mut self.heap[..];
        let n = heap.len();
        let mut i = 0;
        loop {
            let first = i * D + 1;
            let best = if let Some(c) = heap.get(first..first + D) {
                // All four children: a tournament (one bounds check for the four).
                let a = usize::from(c[1].before(&c[0]));
                let b = 2 + usize::from(c[3].before(&c[2]));
                first + if c[b].before(&c[a]) { b } else { a }
            } else if first < n {
                let mut best = first;
                for c in first + 1..n {
                    if heap[c].before(&heap[best]) {
                        best = c;
                    }
                }
                best
            } else {
                break;
            };
            heap[i] = heap[best];
            i = best;
        }
        while i > 0 {
            let parent = (i - 1) / D;
            if heap[parent].before(&last) {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = last;
        Some((key_time(top.key), top.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(5, 'c');
        q.push(1, 'a');
        q.push(5, 'd');
        q.push(3, 'b');
        q.push(5, 'e');
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, 'a'), (3, 'b'), (5, 'c'), (5, 'd'), (5, 'e')]);
    }

    #[test]
    fn matches_a_sorted_reference_under_random_use() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut q = EventQueue::new();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut id = 0u64;
        let mut now = 0u64;
        for _ in 0..20_000 {
            if rng.gen_bool(0.55) || reference.is_empty() {
                let t = now + rng.gen_range(0..50);
                q.push(t, id);
                reference.push((t, id));
                id += 1;
            } else {
                reference.sort();
                let want = reference.remove(0);
                let got = q.pop().unwrap();
                assert_eq!(got, want);
                now = got.0;
            }
        }
    }

    /// Bottom-up deletion leaves the heap as a top-down sift would, equal keys (events pushed
    /// last at one time) included: same pops in the same order as a textbook 4-ary heap.
    #[test]
    fn pops_equal_keys_as_a_top_down_heap_does() {
        struct TopDown(Vec<(Key, u64)>);
        impl TopDown {
            fn push(&mut self, k: Key, e: u64) {
                let mut i = self.0.len();
                self.0.push((k, e));
                while i > 0 && self.0[i].0 < self.0[(i - 1) / D].0 {
                    self.0.swap(i, (i - 1) / D);
                    i = (i - 1) / D;
                }
            }
            fn pop(&mut self) -> Option<(SimTime, u64)> {
                let last = self.0.pop()?;
                if self.0.is_empty() {
                    return Some((key_time(last.0), last.1));
                }
                let top = std::mem::replace(&mut self.0[0], last);
                let mut i = 0;
                loop {
                    let children = (i * D + 1)..(i * D + 1 + D).min(self.0.len());
                    let Some(best) = children.reduce(|b, c| if self.0[c].0 < self.0[b].0 { c } else { b }) else {
                        break;
                    };
                    if self.0[best].0 < self.0[i].0 {
                        self.0.swap(i, best);
                        i = best;
                    } else {
                        break;
                    }
                }
                Some((key_time(top.0), top.1))
            }
        }
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let (mut q, mut reference) = (EventQueue::new(), TopDown(Vec::new()));
        let (mut seq, mut now) = (0u64, 0u64);
        for id in 0..50_000u64 {
            if rng.gen_bool(0.52) || q.is_empty() {
                let t = now + rng.gen_range(0..20);
                if rng.gen_bool(0.3) {
                    q.push_last(t, id);
                    reference.push(key(t, u64::MAX), id);
                } else {
                    q.push(t, id);
                    reference.push(key(t, seq), id);
                    seq += 1;
                }
            } else {
                let got = q.pop();
                assert_eq!(got, reference.pop());
                now = got.unwrap().0;
            }
        }
    }
}
