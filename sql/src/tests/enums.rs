//! Enum types over the in-memory transaction (the SQL behaviour is in
//! `tests/slt/enums.slt`, checked against PostgreSQL).

use super::{MemTxn, rows, run};
use crate::Value;

/// SHOW COLUMNS names an enum column's type, not the kind of type.
#[tokio::test]
async fn show_columns_names_an_enum_columns_type() {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE t (k INT PRIMARY KEY, m mood)",
    )
    .await
    .unwrap();
    let cols = rows(&mut txn, "SHOW COLUMNS FROM t").await;
    let types: Vec<&Value> = cols.iter().take(2).map(|r| &r[1]).collect();
    assert_eq!(
        types,
        [&Value::Text("INT".into()), &Value::Text("mood".into())]
    );
}
