//! Conversions between the driver's types and the generated protobuf types
//! of `spanlite.sql` (all of them live here, nowhere else).

use spanlite_proto::common;
use spanlite_proto::sql as pb;

use crate::row::Column;
use crate::value::{SqlType, Timestamp, Value};

/// A parameter as sent.
pub(crate) fn value_to_wire(v: &Value) -> pb::Value {
    use pb::value::Kind;
    pb::Value {
        kind: Some(match v {
            Value::Null => Kind::Null(true),
            Value::Bool(b) => Kind::Bool(*b),
            Value::Int(i) => Kind::Int(*i),
            Value::Float(x) => Kind::Float(*x),
            Value::Text(s) => Kind::Text(s.clone()),
            Value::Bytes(b) => Kind::Bytes(b.clone()),
            Value::Timestamp(t) => Kind::Timestamp(common::Timestamp {
                nanos: t.as_nanos(),
            }),
        }),
    }
}

/// A result cell as received; a value without a kind is `NULL`, as the
/// server reads it too.
pub(crate) fn value_from_wire(v: pb::Value) -> Value {
    use pb::value::Kind;
    match v.kind {
        None | Some(Kind::Null(_)) => Value::Null,
        Some(Kind::Bool(b)) => Value::Bool(b),
        Some(Kind::Int(i)) => Value::Int(i),
        Some(Kind::Float(x)) => Value::Float(x),
        Some(Kind::Text(s)) => Value::Text(s),
        Some(Kind::Bytes(b)) => Value::Bytes(b),
        Some(Kind::Timestamp(t)) => Value::Timestamp(Timestamp::from_nanos(t.nanos)),
    }
}

/// A column as received; a type this driver does not know is `Unknown`.
pub(crate) fn column_from_wire(c: pb::Column) -> Column {
    let sql_type = match pb::SqlType::try_from(c.r#type) {
        Ok(pb::SqlType::Bool) => SqlType::Bool,
        Ok(pb::SqlType::Int) => SqlType::Int,
        Ok(pb::SqlType::Float) => SqlType::Float,
        Ok(pb::SqlType::Text) => SqlType::Text,
        Ok(pb::SqlType::Bytes) => SqlType::Bytes,
        Ok(pb::SqlType::Timestamp) => SqlType::Timestamp,
        Ok(pb::SqlType::Unspecified) | Err(_) => SqlType::Unknown,
    };
    Column::new(c.name, sql_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_survives_the_round_trip() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Float(-0.25),
            Value::Text("ü".into()),
            Value::Bytes(vec![0, 255]),
            Value::Timestamp(Timestamp::from_nanos(u64::MAX)),
        ];
        for v in values {
            assert_eq!(value_from_wire(value_to_wire(&v)), v);
        }
        assert_eq!(value_from_wire(pb::Value { kind: None }), Value::Null);
    }

    #[test]
    fn unknown_column_types_read_as_unknown() {
        let c = column_from_wire(pb::Column {
            name: "x".into(),
            r#type: 99,
        });
        assert_eq!((c.name(), c.sql_type()), ("x", SqlType::Unknown));
        let c = column_from_wire(pb::Column {
            name: "t".into(),
            r#type: pb::SqlType::Timestamp as i32,
        });
        assert_eq!(c.sql_type(), SqlType::Timestamp);
    }
}
