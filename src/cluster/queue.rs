//! A pod's queue of waiting requests, threaded through the request slab: each queued request
//! names the one behind it in a links array indexed by request id, and the pod keeps only the
//! head, the tail and the length (12 bytes, in its first cache line). Queueing writes the
//! link of the request queued last (recently touched) instead of a per-pod ring buffer's
//! tail (a cache miss per arrival when pods are many), and no pod owns a buffer that grows.

/// Requests waiting in a pod, oldest first; their order lives in `links` (the request slab's).
#[derive(Debug, Clone, Copy, Default)]
pub struct PodQueue {
    head: u32,
    tail: u32,
    len: u32,
}

impl PodQueue {
    pub const fn new() -> Self {
        Self { head: 0, tail: 0, len: 0 }
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
        if self.len == 0 {
            self.head = req;
        } else {
            links[self.tail as usize] = req;
        }
        self.tail = req;
        self.len += 1;
    }

    /// Take the oldest request.
    #[inline]
    pub fn pop_front(&mut self, links: &[u32]) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let req = self.head;
        self.len -= 1;
        if self.len > 0 {
            self.head = links[req as usize];
        }
        Some(req)
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The requests, oldest first.
    pub fn iter<'a>(&self, links: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        let (mut next, len) = (self.head, self.len);
        (0..len).map(move |k| {
            let req = next;
            if k + 1 < len {
                next = links[req as usize];
            }
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
                    let got = queues[q].pop_front(&links);
                    assert_eq!(got, reference[q].pop_front());
                    free.extend(got);
                }
                _ if rng.gen_bool(0.01) => {
                    let drained: Vec<u32> = queues[q].drain_all(&links).collect();
                    assert_eq!(drained, reference[q].drain(..).collect::<Vec<_>>());
                    free.extend(drained);
                }
                _ => assert!(queues[q].iter(&links).eq(reference[q].iter().copied())),
            }
            assert_eq!(queues[q].len(), reference[q].len());
            assert_eq!(queues[q].is_empty(), reference[q].is_empty());
        }
    }
}
