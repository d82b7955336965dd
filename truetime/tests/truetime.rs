//! Properties of the interval clock: containment, uncertainty growth, refusal,
//! and commit wait.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use spanlite_truetime::{
    Clock, ManualClock, SkewedClock, SyncConfig, SystemClock, TimeSync, Timestamp, TrueTime,
    TrueTimeConfig, TrueTimeError, epsilon,
};

fn config(floor: Duration, max: Duration) -> TrueTimeConfig {
    TrueTimeConfig {
        drift_bound_ppm: 200,
        epsilon_floor: floor,
        max_epsilon: max,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Claim: with honest masters and a local clock that is skewed by any
    /// offset and drifts within the bound (the drift may change between steps),
    /// every interval `now()` returns contains true time — between syncs and
    /// after them.
    #[test]
    fn interval_contains_true_time_under_bounded_skew(
        offset_ms in -2_000i64..2_000,
        drifts in proptest::collection::vec(-200.0f64..=200.0, 1..20),
        steps_ms in proptest::collection::vec(0u64..20_000, 1..20),
        resync_every in 1usize..6,
        rtt_us in 0u64..5_000,
    ) {
        let truth = true_time();
        let node = Arc::new(SkewedClock::new(clock_of(&truth)));
        node.set_offset_nanos(offset_ms * 1_000_000);
        let tt = Arc::new(TrueTime::new(node.clone(), config(Duration::from_micros(1), Duration::from_secs(60))));
        let masters = vec![
            FakeMaster::honest("m1", &truth, Duration::from_micros(100)),
            FakeMaster::slow("m2", &truth, Duration::from_micros(50), Duration::from_micros(rtt_us)),
            FakeMaster::honest("m3", &truth, Duration::from_micros(20)),
        ];
        let sync = TimeSync::new(tt.clone(), masters, SyncConfig::default());
        let rt = current_thread_runtime();
        rt.block_on(sync.sync_once()).expect("honest masters agree");

        for (i, step) in steps_ms.iter().enumerate() {
            node.set_drift_ppm(drifts[i % drifts.len()]);
            truth.advance(Duration::from_millis(*step));
            let iv = tt.now().expect("within max ε");
            prop_assert!(iv.contains(truth.now()), "step {i}: {iv} misses {}", truth.now());
            if i % resync_every == 0 {
                rt.block_on(sync.sync_once()).expect("honest masters agree");
                let iv = tt.now().expect("just synced");
                prop_assert!(iv.contains(truth.now()), "after sync {i}: {iv} misses {}", truth.now());
            }
        }
    }
}

/// Claim: between syncs ε grows by the drift bound times the time elapsed, from
/// the sync error; a sync brings it back down.
#[test]
fn epsilon_grows_with_drift_between_syncs() {
    let clock = Arc::new(ManualClock::new(START));
    let tt = TrueTime::assume_synced(
        clock.clone(),
        config(Duration::ZERO, Duration::from_secs(10)),
        Duration::from_micros(100),
    );
    assert_eq!(tt.epsilon().unwrap(), Duration::from_micros(100));

    let mut last = tt.epsilon().unwrap();
    for _ in 0..10 {
        clock.advance(Duration::from_secs(1));
        let eps = tt.epsilon().unwrap();
        assert!(eps > last, "ε must grow: {eps:?} after {last:?}");
        last = eps;
    }
    // 10 s at 200 µs/s (÷ (1 − 200 ppm) for a slow clock): 2.0004 ms + 100 µs.
    assert_eq!(last, Duration::from_nanos(100_000 + 2_000_401));
    assert_eq!(tt.now().unwrap().width(), last * 2);

    tt.apply_sync(clock.now(), 0, Duration::from_micros(30));
    assert_eq!(tt.epsilon().unwrap(), Duration::from_micros(30));
}

/// Claim: ε is never reported below the configured floor.
#[test]
fn epsilon_never_below_floor() {
    let clock = Arc::new(ManualClock::new(START));
    let floor = Duration::from_millis(1);
    let tt = TrueTime::assume_synced(
        clock.clone(),
        config(floor, Duration::from_secs(1)),
        Duration::ZERO,
    );
    assert_eq!(tt.epsilon().unwrap(), floor);
    assert_eq!(tt.now().unwrap().epsilon(), floor);
    assert_eq!(
        epsilon(Duration::ZERO, 200, Duration::from_secs(1), floor),
        floor
    );
    assert!(epsilon(Duration::ZERO, 200, Duration::from_secs(10), floor) > floor);
}

/// Claim: a clock that was never synchronized, whose ε passed the maximum, or
/// that stepped backwards refuses to give time, and so do after/before.
#[test]
fn unsynchronized_clock_refuses_to_give_time() {
    let clock = Arc::new(ManualClock::new(START));
    let cfg = config(Duration::from_micros(10), Duration::from_millis(5));

    let never = TrueTime::new(clock.clone(), cfg);
    assert_eq!(never.now(), Err(TrueTimeError::NeverSynchronized));

    let tt = TrueTime::assume_synced(clock.clone(), cfg, Duration::from_millis(1));
    assert!(tt.now().is_ok());
    // ε = 1 ms + 200 µs/s × t passes 5 ms after about 20 s.
    clock.advance(Duration::from_secs(25));
    let err = tt.now().unwrap_err();
    assert!(
        matches!(err, TrueTimeError::Unsynchronized { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("clock unsynchronized"));
    assert!(err.is_retryable());
    assert!(tt.after(Timestamp::MIN).is_err());
    assert!(tt.before(Timestamp::MAX).is_err());

    let tt = TrueTime::assume_synced(clock.clone(), cfg, Duration::from_millis(1));
    clock.set(clock.now().checked_sub(Duration::from_millis(3)).unwrap());
    assert_eq!(
        tt.now(),
        Err(TrueTimeError::ClockWentBackwards {
            by: Duration::from_millis(3)
        })
    );
}

/// Claim: `after(t)` ⇔ t < earliest and `before(t)` ⇔ t > latest.
#[test]
fn after_and_before_follow_the_interval_bounds() {
    let clock = Arc::new(ManualClock::new(START));
    let tt = TrueTime::assume_synced(
        clock.clone(),
        config(Duration::ZERO, Duration::from_secs(1)),
        Duration::from_micros(10),
    );
    let iv = tt.now().unwrap();
    assert!(tt.after(iv.earliest.prev().unwrap()).unwrap());
    assert!(!tt.after(iv.earliest).unwrap());
    assert!(tt.before(iv.latest.next().unwrap()).unwrap());
    assert!(!tt.before(iv.latest).unwrap());
    assert!(iv.contains(START));
}

/// Claim: commit wait for `s = now().latest` returns exactly when `after(s)`
/// first holds — about 2ε later — and not before.
#[tokio::test(flavor = "current_thread")]
async fn commit_wait_waits_until_after_holds() {
    let clock = Arc::new(ManualClock::new(START));
    let eps = Duration::from_micros(700);
    let tt = Arc::new(TrueTime::assume_synced(
        clock.clone(),
        config(eps, Duration::from_secs(1)),
        Duration::ZERO,
    ));
    let taken_at = clock.now();
    let s = tt.now().unwrap().latest;
    let waiter = {
        let tt = tt.clone();
        tokio::spawn(async move { tt.wait_until_after(s).await })
    };
    let step = Duration::from_micros(10);
    while !waiter.is_finished() {
        assert!(
            !tt.after(s).unwrap(),
            "waiter still waiting although after(s) holds"
        );
        clock.advance(step);
        // Let the waiter observe the move.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
    let waited_by_its_own_count = waiter.await.unwrap().unwrap();
    let waited = clock.now().saturating_duration_since(taken_at);
    assert!(tt.after(s).unwrap());
    assert!(
        waited > eps * 2,
        "returned {waited:?} after s was taken, less than 2ε"
    );
    assert!(
        waited <= eps * 2 + step,
        "returned {waited:?} after s was taken, more than 2ε + one step"
    );
    assert!(waited_by_its_own_count <= waited);
}

/// Claim: commit wait on the real system clock also ends with `after(s)`
/// holding, and never earlier than 2ε after `s` was taken.
#[tokio::test]
async fn commit_wait_on_system_clock_ends_after_s() {
    let floor = Duration::from_millis(2);
    let tt = TrueTime::assume_synced(
        Arc::new(SystemClock::new()),
        config(floor, Duration::from_secs(1)),
        Duration::ZERO,
    );
    let s = tt.now().unwrap().latest;
    let waited = tt.wait_until_after(s).await.unwrap();
    assert!(tt.after(s).unwrap());
    assert!(waited >= floor * 2, "waited {waited:?}");
}

/// Claim: a commit wait fails, rather than returning, if the clock loses sync
/// while waiting.
#[tokio::test(flavor = "current_thread")]
async fn commit_wait_fails_when_clock_loses_sync() {
    let clock = Arc::new(ManualClock::new(START));
    let tt = Arc::new(TrueTime::assume_synced(
        clock.clone(),
        config(Duration::from_millis(1), Duration::from_millis(2)),
        Duration::ZERO,
    ));
    let far = tt
        .now()
        .unwrap()
        .latest
        .checked_add(Duration::from_secs(3600))
        .unwrap();
    let waiter = {
        let tt = tt.clone();
        tokio::spawn(async move { tt.wait_until_after(far).await })
    };
    tokio::task::yield_now().await;
    clock.advance(Duration::from_secs(60));
    let result = waiter.await.unwrap();
    assert!(
        matches!(result, Err(TrueTimeError::Unsynchronized { .. })),
        "{result:?}"
    );
}
