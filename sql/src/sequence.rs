//! Sequences (PostgreSQL's `CREATE SEQUENCE`, `SERIAL`, identity columns)
//! in a distributed cluster: the catalog holds each sequence's definition
//! and one counter, the next value no one has been given; a node takes a
//! block of `cache` values at a time by moving the counter in a short
//! transaction of its own, and hands them out locally. So an insert does
//! not touch the counter's tablet (no hot key, no cross-tablet commit) but
//! once per block; values are unique cluster-wide (blocks never overlap:
//! each is taken under the transaction's concurrency control), increasing
//! per node, and not ordered across nodes; a node that stops loses what is
//! left of its block (gaps, as PostgreSQL's `CACHE` has them).
//!
//! ```text
//!   0x02 's' <name>  → SequenceDef (postcard)
//!   0x02 'q' <name>  → the counter: the next value not yet given out (i128)
//! ```

use serde::{Deserialize, Serialize};

use crate::catalog;
use crate::error::{Result, SqlError};

const SEQUENCES: &[u8] = &[0x02, b's'];
const COUNTERS: &[u8] = &[0x02, b'q'];

/// Values a node takes at a time unless `CACHE` says otherwise.
pub const DEFAULT_CACHE: i64 = 32;

/// A sequence's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceDef {
    /// Its name.
    pub name: String,
    /// Random at creation: a sequence dropped and created again under the
    /// same name is another sequence (nodes' blocks of the old one are not
    /// used for it).
    pub id: u64,
    /// Step between values (not zero).
    pub increment: i64,
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
    /// First value.
    pub start: i64,
    /// Values a node takes at a time.
    pub cache: i64,
    /// The table whose column it numbers (`SERIAL`, identity): dropped with
    /// it.
    pub owned_by: Option<u32>,
}

/// A run of values a node took: `first`, `first + increment`, …, `count`
/// of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The first value.
    pub first: i64,
    /// How many.
    pub count: u64,
}

impl SequenceDef {
    /// A sequence with PostgreSQL's defaults (ascending by 1 from 1 up to
    /// the largest BIGINT), caching [`DEFAULT_CACHE`] values per node.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            id: rand::random(),
            increment: 1,
            min: 1,
            max: i64::MAX,
            start: 1,
            cache: DEFAULT_CACHE,
            owned_by: None,
        }
    }

    /// Checks the bounds (22023 as PostgreSQL words it).
    pub fn validate(&self) -> Result<()> {
        if self.increment == 0 {
            return Err(SqlError::invalid_parameter("INCREMENT must not be zero"));
        }
        if self.min >= self.max {
            return Err(SqlError::invalid_parameter(format!(
                "MINVALUE ({}) must be less than MAXVALUE ({})",
                self.min, self.max
            )));
        }
        if self.start < self.min || self.start > self.max {
            return Err(SqlError::invalid_parameter(format!(
                "START value ({}) cannot be outside [MINVALUE, MAXVALUE] ({}, {})",
                self.start, self.min, self.max
            )));
        }
        if self.cache < 1 {
            return Err(SqlError::invalid_parameter(format!(
                "CACHE ({}) must be greater than zero",
                self.cache
            )));
        }
        Ok(())
    }

    /// Takes up to `want` values from counter `counter` (`None`: nothing
    /// given out yet): the block and the counter after it. 2200H when the
    /// sequence is exhausted (no CYCLE).
    pub fn take(&self, counter: Option<i128>, want: i64) -> Result<(Block, i128)> {
        let next = counter.unwrap_or(i128::from(self.start));
        let inc = i128::from(self.increment);
        let left = if inc > 0 {
            (i128::from(self.max) - next).div_euclid(inc) + 1
        } else {
            (next - i128::from(self.min)).div_euclid(-inc) + 1
        };
        let in_range = next >= i128::from(self.min) && next <= i128::from(self.max);
        if left <= 0 || !in_range {
            let (bound, what) = if inc > 0 {
                (self.max, "maximum")
            } else {
                (self.min, "minimum")
            };
            return Err(SqlError::sequence_limit(format!(
                "nextval: reached {what} value of sequence \"{}\" ({bound})",
                self.name
            )));
        }
        let count = left.min(i128::from(want.max(1)));
        let first = i64::try_from(next)
            .map_err(|_| SqlError::internal("a sequence counter out of range"))?;
        Ok((
            Block {
                first,
                count: u64::try_from(count).unwrap_or(1),
            },
            next + count * inc,
        ))
    }

    /// The counter after `setval(seq, value, is_called)`; 22003 when
    /// `value` is out of the sequence's bounds.
    pub fn counter_for(&self, value: i64, is_called: bool) -> Result<i128> {
        if value < self.min || value > self.max {
            return Err(SqlError::numeric_out_of_range(format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                self.name, self.min, self.max
            )));
        }
        Ok(i128::from(value)
            + if is_called {
                i128::from(self.increment)
            } else {
                0
            })
    }
}

