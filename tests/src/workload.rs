//! The Jepsen-style workloads' clients: **bank** (transfers between
//! accounts and snapshot reads of every balance) and **list-append**
//! (transactions of appends to and reads of lists), each operation
//! recorded with its invocation and completion in a [`Recorder`].
//!
//! How an operation's end is recorded:
//! - `Ok`: the commit (or the read-only read) succeeded;
//! - `Fail`: it certainly did not take effect — an error before COMMIT was
//!   sent, or COMMIT refused with 40001 (an abort);
//! - `Info`: it may or may not have — the connection broke or the time
//!   limit passed while COMMIT was in flight, or COMMIT failed otherwise.
//!   The client then continues as a new process (Jepsen's rule).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use spanlite_client::{Client, Concurrency, Error, TransactionMode, Value};
use tokio::sync::watch;

use crate::history::{MicroOp, OpValue, Outcome, Recorder};

/// The workloads' shape.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Bank accounts and each one's opening balance.
    pub accounts: u64,
    pub initial_balance: i64,
    /// List-append keys.
    pub keys: u64,
    /// Time limit of one operation.
    pub op_timeout: Duration,
    /// List-append: share of transactions that only read (run read-only,
    /// at a snapshot).
    pub read_only_share: f64,
    /// Concurrency control of the read-write transactions.
    pub concurrency: Concurrency,
    /// The cluster's certs dir: clients connect over TLS as root.
    pub certs: Option<std::path::PathBuf>,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            accounts: 8,
            initial_balance: 100,
            keys: 8,
            op_timeout: Duration::from_secs(5),
            read_only_share: 0.3,
            concurrency: Concurrency::TwoPhaseLocking,
            certs: None,
        }
    }
}

/// Appends whose UPDATE found no row (each list exists from the start,
/// so each is a wrong read), across the process.
pub static MISSING_ROWS: AtomicU64 = AtomicU64::new(0);

/// Table names.
pub const BANK_TABLE: &str = "jepsen_bank";
pub const LIST_TABLE: &str = "jepsen_lists";

