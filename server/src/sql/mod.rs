//! SQL sessions on a gateway node (DESIGN.md §7, §8): statements run in
//! explicit transactions (BEGIN … COMMIT/ROLLBACK) or, one at a time, in
//! implicit transactions retried on 40001.

mod interrupt;
mod session;
mod split;

pub use interrupt::{Interrupt, canceled};
pub use session::{Session, StatementResult};
pub use split::split_statements;
