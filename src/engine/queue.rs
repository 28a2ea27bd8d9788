//! The event queue: a 4-ary min-heap of 16-byte entries keyed by (time, insertion sequence), so
//! that events at the same instant run in the order they were scheduled (FIFO ties), which makes
//! runs deterministic. While few events are pending, the same entries are kept in a sorted
//! array instead (a pop takes its end, a push is a short insertion): keys are unique, so events
//! come out in the same order either way. An entry is the event's time and a tag packing its
//! sequence number (high 40 bits) with a handle (low 24 bits) to its payload, kept aside in a
//! slab: sifts and shifts move and compare 16 bytes, and four siblings share one cache line.
//! The queue is the engine's hottest structure.

use super::time::SimTime;

/// The order of an event: its time in the high 64 bits, its tag (sequence, then handle) in the
/// low. Sequences are unique, so keys order as (time, sequence) do.
pub type Key = u128;

/// Bits of a tag that hold the payload's handle.
const HANDLE_BITS: u32 = 24;
const HANDLE_MASK: u64 = (1 << HANDLE_BITS) - 1;
/// Sequence numbers below this are handed out in order; the last one is kept for `push_last`.
const SEQ_LAST: u64 = (1 << (64 - HANDLE_BITS)) - 1;

/// The key of an event at `time` with sequence number `seq` (and no payload handle: events kept
/// outside the queue).
#[inline(always)]
pub fn key(time: SimTime, seq: u64) -> Key {
    (u128::from(time) << 64) | u128::from(seq << HANDLE_BITS)
}

/// The time of a key.
#[inline(always)]
pub fn key_time(k: Key) -> SimTime {
    (k >> 64) as SimTime
}

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Entry {
    time: SimTime,
    tag: u64,
}

impl Entry {
    #[inline(always)]
    fn key(self) -> Key {
        (u128::from(self.time) << 64) | u128::from(self.tag)
    }

    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        self.key() < other.key()
    }

    #[inline(always)]
    fn handle(self) -> usize {
        (self.tag & HANDLE_MASK) as usize
    }
}

const D: usize = 4;

/// The most events kept sorted: a push into a full sorted array makes it a heap. A new event
/// is usually one of the soonest (a request's completion among later scrapes, steps and
/// timeouts), so an insertion shifts a few entries, where a heap's push and pop each walk its
/// levels.
const SORTED_MAX: usize = 48;
/// A heap that falls below this many events is sorted again (well below `SORTED_MAX`, so that
/// a queue near the bound does not switch back and forth).
const SORTED_AGAIN: usize = 12;

/// A priority queue of events ordered by time, ties broken by insertion order.
pub struct EventQueue<E> {
    /// A 4-ary min-heap, or (`sorted`) an array sorted latest first, the next event last.
    heap: Vec<Entry>,
    sorted: bool,
    /// Payloads by handle; `free` lists the handles not in use (last freed, first reused, so
    /// that the slab stays as small and as warm as the number of pending events allows).
    payloads: Vec<E>,
    free: Vec<u32>,
    /// Payloads of events pushed while every handle was taken, by (time, sequence).
    overflow: std::collections::HashMap<(SimTime, u64), Vec<E>>,
    seq: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn new() -> Self {
        Self { heap: Vec::with_capacity(1024), sorted: true, payloads: Vec::with_capacity(1024), free: Vec::with_capacity(1024), overflow: Default::default(), seq: 0 }
    }

    #[inline]
    pub fn push(&mut self, time: SimTime, event: E) {
        let seq = self.take_seq();
        self.push_tagged(time, seq, event);
    }

    /// Push an event that comes after every other event at the same time, whenever scheduled
    /// (a boundary, such as the end of a reporting step: the step covers `(time - step, time]`
    /// and sees the state after everything that happens at `time`). Several such events at
    /// one time come in an unspecified but deterministic order.
    pub fn push_last(&mut self, time: SimTime, event: E) {
        self.push_tagged(time, SEQ_LAST, event);
    }

