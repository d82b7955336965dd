//! One sync round (`TimeSync::sync_once`) and the state it reports.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{SourceError, SyncError, TrueTimeError};
use crate::sync::marzullo::marzullo;
use crate::sync::source::{MasterReading, TimeSource};
use crate::timestamp::Timestamp;
use crate::truetime::{SyncApplied, TrueTime, drift_allowance};

/// How often and how patiently to poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Time between rounds of the periodic task (30 s in production, less in
    /// tests). ε grows by `drift_bound × interval` between rounds.
    pub interval: Duration,
    /// A master that has not answered by then is rejected for this round.
    pub poll_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval: Duration::from_secs(30),
            poll_timeout: Duration::from_secs(1),
        }
    }
}

/// What happened to one master in a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceOutcome {
    pub name: String,
    /// Inside the agreed interval.
    pub accepted: bool,
    /// Its offset interval (true − local, ns) if it answered.
    pub offset_range: Option<(i128, i128)>,
    /// Round trip of the poll if it answered.
    pub round_trip: Option<Duration>,
    /// Why it was rejected, if it was.
    pub rejected_because: Option<String>,
}

/// A successful round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    /// The offset applied (true − local, ns).
    pub offset_nanos: i128,
    /// Its error bound: the new ε right after the sync (before the floor).
    pub error: Duration,
    /// How many masters agreed.
    pub agreeing: usize,
    pub sources: Vec<SourceOutcome>,
    pub applied: SyncApplied,
}

/// The sync state, for metrics and `SHOW`-style status.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SyncStatus {
    /// Corrected time of the last successful round.
    pub last_sync: Option<Timestamp>,
    /// Current ε, or why the clock refuses to give time.
    pub epsilon: Option<Result<Duration, TrueTimeError>>,
    /// Offset applied by the last successful round (true − local, ns).
    pub offset_nanos: i128,
    /// Masters inside the agreement of the last round (successful or not).
    pub accepted: Vec<String>,
    /// Masters rejected in the last round, with the reason.
    pub rejected: Vec<(String, String)>,
    pub rounds_ok: u64,
    pub rounds_failed: u64,
    /// Rounds whose correction exceeded the previous ε: earlier intervals were wrong.
    pub violations: u64,
    /// Why the last failed round failed.
    pub last_error: Option<SyncError>,
}

/// Synchronises one `TrueTime` against a set of time masters.
#[derive(Debug)]
pub struct TimeSync {
    truetime: Arc<TrueTime>,
    sources: Vec<Arc<dyn TimeSource>>,
    config: SyncConfig,
    status: Mutex<SyncStatus>,
}

/// A master's answer with the local readings around it.
struct Poll {
    t0: Timestamp,
    t1: Timestamp,
    reading: Result<MasterReading, SourceError>,
}

impl TimeSync {
    pub fn new(
        truetime: Arc<TrueTime>,
        sources: Vec<Arc<dyn TimeSource>>,
        config: SyncConfig,
    ) -> Self {
        TimeSync {
            truetime,
            sources,
            config,
            status: Mutex::new(SyncStatus::default()),
        }
    }

    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    pub fn truetime(&self) -> &Arc<TrueTime> {
        &self.truetime
    }

    /// A snapshot of the sync state, with ε as of now.
    pub fn status(&self) -> SyncStatus {
        let mut status = self.status_guard().clone();
        status.epsilon = Some(self.truetime.epsilon());
        status
    }

    /// One round: poll every master at once, intersect, apply. On failure the
    /// previous sync stays in force (ε keeps growing).
    pub async fn sync_once(&self) -> Result<SyncReport, SyncError> {
        let result = self.round().await;
        let mut status = self.status_guard();
        match &result {
            Ok(report) => {
                status.rounds_ok += 1;
                status.offset_nanos = report.offset_nanos;
                status.last_sync = self
                    .truetime
                    .now()
                    .ok()
                    .map(|iv| iv.earliest.saturating_add(iv.epsilon()));
                if report.applied.violated_previous_interval {
                    status.violations += 1;
                    tracing::warn!(
                        correction_ns = %report.applied.correction_nanos,
                        previous_epsilon = ?report.applied.previous_epsilon,
                        "clock sync corrected by more than ε: earlier intervals may not have contained true time"
                    );
                }
            }
            Err(e) => {
                status.rounds_failed += 1;
                status.last_error = Some(e.clone());
            }
        }
        result
    }

