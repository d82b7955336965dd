//! Properties of time synchronisation: Cristian bounds, Marzullo agreement,
//! liars and missing majorities, the periodic task and its status.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use spanlite_truetime::{
    Clock, SkewedClock, SyncConfig, SyncError, TimeSync, TrueTime, TrueTimeConfig, TrueTimeError,
    TrueTimeSource,
};

const MS: i64 = 1_000_000;

fn node(
    truth: &Arc<spanlite_truetime::ManualClock>,
    offset_nanos: i64,
) -> (Arc<SkewedClock>, Arc<TrueTime>) {
    let clock = Arc::new(SkewedClock::new(clock_of(truth)));
    clock.set_offset_nanos(offset_nanos);
    let tt = Arc::new(TrueTime::new(
        clock.clone(),
        TrueTimeConfig {
            drift_bound_ppm: 200,
            epsilon_floor: Duration::from_micros(1),
            max_epsilon: Duration::from_millis(50),
        },
    ));
    (clock, tt)
}

/// Claim: a node whose clock is 30 ms fast learns the offset from honest
/// masters; ε after the sync is the masters' agreed error, and the interval
/// contains true time.
#[tokio::test(flavor = "current_thread")]
async fn marzullo_agreement_corrects_a_skewed_clock() {
    let truth = true_time();
    let (_, tt) = node(&truth, 30 * MS);
    let masters = vec![
        FakeMaster::honest("a", &truth, Duration::from_micros(200)),
        FakeMaster::honest("b", &truth, Duration::from_micros(100)),
        FakeMaster::honest("c", &truth, Duration::from_micros(300)),
    ];
    let sync = TimeSync::new(tt.clone(), masters, SyncConfig::default());
    let report = sync.sync_once().await.unwrap();
    assert_eq!(report.agreeing, 3);
    assert_eq!(report.offset_nanos, -30 * i128::from(MS));
    assert_eq!(
        report.error,
        Duration::from_micros(100),
        "the tightest master bounds the agreement"
    );
    let iv = tt.now().unwrap();
    assert!(iv.contains(truth.now()));
    assert_eq!(iv.epsilon(), Duration::from_micros(100));
}

/// Claim: the round trip widens each master's offset interval (Cristian), so a
/// slow answer still yields an interval containing true time.
#[tokio::test(flavor = "current_thread")]
async fn round_trip_bounds_the_offset() {
    let truth = true_time();
    let (_, tt) = node(&truth, -7 * MS);
    let rtt = Duration::from_millis(4);
    let sync = TimeSync::new(
        tt.clone(),
        vec![FakeMaster::slow(
            "slow",
            &truth,
            Duration::from_micros(10),
            rtt,
        )],
        SyncConfig::default(),
    );
    let report = sync.sync_once().await.unwrap();
    let (lo, hi) = report.sources[0].offset_range.unwrap();
    assert!(
        hi - lo >= rtt.as_nanos() as i128,
        "interval narrower than the round trip"
    );
    assert!(lo <= 7 * i128::from(MS) && 7 * i128::from(MS) <= hi);
    assert_eq!(report.sources[0].round_trip, Some(rtt));
    assert!(tt.now().unwrap().contains(truth.now()));
}

/// Claim: one master lying by a second is outvoted and reported as rejected;
/// the clock follows the honest majority.
#[tokio::test(flavor = "current_thread")]
async fn marzullo_lying_master_rejected() {
    let truth = true_time();
    let (_, tt) = node(&truth, 5 * MS);
    let masters = vec![
        FakeMaster::honest("honest-1", &truth, Duration::from_micros(100)),
        FakeMaster::lying(
            "liar",
            &truth,
            Duration::from_micros(100),
            1_000 * i128::from(MS),
        ),
        FakeMaster::honest("honest-2", &truth, Duration::from_micros(150)),
    ];
    let sync = TimeSync::new(tt.clone(), masters, SyncConfig::default());
    let report = sync.sync_once().await.unwrap();
    assert_eq!(report.agreeing, 2);
    assert!(tt.now().unwrap().contains(truth.now()));
    let status = sync.status();
    assert_eq!(
        status.accepted,
        vec!["honest-1".to_string(), "honest-2".to_string()]
    );
    assert_eq!(status.rejected.len(), 1);
    assert_eq!(status.rejected[0].0, "liar");
}

/// Claim: when no majority agrees, the round fails, the previous sync stays,
/// ε keeps widening with the drift bound, and once it passes the maximum the
/// node refuses to give time.
#[tokio::test(flavor = "current_thread")]
async fn marzullo_no_majority_widens_epsilon_then_fails() {
    let truth = true_time();
    let (_, tt) = node(&truth, 0);
    let honest = vec![
        FakeMaster::honest("a", &truth, Duration::from_micros(100)),
        FakeMaster::honest("b", &truth, Duration::from_micros(100)),
        FakeMaster::honest("c", &truth, Duration::from_micros(100)),
    ];
    TimeSync::new(tt.clone(), honest, SyncConfig::default())
        .sync_once()
        .await
        .unwrap();
    let eps_after_sync = tt.epsilon().unwrap();

    let split = vec![
        FakeMaster::lying("a", &truth, Duration::from_micros(100), 0),
        FakeMaster::lying(
            "b",
            &truth,
            Duration::from_micros(100),
            1_000 * i128::from(MS),
        ),
        FakeMaster::lying(
            "c",
            &truth,
            Duration::from_micros(100),
            2_000 * i128::from(MS),
        ),
    ];
    let sync = TimeSync::new(tt.clone(), split, SyncConfig::default());
    truth.advance(Duration::from_secs(10));
    let err = sync.sync_once().await.unwrap_err();
    assert_eq!(
        err,
        SyncError::NoMajority {
            agreeing: 1,
            needed: 2,
            sources: 3
        }
    );
    let widened = tt.epsilon().unwrap();
    assert!(
        widened > eps_after_sync + Duration::from_millis(1),
        "ε {widened:?} did not widen"
    );
    assert!(tt.now().unwrap().contains(truth.now()));
    assert_eq!(sync.status().rounds_failed, 1);

    truth.advance(Duration::from_secs(300));
    assert!(sync.sync_once().await.is_err());
    assert!(matches!(
        tt.now(),
        Err(TrueTimeError::Unsynchronized { .. })
    ));
}