    #[inline(always)]
    fn push_tagged(&mut self, time: SimTime, seq: u64, event: E) {
        let handle = match self.free.pop() {
            Some(h) => {
                self.payloads[h as usize] = event;
                u64::from(h)
            }
            None if (self.payloads.len() as u64) < HANDLE_MASK => {
                self.payloads.push(event);
                self.payloads.len() as u64 - 1
            }
            // Every handle is taken (16.7 million events pending): the payload goes to the
            // overflow map, found again by its time and sequence.
            None => {
                self.overflow.entry((time, seq)).or_default().push(event);
                HANDLE_MASK
            }
        };
        let entry = Entry { time, tag: (seq << HANDLE_BITS) | handle };
        if self.sorted {
            if self.heap.len() < SORTED_MAX {
                // Insert from the end: move the sooner entries up until the entry's place.
                let mut i = self.heap.len();
                self.heap.push(entry);
                let a = &mut self.heap[..];
                while i > 0 && a[i - 1].before(&entry) {
                    a[i] = a[i - 1];
                    i -= 1;
                }
                a[i] = entry;
                return;
            }
            self.make_heap();
        }
        // Sift up with a hole: move parents down until the entry's place is found.
        let mut i = self.heap.len();
        self.heap.push(entry);
        let heap = &mut self.heap[..];
        while i > 0 {
            let parent = (i - 1) / D;
            if entry.before(&heap[parent]) {
                heap[i] = heap[parent];
                i = parent;
            } else {
                break;
            }
        }
        heap[i] = entry;
    }

    /// A sequence number for an event kept outside the queue, so that it is ordered with the
    /// queue's events exactly as if it were in it.
    #[inline]
    pub fn take_seq(&mut self) -> u64 {
        let s = self.seq;
        // 2^40 - 1 events: days of computing at tens of millions of events per second.
        assert!(s < SEQ_LAST, "event sequence numbers exhausted");
        self.seq += 1;
        s
    }

    /// The next entry, if any.
    #[inline(always)]
    fn next(&self) -> Option<&Entry> {
        if self.sorted {
            self.heap.last()
        } else {
            self.heap.first()
        }
    }

    /// A copy of the next event, if any (to read what it will touch before it comes).
    #[inline]
    pub fn peek_event(&self) -> Option<E> {
        let h = self.next()?.handle();
        self.payloads.get(h).copied()
    }

