//! The node identity file in the data directory: which node and cluster the
//! data belongs to, and what the node learned about the cluster. JSON:
//!
//! ```text
//!   {"format": 2, "node_id": 2,
//!    "cluster_id": "5f0c…",                      ("" before init)
//!    "meta": "<hex postcard TabletDescriptor>",   (once known)
//!    "nodes": {"1": "127.0.0.1:7001", …}}
//! ```
//!
//! Every address is checked (`spanlite_directory::validate_address`) and
//! the cluster id is letters, digits and hyphens, both when the file is
//! read and before it is written: no value can add a field. The line format
//! of earlier builds (`format=1`) is still read, and replaced by JSON at the
//! next save.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves the old or the new file, never half.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use spanlite_directory::TabletDescriptor;
use spanlite_replica::raft::NodeId;

const FILE: &str = "NODE_IDENTITY";
/// The line format earlier builds wrote.
const LINE_FORMAT: &str = "1";
/// The JSON format.
const FORMAT: u32 = 2;

/// The file as JSON.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    format: u32,
    node_id: NodeId,
    cluster_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    meta: Option<String>,
    #[serde(default)]
    nodes: BTreeMap<NodeId, String>,
}

/// `Err` unless `id` is a cluster id: letters, digits and hyphens.
pub fn validate_cluster_id(id: &str) -> Result<(), String> {
    if id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(format!("invalid cluster id {id:?}"))
    }
}

/// What the identity file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The node the data belongs to.
    pub node_id: NodeId,
    /// The cluster it belongs to ("" before init).
    pub cluster_id: String,
    /// The meta tablet's descriptor, once known.
    pub meta: Option<TabletDescriptor>,
    /// Known nodes and their addresses.
    pub nodes: BTreeMap<NodeId, String>,
}