/// The catalog key of sequence `name`.
pub fn sequence_key(name: &str) -> Vec<u8> {
    [SEQUENCES, name.as_bytes()].concat()
}

/// The key of sequence `name`'s counter.
pub fn counter_key(name: &str) -> Vec<u8> {
    [COUNTERS, name.as_bytes()].concat()
}

/// Every sequence definition's key.
pub fn sequences_range() -> (Vec<u8>, Vec<u8>) {
    (SEQUENCES.to_vec(), catalog::prefix_end(SEQUENCES))
}

/// The sequence definitions among `pairs` (a scan of the catalog).
pub fn decode_sequences(
    pairs: &[(Vec<u8>, Vec<u8>)],
) -> Result<std::collections::BTreeMap<String, SequenceDef>> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in pairs {
        if k.starts_with(SEQUENCES) {
            let def: SequenceDef = catalog::decode(v, "sequence")?;
            out.insert(def.name.clone(), def);
        }
    }
    Ok(out)
}

/// A counter's stored value.
pub fn decode_counter(bytes: &[u8]) -> Result<i128> {
    catalog::decode(bytes, "sequence counter")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_each_other_and_stop_at_the_bounds() {
        let mut s = SequenceDef::new("s");
        s.max = 10;
        let (b, c) = s.take(None, 4).unwrap();
        assert_eq!(b, Block { first: 1, count: 4 });
        let (b, c) = s.take(Some(c), 4).unwrap();
        assert_eq!(b, Block { first: 5, count: 4 });
        let (b, c) = s.take(Some(c), 4).unwrap();
        assert_eq!(b, Block { first: 9, count: 2 });
        let e = s.take(Some(c), 4).unwrap_err();
        assert_eq!(e.code, "2200H");
        assert_eq!(
            e.message,
            "nextval: reached maximum value of sequence \"s\" (10)"
        );
        // Descending, by 5, from -1.
        let mut d = SequenceDef::new("d");
        d.increment = -5;
        d.min = -12;
        d.max = -1;
        d.start = -1;
        let (b, c) = d.take(None, 10).unwrap();
        assert_eq!(
            b,
            Block {
                first: -1,
                count: 3
            }
        );
        assert!(d.take(Some(c), 1).is_err());
        // The largest BIGINT is given once, never wrapped.
        let mut top = SequenceDef::new("top");
        top.start = i64::MAX - 1;
        top.min = 1;
        let (b, c) = top.take(None, 32).unwrap();
        assert_eq!(
            b,
            Block {
                first: i64::MAX - 1,
                count: 2
            }
        );
        assert!(top.take(Some(c), 1).is_err());
        // setval.
        assert_eq!(s.counter_for(7, true).unwrap(), 8);
        assert_eq!(s.counter_for(7, false).unwrap(), 7);
        assert_eq!(s.counter_for(11, true).unwrap_err().code, "22003");
    }
}
