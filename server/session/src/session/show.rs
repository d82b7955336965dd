//! SHOW: one setting, every setting (SHOW ALL), and the cluster as
//! tables (SHOW TABLETS, SHOW NODES).

use std::collections::BTreeMap;

use spanlite_sql::{DataType, QueryResult, SqlError, Value};

use spanlite_gateway::TxnOptions;

use super::kv::kv;
use super::{Session, StatementResult, sql_error};

pub(super) fn rows(columns: &[(&str, DataType)], rows: Vec<Vec<Value>>, verb: &str) -> QueryResult {
    let n = rows.len() as u64;
    QueryResult {
        declared: Vec::new(),
        columns: columns
            .iter()
            .map(|(c, t)| (c.to_string(), Some(*t)))
            .collect(),
        rows,
        tag: format!("{verb} {n}"),
        rows_affected: n,
    }
}

/// A key as people read it: printable bytes as they are, others escaped.
/// A tablet boundary as people read it: `/table/accounts/26` for the row
/// of `accounts` whose integer key is 26, `/catalog`, `/index/…`, or the
/// escaped bytes; `names` maps table ids to names. An empty start is the
/// beginning of the key space, an empty end its end.
fn show_key(k: &[u8], start: bool, names: &BTreeMap<u32, String>) -> String {
    let escaped = |b: &[u8]| -> String {
        b.iter()
            .flat_map(|c| std::ascii::escape_default(*c))
            .map(char::from)
            .collect()
    };
    let table = |id: &[u8]| -> Option<String> {
        let id = u32::from_be_bytes(id.try_into().ok()?);
        Some(names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
    };
    match k {
        [] if start => "-∞".to_string(),
        [] => "+∞".to_string(),
        [0x00, ..] => format!("/system/{}", escaped(&k[1..])),
        [0x01] => "/user".to_string(),
        [0x02, b'c', name @ ..] => format!("/catalog/{}", escaped(name)),
        [0x02, ..] => "/catalog".to_string(),
        [0x03, rest @ ..] if rest.len() >= 4 => {
            let name = table(&rest[..4]).unwrap_or_default();
            match &rest[4..] {
                [] => format!("/table/{name}"),
                // An integer key (keycode: big-endian, sign bit flipped).
                [b0, more @ ..] if more.len() == 7 => {
                    let mut be = [0u8; 8];
                    be[0] = b0 ^ 0x80;
                    be[1..].copy_from_slice(more);
                    format!("/table/{name}/{}", i64::from_be_bytes(be))
                }
                pk => format!("/table/{name}/{}", escaped(pk)),
            }
        }
        [0x04, rest @ ..] if rest.len() >= 8 => format!(
            "/index/{}/{}/{}",
            table(&rest[..4]).unwrap_or_default(),
            u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
            escaped(&rest[8..])
        ),
        other => escaped(other),
    }
}

impl Session {
    pub(super) async fn show(&mut self, name: &str) -> StatementResult {
        // `SHOW TIME ZONE` is `SHOW timezone`, as `SET TIME ZONE` is.
        let name = if name == "time zone" {
            "timezone"
        } else {
            name
        };
        match name {
            "tablets" => self.show_tablets().await,
            "nodes" => self.show_nodes().await,
            "all" => Ok(rows(
                &[("name", DataType::Text), ("setting", DataType::Text)],
                self.info
                    .settings
                    .iter()
                    .map(|(k, v)| vec![Value::Text(k.clone()), Value::Text(v.clone())])
                    .collect(),
                "SHOW",
            )),
            "transaction isolation level" | "transaction_isolation" => {
                let mode = self
                    .open
                    .as_ref()
                    .map_or_else(|| self.default_mode(), |o| o.options.mode);
                let level = super::modes::level_of(mode);
                Ok(rows(
                    &[("transaction_isolation", DataType::Text)],
                    vec![vec![Value::Text(level.into())]],
                    "SHOW",
                ))
            }
            "transaction_concurrency" => {
                let mode = self
                    .open
                    .as_ref()
                    .map_or_else(|| self.default_mode(), |o| o.options.mode);
                Ok(rows(
                    &[("transaction_concurrency", DataType::Text)],
                    vec![vec![Value::Text(mode.name().into())]],
                    "SHOW",
                ))
            }
            other => match self.info.settings.get(other) {
                Some(v) => Ok(rows(
                    &[(other, DataType::Text)],
                    vec![vec![Value::Text(v.clone())]],
                    "SHOW",
                )),
                None => Err(SqlError::undefined_object(format!(
                    "unrecognized configuration parameter \"{other}\""
                ))),
            },
        }
    }

    async fn show_tablets(&self) -> StatementResult {
        self.gateway.refresh().await.map_err(sql_error)?;
        let names: BTreeMap<u32, String> = {
            let options = TxnOptions {
                read_only: true,
                ..TxnOptions::default()
            };
            let mut txn = self.gateway.begin_with(&options).map_err(sql_error)?;
            spanlite_sql::tables(&mut kv(&mut txn))
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect()
        };
        let cache = self.gateway.cache();
        let tablets = cache
            .tablets()
            .into_iter()
            .map(|d| {
                let replicas = d
                    .replicas
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                vec![
                    Value::Int(d.id as i64),
                    Value::Text(show_key(&d.range.start, true, &names)),
                    Value::Text(show_key(&d.range.end, false, &names)),
                    Value::Text(replicas),
                    cache
                        .leader(d.id)
                        .map_or(Value::Null, |l| Value::Int(l as i64)),
                    Value::Int(d.generation as i64),
                ]
            })
            .collect();
        Ok(rows(
            &[
                ("tablet_id", DataType::Int),
                ("start_key", DataType::Text),
                ("end_key", DataType::Text),
                ("replicas", DataType::Text),
                ("leader", DataType::Int),
                ("generation", DataType::Int),
            ],
            tablets,
            "SHOW",
        ))
    }

    async fn show_nodes(&self) -> StatementResult {
        self.gateway.refresh().await.map_err(sql_error)?;
        let cache = self.gateway.cache();
        let tablets = cache.tablets();
        let nodes = cache
            .nodes()
            .into_iter()
            .map(|(id, addr)| {
                let replicas = tablets.iter().filter(|d| d.replicas.contains(&id)).count();
                let leads = tablets
                    .iter()
                    .filter(|d| cache.leader(d.id) == Some(id))
                    .count();
                vec![
                    Value::Int(id as i64),
                    Value::Text(addr),
                    Value::Int(replicas as i64),
                    Value::Int(leads as i64),
                ]
            })
            .collect();
        Ok(rows(
            &[
                ("node_id", DataType::Int),
                ("address", DataType::Text),
                ("replicas", DataType::Int),
                ("leaders_known", DataType::Int),
            ],
            nodes,
            "SHOW",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tablet_boundaries_read_as_tables_and_keys() {
        let names = BTreeMap::from([(1, "accounts".to_string())]);
        let mut row = vec![0x03, 0, 0, 0, 1];
        row.extend_from_slice(&(26i64 as u64 ^ (1 << 63)).to_be_bytes());
        assert_eq!(show_key(&row, true, &names), "/table/accounts/26");
        let mut neg = vec![0x03, 0, 0, 0, 1];
        neg.extend_from_slice(&((-3i64) as u64 ^ (1 << 63)).to_be_bytes());
        assert_eq!(show_key(&neg, true, &names), "/table/accounts/-3");
        assert_eq!(show_key(&[0x03, 0, 0, 0, 9], true, &names), "/table/#9");
        assert_eq!(show_key(&[], true, &names), "-∞");
        assert_eq!(show_key(&[], false, &names), "+∞");
        assert_eq!(show_key(&[0x01], true, &names), "/user");
        assert_eq!(show_key(b"\x02cab", true, &names), "/catalog/ab");
    }
}
