//! How much a key range holds, and the key that halves it: what splitting a
//! tablet by size needs (the node's auto-splitter, the metrics).
//!
//! ```text
//!   versions:  a@3 a@1 | b@2 | c@9 c@5 c@4 | d@1      bytes: 40 | 20 | 60 | 20
//!   cumulative bytes at each key's first version:  a:0  b:40  c:60  d:120  (total 140)
//!   middle = the first key at which half the bytes (70) lie before it, or the
//!   nearest sampled one: d (120) or c (60) → c, the nearer
//! ```
//!
//! One forward pass over the `versions` family, every version counted (the
//! bytes on disk before compression, history included — what a split moves).
//! Candidate middle keys are sampled at key boundaries every `step` bytes; the
//! samples are thinned (every other one dropped, `step` doubled) whenever
//! they pass [`MAX_SAMPLES`], so memory stays bounded whatever the range
//! holds, and the middle found is within `total / MAX_SAMPLES`·2 bytes of
//! the true one.

use std::ops::Bound;

use super::Mvcc;
use super::keys::{decode_version_key, encode_intent_key};
use crate::engine::{Cf, Direction, ScanRange};
use crate::error::Result;

/// Samples kept before thinning.
const MAX_SAMPLES: usize = 1024;

/// What a key range holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSize {
    /// Bytes of keys and values of every version (uncompressed).
    pub bytes: u64,
    /// Versions, tombstones included.
    pub versions: u64,
    /// Distinct user keys.
    pub keys: u64,
    /// A user key that splits the bytes about in half, never the range's
    /// first key (so both halves hold something); `None` when the range
    /// holds fewer than two keys.
    pub middle: Option<Vec<u8>>,
}

impl Mvcc {
    /// Measures the user keys in `[start, end)` (`end` `None`: to the end of
    /// the key space).
    pub fn range_size(&self, start: &[u8], end: Option<&[u8]>) -> Result<RangeSize> {
        let range = ScanRange::new(
            Bound::Included(encode_intent_key(start)),
            match end {
                Some(e) => Bound::Excluded(encode_intent_key(e)),
                None => Bound::Unbounded,
            },
        );
        let mut size = RangeSize::default();
        // (cumulative bytes before the key, the key's escaped prefix)
        let mut samples: Vec<(u64, Box<[u8]>)> = Vec::new();
        let mut step: u64 = 4096;
        let mut next_sample: u64 = 0;
        let mut previous: Option<Box<[u8]>> = None;
        for item in self
            .engine()
            .scan(Cf::Versions, range, Direction::Forward)?
        {
            let (k, v) = item?;
            let prefix_len = k.len().saturating_sub(8);
            let prefix = &k[..prefix_len];
            if previous.as_deref() != Some(prefix) {
                // A new user key begins: a row boundary.
                if size.keys > 0 && size.bytes >= next_sample {
                    samples.push((size.bytes, Box::from(prefix)));
                    next_sample = size.bytes + step;
                    if samples.len() > MAX_SAMPLES {
                        samples = samples.into_iter().step_by(2).collect();
                        step *= 2;
                    }
                }
                size.keys += 1;
                previous = Some(Box::from(prefix));
            }
            size.versions += 1;
            size.bytes += (k.len() + v.len()) as u64;
        }
        let half = size.bytes / 2;
        if let Some((_, prefix)) = samples.iter().min_by_key(|(at, _)| at.abs_diff(half)) {
            // A version key of the sampled user key, to decode it.
            let mut key = prefix.to_vec();
            key.extend_from_slice(&[0; 8]);
            size.middle = Some(decode_version_key(&key)?.0);
        }
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spanlite_truetime::Timestamp;

    use super::*;
    use crate::engine::{MemoryEngine, WriteBatch};

    fn store() -> Mvcc {
        Mvcc::open(Arc::new(MemoryEngine::new())).unwrap()
    }

    fn put(m: &Mvcc, key: &[u8], value: &[u8], ts: u64) {
        let mut batch = WriteBatch::new();
        m.put(&mut batch, key, Timestamp::from_nanos(ts), value);
        m.apply(batch).unwrap();
    }

    #[test]
    fn an_empty_range_and_a_single_key_have_no_middle() {
        let m = store();
        assert_eq!(
            m.range_size(b"a", Some(b"z")).unwrap(),
            RangeSize::default()
        );
        put(&m, b"k", &[7; 100], 1);
        put(&m, b"k", &[8; 100], 2);
        let size = m.range_size(b"a", Some(b"z")).unwrap();
        assert_eq!((size.keys, size.versions), (1, 2));
        assert!(size.bytes > 200, "{size:?}");
        assert_eq!(size.middle, None);
    }

    #[test]
    fn the_middle_halves_the_bytes_and_counts_every_version() {
        let m = store();
        // 1,000 keys of 1 KiB; the first 250 with three versions each, so
        // the bytes are halved at key 250 (250·3 of 250·3 + 750 units), not
        // at key 500.
        for i in 0..1000u32 {
            let key = format!("k{i:05}");
            let versions: u64 = if i < 250 { 3 } else { 1 };
            for ts in 0..versions {
                put(&m, key.as_bytes(), &[1; 1024], ts + 1);
            }
        }
        let size = m.range_size(b"k", Some(b"l")).unwrap();
        assert_eq!((size.keys, size.versions), (1000, 1500));
        let middle = String::from_utf8(size.middle.unwrap()).unwrap();
        let n: u32 = middle[1..].parse().unwrap();
        assert!((240..=260).contains(&n), "middle {middle}");
        // Keys outside the range are not counted; the end is exclusive.
        let part = m.range_size(b"k00250", Some(b"k00500")).unwrap();
        assert_eq!((part.keys, part.versions), (250, 250));
        let middle = String::from_utf8(part.middle.unwrap()).unwrap();
        assert!(("k00365".."k00385").contains(&middle.as_str()), "{middle}");
    }
}
