//! MVCC reads: point reads, scans in both directions, the latest version.

use std::ops::Bound;

use spanlite_truetime::Timestamp;

use super::keys::{
    decode_version_key, encode_intent_key, encode_version_key, last_version_key, version_key_ts,
};
use super::{BlockingIntent, Intent, Mvcc, TxnId};
use crate::engine::{Cf, Direction, ScanRange};
use crate::error::{Result, StorageError};

/// What a read found: the data, or the intents the caller must wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOutcome<T> {
    /// No intent stood in the way; this is the snapshot at the read timestamp.
    Ready(T),
    /// Intents with `prepare_ts ≤ ts` cover keys of the read. Their owners may
    /// still commit at or below the read timestamp: wait for them to resolve
    /// (or ask their coordinators), then read again.
    Blocked(Vec<BlockingIntent>),
}

impl<T> ReadOutcome<T> {
    /// The data, or `None` when blocked.
    pub fn ready(self) -> Option<T> {
        match self {
            ReadOutcome::Ready(t) => Some(t),
            ReadOutcome::Blocked(_) => None,
        }
    }
}

/// A user key and its value, as returned by scans.
pub type Row = (Vec<u8>, Vec<u8>);

/// One committed version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// Commit timestamp.
    pub ts: Timestamp,
    /// The value, or `None` for a delete (tombstone).
    pub value: Option<Vec<u8>>,
}

/// Stored form of a version: a tag byte, then the value for a put.
pub(super) enum VersionValue {}

const TAG_TOMBSTONE: u8 = 0;
const TAG_PUT: u8 = 1;

impl VersionValue {
    pub(super) fn encode_put(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(value.len() + 1);
        out.push(TAG_PUT);
        out.extend_from_slice(value);
        out
    }

    pub(super) fn encode_tombstone() -> Vec<u8> {
        vec![TAG_TOMBSTONE]
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        match bytes.split_first() {
            Some((&TAG_PUT, value)) => Ok(Some(value.to_vec())),
            Some((&TAG_TOMBSTONE, [])) => Ok(None),
            other => Err(StorageError::Corrupt {
                what: "version value",
                cf: Cf::Versions.name(),
                reason: format!(
                    "bad tag or length: {:?}",
                    other.map(|(t, rest)| (*t, rest.len()))
                ),
            }),
        }
    }
}