/// Creates and fills the tables (retried until the cluster serves SQL).
pub async fn setup(
    client: &Client,
    cfg: &WorkloadConfig,
    deadline: Duration,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let statements = [
        format!(
            "CREATE TABLE IF NOT EXISTS {BANK_TABLE} (id INT PRIMARY KEY, balance INT NOT NULL)"
        ),
        format!(
            "INSERT INTO {BANK_TABLE} VALUES {} ON CONFLICT DO NOTHING",
            (0..cfg.accounts)
                .map(|i| format!("({i}, {})", cfg.initial_balance))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("CREATE TABLE IF NOT EXISTS {LIST_TABLE} (k INT PRIMARY KEY, v TEXT NOT NULL)"),
        format!(
            "INSERT INTO {LIST_TABLE} VALUES {} ON CONFLICT DO NOTHING",
            (0..cfg.keys)
                .map(|k| format!("({k}, '')"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    for s in &statements {
        loop {
            match client.execute(s, &[]).await {
                Ok(_) => break,
                Err(e) if started.elapsed() > deadline => return Err(format!("{s}: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(())
}

/// Hands out process ids (a new one after every `Info`).
#[derive(Debug, Default)]
pub struct Processes(AtomicU64);

impl Processes {
    /// A fresh process id.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Where an operation failed.
enum Failure {
    /// Before COMMIT was sent (or COMMIT answered 40001): no effect.
    Definite,
    /// COMMIT in flight when the error came: unknown.
    Unknown,
}

fn at_commit(e: &Error) -> Failure {
    if e.sqlstate() == Some(spanlite_sqlstate::SERIALIZATION_FAILURE) {
        Failure::Definite
    } else {
        Failure::Unknown
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// One transfer; `Ok(false)` when the source lacked the money (rolled back).
async fn transfer(
    client: &Client,
    concurrency: Concurrency,
    from: u64,
    to: u64,
    amount: i64,
) -> Result<bool, Failure> {
    let mut tx = client
        .begin_with(TransactionMode::ReadWriteWith(concurrency))
        .await
        .map_err(|_| Failure::Definite)?;
    let read = tx
        .query(
            &format!("SELECT balance FROM {BANK_TABLE} WHERE id = $1"),
            &[Value::Int(from as i64)],
        )
        .await
        .map_err(|_| Failure::Definite)?;
    let balance = read
        .rows
        .first()
        .and_then(|r| r.values().first().and_then(int))
        .ok_or(Failure::Definite)?;
    if balance < amount {
        let _ = tx.rollback().await;
        return Ok(false);
    }
    for (id, delta) in [(from, -amount), (to, amount)] {
        let n = tx
            .execute(
                &format!("UPDATE {BANK_TABLE} SET balance = balance + $1 WHERE id = $2"),
                &[Value::Int(delta), Value::Int(id as i64)],
            )
            .await
            .map_err(|_| Failure::Definite)?;
        if n != 1 {
            let _ = tx.rollback().await;
            MISSING_ROWS.fetch_add(1, Ordering::Relaxed);
            return Err(Failure::Definite);
        }
    }
    tx.commit().await.map_err(|e| at_commit(&e))?;
    Ok(true)
}

/// Every balance, at one snapshot.
pub async fn read_balances(client: &Client) -> Result<BTreeMap<u64, i64>, String> {
    let mut tx = client
        .begin_with(TransactionMode::ReadOnly)
        .await
        .map_err(|e| e.to_string())?;
    let r = tx
        .query(&format!("SELECT id, balance FROM {BANK_TABLE}"), &[])
        .await
        .map_err(|e| e.to_string())?;
    let _ = tx.commit().await;
    r.rows
        .iter()
        .map(|row| {
            match (
                row.values().first().and_then(int),
                row.values().get(1).and_then(int),
            ) {
                (Some(id), Some(b)) => Ok((id as u64, b)),
                _ => Err("a balance row of the wrong shape".to_string()),
            }
        })
        .collect()
}

/// Runs bank operations until `stop`: transfers (80 %) and reads.
pub async fn bank_client(
    client: Client,
    cfg: WorkloadConfig,
    recorder: Recorder,
    processes: Arc<Processes>,
    mut stop: watch::Receiver<bool>,
) {
    let mut process = processes.next();
    while !*stop.borrow_and_update() {
        let (from, to, amount, is_read) = {
            let mut rng = rand::rng();
            let from = rng.random_range(0..cfg.accounts);
            let to = (from + rng.random_range(1..cfg.accounts)) % cfg.accounts;
            (from, to, rng.random_range(1..=5), rng.random_bool(0.2))
        };
        if is_read {
            let call = recorder.invoke(
                process,
                OpValue::BankRead {
                    balances: BTreeMap::new(),
                },
            );
            match tokio::time::timeout(cfg.op_timeout, read_balances(&client)).await {
                Ok(Ok(balances)) => {
                    recorder.complete(call, Outcome::Ok, OpValue::BankRead { balances });
                }
                // A failed read changed nothing.
                _ => {
                    recorder.complete(
                        call,
                        Outcome::Fail,
                        OpValue::BankRead {
                            balances: BTreeMap::new(),
                        },
                    );
                }
            }
            continue;
        }
        let value = OpValue::Transfer { from, to, amount };
        let call = recorder.invoke(process, value.clone());
        let outcome = match tokio::time::timeout(
            cfg.op_timeout,
            transfer(&client, cfg.concurrency, from, to, amount),
        )
        .await
        {
            Ok(Ok(true)) => Outcome::Ok,
            Ok(Ok(false)) | Ok(Err(Failure::Definite)) => Outcome::Fail,
            Ok(Err(Failure::Unknown)) | Err(_) => Outcome::Info,
        };
        recorder.complete(call, outcome, value);
        if outcome == Outcome::Info {
            process = processes.next();
        }
    }
}

fn parse_list(v: &str) -> Vec<u64> {
    v.split(',').filter_map(|e| e.parse().ok()).collect()
}

/// Runs one list-append transaction; returns the micro-ops with reads
/// filled in.
async fn list_txn(
    client: &Client,
    ops: &[MicroOp],
    read_only: bool,
    concurrency: Concurrency,
) -> Result<Vec<MicroOp>, Failure> {
    let mode = if read_only {
        TransactionMode::ReadOnly
    } else {
        TransactionMode::ReadWriteWith(concurrency)
    };
    let mut tx = client
        .begin_with(mode)
        .await
        .map_err(|_| Failure::Definite)?;
    let mut done = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            MicroOp::Read { key, .. } => {
                let r = tx
                    .query(
                        &format!("SELECT v FROM {LIST_TABLE} WHERE k = $1"),
                        &[Value::Int(*key as i64)],
                    )
                    .await
                    .map_err(|_| Failure::Definite)?;
                let list = match r.rows.first().and_then(|row| row.values().first()) {
                    Some(Value::Text(s)) => parse_list(s),
                    _ => Vec::new(),
                };
                done.push(MicroOp::Read {
                    key: *key,
                    list: Some(list),
                });
            }
            MicroOp::Append { key, value } => {
                let n = tx
                    .execute(
                        &format!("UPDATE {LIST_TABLE} SET v = v || $1 WHERE k = $2"),
                        &[Value::Text(format!(",{value}")), Value::Int(*key as i64)],
                    )
                    .await
                    .map_err(|_| Failure::Definite)?;
                if n != 1 {
                    // Every list exists from the start: a read that did
                    // not find one is wrong. Abort (nothing is applied) and
                    // say so; the run reports these.
                    let _ = tx.rollback().await;
                    MISSING_ROWS.fetch_add(1, Ordering::Relaxed);
                    return Err(Failure::Definite);
                }
                done.push(op.clone());
            }
        }
    }
    if read_only {
        // Nothing to commit: the reads were at one snapshot.
        let _ = tx.commit().await;
        return Ok(done);
    }
    tx.commit().await.map_err(|e| at_commit(&e))?;
    Ok(done)
}

/// A random list-append transaction: 1–4 micro-ops on keys `base..base +
/// cfg.keys`, reads or (unless it is read-only) appends of fresh elements
/// from `next`; and whether it is read-only.
fn random_txn(
    rng: &mut impl Rng,
    cfg: &WorkloadConfig,
    base: u64,
    next: &AtomicU64,
) -> (Vec<MicroOp>, bool) {
    let read_only = rng.random_bool(cfg.read_only_share);
    let n = rng.random_range(1..=4);
    let ops = (0..n)
        .map(|_| {
            let key = base + rng.random_range(0..cfg.keys);
            if read_only || rng.random_bool(0.5) {
                MicroOp::Read { key, list: None }
            } else {
                MicroOp::Append {
                    key,
                    value: next.fetch_add(1, Ordering::Relaxed),
                }
            }
        })
        .collect();
    (ops, read_only)
}

/// Runs list-append transactions until `stop`. `next` hands out elements
/// (unique across the run, so unique per key).
pub async fn list_append_client(
    client: Client,
    cfg: WorkloadConfig,
    recorder: Recorder,
    processes: Arc<Processes>,
    next: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut process = processes.next();
    while !*stop.borrow_and_update() {
        let (ops, read_only) = {
            let mut rng = rand::rng();
            random_txn(&mut rng, &cfg, 0, &next)
        };
        let call = recorder.invoke(process, OpValue::Txn(ops.clone()));
        let (outcome, value) = match tokio::time::timeout(
            cfg.op_timeout,
            list_txn(&client, &ops, read_only, cfg.concurrency),
        )
        .await
        {
            Ok(Ok(done)) => (Outcome::Ok, OpValue::Txn(done)),
            Ok(Err(Failure::Definite)) => (Outcome::Fail, OpValue::Txn(ops)),
            // A read-only transaction that did not finish changed nothing.
            Ok(Err(Failure::Unknown)) | Err(_) if read_only => (Outcome::Fail, OpValue::Txn(ops)),
            Ok(Err(Failure::Unknown)) | Err(_) => (Outcome::Info, OpValue::Txn(ops)),
        };
        recorder.complete(call, outcome, value);
        if outcome == Outcome::Info {
            process = processes.next();
        }
    }
}

/// Key number `k` of the catalog-free list-append workload, as the KV
/// service stores it (zero-padded: keys sort by number).
pub fn kv_list_key(k: u64) -> Vec<u8> {
    format!("jl/{k:06}").into_bytes()
}

/// The catalog-free list-append workload's keys in the history start here
/// (the SQL one's are below), so both can share one checker.
pub const KV_KEY_BASE: u64 = 1_000;

/// Runs one list-append transaction through a node's KV service
/// (`Transact`: it touches only its own keys, never the SQL catalog).
async fn kv_list_txn(
    client: &mut spanlite_proto::kv::kv_service_client::KvServiceClient<tonic::transport::Channel>,
    ops: &[MicroOp],
    read_only: bool,
    concurrency: Concurrency,
) -> Result<Vec<MicroOp>, Failure> {
    use spanlite_proto::common::ConcurrencyMode;
    use spanlite_proto::kv::{KvOp, TransactRequest, kv_op};
    let wire: Vec<KvOp> = ops
        .iter()
        .map(|op| match op {
            MicroOp::Read { key, .. } => KvOp {
                key: kv_list_key(key - KV_KEY_BASE),
                op: Some(kv_op::Op::Read(true)),
            },
            MicroOp::Append { key, value } => KvOp {
                key: kv_list_key(key - KV_KEY_BASE),
                op: Some(kv_op::Op::Append(*value)),
            },
        })
        .collect();
    let mode = match concurrency {
        Concurrency::TwoPhaseLocking => ConcurrencyMode::ConcurrencyMode2pl,
        Concurrency::Optimistic => ConcurrencyMode::Occ,
        Concurrency::SerializableSnapshot => ConcurrencyMode::Ssi,
        Concurrency::Snapshot => ConcurrencyMode::Si,
        Concurrency::ReadCommitted => ConcurrencyMode::ReadCommitted,
    };
    let resp = client
        .transact(TransactRequest {
            ops: wire,
            read_only,
            mode: mode as i32,
        })
        .await;
    let resp = match resp {
        Ok(r) => r.into_inner(),
        // Aborted until the gateway gave up, or refused before it began:
        // nothing took effect.
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::Aborted | tonic::Code::InvalidArgument
            ) =>
        {
            return Err(Failure::Definite);
        }
        // Anything else (no answer, unknown outcome, a cut connection)
        // may have committed.
        Err(_) => return Err(Failure::Unknown),
    };
    let mut reads = resp.reads.into_iter();
    let mut done = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            MicroOp::Read { key, .. } => {
                let bytes = reads.next().ok_or(Failure::Unknown)?;
                done.push(MicroOp::Read {
                    key: *key,
                    list: Some(parse_list(&String::from_utf8_lossy(&bytes))),
                });
            }
            append => done.push(append.clone()),
        }
    }
    Ok(done)
}

/// Runs catalog-free list-append transactions (see [`kv_list_txn`]) on
/// keys `KV_KEY_BASE..KV_KEY_BASE + cfg.keys` through `addrs` (the first
/// one first, the next after a failure) until `stop`.
pub async fn kv_list_append_client(
    addrs: Vec<String>,
    cfg: WorkloadConfig,
    recorder: Recorder,
    processes: Arc<Processes>,
    next: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    use spanlite_proto::kv::kv_service_client::KvServiceClient;
    let clients: Vec<_> = addrs
        .iter()
        .filter_map(|a| {
            let ch = crate::cluster::endpoint(a, cfg.certs.as_deref())
                .ok()?
                .connect_timeout(Duration::from_secs(1))
                .connect_lazy();
            Some(KvServiceClient::new(ch))
        })
        .collect();
    if clients.is_empty() {
        return;
    }
    let mut which = 0usize;
    let mut process = processes.next();
    while !*stop.borrow_and_update() {
        let (ops, read_only) = {
            let mut rng = rand::rng();
            random_txn(&mut rng, &cfg, KV_KEY_BASE, &next)
        };
        let mut client = clients[which % clients.len()].clone();
        let call = recorder.invoke(process, OpValue::Txn(ops.clone()));
        let (outcome, value) = match tokio::time::timeout(
            cfg.op_timeout,
            kv_list_txn(&mut client, &ops, read_only, cfg.concurrency),
        )
        .await
        {
            Ok(Ok(done)) => (Outcome::Ok, OpValue::Txn(done)),
            Ok(Err(Failure::Definite)) => (Outcome::Fail, OpValue::Txn(ops)),
            Ok(Err(Failure::Unknown)) | Err(_) if read_only => (Outcome::Fail, OpValue::Txn(ops)),
            Ok(Err(Failure::Unknown)) | Err(_) => (Outcome::Info, OpValue::Txn(ops)),
        };
        recorder.complete(call, outcome, value);
        if outcome != Outcome::Ok {
            // Try the next node (a dead or cut-off gateway).
            which += 1;
        }
        if outcome == Outcome::Info {
            process = processes.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_from_their_stored_text() {
        assert_eq!(parse_list(""), Vec::<u64>::new());
        assert_eq!(parse_list(",1,22,3"), vec![1, 22, 3]);
    }
}