/// Claim: masters that do not answer count against the majority: two of three
/// timing out fails the round even though the third is honest.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn unreachable_masters_count_against_the_majority() {
    let truth = true_time();
    let (_, tt) = node(&truth, 0);
    let masters = vec![
        FakeMaster::honest("up", &truth, Duration::from_micros(100)),
        FakeMaster::unreachable("down-1", &truth),
        FakeMaster::unreachable("down-2", &truth),
    ];
    let config = SyncConfig {
        interval: Duration::from_secs(1),
        poll_timeout: Duration::from_millis(200),
    };
    let sync = TimeSync::new(tt.clone(), masters, config);
    let err = sync.sync_once().await.unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::NoMajority {
                agreeing: 1,
                needed: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(tt.now(), Err(TrueTimeError::NeverSynchronized));
    let status = sync.status();
    assert_eq!(status.accepted, vec!["up".to_string()]);
    assert!(
        status
            .rejected
            .iter()
            .all(|(_, why)| why.contains("did not answer")),
        "{status:?}"
    );
}

/// Claim: a clock stepped forward by more than ε between syncs is caught at
/// the next sync and counted as a violation.
#[tokio::test(flavor = "current_thread")]
async fn a_clock_jump_beyond_epsilon_is_reported_as_a_violation() {
    let truth = true_time();
    let (clock, tt) = node(&truth, 0);
    let masters = vec![
        FakeMaster::honest("a", &truth, Duration::from_micros(100)),
        FakeMaster::honest("b", &truth, Duration::from_micros(100)),
        FakeMaster::honest("c", &truth, Duration::from_micros(100)),
    ];
    let sync = TimeSync::new(tt.clone(), masters, SyncConfig::default());
    sync.sync_once().await.unwrap();
    clock.set_offset_nanos(20 * MS);
    assert!(
        !tt.now().unwrap().contains(truth.now()),
        "the jump put true time outside the interval"
    );
    let report = sync.sync_once().await.unwrap();
    assert!(report.applied.violated_previous_interval);
    assert_eq!(sync.status().violations, 1);
    assert!(tt.now().unwrap().contains(truth.now()));
}

/// Claim: the periodic task keeps syncing on its interval and its status says
/// so; dropping the handle stops it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn periodic_sync_task_runs_rounds_and_reports_status() {
    let truth = true_time();
    let (_, tt) = node(&truth, 3 * MS);
    let masters = vec![
        FakeMaster::honest("a", &truth, Duration::from_micros(100)),
        FakeMaster::honest("b", &truth, Duration::from_micros(100)),
    ];
    let config = SyncConfig {
        interval: Duration::from_millis(100),
        poll_timeout: Duration::from_millis(50),
    };
    let sync = Arc::new(TimeSync::new(tt.clone(), masters, config));
    let task = sync.spawn();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sync.status().rounds_ok < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 3 rounds in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(task);
    let status = sync.status();
    assert_eq!(status.offset_nanos, -3 * i128::from(MS));
    assert!(status.last_sync.is_some());
    assert!(matches!(status.epsilon, Some(Ok(_))));
    let rounds = status.rounds_ok;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sync.status().rounds_ok,
        rounds,
        "the task kept running after drop"
    );
}

/// Claim: a node syncing from another node's TrueTime inherits at least that
/// node's uncertainty, and its interval contains the master's midpoint.
#[tokio::test(flavor = "current_thread")]
async fn syncing_from_a_truetime_master_inherits_its_uncertainty() {
    let truth = true_time();
    let master_tt = Arc::new(TrueTime::assume_synced(
        clock_of(&truth),
        TrueTimeConfig::default(),
        Duration::from_micros(300),
    ));
    let (_, tt) = node(&truth, 12 * MS);
    let source = Arc::new(TrueTimeSource::new("master", master_tt.clone()));
    let sync = TimeSync::new(tt.clone(), vec![source], SyncConfig::default());
    sync.sync_once().await.unwrap();
    let iv = tt.now().unwrap();
    assert!(iv.epsilon() >= master_tt.epsilon().unwrap());
    assert!(iv.contains(truth.now()));
    assert!(truth.now() == clock_of(&truth).now());
}

/// Claim: no masters configured is an error, not a silent success.
#[tokio::test(flavor = "current_thread")]
async fn sync_without_masters_is_an_error() {
    let truth = true_time();
    let (_, tt) = node(&truth, 0);
    let sync = TimeSync::new(tt, vec![], SyncConfig::default());
    assert_eq!(sync.sync_once().await.unwrap_err(), SyncError::NoSources);
}
