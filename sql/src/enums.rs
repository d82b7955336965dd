//! Enum types: `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`.
//!
//! A type is its ordered labels in the catalog; each label has a sort
//! order fixed when it is added (`ALTER TYPE … ADD VALUE … BEFORE/AFTER`
//! gives a new label one between its neighbours', as PostgreSQL's
//! `enumsortorder`), so a stored value — its type's oid, its sort order and
//! its label ([`EnumValue`]) — compares with any other value of its type
//! without the catalog, and stays right as labels are added.
//!
//! ```text
//!   0x02 'e' <name>  → EnumType (postcard)
//! ```
//!
//! A column of an enum type keeps a copy of the type in its table's
//! definition (so writes check labels with the definition they bind), and
//! `ALTER TYPE` rewrites every table that has one (`statement::types`,
//! which also reads types through a transaction).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SqlError};
pub use crate::value::EnumValue;
use crate::value::Value;

const ENUMS: &[u8] = &[0x02, b'e'];

/// PostgreSQL's limit on a label (NAMEDATALEN - 1 bytes).
const MAX_LABEL_BYTES: usize = 63;

/// An enum type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnumType {
    /// Its oid, fixed when it is created (renaming keeps it).
    pub oid: u32,
    /// Its name.
    pub name: String,
    /// Its labels in order, each with its sort order.
    pub labels: Vec<(String, f32)>,
    /// The role that created it (`None`: an internal caller): it, or a
    /// superuser, may alter or drop it.
    pub owner: Option<String>,
}

impl EnumType {
    /// A new type `name` of `labels` (22023 for an empty or too long
    /// label, 42710 for one given twice).
    pub fn new(oid: u32, name: &str, labels: &[String]) -> Result<EnumType> {
        let mut t = EnumType {
            oid,
            name: name.to_string(),
            labels: Vec::with_capacity(labels.len()),
            owner: None,
        };
        for (i, l) in labels.iter().enumerate() {
            t.check_new(l)?;
            t.labels.push((l.clone(), (i + 1) as f32));
        }
        Ok(t)
    }

    fn check_new(&self, label: &str) -> Result<()> {
        if label.is_empty() || label.len() > MAX_LABEL_BYTES {
            return Err(SqlError::invalid_parameter(format!(
                "invalid enum label \"{label}\"\nDETAIL: Labels must be 1 to {MAX_LABEL_BYTES} bytes long."
            )));
        }
        if self.position(label).is_some() {
            return Err(SqlError::duplicate_object(format!(
                "enum label \"{label}\" already exists"
            )));
        }
        Ok(())
    }

    fn position(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|(l, _)| l == label)
    }

    /// `label` as a value of this type (22P02 if it is not one of its
    /// labels).
    pub fn value(&self, label: &str) -> Result<Value> {
        match self.labels.iter().find(|(l, _)| l == label) {
            Some((l, sort)) => Ok(Value::Enum(EnumValue {
                type_oid: self.oid,
                sort: *sort,
                label: l.clone(),
            })),
            None => Err(SqlError::invalid_text(format!(
                "invalid input value for enum {}: \"{label}\"",
                self.name
            ))),
        }
    }

    /// `v` as a value of this type: a label of it, text naming one, or
    /// NULL; 42846 for anything else.
    pub fn cast(&self, v: Value) -> Result<Value> {
        match v {
            Value::Null => Ok(Value::Null),
            Value::Enum(e) if e.type_oid == self.oid => Ok(Value::Enum(e)),
            Value::Text(s) => self.value(&s),
            Value::Enum(e) => self.value(&e.label).map_err(|_| {
                SqlError::datatype_mismatch(format!(
                    "cannot cast a value of another enum type to {}",
                    self.name
                ))
            }),
            other => Err(SqlError::datatype_mismatch(format!(
                "cannot cast {} to {}",
                other.data_type().map_or("NULL".into(), |t| t.to_string()),
                self.name
            ))),
        }
    }

    /// Adds `label` before or after `neighbour` (at the end when `None`):
    /// its sort order is between the two labels around it. `Ok(false)`
    /// when it exists already and `if_not_exists`.
    pub fn add(
        &mut self,
        label: &str,
        neighbour: Option<(&str, bool)>,
        if_not_exists: bool,
    ) -> Result<bool> {
        if if_not_exists && self.position(label).is_some() {
            return Ok(false);
        }
        self.check_new(label)?;
        let at = match neighbour {
            None => self.labels.len(),
            Some((n, before)) => {
                let i = self.position(n).ok_or_else(|| {
                    SqlError::invalid_parameter(format!("\"{n}\" is not an existing enum label"))
                })?;
                if before { i } else { i + 1 }
            }
        };
        let below = at.checked_sub(1).map(|i| self.labels[i].1);
        let above = self.labels.get(at).map(|l| l.1);
        let sort = match (below, above) {
            (None, None) => 1.0,
            (Some(b), None) => b + 1.0,
            (None, Some(a)) => a - 1.0,
            (Some(b), Some(a)) => {
                let mid = b + (a - b) / 2.0;
                if mid <= b || mid >= a {
                    // NB: PostgreSQL renumbers the labels then; their sort
                    // orders are in stored rows here, so they stay.
                    return Err(SqlError::program_limit_exceeded(format!(
                        "no room for another label between \"{}\" and \"{}\" of enum {}",
                        self.labels[at - 1].0,
                        self.labels[at].0,
                        self.name
                    )));
                }
                mid
            }
        };
        self.labels.insert(at, (label.to_string(), sort));
        Ok(true)
    }
}

