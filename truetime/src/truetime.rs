//! `TrueTime`: the interval clock, and commit wait.
//!
//! ```text
//!  sync point (set by TimeSync):  local reading L₀, offset o, error e₀
//!  now():   L = clock.now()
//!           ε = max(floor, e₀ + drift_bound × (L − L₀))
//!           [L + o − ε, L + o + ε]          (refused once ε > max_epsilon)
//! ```
//!
//! HAZARD: the interval contains true time only if (1) the sync error `e₀` was
//! a true bound, which holds when a majority of masters are honest and within
//! their own ε (Marzullo rejects a minority of liars); (2) the local clock
//! drifts no faster than `drift_bound_ppm` — a clock that drifts faster makes
//! ε too small; (3) the local clock is not stepped forward between syncs (a
//! backward step is detected here and refused).
//!
//! HAZARD: applying a new sync may move the interval backwards (a large negative
//! correction). `now()` is not monotonic; callers that need monotonic
//! timestamps (tablet leaders) keep their own "last assigned" and go above it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::TrueTimeError;
use crate::interval::TTInterval;
use crate::timestamp::Timestamp;

/// How uncertainty is computed and bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrueTimeConfig {
    /// Assumed worst-case rate error of the local clock, in µs per second
    /// (parts per million). Spanner assumes 200 µs/s.
    pub drift_bound_ppm: u32,
    /// ε is never reported smaller than this, whatever the sync achieved.
    pub epsilon_floor: Duration,
    /// Past this ε, `now()` refuses (`--max-clock-uncertainty`).
    pub max_epsilon: Duration,
}

impl Default for TrueTimeConfig {
    fn default() -> Self {
        TrueTimeConfig {
            drift_bound_ppm: 200,
            epsilon_floor: Duration::from_micros(500),
            max_epsilon: Duration::from_millis(250),
        }
    }
}

/// ε at a moment `since_sync` (by the local clock) after a sync with error
/// `error_at_sync`: `max(floor, error_at_sync + drift_allowance(since_sync))`.
pub fn epsilon(
    error_at_sync: Duration,
    drift_bound_ppm: u32,
    since_sync: Duration,
    floor: Duration,
) -> Duration {
    error_at_sync
        .saturating_add(drift_allowance(since_sync, drift_bound_ppm))
        .max(floor)
}

/// How far true time may have moved away from a local clock that measured
/// `local_elapsed`, for a clock whose rate is off by at most `ppm`.
///
/// NB: a clock running slow by `ppm` measures only `true × (1 − ppm)`, so the
/// bound is `local × ppm / (1 − ppm)`, slightly above `local × ppm`; rounded
/// up to whole nanoseconds. A `ppm` of a million or more (a clock that may
/// stand still) gives no bound at all.
pub(crate) fn drift_allowance(local_elapsed: Duration, ppm: u32) -> Duration {
    let ppm = u128::from(ppm);
    if ppm >= 1_000_000 {
        return Duration::MAX;
    }
    let nanos = (local_elapsed.as_nanos() * ppm).div_ceil(1_000_000 - ppm);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// What the last successful sync established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SyncPoint {
    /// Local clock reading at which the offset was measured.
    local_at_sync: Timestamp,
    /// True time − local reading, in nanoseconds.
    offset_nanos: i128,
    /// Bound on the error of `offset_nanos` at `local_at_sync`.
    error: Duration,
}

/// What applying a sync changed; returned so the sync routine can report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncApplied {
    /// New offset − previous offset, in nanoseconds (0 on the first sync).
    pub correction_nanos: i128,
    /// ε just before the sync (`None` on the first sync or when it had grown
    /// past the maximum).
    pub previous_epsilon: Option<Duration>,
    /// The correction was larger than the previous ε plus the new error: the
    /// intervals handed out before this sync did not all contain true time.
    pub violated_previous_interval: bool,
}

/// A node's interval clock. Cheap to share (`Arc<TrueTime>`); `now()` takes a
/// read lock and one clock reading.
#[derive(Debug)]
pub struct TrueTime {
    clock: Arc<dyn Clock>,
    config: TrueTimeConfig,
    sync: RwLock<Option<SyncPoint>>,
}

impl TrueTime {
    /// An interval clock that refuses to give time until its first sync.
    pub fn new(clock: Arc<dyn Clock>, config: TrueTimeConfig) -> Self {
        TrueTime {
            clock,
            config,
            sync: RwLock::new(None),
        }
    }

    /// An interval clock that trusts its local clock right now, to within
    /// `error`: a time master's reference clock (GPS or atomic clock in
    /// Spanner), a single-node development setup, or a test.
    ///
    /// HAZARD: `error` must be a true bound on the local clock's offset from
    /// true time; nothing here can check it.
    pub fn assume_synced(clock: Arc<dyn Clock>, config: TrueTimeConfig, error: Duration) -> Self {
        let tt = TrueTime::new(clock, config);
        let local = tt.clock.now();
        tt.apply_sync(local, 0, error);
        tt
    }

    pub fn config(&self) -> &TrueTimeConfig {
        &self.config
    }

