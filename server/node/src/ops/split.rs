//! Splitting tablets: by an administrator (`spanlite admin split`) and on
//! their own, by size (the auto-splitter).
//!
//! ```text
//!   every split_check_every, on each node, for each tablet it leads:
//!     applied index moved since last time? ──▶ measure [start, end) (one pass
//!       over the versions, on a blocking thread)  ──▶ sizes (metrics, console)
//!     bytes ≥ split_size and a middle key?  or  requests/s ≥ split_qps
//!       (the median of a sample of the keys they touched)? ──▶ split there:
//!       new id from the meta tablet's counter (a transaction)
//!       ──▶ Split through the tablet's Raft log (refused while anything in the
//!           moved half is prepared; locks there are aborted, see
//!           spanlite_txn::actions::split) ──▶ both descriptors into the meta tablet
//! ```
//!
//! A split point is always a whole user key, and a SQL row is one key (its
//! index entries are keys of their own, in another part of the key space,
//! and a transaction writes both atomically whichever tablets hold them), so
//! a split never cuts a row.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use spanlite_directory::{KeyRange, META_TABLET, TabletDescriptor, next_tablet_id_key};
use spanlite_gateway::TxnOptions;
use spanlite_replica::raft::NodeId;
use spanlite_storage::meta::TabletId;
use spanlite_txn::Mutation;

use crate::NodeContext;

/// When tablets split on their own (`--split-size`, `--split-qps`,
/// `--split-check-every`).
#[derive(Clone, Copy, Debug)]
pub struct SplitSettings {
    /// A tablet holding at least this many bytes (every version of every
    /// key, uncompressed) is split in two; 0: never.
    pub size: u64,
    /// A tablet served at least this many requests a second over a check
    /// interval is split where half of them fell on each side; 0: never.
    pub qps: u64,
    /// How often a node looks at the tablets it leads.
    pub check_every: Duration,
    /// Two neighbours this node leads that have both been small (together
    /// under half the split size) and cold (under a quarter of the split
    /// load, or 100 requests a second when load splits are off) for this
    /// long are merged; zero: never.
    pub merge_after: Duration,
}

impl Default for SplitSettings {
    fn default() -> Self {
        Self {
            size: 64 << 20,
            qps: 2500,
            check_every: Duration::from_secs(10),
            merge_after: Duration::from_secs(600),
        }
    }
}

/// The last measurement of a tablet this node leads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TabletSize {
    /// The applied index it was taken at.
    pub applied_index: u64,
    /// Bytes of every version (uncompressed).
    pub bytes: u64,
    /// Distinct keys.
    pub keys: u64,
    /// A key that halves the bytes.
    pub middle: Option<Vec<u8>>,
    /// When it was taken.
    pub taken: Option<std::time::Instant>,
}

/// A tablet is measured again at most every ten checks, and at most every
/// this long (a measurement reads every version of its range, while the
/// load check may run every second).
const REMEASURE_AFTER: Duration = Duration::from_secs(10);

/// The sizes a node measured, by tablet (read by metrics and the console).
#[derive(Debug, Default)]
pub struct TabletSizes {
    sizes: Mutex<BTreeMap<TabletId, TabletSize>>,
    /// Since when each tablet this node leads has been small and cold in
    /// every round (merge candidates).
    cold_since: Mutex<BTreeMap<TabletId, std::time::Instant>>,
}

impl TabletSizes {
    /// The last measurement of `tablet`.
    pub fn get(&self, tablet: TabletId) -> Option<TabletSize> {
        self.lock().get(&tablet).cloned()
    }

    /// Every tablet's last measurement.
    pub fn all(&self) -> BTreeMap<TabletId, TabletSize> {
        self.lock().clone()
    }

    fn set(&self, tablet: TabletId, size: TabletSize) {
        self.lock().insert(tablet, size);
    }

