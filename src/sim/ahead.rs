//! Open-loop arrivals drawn ahead of the engine, a chunk at a time: each arrival's time and its
//! request's work and CPU. Drawn here, in line, or on another core by the same code, when the
//! caller (at the edge) hands the drawing over; either way the engine reads the same chunks.

use std::sync::Arc;

use crate::dist::Dist;
use crate::engine::rng::Rng;
use crate::engine::SimTime;
use crate::workload::source::{Binned, Replay};

/// Arrivals per chunk (24 bytes each: 24 KiB, written and read in order).
pub const CHUNK: usize = 1024;

/// An arrival drawn ahead: its time, and the work and CPU its request will need.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drawn {
    pub at: SimTime,
    pub work: u64,
    pub cpu: u64,
}

#[derive(Debug, Clone)]
enum Gen {
    Binned(Binned),
    Replay(Replay),
}

/// What draws one source's arrivals: its generator, its arrival stream and its work stream,
/// and its service's work distributions. It owns them all, so it can move to another thread.
///
/// Each arrival's time comes from the source's stream, then its request's work and CPU from its
/// work stream, as they would be drawn when the request is sent. Sources drawn ahead send every
/// arrival, in order, so the n-th request's draws are the same however far ahead they are made.
#[derive(Debug, Clone)]
pub struct Drawer {
    gen: Gen,
    rng: Rng,
    work: Rng,
    service_time: Dist,
    cpu_per_request: Option<Dist>,
    end: SimTime,
}

impl Drawer {
    pub(crate) fn binned(b: Binned, rng: Rng, work: Rng, svc: &crate::scenario::Service, end: SimTime) -> Self {
        Self::new(Gen::Binned(b), rng, work, svc, end)
    }

    pub(crate) fn replay(r: Replay, rng: Rng, work: Rng, svc: &crate::scenario::Service, end: SimTime) -> Self {
        Self::new(Gen::Replay(r), rng, work, svc, end)
    }

    fn new(gen: Gen, rng: Rng, work: Rng, svc: &crate::scenario::Service, end: SimTime) -> Self {
        Self { gen, rng, work, service_time: svc.service_time.clone(), cpu_per_request: svc.cpu_per_request.clone(), end }
    }

    /// Fill `buf` (emptied first) with the source's next arrivals: `CHUNK` of them, fewer when
    /// the source ends (arrivals at or after the run's end are never sent).
    pub fn fill(&mut self, buf: &mut Vec<Drawn>) {
        buf.clear();
        buf.reserve(CHUNK);
        let (end, work_rng, service_time) = (self.end, &mut self.work, &self.service_time);
        // A constant CPU per request is the same number every time (and draws nothing).
        let cpu = match &self.cpu_per_request {
            None => Cpu::Work,
            Some(Dist::Constant(v)) => Cpu::Fixed(crate::dist::round_ns(v * 1e9)),
            Some(d) => Cpu::Drawn(d),
        };
        match &mut self.gen {
            Gen::Binned(b) => {
                for _ in 0..CHUNK {
                    match b.next(&mut self.rng, end) {
                        Some(t) if t < end => buf.push(drawn(t, None, service_time, cpu, work_rng)),
                        _ => break,
                    }
                }
            }
            Gen::Replay(r) => {
                for _ in 0..CHUNK {
                    match r.next(end) {
                        Some((t, w)) if t < end => buf.push(drawn(t, w, service_time, cpu, work_rng)),
                        _ => break,
                    }
                }
            }
        }
    }

    /// [`Drawer::fill`] a chunk: into its own arrivals if nothing else holds them, else into a
    /// new vector (what it held is dropped either way: `fill` empties it first).
    pub fn fill_chunk(&mut self, buf: &mut Chunk) {
        if Arc::get_mut(buf).is_none() {
            *buf = Arc::new(Vec::with_capacity(CHUNK));
        }
        self.fill(Arc::get_mut(buf).expect("a chunk held by nothing else"));
    }
}

/// Where an arrival's CPU comes from.
#[derive(Clone, Copy)]
enum Cpu<'a> {
    /// Its work (no `cpu_per_request`).
    Work,
    /// A constant `cpu_per_request`, in nanoseconds.
    Fixed(u64),
    Drawn(&'a Dist),
}

/// An arrival at `at`: its work (its own, from a log, or drawn) and its CPU, drawn in that
/// order from the work stream.
#[inline(always)]
fn drawn(at: SimTime, work: Option<u64>, service_time: &Dist, cpu: Cpu<'_>, rng: &mut Rng) -> Drawn {
    let work = match work {
        Some(w) => w,
        None => service_time.sample_ns(rng),
    };
    let cpu = match cpu {
        Cpu::Work => work,
        Cpu::Fixed(c) => c,
        Cpu::Drawn(d) => d.sample_ns(rng),
    };
    Drawn { at, work, cpu }
}

/// A chunk of arrivals, shared by the runs that read it (see `run::tape`) rather than copied.
pub type Chunk = Arc<Vec<Drawn>>;

/// Chunks of one source's arrivals drawn elsewhere by its [`Drawer`], handed over in order.
pub trait Chunks: Send {
    /// Put the next chunk in `buf` (taking the one read, to reuse or let go): a chunk shorter
    /// than `CHUNK` is the last.
    fn next(&mut self, buf: &mut Chunk);
}