    /// The time of the next event, if any.
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.next().map(|e| e.time)
    }

    /// The key of the next event (`Key::MAX` when empty).
    #[inline]
    pub fn peek_key(&self) -> Key {
        self.next().map_or(Key::MAX, |e| e.key())
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let last = self.heap.pop()?;
        let top = if self.sorted {
            last
        } else {
            match self.heap.first() {
                None => last,
                Some(&top) => {
                    self.sift_down_from_root(last);
                    if self.heap.len() < SORTED_AGAIN {
                        self.make_sorted();
                    }
                    top
                }
            }
        };
        let h = top.handle();
        if h == HANDLE_MASK as usize {
            return Some((top.time, self.take_overflow(top)));
        }
        self.free.push(h as u32);
        Some((top.time, self.payloads[h]))
    }

    #[cold]
    #[inline(never)]
    fn take_overflow(&mut self, e: Entry) -> E {
        let k = (e.time, e.tag >> HANDLE_BITS);
        let list = self.overflow.get_mut(&k).expect("an overflowed event's payload is kept");
        let event = list.pop().expect("an overflowed event's payload is kept");
        if list.is_empty() {
            self.overflow.remove(&k);
        }
        event
    }

    /// The sorted array (latest first) as a heap: reversed, it is sorted soonest first, and
    /// every parent comes before its children.
    #[cold]
    #[inline(never)]
    fn make_heap(&mut self) {
        self.heap.reverse();
        self.sorted = false;
    }

    #[cold]
    #[inline(never)]
    fn make_sorted(&mut self) {
        self.heap.sort_unstable_by_key(|e| std::cmp::Reverse(e.key()));
        self.sorted = true;
    }

    /// Fill the root's hole with `last` (the entry taken from the end).
    #[inline]
    fn sift_down_from_root(&mut self, last: Entry) {
        // Bottom-up deletion: move the hole from the root to a leaf along the smaller
        // children (no comparison with `last` on the way: it came from a leaf and usually
        // belongs near one), then sift `last` up from there.
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
    fn entries_are_16_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

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
        let (mut id, mut now) = (0u64, 0u64);
        for _ in 0..20_000 {
            let push = rng.gen_bool(0.55) || reference.is_empty();
            step(&mut q, &mut reference, &mut rng, push, 50, &mut id, &mut now);
        }
        assert_eq!(q.len(), reference.len());
    }

    /// One random use of the queue and of its sorted reference: a push at most `spread` after
    /// `now` (ties included), or a pop, which must give the reference's first.
    fn step(q: &mut EventQueue<u64>, reference: &mut Vec<(u64, u64)>, rng: &mut impl Rng, push: bool, spread: u64, id: &mut u64, now: &mut u64) {
        if push {
            let t = *now + rng.gen_range(0..spread);
            q.push(t, *id);
            reference.push((t, *id));
            *id += 1;
        } else {
            reference.sort();
            let want = reference.remove(0);
            assert_eq!(q.peek_time(), Some(want.0));
            assert_eq!(q.pop(), Some(want));
            *now = want.0;
        }
    }

    /// The queue grows past the sorted array's bound and shrinks below the heap's, again and
    /// again, under random pushes (ties included) and pops: it gives exactly what a sorted
    /// reference gives, in both forms and across every switch.
    #[test]
    fn matches_a_sorted_reference_across_both_forms() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut q = EventQueue::new();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let (mut id, mut now, mut switches, mut was_sorted) = (0u64, 0u64, 0, true);
        for phase in 0..60 {
            let target = if phase % 2 == 0 { rng.gen_range(SORTED_MAX..3 * SORTED_MAX) } else { rng.gen_range(0..SORTED_AGAIN) };
            while reference.len() != target {
                let push = reference.len() < target && (rng.gen_bool(0.8) || reference.is_empty());
                step(&mut q, &mut reference, &mut rng, push, 30, &mut id, &mut now);
                switches += usize::from(q.sorted != was_sorted);
                was_sorted = q.sorted;
            }
            assert_eq!(q.len(), reference.len());
        }
        assert!(switches >= 40, "both forms used, back and forth: {switches} switches");
    }

    /// Events pushed last at a time come after every event pushed (normally) at that time,
    /// even those pushed after them; events kept outside the queue (`take_seq`, `key`) order
    /// with the queued ones as if they were queued.
    #[test]
    fn last_events_and_outside_keys_order_with_the_queue() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let mut q = EventQueue::new();
        // Reference: (time, last, seq) -> id; at most one `last` per time, as the engine uses it.
        let mut reference: Vec<((u64, bool, u64), u64)> = Vec::new();
        let mut lasts = std::collections::HashSet::new();
        let mut now = 0u64;
        for id in 0..50_000u64 {
            if rng.gen_bool(0.52) || q.is_empty() {
                let t = now + rng.gen_range(0..20);
                if rng.gen_bool(0.3) && lasts.insert(t) {
                    q.push_last(t, id);
                    reference.push(((t, true, 0), id));
                } else {
                    let seq = q.seq;
                    q.push(t, id);
                    reference.push(((t, false, seq), id));
                }
            } else {
                reference.sort();
                let (k, want) = reference.remove(0);
                // An event kept outside, at the same time and sequenced now, comes after a
                // queued normal event and before one pushed last.
                let outside = key(k.0, q.seq);
                assert_eq!(q.peek_key() > outside, k.1);
                let got = q.pop().unwrap();
                assert_eq!(got, (k.0, want));
                if k.1 {
                    lasts.remove(&k.0);
                }
                now = got.0;
            }
        }
    }

    /// Past the handles' capacity, payloads go to the overflow map and come back in order.
    #[test]
    fn overflowed_payloads_come_back_in_order() {
        let mut q = EventQueue::new();
        q.payloads = vec![0u64; HANDLE_MASK as usize]; // every handle taken
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut reference = Vec::new();
        for id in 0..2_000u64 {
            let t = rng.gen_range(0..100);
            q.push(t, id);
            reference.push((t, id));
        }
        q.push_last(50, 9_999);
        reference.sort();
        let at = reference.iter().rposition(|&(t, _)| t <= 50).map_or(0, |i| i + 1);
        reference.insert(at, (50, 9_999));
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, reference);
        assert!(q.overflow.is_empty());
    }

    /// Handles are reused: the payload slab stays as large as the most events pending at once.
    #[test]
    fn payload_slab_is_bounded_by_pending_events() {
        let mut q = EventQueue::new();
        for round in 0..1000u64 {
            for k in 0..8 {
                q.push(round * 10 + k, k);
            }
            for _ in 0..8 {
                q.pop().unwrap();
            }
        }
        assert!(q.payloads.len() <= 8, "{}", q.payloads.len());
        assert!(q.is_empty());
    }
}
