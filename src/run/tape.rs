//! Open-loop arrivals drawn once for all the policy alternatives running at the same time: per
//! source, a tape of chunks that whichever run needs the next chunk first draws, and that every
//! run reads (the same chunk, shared, not a copy), kept only until the last reader has read it.
//!
//! Every alternative of a scenario draws the same chunks (its arrivals and their work come from
//! the scenario's streams alone), so a run reads exactly the chunks its own drawer would have
//! drawn, whoever drew them: outputs do not change. A run far ahead of the others waits a little
//! for them, and if they do not come (a slow external program, a much bigger cluster), it goes on
//! drawing alone; a run that starts after the tape has moved on draws alone from the start.
//! Memory stays within `WINDOW` chunks per source, whatever the run's length.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::sim::{Chunk, Chunks, Drawer, Drawn, Simulation, CHUNK};

/// Chunks (24 KiB each) a reader may be ahead of the slowest before it waits for it; it waits
/// until it is half as far ahead.
const WINDOW: u64 = 64;
/// How long a reader waits for the others, once, before it draws alone.
const PATIENCE: Duration = Duration::from_millis(200);
/// Chunks a reader keeps drawn ahead of itself.
const LEAD: u64 = 4;
/// Read chunks kept to be drawn into again.
const SPARE: usize = 4;

/// The tapes of the open-loop sources of runs of one scenario and seed, in source order.
#[derive(Default)]
pub(super) struct Tapes {
    tapes: Mutex<Vec<Arc<Tape>>>,
}

impl Tapes {
    /// Have `sim` read its open-loop arrivals from the tapes (a reader per source, in order).
    pub(super) fn hand_over(&self, sim: &mut Simulation) {
        let mut k = 0;
        sim.draw_arrivals_with(|drawer| {
            let tape = {
                let mut tapes = lock(&self.tapes);
                if tapes.len() == k {
                    tapes.push(Arc::new(Tape::new(WINDOW, PATIENCE)));
                }
                Arc::clone(&tapes[k])
            };
            k += 1;
            Box::new(tape.reader(drawer))
        });
    }
}

/// One source's chunks, shared by its readers.
pub(super) struct Tape {
    state: Mutex<State>,
    /// A chunk was added, a reader moved on or left.
    moved: Condvar,
    window: u64,
    patience: Duration,
}

struct State {
    /// The shared drawer, at chunk `base + chunks.len()`; `None` before the first reader
    /// brings its own, and while a reader draws with it (outside the lock).
    drawer: Option<Drawer>,
    drawing: bool,
    /// The last chunk (a short one) is drawn.
    ended: bool,
    /// A reader's drawing stopped by a panic (a bug): the others stop too.
    broken: bool,
    /// The index of `chunks[0]`.
    base: u64,
    chunks: VecDeque<Chunk>,
    spare: Vec<Vec<Drawn>>,
    /// Per reader, the next chunk it reads while it reads from the tape.
    readers: Vec<Option<u64>>,
    /// Readers waiting on `moved`.
    waiting: usize,
}

impl State {
    /// The next chunk of the slowest reader other than `me`.
    fn slowest_other(&self, me: usize) -> Option<u64> {
        self.readers.iter().enumerate().filter(|&(j, _)| j != me).filter_map(|(_, p)| *p).min()
    }

    /// Keep a chunk nobody holds any more, to draw into again.
    fn recycle(&mut self, c: Chunk) {
        if self.spare.len() < SPARE {
            if let Ok(v) = Arc::try_unwrap(c) {
                self.spare.push(v);
            }
        }
    }

    /// Drop the chunks every reader has read (all of them when nobody reads).
    fn trim(&mut self) {
        let keep_from = self.readers.iter().filter_map(|p| *p).min().unwrap_or(self.base + self.chunks.len() as u64);
        while self.base < keep_from {
            let Some(c) = self.chunks.pop_front() else { break };
            self.base += 1;
            self.recycle(c);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A reader that panicked holding the lock left the state whole (it only ever panics
    // outside it, while drawing, which `broken` reports).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tape {
    fn new(window: u64, patience: Duration) -> Self {
        let state = State { drawer: None, drawing: false, ended: false, broken: false, base: 0, chunks: VecDeque::new(), spare: Vec::new(), readers: Vec::new(), waiting: 0 };
        Self { state: Mutex::new(state), moved: Condvar::new(), window: window.max(2), patience }
    }

    /// A reader from the tape's first chunk on, given its own drawer as it stands there (every
    /// reader's drawer stands at the same place). A reader that comes after the first chunk
    /// was dropped keeps its drawer and draws alone.
    fn reader(self: &Arc<Self>, drawer: Drawer) -> Reader {
        let mut st = lock(&self.state);
        let id = st.readers.len();
        let mut own = None;
        if st.base == 0 {
            st.readers.push(Some(0));
            if st.drawer.is_none() && !st.drawing {
                st.drawer = Some(drawer);
            }
        } else {
            st.readers.push(None);
            own = Some(drawer);
        }
        Reader { tape: Arc::clone(self), id, own, next: 0 }
    }
}

/// A run's reading of one tape.
pub(super) struct Reader {
    tape: Arc<Tape>,
    id: usize,
    /// Its own drawer once it draws alone.
    own: Option<Drawer>,
    /// The next chunk it reads from the tape.
    next: u64,
}

/// Marks the tape broken if the drawing it guards stops by a panic.
struct Drawing<'a>(&'a Tape);

impl Drop for Drawing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(&self.0.state).broken = true;
            self.0.moved.notify_all();
        }
    }
}