/// The `versions`-family range holding every version of user keys in `range`.
pub(super) fn version_range(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> ScanRange {
    let start = match start {
        Bound::Included(k) => Bound::Included(encode_intent_key(k)),
        Bound::Excluded(k) => Bound::Excluded(last_version_key(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match end {
        Bound::Included(k) => Bound::Included(last_version_key(k)),
        Bound::Excluded(k) => Bound::Excluded(encode_intent_key(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    ScanRange::new(start, end)
}

fn intent_range(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> ScanRange {
    let enc = |b: &Bound<Vec<u8>>| match b {
        Bound::Included(k) => Bound::Included(encode_intent_key(k)),
        Bound::Excluded(k) => Bound::Excluded(encode_intent_key(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    ScanRange::new(enc(start), enc(end))
}

impl Mvcc {
    /// The value of `key` at `ts` (`None` if absent or deleted), or the intent
    /// blocking it.
    pub fn get(&self, key: &[u8], ts: Timestamp) -> Result<ReadOutcome<Option<Vec<u8>>>> {
        self.check_readable(ts)?;
        // INVARIANT: intents before versions (see the module docs).
        if let Some(intent) = self.intent(key)?
            && intent.prepare_ts <= ts
        {
            return Ok(ReadOutcome::Blocked(vec![BlockingIntent {
                key: key.to_vec(),
                txn: intent.txn,
                prepare_ts: intent.prepare_ts,
            }]));
        }
        Ok(ReadOutcome::Ready(
            self.version_at(key, ts)?.and_then(|v| v.value),
        ))
    }

    /// The newest version of `key` with `commit_ts ≤ ts`, tombstones included.
    /// Ignores intents.
    pub fn version_at(&self, key: &[u8], ts: Timestamp) -> Result<Option<Version>> {
        // The newest version first: a strong read almost always wants it,
        // and the engine may have it cached (no seek).
        match self.engine().first_version(&encode_intent_key(key))? {
            None => return Ok(None),
            Some((k, v)) => {
                let newest = version_key_ts(&k)?;
                if newest <= ts {
                    return Ok(Some(Version {
                        ts: newest,
                        value: VersionValue::decode(&v)?,
                    }));
                }
            }
        }
        let range = ScanRange {
            start: Bound::Included(encode_version_key(key, ts)),
            end: Bound::Included(last_version_key(key)),
            single_prefix: true,
        };
        let mut iter = self
            .engine()
            .scan(Cf::Versions, range, Direction::Forward)?;
        match iter.next() {
            Some(item) => {
                let (k, v) = item?;
                let (_, ts) = decode_version_key(&k)?;
                Ok(Some(Version {
                    ts,
                    value: VersionValue::decode(&v)?,
                }))
            }
            None => Ok(None),
        }
    }

    /// The newest committed version of `key` at any timestamp (tombstones
    /// included), e.g. for optimistic validation and timestamp rules.
    pub fn latest_version(&self, key: &[u8]) -> Result<Option<Version>> {
        self.version_at(key, Timestamp::MAX)
    }

    /// Key-value pairs of user keys in `[start, end]` bounds visible at `ts`,
    /// in `direction`, at most `limit` of them (`None` = no limit), or the
    /// intents blocking the part of the range the scan covered.
    pub fn scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        ts: Timestamp,
        direction: Direction,
        limit: Option<usize>,
    ) -> Result<ReadOutcome<Vec<Row>>> {
        self.check_readable(ts)?;
        // INVARIANT: intents before versions (see the module docs).
        let blocking = self.blocking_intents(&start, &end, ts)?;
        let limit = limit.unwrap_or(usize::MAX);
        let mut rows = Vec::new();
        if limit > 0 {
            match direction {
                Direction::Forward => self.scan_forward(&start, &end, ts, limit, &mut rows)?,
                Direction::Reverse => self.scan_reverse(&start, &end, ts, limit, &mut rows)?,
            }
        }
        if blocking.is_empty() {
            return Ok(ReadOutcome::Ready(rows));
        }
        // With a limit, only intents up to the last row returned matter.
        let blocking: Vec<_> = match (rows.len() == limit, rows.last()) {
            (true, Some((last, _))) => blocking
                .into_iter()
                .filter(|b| match direction {
                    Direction::Forward => b.key <= *last,
                    Direction::Reverse => b.key >= *last,
                })
                .collect(),
            _ => blocking,
        };
        if blocking.is_empty() {
            Ok(ReadOutcome::Ready(rows))
        } else {
            Ok(ReadOutcome::Blocked(blocking))
        }
    }

    /// Every intent in the user-key range with `prepare_ts ≤ ts`.
    fn blocking_intents(
        &self,
        start: &Bound<Vec<u8>>,
        end: &Bound<Vec<u8>>,
        ts: Timestamp,
    ) -> Result<Vec<BlockingIntent>> {
        let mut out = Vec::new();
        for item in self
            .engine()
            .scan(Cf::Intents, intent_range(start, end), Direction::Forward)?
        {
            let (k, v) = item?;
            let intent = Intent::decode(&v)?;
            if intent.prepare_ts <= ts {
                let (key, _) = crate::keycode::decode_bytes(&k)?;
                out.push(BlockingIntent {
                    key,
                    txn: intent.txn,
                    prepare_ts: intent.prepare_ts,
                });
            }
        }
        Ok(out)
    }
}

/// What [`Mvcc::first_change`] found in a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A version (a tombstone too) committed after the timestamp asked about.
    Version {
        /// The user key.
        key: Vec<u8>,
        /// Its commit timestamp.
        ts: Timestamp,
    },
    /// Another transaction's intent: it may commit at any timestamp.
    Intent {
        /// The user key.
        key: Vec<u8>,
        /// The owner of the intent.
        txn: TxnId,
    },
}

impl Mvcc {
    /// The first sign in user keys within `start`..`end` that a read at
    /// `since` no longer reads the same now: a committed version newer than
    /// `since` (tombstones included), or an intent of a transaction other
    /// than `own`. `None`: a read at the newest timestamp would see exactly
    /// what a read at `since` saw (optimistic validation, DESIGN.md §6).
    pub fn first_change(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        since: Timestamp,
        own: TxnId,
    ) -> Result<Option<Change>> {
        for item in
            self.engine()
                .scan(Cf::Intents, intent_range(&start, &end), Direction::Forward)?
        {
            let (k, v) = item?;
            let intent = Intent::decode(&v)?;
            if intent.txn != own {
                let (key, _) = crate::keycode::decode_bytes(&k)?;
                return Ok(Some(Change::Intent {
                    key,
                    txn: intent.txn,
                }));
            }
        }
        // Within a user key the newest version comes first: only it
        // matters (`newest_per_key` passes over the older ones).
        let point = matches!((&start, &end), (Bound::Included(a), Bound::Included(b)) if a == b);
        let mut found = None;
        self.newest_per_key(
            &start,
            &end,
            |_| true,
            |key, ts, _| {
                if ts > since {
                    found = Some(Change::Version { key, ts });
                    return Ok(false);
                }
                Ok(!point)
            },
        )?;
        Ok(found)
    }

    /// Forward: within a key, versions come newest first; the first one
    /// `≤ ts` wins.
    fn scan_forward(
        &self,
        start: &Bound<Vec<u8>>,
        end: &Bound<Vec<u8>>,
        ts: Timestamp,
        limit: usize,
        rows: &mut Vec<Row>,
    ) -> Result<()> {
        self.newest_per_key(
            start,
            end,
            |t| t <= ts,
            |key, _, value| {
                if let Some(value) = VersionValue::decode(value)? {
                    rows.push((key, value));
                }
                Ok(rows.len() < limit)
            },
        )
    }

    /// Calls `f(key, ts, encoded value)` with the newest version of each
    /// user key in the bounds, in key order, among those whose timestamp
    /// is `wanted`, until `f` returns false. A key's older versions are
    /// passed over — after [`STEPS_BEFORE_SEEK`] of them by starting afresh
    /// past the key (a seek), so a row with thousands of versions (a hot
    /// row within the GC TTL) costs a few steps, not thousands.
    fn newest_per_key(
        &self,
        start: &Bound<Vec<u8>>,
        end: &Bound<Vec<u8>>,
        wanted: impl Fn(Timestamp) -> bool,
        mut f: impl FnMut(Vec<u8>, Timestamp, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut from = start.clone();
        // The escaped form of the key last passed to `f` (its versions'
        // common prefix): compared as it is, decoded only when needed.
        let mut done: Vec<u8> = Vec::new();
        'seek: loop {
            let mut have_done = false;
            let mut passed = 0;
            for item in
                self.engine()
                    .scan(Cf::Versions, version_range(&from, end), Direction::Forward)?
            {
                let (k, v) = item?;
                let ts = version_key_ts(&k)?;
                let escaped = &k[..k.len() - 8];
                if have_done && escaped == done.as_slice() {
                    passed += 1;
                    if passed >= STEPS_BEFORE_SEEK {
                        let (key, _) = decode_version_key(&k)?;
                        from = Bound::Excluded(key);
                        continue 'seek;
                    }
                    continue;
                }
                if !wanted(ts) {
                    continue;
                }
                let (key, _) = decode_version_key(&k)?;
                if !f(key, ts, &v)? {
                    return Ok(());
                }
                passed = 0;
                done.clear();
                done.extend_from_slice(escaped);
                have_done = true;
            }
            return Ok(());
        }
    }

    /// Reverse: within a key, versions come oldest first; the last one
    /// `≤ ts` before the key changes wins. A key with more than
    /// [`STEPS_BEFORE_SEEK`] versions is read at once instead (its newest
    /// visible version, one seek), and the scan starts afresh before it.
    fn scan_reverse(
        &self,
        start: &Bound<Vec<u8>>,
        end: &Bound<Vec<u8>>,
        ts: Timestamp,
        limit: usize,
        rows: &mut Vec<Row>,
    ) -> Result<()> {
        let mut to = end.clone();
        'seek: loop {
            // (key, newest visible value so far) of the key being walked.
            let mut current: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
            let mut passed = 0;
            for item in
                self.engine()
                    .scan(Cf::Versions, version_range(start, &to), Direction::Reverse)?
            {
                let (k, v) = item?;
                let (key, version_ts) = decode_version_key(&k)?;
                if current.as_ref().is_some_and(|(c, _)| *c != key) {
                    if let Some((ckey, Some(value))) = current.take() {
                        rows.push((ckey, value));
                        if rows.len() >= limit {
                            return Ok(());
                        }
                    }
                    passed = 0;
                }
                passed += 1;
                if passed > STEPS_BEFORE_SEEK {
                    if let Some(Version {
                        value: Some(value), ..
                    }) = self.version_at(&key, ts)?
                    {
                        rows.push((key.clone(), value));
                        if rows.len() >= limit {
                            return Ok(());
                        }
                    }
                    to = Bound::Excluded(key);
                    continue 'seek;
                }
                if version_ts <= ts {
                    current = Some((key, VersionValue::decode(&v)?));
                } else if current.is_none() {
                    current = Some((key, None));
                }
            }
            if let Some((ckey, Some(value))) = current {
                rows.push((ckey, value));
            }
            return Ok(());
        }
    }
}

/// Versions of a key a scan steps over before it seeks past the key
/// instead (a new engine iterator: dearer than a step, far cheaper than a
/// thousand).
const STEPS_BEFORE_SEEK: usize = 8;
