//! The batch processor's queue: one lane per thread that ends spans.
//!
//! A single shared queue makes every span a cache-line transfer between
//! the cores: producers contend on its tail and the worker on its head,
//! span after span. Here each thread appends to a lane of its own, under a
//! lock that only the worker's occasional visit ever contends, and the
//! worker takes a lane's whole vector at once by swapping in an empty one.
//!
//! The queue stays bounded as a whole: the room (`max_queue_size`) is a
//! shared count, and a lane takes it in small steps ([`Lanes::credit_step`]),
//! so the shared count is touched once per step, not once per span. Room
//! comes back when spans leave the worker (exported or failed) and, for
//! what a lane took but did not use, each time the worker visits it. A
//! lane whose thread has exited is emptied and dropped by the worker.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::trace::SpanData;

/// The most room a lane takes at once.
const MAX_CREDIT_STEP: usize = 64;

thread_local! {
    /// This thread's lanes, one per batch processor it has ended spans
    /// into (usually one), keyed by the processor's id.
    static LANES: RefCell<Vec<(usize, Arc<Lane>)>> = const { RefCell::new(Vec::new()) };
}

/// What became of a span offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued.
    Queued,
    /// No room: the span was dropped.
    Full,
    /// The processor has shut down: the span was dropped.
    Closed,
}

/// One thread's spans for one processor.
struct Lane {
    state: Mutex<LaneState>,
    /// Set at shutdown while the state lock is held, so a push (which reads
    /// it under the lock) never lands after the final collection; read
    /// without the lock to prune thread-local lists.
    closed: AtomicBool,
}

#[derive(Default)]
struct LaneState {
    spans: Vec<SpanData>,
    /// Room this lane has taken from the shared count and not used yet.
    credits: usize,
}

impl Lane {
    fn new() -> Lane {
        Lane {
            state: Mutex::new(LaneState::default()),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        // Nothing panics while holding it; a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the span out of `span` into the lane (left there when the
    /// lane is closed or the queue full).
    #[inline]
    fn push(&self, span: &mut Option<SpanData>, lanes: &Lanes) -> Pushed {
        let mut state = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Pushed::Closed;
        }
        if state.credits == 0 {
            state.credits = lanes.reserve();
            if state.credits == 0 {
                return Pushed::Full;
            }
        }
        state.credits -= 1;
        state.spans.extend(span.take());
        Pushed::Queued
    }
}

/// Every lane of one processor, shared by the processor and its worker.
pub(super) struct Lanes {
    /// Tells this processor's lanes apart from other processors' in a
    /// thread's list.
    id: usize,
    lanes: Mutex<Vec<Arc<Lane>>>,
    /// For spans ended where the thread's list is unreachable (during
    /// thread teardown, or from a processor's own callback).
    fallback: Arc<Lane>,
    /// Set by the final collection (under the `lanes` lock): a lane
    /// registered after it starts closed, so its spans are refused and
    /// counted rather than queued where no visit will come.
    closed: AtomicBool,
    /// Room not yet handed to a lane.
    free: AtomicUsize,
    credit_step: usize,
}

impl Lanes {
    pub(super) fn new(max_queue_size: usize) -> Lanes {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        Lanes {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            lanes: Mutex::new(Vec::new()),
            fallback: Arc::new(Lane::new()),
            closed: AtomicBool::new(false),
            free: AtomicUsize::new(max_queue_size),
            // Small queues are shared out span by span, so that the bound
            // stays close to exact; large ones in steps.
            credit_step: (max_queue_size / 32).clamp(1, MAX_CREDIT_STEP),
        }
    }