/// A drawer is its own source of chunks (drawn on the caller's thread).
impl Chunks for Drawer {
    fn next(&mut self, buf: &mut Chunk) {
        self.fill_chunk(buf);
    }
}

enum From {
    Here(Box<Drawer>),
    Elsewhere(Box<dyn Chunks>),
    /// Only while being handed over.
    Moving,
}

/// A source's arrivals drawn ahead, and where the next chunk comes from.
pub(super) struct Ahead {
    buf: Chunk,
    /// The next arrival in `buf` (`buf.len()`: take the next chunk).
    pos: usize,
    /// Nothing comes after what `buf` holds (its chunk was the last).
    done: bool,
    from: From,
}

impl Ahead {
    pub(super) fn new(d: Drawer) -> Self {
        Self { buf: Arc::new(Vec::with_capacity(CHUNK)), pos: 0, done: false, from: From::Here(Box::new(d)) }
    }

    /// The time of the next arrival, if any.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<SimTime> {
        if self.pos == self.buf.len() && !self.done {
            self.refill();
        }
        self.buf.get(self.pos).map(|d| d.at)
    }

    /// Take the next arrival (`peek` found it).
    #[inline]
    pub(super) fn take(&mut self) -> Drawn {
        let d = self.buf[self.pos];
        self.pos += 1;
        d
    }

    #[inline(never)]
    fn refill(&mut self) {
        match &mut self.from {
            From::Here(d) => d.fill_chunk(&mut self.buf),
            From::Elsewhere(c) => c.next(&mut self.buf),
            From::Moving => unreachable!("a drawer is handed over between chunks"),
        }
        self.pos = 0;
        self.done = self.buf.len() < CHUNK;
    }

    /// Have the chunks after the ones taken drawn by what `spawn` makes of the drawer.
    pub(super) fn hand_over(&mut self, spawn: &mut dyn FnMut(Drawer) -> Box<dyn Chunks>) {
        if let From::Here(d) = std::mem::replace(&mut self.from, From::Moving) {
            self.from = From::Elsewhere(spawn(*d));
        }
    }
}

impl std::fmt::Debug for Ahead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ahead").field("pos", &self.pos).field("len", &self.buf.len()).field("done", &self.done).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    fn service() -> crate::scenario::Service {
        let sc = crate::scenario::parse(
            r#"
name = "t"
duration = "1h"
[[services]]
name = "s"
service_time = { dist = "exponential", mean = "50ms" }
cpu_per_request = { dist = "exponential", mean = "5ms" }
workload.pattern = { kind = "constant", rate = 1 }
"#,
            std::path::Path::new("."),
        )
        .unwrap();
        sc.services[0].clone()
    }

    /// Every arrival of a log of `n`, taken through `Ahead`, the drawing handed elsewhere after
    /// `hand_at` of them (boxed drawers stand for the other thread).
    fn taken(n: usize, hand_at: Option<usize>) -> Vec<Drawn> {
        let times: Vec<u64> = (0..n as u64).map(|k| 1000 * k).collect();
        let r = Replay::new(times.into(), None, 1, false, 0);
        let svc = service();
        let mut a = Ahead::new(Drawer::replay(r, stream(1, "a"), stream(1, "w"), &svc, u64::MAX));
        let mut out = Vec::new();
        while a.peek().is_some() {
            if hand_at == Some(out.len()) {
                a.hand_over(&mut |d| Box::new(d));
            }
            out.push(a.take());
        }
        assert_eq!(a.peek(), None, "nothing after the end");
        out
    }

    #[test]
    fn chunks_hold_every_arrival_once_and_in_order_at_every_boundary() {
        let svc = service();
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7] {
            // One by one, as the engine drew them before: the time, then the work, then the CPU.
            let mut work = stream(1, "w");
            let expected: Vec<Drawn> = (0..n as u64)
                .map(|k| {
                    let w = svc.service_time.sample_ns(&mut work);
                    let c = svc.cpu_per_request.as_ref().unwrap().sample_ns(&mut work);
                    Drawn { at: 1000 * k, work: w, cpu: c }
                })
                .collect();
            let same = |got: Vec<Drawn>| got.iter().map(|d| (d.at, d.work, d.cpu)).eq(expected.iter().map(|d| (d.at, d.work, d.cpu)));
            assert!(same(taken(n, None)), "{n} arrivals drawn here");
            for hand in [0, 1, CHUNK - 1, CHUNK, CHUNK + 3] {
                if hand <= n {
                    assert!(same(taken(n, Some(hand))), "{n} arrivals, handed over after {hand}");
                }
            }
        }
    }

    #[test]
    fn arrivals_at_or_after_the_end_are_not_drawn() {
        let times: Vec<u64> = (0..10).map(|k| 100 * k).collect();
        let svc = service();
        let mut d = Drawer::replay(Replay::new(times.into(), Some(vec![7; 10].into()), 1, false, 0), stream(1, "a"), stream(1, "w"), &svc, 500);
        let mut buf = Vec::new();
        d.fill(&mut buf);
        assert_eq!(buf.iter().map(|x| x.at).collect::<Vec<_>>(), vec![0, 100, 200, 300, 400]);
        assert!(buf.iter().all(|x| x.work == 7), "a log's own work is kept");
    }
}