    fn forget(&self, tablet: TabletId) {
        self.lock().remove(&tablet);
    }

    /// Forgets tablets that are no longer here.
    fn retain(&self, here: &[TabletId]) {
        self.lock().retain(|t, _| here.contains(t));
        self.cold().retain(|t, _| here.contains(t));
    }

    /// Notes whether `tablet` was small and cold this round; returns since
    /// when it has been, without a break.
    fn note_cold(&self, tablet: TabletId, cold: bool) -> Option<std::time::Instant> {
        let mut since = self.cold();
        if cold {
            Some(*since.entry(tablet).or_insert_with(std::time::Instant::now))
        } else {
            since.remove(&tablet);
            None
        }
    }

    fn cold(&self) -> std::sync::MutexGuard<'_, BTreeMap<TabletId, std::time::Instant>> {
        self.cold_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TabletId, TabletSize>> {
        self.sizes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Measures every tablet this node leads whose state moved, and splits
/// those past `settings.size`; runs until the node stops.
pub(crate) async fn auto_split_loop(ctx: Arc<NodeContext>, settings: SplitSettings) {
    loop {
        tokio::time::sleep(settings.check_every).await;
        if let Err(e) = check_once(&ctx, settings).await {
            tracing::debug!(node = ctx.node_id, "split check: {e}");
        }
    }
}

/// One round of [`auto_split_loop`]; returns the tablets it split.
pub(crate) async fn check_once(
    ctx: &Arc<NodeContext>,
    settings: SplitSettings,
) -> Result<Vec<TabletId>, String> {
    let replicas = ctx.store.replicas();
    let here: Vec<TabletId> = replicas.iter().map(|r| r.tablet()).collect();
    ctx.sizes.retain(&here);
    let mut split = Vec::new();
    let mut led = Led::new();
    for replica in replicas {
        let tablet = replica.tablet();
        if !replica.is_serving() {
            continue;
        }
        let applied_index = replica.applied().index;
        let size = match ctx.sizes.get(tablet) {
            Some(s)
                if s.applied_index == applied_index
                    || s.taken.is_some_and(|t| {
                        t.elapsed() < (settings.check_every * 10).min(REMEASURE_AFTER)
                    }) =>
            {
                s
            }
            _ => {
                let range = replica.range();
                let mvcc = ctx.store.mvcc().clone();
                let measured = tokio::task::spawn_blocking(move || {
                    let end = (!range.end.is_empty()).then_some(range.end.as_slice());
                    mvcc.range_size(&range.start, end)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("measuring tablet {tablet}: {e}"))?;
                let size = TabletSize {
                    applied_index,
                    bytes: measured.bytes,
                    keys: measured.keys,
                    middle: measured.middle,
                    taken: Some(std::time::Instant::now()),
                };
                ctx.sizes.set(tablet, size.clone());
                size
            }
        };
        let load = ctx.store.metrics().take_load(tablet);
        if tablet == META_TABLET {
            continue;
        }
        let range = replica.range();
        let inside = |k: &Vec<u8>| range.contains(k) && *k > range.start;
        let by_size = settings.size > 0 && size.bytes >= settings.size;
        let qps = load.requests as f64 / settings.check_every.as_secs_f64().max(1e-3);
        let by_load = settings.qps > 0 && qps >= settings.qps as f64;
        let cold_qps = if settings.qps > 0 {
            settings.qps as f64 / 4.0
        } else {
            100.0
        };
        let small = size.bytes < merge_limit(settings);
        let since = ctx.sizes.note_cold(
            tablet,
            small && qps < cold_qps && replica.applied().frozen_into().is_none(),
        );
        led.insert(
            range.start.clone(),
            (tablet, range.end.clone(), size.bytes, since),
        );
        let at = if by_size {
            size.middle.filter(inside)
        } else if by_load {
            load_middle(load.keys).filter(inside)
        } else {
            None
        };
        let Some(at) = at else { continue };
        let why = if by_size { "size" } else { "load" };
        match split_tablet(ctx, tablet, at).await {
            Ok((left, right)) => {
                // Its range shrank: measure it afresh next round.
                ctx.sizes.forget(tablet);
                tracing::info!(
                    node = ctx.node_id,
                    tablet,
                    right = right.id,
                    bytes = size.bytes,
                    qps,
                    "split by {why}"
                );
                split.push(left.id);
            }
            // Prepared transactions in the way, a membership change, lost
            // leadership: the next round tries again.
            Err(e) => tracing::info!(node = ctx.node_id, tablet, "split by {why} put off: {e}"),
        }
    }
    // A merge left half done (its node crashed or lost leadership) is
    // finished whether or not merges start on their own.
    crate::ops::merge::finish_frozen(ctx).await;
    if !settings.merge_after.is_zero() {
        merge_cold_neighbours(ctx, settings, &led).await;
    }
    Ok(split)
}

/// The tablets led here in a round, by first key: (tablet, end, bytes,
/// small and cold since).
type Led = BTreeMap<Vec<u8>, (TabletId, Vec<u8>, u64, Option<std::time::Instant>)>;

/// Two neighbours together under this many bytes may merge (half the split
/// size, so the merged tablet does not split again at once).
fn merge_limit(settings: SplitSettings) -> u64 {
    let size = if settings.size > 0 {
        settings.size
    } else {
        SplitSettings::default().size
    };
    size / 2
}

/// Merges the first pair of neighbours led here that are small together,
/// the left one small and cold for `merge_after` and the right one for a
/// round at least (one merge a round). A right neighbour led elsewhere is
/// asked over first.
async fn merge_cold_neighbours(ctx: &Arc<NodeContext>, settings: SplitSettings, led: &Led) {
    let cold_for = |since: &Option<std::time::Instant>, long: Duration| {
        since.is_some_and(|t| t.elapsed() >= long)
    };
    for (left, end, bytes, since) in led.values() {
        if end.is_empty() || !cold_for(since, settings.merge_after) {
            continue;
        }
        let Some((right, _, right_bytes, right_since)) = led.get(end) else {
            // The right neighbour is led elsewhere: ask for it. It must then
            // stay cold here for a round (its history was its old leader's).
            if let Some(r) = ctx
                .store
                .replicas()
                .into_iter()
                .find(|r| r.range().start == *end && r.applied().frozen_into().is_none())
                && ctx
                    .store
                    .replica(*left)
                    .is_some_and(|l| l.voters() == r.voters())
                && let Err(e) = crate::ops::merge::ask_leadership(ctx, &r).await
            {
                tracing::info!(node = ctx.node_id, left, "merge: {e}");
            }
            continue;
        };
        if !cold_for(right_since, settings.check_every)
            || bytes + right_bytes >= merge_limit(settings)
        {
            continue;
        }
        match crate::ops::merge::merge_tablets(ctx, *left).await {
            Ok((merged, right)) => {
                ctx.sizes.forget(merged.id);
                ctx.sizes.forget(right);
                ctx.sizes.note_cold(merged.id, false);
                tracing::info!(
                    node = ctx.node_id,
                    left,
                    right,
                    bytes = bytes + right_bytes,
                    "merged small, cold neighbours"
                );
            }
            Err(e) => {
                tracing::info!(node = ctx.node_id, left, right, "merge put off: {e}")
            }
        }
        return;
    }
}

/// The key that halves a sample of requests' keys: the median, if the
/// sample has at least two distinct keys (one hot key cannot be split).
fn load_middle(mut keys: Vec<Vec<u8>>) -> Option<Vec<u8>> {
    keys.sort();
    let middle = keys.get(keys.len() / 2)?.clone();
    (keys.first() != Some(&middle)).then_some(middle)
}

/// Splits `tablet` at `at` on this node, which must be its leader, and
/// records both descriptors in the meta tablet. The new (right) tablet's id
/// comes from the meta tablet's counter.
pub async fn split_tablet(
    ctx: &NodeContext,
    tablet: TabletId,
    at: Vec<u8>,
) -> Result<(TabletDescriptor, TabletDescriptor), String> {
    if tablet == META_TABLET {
        return Err("the meta tablet is not split".to_string());
    }
    let replica = leader_replica(ctx, tablet)?;
    let range = replica.range();
    if !range.contains(&at) || at == range.start {
        return Err(format!(
            "the split key is not inside tablet {tablet}'s range (past its first key)"
        ));
    }
    ctx.gateway.refresh().await.map_err(|e| e.to_string())?;
    let cache = ctx.gateway.cache();
    let old = cache
        .tablet(tablet)
        .ok_or_else(|| format!("tablet {tablet} is not in the directory"))?;
    let right_id = allocate_tablet_id(ctx).await?;
    let right_range = replica
        .split(at.clone(), right_id, old.generation + 1)
        .await
        .map_err(|e| e.to_string())?;
    let voters: Vec<NodeId> = replica.voters().into_iter().collect();
    let left = TabletDescriptor {
        id: tablet,
        range: KeyRange::new(old.range.start.clone(), at),
        replicas: voters.clone(),
        generation: old.generation + 1,
    };
    let right = TabletDescriptor {
        id: right_id,
        range: right_range,
        replicas: voters,
        generation: 1,
    };
    for d in [&right, &left] {
        let value = spanlite_storage::meta::encode_value(d, "tablet descriptor")
            .map_err(|e| e.to_string())?;
        ctx.gateway
            .write(Mutation::Put {
                key: d.key(),
                value,
            })
            .await
            .map_err(|e| format!("split applied, but recording tablet {} failed: {e}", d.id))?;
        cache.insert(d.clone());
    }
    tracing::info!(tablet, right = right.id, "split");
    Ok((left, right))
}

/// A tablet id never given out before: the meta tablet's counter, raised
/// past every id this node knows of, taken and bumped in one transaction
/// (two leaders splitting at once serialize on it).
async fn allocate_tablet_id(ctx: &NodeContext) -> Result<TabletId, String> {
    let known = ctx
        .gateway
        .cache()
        .tablets()
        .iter()
        .map(|d| d.id)
        .chain(ctx.store.replicas().iter().map(|r| r.tablet()))
        .max()
        .unwrap_or(META_TABLET);
    let (id, _) = ctx
        .gateway
        .run_txn(&TxnOptions::default(), move |txn| {
            Box::pin(async move {
                let key = next_tablet_id_key();
                let stored = match txn.get_for_update(&key).await? {
                    Some(v) => u64::from_be_bytes(v.as_slice().try_into().map_err(|_| {
                        spanlite_gateway::GatewayError::Invalid(format!(
                            "the tablet id counter holds {} bytes, not 8",
                            v.len()
                        ))
                    })?),
                    None => 0,
                };
                let id = stored.max(known + 1);
                txn.put(key, (id + 1).to_be_bytes().to_vec())?;
                Ok(id)
            })
        })
        .await
        .map_err(|e| format!("allocating a tablet id: {e}"))?;
    Ok(id)
}

/// This node's replica of `tablet`, which must be serving as leader.
pub(crate) fn leader_replica(
    ctx: &NodeContext,
    tablet: TabletId,
) -> Result<Arc<spanlite_replica::tablet::Replica>, String> {
    let replica = ctx
        .store
        .replica(tablet)
        .ok_or_else(|| format!("node {} hosts no replica of tablet {tablet}", ctx.node_id))?;
    if !replica.is_serving() {
        return Err(format!(
            "node {} is not the leader of tablet {tablet}; ask its leader (node {:?})",
            ctx.node_id,
            replica.lease().leader
        ));
    }
    Ok(replica)
}
