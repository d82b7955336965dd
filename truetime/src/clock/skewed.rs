use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::Clock;
use crate::timestamp::Timestamp;

/// A clock that reads another clock with an offset and a drift, both
/// changeable while it runs: the fault injector's clock.
///
/// ```text
/// reading = anchor_reading + (base − anchor_base) × (1 + drift) + offset
/// ```
///
/// Changing the drift re-anchors, so the reading stays continuous; changing the
/// offset makes it jump by the difference (a clock step).
#[derive(Debug)]
pub struct SkewedClock {
    base: Arc<dyn Clock>,
    state: Mutex<SkewState>,
}

#[derive(Debug, Clone, Copy)]
struct SkewState {
    /// Base reading when the drift last changed.
    anchor_base: i128,
    /// Drifted reading (without offset) at `anchor_base`.
    anchor_reading: i128,
    /// Rate error in parts per billion: +1000 gains 1 µs per second.
    drift_ppb: i128,
    /// Constant offset added to every reading, in nanoseconds.
    offset_nanos: i128,
}

const PPB: i128 = 1_000_000_000;

impl SkewedClock {
    /// A clock reading `base` exactly (no offset, no drift) until told otherwise.
    pub fn new(base: Arc<dyn Clock>) -> Self {
        let now = i128::from(base.now().as_nanos());
        SkewedClock {
            base,
            state: Mutex::new(SkewState {
                anchor_base: now,
                anchor_reading: now,
                drift_ppb: 0,
                offset_nanos: 0,
            }),
        }
    }

    /// Sets the constant offset (nanoseconds, either sign): the reading jumps
    /// by the difference from the previous offset.
    pub fn set_offset_nanos(&self, offset: i64) {
        self.state().offset_nanos = i128::from(offset);
    }

    pub fn offset_nanos(&self) -> i64 {
        // The offset was set from an i64, so it fits.
        i64::try_from(self.state().offset_nanos).unwrap_or(i64::MAX)
    }

    /// Sets the rate error in parts per million (+200 gains 200 µs per
    /// second). Values at or below −1,000,000 would stop or reverse the clock
    /// and are clamped to a clock that stands still.
    pub fn set_drift_ppm(&self, ppm: f64) {
        let base = i128::from(self.base.now().as_nanos());
        let mut st = self.state();
        let current = Self::drifted(&st, base);
        st.anchor_base = base;
        st.anchor_reading = current;
        st.drift_ppb = ((ppm * 1_000.0).round() as i128).max(-PPB);
    }

    pub fn drift_ppm(&self) -> f64 {
        self.state().drift_ppb as f64 / 1_000.0
    }

    fn drifted(st: &SkewState, base: i128) -> i128 {
        let elapsed = base - st.anchor_base;
        st.anchor_reading + elapsed + elapsed * st.drift_ppb / PPB
    }

    fn state(&self) -> MutexGuard<'_, SkewState> {
        // The state is plain numbers, valid even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for SkewedClock {
    fn now(&self) -> Timestamp {
        let base = i128::from(self.base.now().as_nanos());
        let st = *self.state();
        let reading = Self::drifted(&st, base) + st.offset_nanos;
        Timestamp::from_nanos(u64::try_from(reading.max(0)).unwrap_or(u64::MAX))
    }

    fn changes(&self) -> Option<watch::Receiver<Timestamp>> {
        self.base.changes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    fn setup() -> (Arc<ManualClock>, SkewedClock) {
        let base = Arc::new(ManualClock::new(Timestamp::from_nanos(1_000_000_000)));
        let skewed = SkewedClock::new(base.clone());
        (base, skewed)
    }

    #[test]
    fn offset_shifts_the_reading() {
        let (base, clock) = setup();
        clock.set_offset_nanos(-5_000);
        assert_eq!(clock.now().as_nanos(), 1_000_000_000 - 5_000);
        base.advance(Duration::from_nanos(10));
        assert_eq!(clock.now().as_nanos(), 1_000_000_010 - 5_000);
        assert_eq!(clock.offset_nanos(), -5_000);
    }

    #[test]
    fn drift_scales_elapsed_time() {
        let (base, clock) = setup();
        clock.set_drift_ppm(200.0);
        base.advance(Duration::from_secs(1));
        assert_eq!(clock.now().as_nanos(), 2_000_000_000 + 200_000);
    }

    #[test]
    fn changing_drift_keeps_the_reading_continuous() {
        let (base, clock) = setup();
        clock.set_drift_ppm(1_000.0);
        base.advance(Duration::from_secs(1));
        let before = clock.now();
        clock.set_drift_ppm(-1_000.0);
        assert_eq!(clock.now(), before);
        base.advance(Duration::from_secs(1));
        assert_eq!(
            clock.now().as_nanos(),
            before.as_nanos() + 1_000_000_000 - 1_000_000
        );
    }

    #[test]
    fn extreme_negative_drift_stands_still() {
        let (base, clock) = setup();
        clock.set_drift_ppm(-5_000_000.0);
        let before = clock.now();
        base.advance(Duration::from_secs(10));
        assert_eq!(clock.now(), before);
    }
}
