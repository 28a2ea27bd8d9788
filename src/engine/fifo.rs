//! A first-in first-out queue of small `Copy` items: a ring buffer whose capacity is a power
//! of two, so that wrapping is a mask. The request path's queues (idle workers, waiting
//! requests, pod queues, deadlines) push and pop once or twice per request; `VecDeque`'s
//! general wrapping and out-of-line push cost several times more.

/// A FIFO queue; grows (doubling) when full, never shrinks.
#[derive(Debug, Clone)]
pub struct Fifo<T> {
    buf: Vec<T>,
    head: usize,
    len: usize,
}

impl<T: Copy + Default> Default for Fifo<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default> Fifo<T> {
    pub const fn new() -> Self {
        Self { buf: Vec::new(), head: 0, len: 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buf.len().wrapping_sub(1)
    }

    #[inline]
    pub fn push_back(&mut self, item: T) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let i = (self.head + self.len) & self.mask();
        self.buf[i] = item;
        self.len += 1;
    }

    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.buf[self.head];
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        Some(item)
    }

    #[inline]
    pub fn front(&self) -> Option<&T> {
        if self.len == 0 {
            None
        } else {
            Some(&self.buf[self.head])
        }
    }

    /// The items, front to back.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).map(move |k| &self.buf[(self.head + k) & self.mask()])
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Remove every item, front to back.
    pub fn drain_all(&mut self) -> impl Iterator<Item = T> + '_ {
        let (head, len) = (self.head, self.len);
        self.clear();
        let mask = self.mask();
        (0..len).map(move |k| self.buf[(head + k) & mask])
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.buf.len() * 2).max(8);
        let mut buf = Vec::with_capacity(cap);
        buf.extend(self.iter().copied());
        buf.resize(cap, T::default());
        self.buf = buf;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    #[test]
    fn behaves_as_a_vecdeque() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let (mut fifo, mut reference) = (Fifo::new(), VecDeque::new());
        for i in 0..100_000u32 {
            match rng.gen_range(0..10) {
                0..=4 => {
                    fifo.push_back(i);
                    reference.push_back(i);
                }
                5..=8 => assert_eq!(fifo.pop_front(), reference.pop_front()),
                _ if rng.gen_bool(0.01) => {
                    let drained: Vec<_> = fifo.drain_all().collect();
                    assert_eq!(drained, reference.drain(..).collect::<Vec<_>>());
                }
                _ => {
                    assert_eq!(fifo.front(), reference.front());
                    assert!(fifo.iter().eq(reference.iter()));
                }
            }
            assert_eq!(fifo.len(), reference.len());
            assert_eq!(fifo.is_empty(), reference.is_empty());
        }
    }
}