impl EnumType {
    /// Renames label `from` to `to`: its sort order stays, and with it
    /// every stored value of it, which reads with the new label
    /// ([`EnumType::current`]). 22023 when `from` is no label, 42710
    /// when `to` is one.
    pub fn rename_value(&mut self, from: &str, to: &str) -> Result<()> {
        let i = self.position(from).ok_or_else(|| {
            SqlError::invalid_parameter(format!("\"{from}\" is not an existing enum label"))
        })?;
        self.check_new(to)?;
        self.labels[i].0 = to.to_string();
        Ok(())
    }

    /// `v`, a value of this type as stored, with its label as the type
    /// names it now (a stored value keeps the label it was written with;
    /// its sort order is what identifies it).
    pub fn current(&self, v: &mut Value) {
        if let Value::Enum(e) = v
            && e.type_oid == self.oid
            && let Some((label, _)) = self.labels.iter().find(|(_, sort)| *sort == e.sort)
            && *label != e.label
        {
            e.label.clone_from(label);
        }
    }
}

/// The oid of the array type of `t` (`_mood`: `pg_type` has it, as in
/// PostgreSQL, though a value of it is text here).
pub fn array_oid(t: &EnumType) -> i64 {
    crate::compat::oid_of("type", &format!("_{}", t.name))
}

/// The catalog key of enum type `name`.
pub fn enum_key(name: &str) -> Vec<u8> {
    [ENUMS, name.as_bytes()].concat()
}

/// The enum types among `pairs` (a scan of the catalog), by name.
pub fn decode_enums(pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Arc<EnumType>>> {
    pairs
        .iter()
        .filter(|(k, _)| k.starts_with(ENUMS))
        .map(|(_, v)| {
            postcard::from_bytes(v)
                .map(Arc::new)
                .map_err(|e| SqlError::internal(format!("corrupt enum type: {e}")))
        })
        .collect()
}

/// Every enum type's key.
pub fn enums_range() -> (Vec<u8>, Vec<u8>) {
    (ENUMS.to_vec(), vec![0x02, b'e' + 1])
}

/// 42704 for type `name`, which is neither built in nor made by `CREATE
/// TYPE`.
pub(crate) fn no_such_type(name: &str) -> SqlError {
    SqlError::undefined_object(format!("type \"{name}\" does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mood() -> EnumType {
        EnumType::new(7, "mood", &["sad".into(), "ok".into(), "happy".into()]).unwrap()
    }

    #[test]
    fn a_renamed_label_reads_anew_in_stored_values() {
        let mut t = mood();
        let mut stored = t.value("ok").unwrap();
        t.rename_value("ok", "fine").unwrap();
        t.current(&mut stored);
        assert_eq!(stored, t.value("fine").unwrap());
        assert_eq!(t.rename_value("nope", "x").unwrap_err().code, "22023");
        assert_eq!(t.rename_value("sad", "happy").unwrap_err().code, "42710");
        let mut other = EnumType::new(8, "other", &["fine".into()])
            .unwrap()
            .value("fine")
            .unwrap();
        t.rename_value("fine", "good").unwrap();
        t.current(&mut other);
        assert_eq!(
            other.to_string(),
            "fine",
            "a value of another type is left alone"
        );
    }

    #[test]
    fn labels_compare_by_their_order_not_their_text() {
        let t = mood();
        let (sad, happy) = (t.value("sad").unwrap(), t.value("happy").unwrap());
        assert_eq!(sad.compare(&happy).unwrap(), Some(std::cmp::Ordering::Less));
        let e = t.value("glad").unwrap_err();
        assert_eq!(e.code, "22P02");
        assert_eq!(e.message, "invalid input value for enum mood: \"glad\"");
    }

    #[test]
    fn added_labels_sort_between_their_neighbours_and_old_values_keep_their_order() {
        let mut t = mood();
        let ok = t.value("ok").unwrap();
        assert!(t.add("meh", Some(("ok", true)), false).unwrap());
        assert!(t.add("first", Some(("sad", true)), false).unwrap());
        assert!(t.add("last", None, false).unwrap());
        assert!(!t.add("ok", None, true).unwrap());
        assert_eq!(t.add("ok", None, false).unwrap_err().code, "42710");
        assert_eq!(
            t.add("x", Some(("nope", false)), false).unwrap_err().code,
            "22023"
        );
        let order: Vec<&str> = t.labels.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(order, ["first", "sad", "meh", "ok", "happy", "last"]);
        let mut values: Vec<Value> = order.iter().rev().map(|l| t.value(l).unwrap()).collect();
        values.push(ok);
        values.sort_by(|a, b| a.compare(b).unwrap().unwrap());
        let sorted: Vec<String> = values.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["first", "sad", "meh", "ok", "ok", "happy", "last"]);
    }

    #[test]
    fn halving_the_gap_stops_with_an_error_not_a_wrong_order() {
        let mut t = EnumType::new(1, "e", &["a".into(), "z".into()]).unwrap();
        let mut n = 0;
        let err = loop {
            match t.add(&format!("l{n}"), Some(("z", true)), false) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(err.code, "54000");
        assert!(n > 10);
        let sorts: Vec<f32> = t.labels.iter().map(|l| l.1).collect();
        assert!(sorts.windows(2).all(|w| w[0] < w[1]));
    }
}
