//! The nemesis: injects one fault at a time into a [`ProcessCluster`],
//! holds it, undoes it, rests, and goes on to the next kind (round robin,
//! so a short run sees every kind). Each fault's window is logged with
//! the recorder's clock, so plots and reports can line them up with the
//! operations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};

use crate::cluster::ProcessCluster;
use crate::history::Recorder;

/// Kinds of faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fault {
    /// SIGKILL a node, then restart it (it recovers from its WAL).
    Kill,
    /// SIGSTOP a node, then SIGCONT it.
    Pause,
    /// Cut one node off from the others.
    IsolateOne,
    /// Cut the leader of the workloads' first tablet off.
    IsolateLeader,
    /// Split the nodes into a minority and a majority.
    MajorityMinority,
    /// Cut one link: two nodes cannot talk, a third talks to both.
    Bridge,
    /// Skew one node's clock by less than ε (TrueTime stays correct).
    SkewWithinEpsilon,
    /// Cut the clients off from one node (their gateway), which still
    /// reaches the others: its clients' calls hang, commits in flight
    /// become indeterminate, and the clients fail over.
    IsolateClients,
    /// Merge the two halves of the split kv table into one tablet, then
    /// split them again at the same key when the fault is undone (the
    /// workloads' transactions run through both).
    MergeSplit,
    /// Designed to break the guarantees, never in a valid run: skew the
    /// leader of the skew key's tablet ahead by far more than its ε
    /// (TrueTime cannot tell), for the whole hold.
    SkewBeyondEpsilon,
}

impl Fault {
    /// Every kind a valid run injects.
    pub const ALL: [Fault; 8] = [
        Fault::Kill,
        Fault::Pause,
        Fault::IsolateOne,
        Fault::IsolateLeader,
        Fault::MajorityMinority,
        Fault::Bridge,
        Fault::SkewWithinEpsilon,
        Fault::IsolateClients,
    ];
}

/// One fault as injected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Window {
    pub fault: Fault,
    /// Recorder nanoseconds when it began and was undone.
    pub start_ns: u64,
    pub end_ns: u64,
    /// What exactly (which nodes).
    pub detail: String,
}

/// Timing of the nemesis.
#[derive(Clone, Debug)]
pub struct NemesisConfig {
    pub faults: Vec<Fault>,
    /// How long each fault lasts.
    pub hold: Duration,
    /// Quiet time between faults.
    pub rest: Duration,
    /// A key of the tablet whose leader [`Fault::IsolateLeader`] isolates.
    pub leader_key: Vec<u8>,
    /// Clock offset of [`Fault::SkewWithinEpsilon`].
    pub small_skew: Duration,
    /// A key of the tablet whose leader [`Fault::SkewBeyondEpsilon`]
    /// skews, and by how much (ahead).
    pub skew_key: Vec<u8>,
    pub big_skew: Duration,
    /// For [`Fault::MergeSplit`]: a key of the left tablet, and the first
    /// key of the right one (where it splits again).
    pub merge_at: Option<(Vec<u8>, Vec<u8>)>,
}

/// What the nemesis did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NemesisLog {
    pub windows: Vec<Window>,
    /// Faults injected, by kind.
    pub counts: BTreeMap<String, usize>,
    /// Faults that could not be injected (and why).
    pub errors: Vec<String>,
}

/// Sleeps `d` unless `stop` turns true first; true when stopped.
async fn rest(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(d) => None,
        _ = stop.wait_for(|s| *s) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}

/// Injects faults until `stop`; every fault is undone before it returns.
pub async fn run(
    cluster: Arc<Mutex<ProcessCluster>>,
    cfg: NemesisConfig,
    recorder: Recorder,
    mut stop: watch::Receiver<bool>,
) -> NemesisLog {
    let mut log = NemesisLog::default();
    let mut turn = 0usize;
    loop {
        if cfg.faults.is_empty() || rest(cfg.rest, &mut stop).await {
            return log;
        }
        let fault = cfg.faults[turn % cfg.faults.len()];
        turn += 1;
        let start_ns = recorder.elapsed_ns();
        match inject(&cluster, fault, &cfg).await {
            Ok(detail) => {
                // Hold the fault (even if asked to stop: then undo at once).
                let _ = rest(cfg.hold, &mut stop).await;
                if let Err(e) = undo(&cluster, fault, &cfg).await {
                    log.errors.push(format!("undoing {fault:?}: {e}"));
                }
                log.windows.push(Window {
                    fault,
                    start_ns,
                    end_ns: recorder.elapsed_ns(),
                    detail,
                });
                *log.counts.entry(format!("{fault:?}")).or_default() += 1;
            }
            Err(e) => log.errors.push(format!("{fault:?}: {e}")),
        }
    }
}

