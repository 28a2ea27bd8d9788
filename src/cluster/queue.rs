//! A pod's queue of waiting requests, threaded through the request slab: each queued request
//! names the one behind it in a links array indexed by request id, and the pod keeps only the
//! newest and the length (8 bytes, in its first cache line). Queueing writes the
//! link of the request queued last (recently touched) instead of a per-pod ring buffer's
//! tail (a cache miss per arrival when pods are many), and no pod owns a buffer that grows.

/// Requests waiting in a pod, oldest first; their order lives in `links` (the request slab's).
/// The list is circular: the newest request links to the oldest, so the pod keeps only the
/// newest and the length (8 bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct PodQueue {
    tail: u32,
    len: u32,
}

impl PodQueue {
    pub const fn new() -> Self {
        Self { tail: 0, len: 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queue `req` last; `links` has a cell for every request id.
    #[inline]
    pub fn push_back(&mut self, links: &mut [u32], req: u32) {
        let t = self.tail as usize;
        links[req as usize] = if self.len == 0 { req } else { std::mem::replace(&mut links[t], req) };
        self.tail = req;
        self.len += 1;
    }

    /// Take the oldest request.
    #[inline]
    pub fn pop_front(&mut self, links: &mut [u32]) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let t = self.tail as usize;
        let head = links[t];
        self.len -= 1;
        if self.len > 0 {
            links[t] = links[head as usize];
        }
        Some(head)
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The requests, oldest first.
    pub fn iter<'a>(&self, links: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        let mut req = self.tail;
        (0..self.len).map(move |_| {
            req = links[req as usize];
            req
        })
    }

    /// Remove every request, oldest first.
    pub fn drain_all<'a>(&mut self, links: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        let all = self.iter(links);
        self.clear();
        all
    }
}

/// The requests of many queues, in no particular order: one step along each queue's list in
/// turn, so that the loads of different lists overlap (walking one long list after another
/// waits for each load in turn; a run's end counts millions of queued requests).
pub fn all_queued<'a>(queues: impl Iterator<Item = PodQueue>, links: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    let mut cursors: Vec<PodQueue> = queues.filter(|q| q.len > 0).collect();
    let mut round: Vec<u32> = Vec::new();
    std::iter::from_fn(move || {
        if round.is_empty() {
            if cursors.is_empty() {
                return None;
            }
            cursors.retain_mut(|q| {
                q.tail = links[q.tail as usize];
                round.push(q.tail);
                q.len -= 1;
                q.len > 0
            });
            round.reverse();
        }
        round.pop()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    /// Several queues sharing one links array behave as separate `VecDeque`s.
    #[test]
    fn queues_sharing_links_behave_as_vecdeques() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut links = vec![0u32; 4096];
        let mut free: Vec<u32> = (0..4096).rev().collect();
        let mut queues = [PodQueue::new(); 3];
        let mut reference: [VecDeque<u32>; 3] = Default::default();
        for _ in 0..100_000 {
            let q = rng.gen_range(0..3);
            match rng.gen_range(0..10) {
                0..=4 => {
                    if let Some(req) = free.pop() {
                        queues[q].push_back(&mut links, req);
                        reference[q].push_back(req);
                    }
                }
                5..=8 => {
                    let got = queues[q].pop_front(&mut links);
                    assert_eq!(got, reference[q].pop_front());
                    free.extend(got);
                }
                _ if rng.gen_bool(0.01) => {
                    let drained: Vec<u32> = queues[q].drain_all(&links).collect();
                    assert_eq!(drained, reference[q].drain(..).collect::<Vec<_>>());
                    free.extend(drained);
                }
                _ => {
                    assert!(queues[q].iter(&links).eq(reference[q].iter().copied()));
                    let mut all: Vec<u32> = all_queued(queues.iter().copied(), &links).collect();
                    let mut want: Vec<u32> = reference.iter().flatten().copied().collect();
                    all.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(all, want);
                }
            }
            assert_eq!(queues[q].len(), reference[q].len());
            assert_eq!(queues[q].is_empty(), reference[q].is_empty());
        }
    }
}