    async fn round(&self) -> Result<SyncReport, SyncError> {
        if self.sources.is_empty() {
            return Err(SyncError::NoSources);
        }
        let polls = self.poll_all().await;
        let ppm = self.truetime.config().drift_bound_ppm;
        let drift = |d: Duration| -> i128 { drift_allowance(d, ppm).as_nanos() as i128 };

        // All offsets are expressed at one local instant, the latest t1.
        let anchor = polls.iter().map(|p| p.t1).max().unwrap_or(Timestamp::MIN);
        let mut outcomes = Vec::with_capacity(polls.len());
        let mut intervals = Vec::new();
        let mut interval_owner = Vec::new();
        for (source, poll) in self.sources.iter().zip(&polls) {
            let mut outcome = SourceOutcome {
                name: source.name().to_string(),
                accepted: false,
                offset_range: None,
                round_trip: None,
                rejected_because: None,
            };
            match (&poll.reading, poll.t1.checked_duration_since(poll.t0)) {
                (Ok(reading), Some(rtt)) => {
                    let t = i128::from(reading.time.as_nanos());
                    let e = reading.error.as_nanos() as i128;
                    let t1 = i128::from(poll.t1.as_nanos());
                    // HAZARD: our own clock may run slow by the drift bound while
                    // measuring the round trip, and drifts between t1 and anchor.
                    let age = drift(anchor.saturating_duration_since(poll.t1));
                    let rtt_bound = rtt.as_nanos() as i128 + drift(rtt);
                    let range = (t - e - t1 - age, t + e + rtt_bound - t1 + age);
                    outcome.offset_range = Some(range);
                    outcome.round_trip = Some(rtt);
                    intervals.push(range);
                    interval_owner.push(outcomes.len());
                }
                (Ok(_), None) => {
                    outcome.rejected_because =
                        Some(SourceError::LocalClockWentBackwards.to_string())
                }
                (Err(e), _) => outcome.rejected_because = Some(e.to_string()),
            }
            outcomes.push(outcome);
        }

        let needed = self.sources.len() / 2 + 1;
        let agreement = marzullo(&intervals);
        let agreeing = agreement.as_ref().map_or(0, |a| a.count());
        if let Some(a) = &agreement {
            for &m in &a.members {
                outcomes[interval_owner[m]].accepted = true;
            }
        }
        for o in outcomes
            .iter_mut()
            .filter(|o| !o.accepted && o.rejected_because.is_none())
        {
            o.rejected_because = Some("disagrees with the best agreement of the masters".into());
        }
        self.record_membership(&outcomes);

        let Some(a) = agreement.filter(|_| agreeing >= needed) else {
            return Err(SyncError::NoMajority {
                agreeing,
                needed,
                sources: self.sources.len(),
            });
        };
        let offset = a.lo + (a.hi - a.lo) / 2;
        let error = Duration::from_nanos(u64::try_from(a.hi - offset).unwrap_or(u64::MAX));
        let applied = self.truetime.apply_sync(anchor, offset, error);
        Ok(SyncReport {
            offset_nanos: offset,
            error,
            agreeing,
            sources: outcomes,
            applied,
        })
    }

    /// Polls every source concurrently, each bounded by `poll_timeout`.
    async fn poll_all(&self) -> Vec<Poll> {
        let timeout = self.config.poll_timeout;
        let handles: Vec<_> = self
            .sources
            .iter()
            .map(|source| {
                let source = Arc::clone(source);
                let clock = Arc::clone(self.truetime.clock());
                tokio::spawn(async move {
                    let t0 = clock.now();
                    let reading = match tokio::time::timeout(timeout, source.read()).await {
                        Ok(reading) => reading,
                        Err(_) => Err(SourceError::Timeout(timeout)),
                    };
                    Poll {
                        t0,
                        t1: clock.now(),
                        reading,
                    }
                })
            })
            .collect();
        let mut polls = Vec::with_capacity(handles.len());
        for handle in handles {
            let now = self.truetime.clock().now();
            polls.push(handle.await.unwrap_or_else(|e| Poll {
                t0: now,
                t1: now,
                reading: Err(SourceError::Unavailable(Box::new(e))),
            }));
        }
        polls
    }

    fn record_membership(&self, outcomes: &[SourceOutcome]) {
        let mut status = self.status_guard();
        status.accepted = outcomes
            .iter()
            .filter(|o| o.accepted)
            .map(|o| o.name.clone())
            .collect();
        status.rejected = outcomes
            .iter()
            .filter_map(|o| {
                o.rejected_because
                    .as_ref()
                    .map(|why| (o.name.clone(), why.clone()))
            })
            .collect();
    }

    fn status_guard(&self) -> MutexGuard<'_, SyncStatus> {
        // Plain counters and names: valid even if a holder panicked.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}
