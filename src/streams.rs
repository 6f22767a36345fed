//! The state of answers streamed out of an object after its call returned
//! (the export, the JSON views): the pieces still to write. It is held
//! here, not by the stream the runtime pulls, so that it is dropped as
//! soon as the last piece is made, and dropped after [`IDLE_MS`] when a
//! client stops reading, instead of whenever the runtime's garbage
//! collector finalizes the stream. Measured under workerd: a client that
//! stopped reading a heavy learner's export left about 10 MB of it held,
//! and ten such answers took the isolate past a Durable Object's 128 MB
//! before a collection freed them (docs/benchmarks.md).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// An answer's pieces, in order.
pub type Pieces = Box<dyn Iterator<Item = Vec<u8>>>;

/// An answer not pulled for this long is dropped by [`Streams::sweep`].
pub const IDLE_MS: u64 = 60_000;

struct State {
    pieces: Option<Pieces>,
    last_pull_ms: u64,
    swept: bool,
}

/// One streamed answer, as its stream pulls it.
pub struct Held(Rc<RefCell<State>>);

/// The answer was dropped by [`Streams::sweep`] before its last piece:
/// its stream must fail, not end as if whole.
#[derive(Debug, PartialEq, Eq)]
pub struct Swept;

impl Held {
    /// The next piece, `None` after the last (the pieces are dropped as
    /// they end).
    pub fn next_piece(&self, now_ms: u64) -> Result<Option<Vec<u8>>, Swept> {
        let mut s = self.0.borrow_mut();
        if s.swept {
            return Err(Swept);
        }
        s.last_pull_ms = now_ms;
        let Some(pieces) = s.pieces.as_mut() else {
            return Ok(None);
        };
        let next = pieces.next();
        if next.is_none() {
            s.pieces = None;
        }
        Ok(next)
    }
}

/// The streamed answers of an isolate whose pieces are still held.
#[derive(Default)]
pub struct Streams {
    held: Vec<Weak<RefCell<State>>>,
}

impl Streams {
    /// Holds `pieces` for a stream to pull.
    pub fn hold(&mut self, pieces: Pieces, now_ms: u64) -> Held {
        let state = Rc::new(RefCell::new(State {
            pieces: Some(pieces),
            last_pull_ms: now_ms,
            swept: false,
        }));
        self.held.push(Rc::downgrade(&state));
        Held(state)
    }

    /// Drops the pieces of every answer not pulled for [`IDLE_MS`] and
    /// forgets the answers that ended; how many were dropped.
    pub fn sweep(&mut self, now_ms: u64) -> usize {
        let mut dropped = 0;
        self.held.retain(|weak| {
            let Some(state) = weak.upgrade() else {
                return false;
            };
            // Borrowed: it is being pulled right now (the sweep may run
            // from inside a pull, when its last piece notes the memory).
            let Ok(mut s) = state.try_borrow_mut() else {
                return true;
            };
            if s.pieces.is_none() {
                return false;
            }
            if now_ms.saturating_sub(s.last_pull_ms) >= IDLE_MS {
                s.pieces = None;
                s.swept = true;
                dropped += 1;
                return false;
            }
            true
        });
        dropped
    }

    /// Answers whose pieces are held.
    pub fn len(&self) -> usize {
        self.held
            .iter()
            .filter(|w| {
                w.upgrade()
                    .is_some_and(|s| s.try_borrow().map_or(true, |s| s.pieces.is_some()))
            })
            .count()
    }

    /// True when no answer's pieces are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Pieces that count, in `drops`, when they are dropped.
    fn pieces(n: u8, drops: &Rc<Cell<u32>>) -> Pieces {
        struct Count(Rc<Cell<u32>>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let guard = Count(drops.clone());
        Box::new((0..n).map(move |i| {
            let _ = &guard;
            vec![i]
        }))
    }

    #[test]
    fn the_pieces_come_in_order_and_are_dropped_with_the_last() {
        let drops = Rc::new(Cell::new(0));
        let mut streams = Streams::default();
        let held = streams.hold(pieces(3, &drops), 0);
        assert_eq!(streams.len(), 1);
        for i in 0..3 {
            assert_eq!(held.next_piece(1), Ok(Some(vec![i])));
        }
        assert_eq!(drops.get(), 0);
        assert_eq!(held.next_piece(2), Ok(None));
        assert_eq!(drops.get(), 1, "dropped once they ended");
        assert!(streams.is_empty());
        assert_eq!(held.next_piece(3), Ok(None));
        assert_eq!(streams.sweep(10 * IDLE_MS), 0);
    }

    #[test]
    fn an_answer_left_unread_is_dropped_after_the_idle_time_and_its_stream_fails() {
        let drops = Rc::new(Cell::new(0));
        let mut streams = Streams::default();
        let idle = streams.hold(pieces(5, &drops), 1_000);
        let busy = streams.hold(pieces(5, &drops), 1_000);
        assert_eq!(idle.next_piece(2_000), Ok(Some(vec![0])));
        assert_eq!(busy.next_piece(2_000 + IDLE_MS - 1), Ok(Some(vec![0])));
        assert_eq!(
            streams.sweep(2_000 + IDLE_MS - 1),
            0,
            "not idle long enough"
        );
        assert_eq!(streams.sweep(2_000 + IDLE_MS), 1);
        assert_eq!(drops.get(), 1, "the idle answer's pieces are dropped");
        assert_eq!(idle.next_piece(2_000 + IDLE_MS + 1), Err(Swept));
        assert_eq!(streams.len(), 1);
        for i in 1..5 {
            assert_eq!(busy.next_piece(3_000 + IDLE_MS), Ok(Some(vec![i])));
        }
        assert_eq!(busy.next_piece(3_000 + IDLE_MS), Ok(None));
        assert_eq!(drops.get(), 2);
        assert!(streams.is_empty());
    }

    #[test]
    fn a_sweep_from_inside_a_pull_passes_over_the_answer_being_pulled() {
        let streams = Rc::new(RefCell::new(Streams::default()));
        let swept = Rc::new(Cell::new(usize::MAX));
        let (s, out) = (streams.clone(), swept.clone());
        // The last piece's end sweeps, long after the answer was held.
        let last = std::iter::from_fn(move || {
            out.set(s.borrow_mut().sweep(10 * IDLE_MS));
            None
        });
        let held = streams
            .borrow_mut()
            .hold(Box::new(std::iter::once(vec![1]).chain(last)), 0);
        assert_eq!(held.next_piece(0), Ok(Some(vec![1])));
        assert_eq!(held.next_piece(0), Ok(None));
        assert_eq!(swept.get(), 0, "the answer being pulled is not idle");
        assert!(streams.borrow().is_empty());
    }

    #[test]
    fn a_stream_the_runtime_dropped_is_forgotten() {
        let drops = Rc::new(Cell::new(0));
        let mut streams = Streams::default();
        drop(streams.hold(pieces(2, &drops), 0));
        assert_eq!(drops.get(), 1);
        assert!(streams.is_empty());
        assert_eq!(streams.sweep(0), 0);
        assert!(streams.held.is_empty());
    }
}