/// Draw the tape's next chunk with its drawer, outside the lock (held again on return).
fn draw<'a>(tape: &'a Tape, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    let mut d = st.drawer.take().expect("the tape's drawer, between chunks");
    let mut chunk = st.spare.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK));
    st.drawing = true;
    drop(st);
    {
        let _guard = Drawing(tape);
        d.fill(&mut chunk);
    }
    let mut st = lock(&tape.state);
    st.drawer = Some(d);
    st.drawing = false;
    st.ended = chunk.len() < CHUNK;
    st.chunks.push_back(Arc::new(chunk));
    if st.waiting > 0 {
        tape.moved.notify_all();
    }
    st
}

impl Chunks for Reader {
    fn next(&mut self, buf: &mut Chunk) {
        if let Some(d) = &mut self.own {
            d.fill_chunk(buf);
            return;
        }
        let tape = &*self.tape;
        let (window, id) = (tape.window, self.id);
        let mut st = lock(&tape.state);
        loop {
            assert!(!st.broken, "the run drawing arrivals for the others stopped");
            let n = self.next;
            let held = st.base + st.chunks.len() as u64;
            if n < held {
                let chunk = Arc::clone(&st.chunks[(n - st.base) as usize]);
                let read = std::mem::replace(buf, chunk);
                st.recycle(read);
                self.next = n + 1;
                st.readers[id] = Some(n + 1);
                st.trim();
                if st.waiting > 0 {
                    tape.moved.notify_all();
                }
                // Keep `LEAD` chunks drawn ahead of this reader, so that the others seldom
                // wait for a chunk being drawn (unless the slowest is a window behind).
                let held = st.base + st.chunks.len() as u64;
                if !st.drawing && !st.ended && held < n + 1 + LEAD && st.slowest_other(id).map_or(true, |m| held - m < window) {
                    drop(draw(tape, st));
                }
                return;
            }
            if st.drawing {
                st.waiting += 1;
                st = tape.moved.wait(st).unwrap_or_else(|e| e.into_inner());
                st.waiting -= 1;
                continue;
            }
            // The next chunk is not drawn yet: this reader is the first. Far ahead of another,
            // it waits for it; if it does not come in time, it draws alone from here on. (While
            // it waits, the other may come, draw this chunk itself and pass it.)
            if st.slowest_other(id).is_some_and(|m| n.saturating_sub(m) >= window) {
                st.waiting += 1;
                let (g, wait) = tape
                    .moved
                    .wait_timeout_while(st, tape.patience, |s| !s.broken && s.slowest_other(id).is_some_and(|m| n.saturating_sub(m) > window / 2))
                    .unwrap_or_else(|e| e.into_inner());
                st = g;
                st.waiting -= 1;
                if wait.timed_out() && !st.drawing && st.base + st.chunks.len() as u64 == n {
                    let mut d = st.drawer.clone().expect("the tape's drawer, between chunks");
                    st.readers[id] = None;
                    st.trim();
                    drop(st);
                    d.fill_chunk(buf);
                    self.own = Some(d);
                    return;
                }
                continue;
            }
            st = draw(tape, st);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut st = lock(&self.tape.state);
        st.readers[self.id] = None;
        st.trim();
        if st.waiting > 0 {
            self.tape.moved.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;
    use crate::workload::source::Replay;

    fn service() -> crate::scenario::Service {
        let sc = crate::scenario::parse(
            r#"
name = "t"
duration = "1h"
[[services]]
name = "s"
service_time = { dist = "exponential", mean = "50ms" }
workload.pattern = { kind = "constant", rate = 1 }
"#,
            std::path::Path::new("."),
        )
        .unwrap();
        sc.services[0].clone()
    }

    /// A drawer of `n` arrivals with drawn work, as every run of a scenario has it.
    fn drawer(n: u64) -> Drawer {
        let times: Vec<u64> = (0..n).map(|k| 1000 * k).collect();
        Drawer::replay(Replay::new(times.into(), None, 1, false, 0), stream(7, "a"), stream(7, "w"), &service(), u64::MAX)
    }

    /// Every chunk a reader gives until the short one.
    fn read_all(r: &mut dyn Chunks, mut between: impl FnMut(usize)) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        let mut buf = Chunk::default();
        for k in 0.. {
            r.next(&mut buf);
            out.extend(buf.iter().map(|d| (d.at, d.work, d.cpu)));
            between(k);
            if buf.len() < CHUNK {
                break;
            }
        }
        out
    }

    const N: u64 = 40 * CHUNK as u64 + 17;

    #[test]
    fn readers_at_different_speeds_read_what_their_own_drawer_draws() {
        let expected = read_all(&mut drawer(N), |_| {});
        let tape = Arc::new(Tape::new(8, Duration::from_secs(60)));
        let readers: Vec<Reader> = (0..3).map(|_| tape.reader(drawer(N))).collect();
        let got: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = readers
                .into_iter()
                .enumerate()
                .map(|(i, mut r)| {
                    s.spawn(move || {
                        read_all(&mut r, |k| {
                            if i == 2 && k % 5 == 0 {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.len(), N as usize, "reader {i}");
            assert!(g == &expected, "reader {i} read other arrivals");
        }
        let st = lock(&tape.state);
        assert!(st.chunks.is_empty(), "every chunk dropped once read by all");
        assert!(st.readers.iter().all(Option::is_none), "every reader gone");
    }

    #[test]
    fn a_reader_never_holds_more_than_the_window_and_goes_alone_when_the_others_stall() {
        let expected = read_all(&mut drawer(N), |_| {});
        let tape = Arc::new(Tape::new(4, Duration::from_millis(20)));
        let mut fast = tape.reader(drawer(N));
        // The slow reader reads one chunk, then stalls while the fast one reads everything.
        let mut slow = tape.reader(drawer(N));
        let mut buf = Chunk::default();
        slow.next(&mut buf);
        let mut most_held = 0;
        let got = read_all(&mut fast, |_| most_held = most_held.max(lock(&tape.state).chunks.len()));
        assert!(got == expected, "the fast reader read other arrivals");
        assert!(fast.own.is_some(), "it went on alone");
        assert!(most_held <= 4, "{most_held} chunks held, over the window");
        let mut rest: Vec<_> = buf.iter().map(|d| (d.at, d.work, d.cpu)).collect();
        rest.extend(read_all(&mut slow, |_| {}));
        assert!(rest == expected, "the slow reader read other arrivals");
        assert!(slow.own.is_none(), "the slow reader kept the tape to itself");
    }

    #[test]
    fn a_reader_passed_while_it_waits_reads_on() {
        // The first reader waits at the window; the second reads past it in one go (drawing
        // the chunk the first waits at) before the first wakes.
        let expected = read_all(&mut drawer(N), |_| {});
        for _ in 0..20 {
            let tape = Arc::new(Tape::new(2, Duration::from_secs(60)));
            let (mut a, mut b) = (tape.reader(drawer(N)), tape.reader(drawer(N)));
            let got = std::thread::scope(|s| {
                let first = s.spawn(move || read_all(&mut a, |_| {}));
                while lock(&tape.state).waiting == 0 {
                    std::thread::yield_now();
                }
                let mut got = Vec::new();
                let mut buf = Chunk::default();
                for _ in 0..6 {
                    b.next(&mut buf);
                    got.extend(buf.iter().map(|d| (d.at, d.work, d.cpu)));
                }
                got.extend(read_all(&mut b, |_| {}));
                (first.join().unwrap(), got)
            });
            assert!(got.0 == expected && got.1 == expected, "a reader read other arrivals");
        }
    }

    #[test]
    fn a_reader_that_comes_after_the_first_chunk_is_gone_draws_alone() {
        let expected = read_all(&mut drawer(N), |_| {});
        let tape = Arc::new(Tape::new(8, Duration::from_secs(60)));
        let mut first = tape.reader(drawer(N));
        assert!(read_all(&mut first, |_| {}) == expected);
        drop(first);
        let mut late = tape.reader(drawer(N));
        assert!(late.own.is_some(), "the late reader draws alone");
        assert!(read_all(&mut late, |_| {}) == expected);
    }
}