    /// The local physical clock (uncorrected).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// An interval containing true time (under this module's HAZARDs), or an
    /// error when this node cannot vouch for one.
    pub fn now(&self) -> Result<TTInterval, TrueTimeError> {
        let local = self.clock.now();
        let point = self.sync_point().ok_or(TrueTimeError::NeverSynchronized)?;
        let eps = self.epsilon_at(&point, local)?;
        let corrected = local
            .checked_add_signed(point.offset_nanos)
            .ok_or(TrueTimeError::OutOfRange)?;
        Ok(TTInterval {
            earliest: corrected
                .checked_sub(eps)
                .ok_or(TrueTimeError::OutOfRange)?,
            latest: corrected
                .checked_add(eps)
                .ok_or(TrueTimeError::OutOfRange)?,
        })
    }

    /// The current uncertainty ε, or why there is none.
    pub fn epsilon(&self) -> Result<Duration, TrueTimeError> {
        let point = self.sync_point().ok_or(TrueTimeError::NeverSynchronized)?;
        self.epsilon_at(&point, self.clock.now())
    }

    /// `t` has definitely passed: `t < now().earliest`.
    pub fn after(&self, t: Timestamp) -> Result<bool, TrueTimeError> {
        Ok(t < self.now()?.earliest)
    }

    /// `t` has definitely not arrived: `t > now().latest`.
    pub fn before(&self, t: Timestamp) -> Result<bool, TrueTimeError> {
        Ok(t > self.now()?.latest)
    }

    /// Commit wait: returns once `after(t)` holds, with how long it waited by
    /// the local clock. Sleeps on tokio timers (woken early by a `ManualClock`
    /// that is moved). Fails if the clock becomes unsynchronized meanwhile —
    /// the caller must then not reveal `t` as committed by this wait alone.
    ///
    /// For `t = now().latest`, this waits about 2ε.
    ///
    /// NB: tokio timers have millisecond granularity (a wait overshot by up
    /// to ~1 ms); on a real clock the wait sleeps on a timer thread with
    /// sub-millisecond precision (`precise`). Lateness costs latency, never
    /// correctness.
    pub async fn wait_until_after(&self, t: Timestamp) -> Result<Duration, TrueTimeError> {
        let start = self.clock.now();
        let mut changes = self.clock.changes();
        loop {
            let now = self.now()?;
            if t < now.earliest {
                return Ok(self.clock.now().saturating_duration_since(start));
            }
            // earliest must pass t: at least (t − earliest + 1ns) of true time.
            let remaining = t
                .saturating_duration_since(now.earliest)
                .saturating_add(Duration::from_nanos(1));
            match changes.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        _ = tokio::time::sleep(remaining) => {}
                        changed = rx.changed() => {
                            if changed.is_err() {
                                // The clock's sender is gone: it will never move again by
                                // hand, so fall back to sleeping.
                                changes = None;
                            }
                        }
                    }
                }
                None => crate::precise::sleep(remaining).await,
            }
        }
    }

    /// Installs a new sync point: at local reading `local_at_sync`, true time
    /// was `local_at_sync + offset_nanos`, to within `error`. Called by
    /// `TimeSync` (and by `assume_synced`).
    pub fn apply_sync(
        &self,
        local_at_sync: Timestamp,
        offset_nanos: i128,
        error: Duration,
    ) -> SyncApplied {
        let new = SyncPoint {
            local_at_sync,
            offset_nanos,
            error,
        };
        let mut guard = self.sync.write().unwrap_or_else(|p| p.into_inner());
        let applied = match *guard {
            None => SyncApplied {
                correction_nanos: 0,
                previous_epsilon: None,
                violated_previous_interval: false,
            },
            Some(old) => {
                let previous_epsilon = self.epsilon_at(&old, local_at_sync).ok();
                let correction = offset_nanos - old.offset_nanos;
                let tolerated = previous_epsilon
                    .map(|e| e.saturating_add(error).as_nanos())
                    .unwrap_or(u128::MAX);
                SyncApplied {
                    correction_nanos: correction,
                    previous_epsilon,
                    violated_previous_interval: correction.unsigned_abs() > tolerated,
                }
            }
        };
        *guard = Some(new);
        applied
    }

    fn sync_point(&self) -> Option<SyncPoint> {
        // A SyncPoint is plain data, valid even if a writer panicked.
        *self.sync.read().unwrap_or_else(|p| p.into_inner())
    }

    fn epsilon_at(&self, point: &SyncPoint, local: Timestamp) -> Result<Duration, TrueTimeError> {
        let since = local
            .checked_duration_since(point.local_at_sync)
            .ok_or_else(|| TrueTimeError::ClockWentBackwards {
                by: point.local_at_sync.saturating_duration_since(local),
            })?;
        let eps = epsilon(
            point.error,
            self.config.drift_bound_ppm,
            since,
            self.config.epsilon_floor,
        );
        if eps > self.config.max_epsilon {
            return Err(TrueTimeError::Unsynchronized {
                epsilon: eps,
                max: self.config.max_epsilon,
            });
        }
        Ok(eps)
    }
}
