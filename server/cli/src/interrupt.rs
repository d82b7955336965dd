//! SIGINT and SIGTERM while a command runs nodes inside this process
//! (`spanlite workload`, `spanlite sqllogictest`, `spanlite demo`), and
//! SIGHUP for the demo (its terminal closed). The batch commands leave
//! SIGHUP alone, so that `nohup` (which ignores it) still works for them.
//!
//! Such a command keeps its cluster's data in a temporary directory that
//! [`EmbeddedCluster::shutdown`](spanlite_node::embedded::EmbeddedCluster::shutdown)
//! removes. Killed by a signal's default action, the process would leave
//! the directory (and everything RocksDB and the WALs wrote) behind. With
//! [`install`]ed handlers, a signal only marks the process interrupted:
//! the work under [`interruptible`] stops, the command shuts its cluster
//! down as on any other error and exits with 128 + the signal's number. A
//! second signal while that runs exits at once.
//!
//! The handlers are installed before the command starts anything, so a
//! signal that arrives while a cluster is still starting is kept and takes
//! effect as soon as the work begins.
//!
//! While the SQL shell waits for a statement's answer it [`claim_sigint`]s:
//! Ctrl-C then cancels that statement (as in psql) instead of ending the
//! command. (At the shell's prompt the terminal is in raw mode and Ctrl-C
//! is a key rustyline reads: it drops the line being typed.)

use std::future::Future;
use std::sync::{Mutex, OnceLock, PoisonError};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

/// The signal that interrupted this process, once one did.
static STATE: OnceLock<watch::Receiver<Option<i32>>> = OnceLock::new();

/// Where SIGINT goes instead, while a [`SigintClaim`] lives.
static CLAIM: Mutex<Option<mpsc::UnboundedSender<()>>> = Mutex::new(None);

const SIGINT: i32 = 2;

/// Handles SIGINT and SIGTERM, and SIGHUP if `hangup`, from now on
/// (inside a tokio runtime). Calling it again changes nothing.
pub fn install(hangup: bool) -> Result<(), String> {
    if STATE.get().is_some() {
        return Ok(());
    }
    let mut streams = Vec::new();
    let mut kinds = vec![
        (SignalKind::interrupt(), SIGINT),
        (SignalKind::terminate(), 15),
    ];
    if hangup {
        kinds.push((SignalKind::hangup(), 1));
    }
    for (kind, number) in kinds {
        let stream = signal(kind).map_err(|e| format!("cannot handle signal {number}: {e}"))?;
        streams.push((stream, number));
    }
    let (tx, rx) = watch::channel(None);
    if STATE.set(rx).is_err() {
        return Ok(());
    }
    for (mut stream, number) in streams {
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if number == SIGINT
                    && CLAIM
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_ref()
                        .is_some_and(|claim| claim.send(()).is_ok())
                {
                    continue;
                }
                let first = tx.send_if_modified(|state| {
                    let first = state.is_none();
                    if first {
                        *state = Some(number);
                    }
                    first
                });
                if !first {
                    // A second signal while the first one's shutdown runs
                    // (it may hang): stop now, the directory left behind.
                    eprintln!("spanlite: signal {number} again: exiting without cleaning up");
                    std::process::exit(128 + number);
                }
            }
        });
    }
    Ok(())
}

/// The number of the signal that interrupted this process, if one did.
pub fn signalled() -> Option<i32> {
    STATE.get().and_then(|rx| *rx.borrow())
}

/// `work`, or an error as soon as a handled signal arrives (at once if
/// one already did); `work` is dropped then, so the caller must shut its
/// cluster down after this returns, as after any error. Without
/// [`install`] (in tests), just `work`.
pub async fn interruptible<T>(work: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    let Some(rx) = STATE.get() else {
        return work.await;
    };
    let mut rx = rx.clone();
    tokio::select! {
        biased;
        signalled = rx.wait_for(Option::is_some) => {
            let number = signalled.ok().and_then(|state| *state);
            Err(format!(
                "interrupted by signal {}",
                number.map_or_else(|| "?".to_string(), |n| n.to_string())
            ))
        }
        outcome = work => outcome,
    }
}

/// SIGINTs taken from [`install`]'s handling while this lives (the
/// shell's running statement: Ctrl-C cancels it). One claim at a time: a
/// new one replaces the last.
#[derive(Debug)]
pub struct SigintClaim {
    sender: mpsc::UnboundedSender<()>,
    presses: mpsc::UnboundedReceiver<()>,
}

/// Takes SIGINT until the claim is dropped; `None` without [`install`]ed
/// handlers (SIGINT then has its default action).
pub fn claim_sigint() -> Option<SigintClaim> {
    STATE.get()?;
    let (sender, presses) = mpsc::unbounded_channel();
    *CLAIM.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender.clone());
    Some(SigintClaim { sender, presses })
}

impl SigintClaim {
    /// The next SIGINT.
    pub async fn next(&mut self) {
        // The claim holds a sender: the channel never closes under it.
        let _ = self.presses.recv().await;
    }
}

impl Drop for SigintClaim {
    fn drop(&mut self) {
        let mut claim = CLAIM.lock().unwrap_or_else(PoisonError::into_inner);
        if claim.as_ref().is_some_and(|c| c.same_channel(&self.sender)) {
            *claim = None;
        }
    }
}