/// Why the identity file could not be used.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The data dir belongs to another node.
    #[error(
        "data dir {dir} belongs to node {found}, not node {wanted}; use that node id or another data dir"
    )]
    OtherNode {
        /// The data dir.
        dir: PathBuf,
        /// The node it belongs to.
        found: NodeId,
        /// The node asked for.
        wanted: NodeId,
    },
    /// The file does not parse.
    #[error("{path}: line {line}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Identity {
    /// Loads the identity of `dir`, or creates one for `node_id` if the
    /// directory has none; refuses a directory of another node.
    pub fn load_or_create(dir: &Path, node_id: NodeId) -> Result<Self, IdentityError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = Self::parse(&path, &text)?;
                if id.node_id != node_id {
                    return Err(IdentityError::OtherNode {
                        dir: dir.to_path_buf(),
                        found: id.node_id,
                        wanted: node_id,
                    });
                }
                Ok(id)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = Identity {
                    node_id,
                    ..Identity::default()
                };
                id.save(dir)?;
                Ok(id)
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Self, IdentityError> {
        let id = if text.trim_start().starts_with('{') {
            Self::parse_json(path, text)?
        } else {
            Self::parse_lines(path, text)?
        };
        let malformed = |reason: String| IdentityError::Malformed {
            path: path.to_path_buf(),
            line: 0,
            reason,
        };
        validate_cluster_id(&id.cluster_id).map_err(malformed)?;
        for addr in id.nodes.values() {
            spanlite_directory::validate_address(addr).map_err(malformed)?;
        }
        Ok(id)
    }

    fn parse_json(path: &Path, text: &str) -> Result<Self, IdentityError> {
        let file: IdentityFile =
            serde_json::from_str(text).map_err(|e| IdentityError::Malformed {
                path: path.to_path_buf(),
                line: e.line(),
                reason: e.to_string(),
            })?;
        let malformed = |reason: String| IdentityError::Malformed {
            path: path.to_path_buf(),
            line: 0,
            reason,
        };
        if file.format != FORMAT {
            return Err(malformed(format!(
                "unknown format {} (this build reads {FORMAT})",
                file.format
            )));
        }
        let meta = match &file.meta {
            None => None,
            Some(hex) => {
                let bytes = decode_hex(hex).ok_or_else(|| malformed("meta: bad hex".into()))?;
                Some(
                    spanlite_storage::meta::decode_value(&bytes, "meta descriptor")
                        .map_err(|e| malformed(format!("meta: {e}")))?,
                )
            }
        };
        Ok(Identity {
            node_id: file.node_id,
            cluster_id: file.cluster_id,
            meta,
            nodes: file.nodes,
        })
    }

    /// The line format of earlier builds.
    fn parse_lines(path: &Path, text: &str) -> Result<Self, IdentityError> {
        let mut id = Identity::default();
        let mut format = None;
        let mut node_id = None;
        for (i, raw) in text.lines().enumerate() {
            let malformed = |reason: String| IdentityError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| malformed("expected key=value".to_string()))?;
            match key {
                "format" => format = Some(value.to_string()),
                "node_id" => {
                    node_id = Some(
                        value
                            .parse()
                            .map_err(|e| malformed(format!("node_id: {e}")))?,
                    )
                }
                "cluster_id" => id.cluster_id = value.to_string(),
                "meta" => {
                    let bytes =
                        decode_hex(value).ok_or_else(|| malformed("meta: bad hex".to_string()))?;
                    id.meta = Some(
                        spanlite_storage::meta::decode_value(&bytes, "meta descriptor")
                            .map_err(|e| malformed(format!("meta: {e}")))?,
                    );
                }
                "node" => {
                    let (n, addr) = value
                        .split_once('@')
                        .ok_or_else(|| malformed("node: expected id@address".to_string()))?;
                    let n: NodeId = n.parse().map_err(|e| malformed(format!("node id: {e}")))?;
                    id.nodes.insert(n, addr.to_string());
                }
                other => return Err(malformed(format!("unknown key {other:?}"))),
            }
        }
        if format.as_deref() != Some(LINE_FORMAT) {
            return Err(IdentityError::Malformed {
                path: path.to_path_buf(),
                line: 1,
                reason: format!(
                    "unknown or missing format {format:?} (this build reads {LINE_FORMAT} and JSON)"
                ),
            });
        }
        id.node_id = node_id.ok_or_else(|| IdentityError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            reason: "no node_id".to_string(),
        })?;
        Ok(id)
    }

    /// Writes the file atomically into `dir`; refuses an invalid address or
    /// cluster id (nothing is written then).
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let malformed = |reason: String| IdentityError::Malformed {
            path: path.clone(),
            line: 0,
            reason,
        };
        validate_cluster_id(&self.cluster_id).map_err(malformed)?;
        for addr in self.nodes.values() {
            spanlite_directory::validate_address(addr).map_err(malformed)?;
        }
        let meta = match &self.meta {
            None => None,
            Some(meta) => Some(encode_hex(
                &spanlite_storage::meta::encode_value(meta, "meta descriptor")
                    .map_err(|e| malformed(e.to_string()))?,
            )),
        };
        let file = IdentityFile {
            format: FORMAT,
            node_id: self.node_id,
            cluster_id: self.cluster_id.clone(),
            meta,
            nodes: self.nodes.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| malformed(e.to_string()))?;
        text.push('\n');
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(())
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_refuses_another_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut id = Identity::load_or_create(dir.path(), 3).unwrap();
        assert_eq!(id.node_id, 3);
        id.cluster_id = "c0ffee".into();
        id.meta = Some(TabletDescriptor::meta(vec![1, 2, 3]));
        id.nodes.insert(1, "127.0.0.1:7001".into());
        id.save(dir.path()).unwrap();
        assert_eq!(Identity::load_or_create(dir.path(), 3).unwrap(), id);
        let err = Identity::load_or_create(dir.path(), 4).unwrap_err();
        assert!(
            err.to_string().contains("belongs to node 3, not node 4"),
            "{err}"
        );
    }

    #[test]
    fn an_address_cannot_add_a_field_and_old_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut id = Identity::load_or_create(dir.path(), 3).unwrap();
        id.nodes.insert(9, "127.0.0.1:7001\nnode_id=9".into());
        let err = id.save(dir.path()).unwrap_err();
        assert!(err.to_string().contains("invalid node address"), "{err}");
        // Nothing was written: the file still loads as node 3.
        assert_eq!(Identity::load_or_create(dir.path(), 3).unwrap().node_id, 3);
        // The line format of earlier builds loads, and saves as JSON.
        fs::write(
            dir.path().join(FILE),
            "format=1\nnode_id=3\ncluster_id=c0ffee\nnode=1@127.0.0.1:7001\n",
        )
        .unwrap();
        let old = Identity::load_or_create(dir.path(), 3).unwrap();
        assert_eq!(old.nodes[&1], "127.0.0.1:7001");
        old.save(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.trim_start().starts_with('{'), "{text}");
        assert_eq!(Identity::load_or_create(dir.path(), 3).unwrap(), old);
        // A file whose address was tampered with is refused.
        fs::write(
            dir.path().join(FILE),
            text.replace("127.0.0.1:7001", "127.0.0.1:7001 evil"),
        )
        .unwrap();
        let err = Identity::load_or_create(dir.path(), 3).unwrap_err();
        assert!(err.to_string().contains("invalid node address"), "{err}");
    }

    #[test]
    fn malformed_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), "format=1\nnode_id=x\n").unwrap();
        let err = Identity::load_or_create(dir.path(), 1).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
