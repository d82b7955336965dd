//! Key-value engines under MVCC: RocksDB for real nodes, memory for tests.
//!
//! ```text
//!        MVCC / state machine / recovery
//!                    │  Engine trait: get, scan, write(WriteBatch), flush
//!          ┌─────────┴──────────┐
//!     RocksEngine          MemoryEngine
//!   (3 column families,   (BTreeMaps with a "flushed"
//!    RocksDB WAL off)      copy; crash() drops the rest)
//! ```
//!
//! INVARIANT: the engine never logs. Durability comes from the node WAL
//! (`crate::wal`): a batch written here is lost in a crash until the next
//! `flush`, exactly like a page in an ARIES buffer pool, and recovery redoes it
//! from the WAL. `MemoryEngine::crash` and dropping a `RocksEngine` (closing never
//! flushes) both model that loss.
//!
//! Not here: column-family creation at run time, compaction filters, snapshots
//! (MVCC timestamps give readers their snapshot).

mod batch;
mod cf;
mod kv_engine;
mod memory;
mod read_cache;
mod rocks;

pub use batch::{BatchOp, WriteBatch};
pub use cf::Cf;
pub use kv_engine::{Direction, Engine, KvIter, KvPair, ScanRange};
pub use memory::MemoryEngine;
pub use rocks::{RocksConfig, RocksEngine};
