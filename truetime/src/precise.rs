//! Sleeps with sub-millisecond precision, for commit wait.
//!
//! Tokio's timers tick in whole milliseconds and round a deadline up to the
//! next tick, so a commit wait of 2ε = 2.03 ms took 3 ms: measured on a
//! 3-node cluster, 2.75 ms on average, about a third of it overshoot, with
//! the transaction's locks held all along. Here one thread per process
//! keeps the deadlines in a heap and wakes each waiter at its own (the
//! kernel's high-resolution timers: tens of microseconds late), for every
//! waiter in the process.
//!
//! INVARIANT: a waiter is woken no earlier than its deadline (by
//! `Instant`, the monotonic clock); the caller checks `TT.after` again
//! anyway.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Waits longer than this sleep on a Tokio timer first, until
/// [`TIMER_PART`] before their deadline (so that the heap holds only waits
/// about to end).
const TOKIO_PART_OVER: Duration = Duration::from_millis(5);

/// The end of a long wait left to the timer thread (Tokio's part may end up
/// to a millisecond late).
const TIMER_PART: Duration = Duration::from_millis(2);

/// Sleeps `d`, waking within tens of microseconds after it.
pub async fn sleep(d: Duration) {
    let deadline = Instant::now() + d;
    if d > TOKIO_PART_OVER {
        tokio::time::sleep(d - TIMER_PART).await;
    }
    let Some(timer) = timer() else {
        // No timer thread (it could not start): a millisecond late.
        tokio::time::sleep_until(deadline.into()).await;
        return;
    };
    let (tx, rx) = oneshot::channel();
    timer.add(deadline, tx);
    // The timer thread never drops a waiter before its deadline.
    let _ = rx.await;
}

/// The process's timer thread, started on first use; `None` if it could
/// not be started.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer::default()));
        std::thread::Builder::new()
            .name("spanlite-timer".to_string())
            .spawn(move || timer.run())
            .map_err(|e| tracing::warn!("no precise timer thread: {e}"))
            .ok()
            .map(|_| timer)
    })
}

#[derive(Default)]
struct Timer {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Deadlines, earliest first, with their waiters' ids.
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    waiters: HashMap<u64, oneshot::Sender<()>>,
    next_id: u64,
}

impl Timer {
    fn add(&self, deadline: Instant, waiter: oneshot::Sender<()>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let id = state.next_id;
        state.next_id += 1;
        let earliest = state
            .due
            .peek()
            .is_none_or(|Reverse((at, _))| deadline < *at);
        state.due.push(Reverse((deadline, id)));
        state.waiters.insert(id, waiter);
        drop(state);
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while let Some(&Reverse((at, id))) = state.due.peek() {
                if at > now {
                    break;
                }
                state.due.pop();
                if let Some(waiter) = state.waiters.remove(&id) {
                    // The waiter gave up meanwhile.
                    let _ = waiter.send(());
                }
            }
            state = match state.due.peek() {
                Some(&Reverse((at, _))) => {
                    self.changed
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claim: a sleep never ends before its deadline, short or long, and
    /// many at once all end.
    #[tokio::test]
    async fn sleeps_end_after_their_deadlines() {
        let mut waits = Vec::new();
        for micros in [0u64, 50, 300, 1_500, 2_030, 7_000] {
            waits.push(tokio::spawn(async move {
                let d = Duration::from_micros(micros);
                let start = Instant::now();
                sleep(d).await;
                (d, start.elapsed())
            }));
        }
        for w in waits {
            let (asked, slept) = w.await.unwrap();
            assert!(slept >= asked, "asked {asked:?}, woke after {slept:?}");
        }
    }
}