async fn inject(
    cluster: &Mutex<ProcessCluster>,
    fault: Fault,
    cfg: &NemesisConfig,
) -> Result<String, String> {
    let mut c = cluster.lock().await;
    let n = c.len();
    let (node, ahead) = {
        let mut rng = rand::rng();
        (rng.random_range(0..n), rng.random_bool(0.5))
    };
    let isolate = |c: &ProcessCluster, i: usize| {
        let others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        c.proxies().partition(&[vec![i], others]);
    };
    Ok(match fault {
        Fault::Kill => {
            c.kill(node).await.map_err(|e| e.to_string())?;
            format!("killed node {}", node + 1)
        }
        Fault::Pause => {
            c.pause(node).await.map_err(|e| e.to_string())?;
            format!("paused node {}", node + 1)
        }
        Fault::IsolateOne => {
            isolate(&c, node);
            format!("isolated node {}", node + 1)
        }
        Fault::IsolateLeader => {
            let leader = c
                .leader_of(&cfg.leader_key)
                .await
                .ok_or("no node answers as the leader")?;
            isolate(&c, leader);
            format!("isolated node {} (leader)", leader + 1)
        }
        Fault::MajorityMinority => {
            let mut nodes: Vec<usize> = (0..n).collect();
            nodes.shuffle(&mut rand::rng());
            let minority = nodes.split_off(n - n / 2);
            c.proxies().partition(&[minority.clone(), nodes]);
            format!(
                "minority {:?}",
                minority.iter().map(|i| i + 1).collect::<Vec<_>>()
            )
        }
        Fault::Bridge => {
            let a = node;
            let b = (node + 1) % n;
            c.proxies().cut_pairs(&[(a, b)]);
            format!("cut {}–{} (others bridge)", a + 1, b + 1)
        }
        Fault::SkewWithinEpsilon => {
            c.skew(node, cfg.small_skew, ahead)
                .await
                .map_err(|e| e.to_string())?;
            format!(
                "node {} clock {}{:?}",
                node + 1,
                if ahead { "+" } else { "-" },
                cfg.small_skew
            )
        }
        Fault::IsolateClients => {
            c.cut_clients(node, true);
            format!("clients cut off from node {}", node + 1)
        }
        Fault::MergeSplit => {
            let (left_key, at) = cfg
                .merge_at
                .as_ref()
                .ok_or("the kv table is not split: nothing to merge")?;
            let (left, right) = c.merge_at(left_key, at).await.map_err(|e| e.to_string())?;
            format!(
                "merged tablet {right} into {left} (at {})",
                String::from_utf8_lossy(at)
            )
        }
        Fault::SkewBeyondEpsilon => {
            let leader = c
                .leader_of(&cfg.skew_key)
                .await
                .ok_or("no node answers as the leader")?;
            c.skew(leader, cfg.big_skew, true)
                .await
                .map_err(|e| e.to_string())?;
            format!("node {} (leader) clock +{:?}", leader + 1, cfg.big_skew)
        }
    })
}

async fn undo(
    cluster: &Mutex<ProcessCluster>,
    fault: Fault,
    cfg: &NemesisConfig,
) -> Result<(), String> {
    let mut c = cluster.lock().await;
    match fault {
        Fault::MergeSplit => {
            let (_, at) = cfg.merge_at.as_ref().ok_or("nothing was merged")?;
            c.split_at(at).await.map(drop).map_err(|e| e.to_string())
        }
        Fault::Kill | Fault::Pause | Fault::SkewWithinEpsilon | Fault::SkewBeyondEpsilon => {
            c.recover().await.map_err(|e| e.to_string())
        }
        Fault::IsolateClients => {
            for i in 0..c.len() {
                c.cut_clients(i, false);
            }
            Ok(())
        }
        Fault::IsolateOne | Fault::IsolateLeader | Fault::MajorityMinority | Fault::Bridge => {
            c.proxies().heal();
            Ok(())
        }
    }
}
