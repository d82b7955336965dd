//! `TTInterval`: the answer of `TrueTime::now()`.

use std::fmt;
use std::time::Duration;

use crate::timestamp::Timestamp;

/// An interval that contains true time when it was taken.
///
/// INVARIANT: `earliest <= latest`. Spanner's guarantee: for an invocation
/// `tt = TT.now()`, `tt.earliest <= t_abs(e_now) <= tt.latest`, where
/// `e_now` is the invocation event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TTInterval {
    pub earliest: Timestamp,
    pub latest: Timestamp,
}

impl TTInterval {
    /// Whether `t` lies inside the interval (bounds included).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.earliest <= t && t <= self.latest
    }

    /// `latest - earliest`, i.e. 2ε.
    pub fn width(&self) -> Duration {
        self.latest.saturating_duration_since(self.earliest)
    }

    /// Half the width: the uncertainty ε of this reading.
    pub fn epsilon(&self) -> Duration {
        self.width() / 2
    }
}

impl fmt::Display for TTInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.earliest, self.latest)
    }
}