    /// Takes up to a step of room from the shared count; 0 when full.
    fn reserve(&self) -> usize {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return 0;
            }
            let take = free.min(self.credit_step);
            match self.free.compare_exchange_weak(
                free,
                free - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(now) => free = now,
            }
        }
    }

    /// Gives back room: spans have left the worker.
    pub(super) fn release(&self, n: usize) {
        if n != 0 {
            self.free.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Moves the span in `span` onto the calling thread's lane (it stays in
    /// the slot when refused). Never waits for the worker beyond the moment
    /// it takes to swap a lane's vector.
    #[inline]
    pub(super) fn push(&self, span: &mut Option<SpanData>) -> Pushed {
        let pushed = LANES
            .try_with(|list| {
                let mut list = list.try_borrow_mut().ok()?;
                let index = match list.iter().position(|(id, _)| *id == self.id) {
                    Some(i) => i,
                    None => self.register(&mut list),
                };
                Some(list[index].1.push(span, self))
            })
            .ok()
            .flatten();
        match pushed {
            Some(pushed) => pushed,
            // The thread's list is unreachable (during thread teardown, or
            // from a processor's own callback): the span is still in its
            // slot.
            None => self.fallback.push(span, self),
        }
    }

    /// Adds a lane for this thread; returns its index in the thread's list.
    #[cold]
    fn register(&self, list: &mut Vec<(usize, Arc<Lane>)>) -> usize {
        // Lanes of processors that have shut down are of no more use.
        list.retain(|(_, lane)| !lane.closed.load(Ordering::Relaxed));
        let lane = Arc::new(Lane::new());
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Relaxed) {
            lane.closed.store(true, Ordering::Relaxed);
        }
        lanes.push(lane.clone());
        drop(lanes);
        list.push((self.id, lane));
        list.len() - 1
    }

    /// Moves every queued span into `into`, oldest lane content first;
    /// `spare` is an empty vector swapped into a lane in place of its full
    /// one (the lane keeps room, the worker takes the spans). When `close`,
    /// lanes refuse spans from now on. Returns how many spans were taken.
    pub(super) fn collect(
        &self,
        into: &mut Vec<SpanData>,
        spare: &mut Vec<SpanData>,
        close: bool,
    ) -> usize {
        let before = into.len();
        let mut unused = 0;
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if close {
            self.closed.store(true, Ordering::Relaxed);
        }
        let mut visit = |lane: &Lane| {
            let mut state = lane.lock();
            if !state.spans.is_empty() {
                std::mem::swap(&mut state.spans, spare);
            }
            unused += std::mem::take(&mut state.credits);
            if close {
                lane.closed.store(true, Ordering::Relaxed);
                // A closed lane may linger in a thread's list: leave it no room.
                state.spans = Vec::new();
            }
            drop(state);
            if into.is_empty() {
                // The whole lane becomes the pending list: no copy.
                std::mem::swap(into, spare);
            } else {
                into.append(spare);
            }
        };
        visit(&self.fallback);
        lanes.retain(|lane| {
            // Only this list holds it: the thread has exited, and with it
            // the only way to push into the lane, so this visit is its last.
            // Read before the visit, not after: a thread alive at the visit
            // can push more and exit before a later check, and those spans
            // would leave with the lane.
            let orphaned = Arc::strong_count(lane) == 1;
            if orphaned {
                // Pairs with the release of the thread's reference: its
                // last push is seen by the visit.
                std::sync::atomic::fence(Ordering::Acquire);
            }
            visit(lane);
            !orphaned
        });
        drop(lanes);
        self.release(unused);
        into.len() - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InMemoryExporter, SimpleSpanProcessor, TracerProvider};

    fn spans(n: usize) -> Vec<SpanData> {
        let exporter = InMemoryExporter::default();
        let provider = TracerProvider::builder()
            .with_processor(SimpleSpanProcessor::new(exporter.clone()))
            .build();
        let tracer = provider.tracer("t");
        for i in 0..n {
            tracer.start(format!("s{i}")).end();
        }
        exporter.finished_spans()
    }

    #[test]
    fn the_bound_holds_across_threads_and_room_comes_back() {
        let lanes = Arc::new(Lanes::new(100));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lanes = lanes.clone();
                // Joined (not scoped) threads: their thread-locals are gone
                // when `join` returns.
                std::thread::spawn(move || {
                    spans(60)
                        .into_iter()
                        .map(|span| lanes.push(&mut Some(span)))
                        .filter(|p| *p == Pushed::Queued)
                        .count()
                })
            })
            .collect();
        let queued: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(queued, 100, "exactly the room");
        let (mut taken, mut spare) = (Vec::new(), Vec::new());
        assert_eq!(lanes.collect(&mut taken, &mut spare, false), 100);
        assert_eq!(
            lanes.lanes.lock().unwrap().len(),
            0,
            "lanes of exited threads are dropped"
        );
        assert_eq!(lanes.push(&mut Some(spans(1).remove(0))), Pushed::Full);
        lanes.release(taken.len());
        assert_eq!(lanes.push(&mut Some(spans(1).remove(0))), Pushed::Queued);
        assert_eq!(lanes.collect(&mut taken, &mut spare, false), 1);
    }

    #[test]
    fn spans_pushed_just_before_a_thread_exits_are_collected() {
        // The worker collects while threads push and exit: a lane must not
        // be let go with spans its thread pushed after the visit.
        let span = spans(1).remove(0);
        for _round in 0..50 {
            let lanes = Arc::new(Lanes::new(1_000_000));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (lanes, span) = (lanes.clone(), span.clone());
                    std::thread::spawn(move || {
                        for _ in 0..2_000 {
                            assert_eq!(lanes.push(&mut Some(span.clone())), Pushed::Queued);
                        }
                    })
                })
                .collect();
            let (mut taken, mut spare) = (Vec::new(), Vec::new());
            let mut collected = 0;
            while !threads.iter().all(|t| t.is_finished()) {
                collected += lanes.collect(&mut taken, &mut spare, false);
                // A pending list that is never empty: each visit appends.
                taken.truncate(1);
            }
            for t in threads {
                t.join().unwrap();
            }
            collected += lanes.collect(&mut taken, &mut spare, false);
            assert_eq!(collected, 4_000, "every pushed span is collected once");
            assert_eq!(lanes.lanes.lock().unwrap().len(), 0);
        }
    }

    #[test]
    fn closed_lanes_refuse_spans() {
        let lanes = Lanes::new(10);
        assert_eq!(lanes.push(&mut Some(spans(1).remove(0))), Pushed::Queued);
        let (mut taken, mut spare) = (Vec::new(), Vec::new());
        assert_eq!(lanes.collect(&mut taken, &mut spare, true), 1);
        assert_eq!(lanes.push(&mut Some(spans(1).remove(0))), Pushed::Closed);
        // A thread that registers its lane only now is refused too: no
        // collection would ever come for it.
        let lanes = Arc::new(lanes);
        let late = lanes.clone();
        let pushed = std::thread::spawn(move || late.push(&mut Some(spans(1).remove(0))))
            .join()
            .unwrap();
        assert_eq!(pushed, Pushed::Closed);
    }
}
