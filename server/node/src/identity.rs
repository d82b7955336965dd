//! The node identity file in the data directory: which node and cluster the
//! data belongs to, and what the node learned about the cluster.
//!
//! ```text
//!   # Spanlite node identity. Written by the node; do not edit.
//!   format=1
//!   node_id=2
//!   cluster_id=5f0c…            (empty before init)
//!   meta=<hex postcard TabletDescriptor>   (once known)
//!   node=1@127.0.0.1:7001       (one line per known node)
//! ```
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
const FORMAT: &str = "1";

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
        if format.as_deref() != Some(FORMAT) {
            return Err(IdentityError::Malformed {
                path: path.to_path_buf(),
                line: 1,
                reason: format!("unknown or missing format {format:?} (this build reads {FORMAT})"),
            });
        }
        id.node_id = node_id.ok_or_else(|| IdentityError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            reason: "no node_id".to_string(),
        })?;
        Ok(id)
    }

    /// Writes the file atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut text = format!(
            "# Spanlite node identity. Written by the node; do not edit.\nformat={FORMAT}\nnode_id={}\ncluster_id={}\n",
            self.node_id, self.cluster_id
        );
        if let Some(meta) = &self.meta {
            let bytes =
                spanlite_storage::meta::encode_value(meta, "meta descriptor").map_err(|e| {
                    IdentityError::Malformed {
                        path: path.clone(),
                        line: 0,
                        reason: e.to_string(),
                    }
                })?;
            text.push_str(&format!("meta={}\n", encode_hex(&bytes)));
        }
        for (n, addr) in &self.nodes {
            text.push_str(&format!("node={n}@{addr}\n"));
        }
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
    fn malformed_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), "format=1\nnode_id=x\n").unwrap();
        let err = Identity::load_or_create(dir.path(), 1).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
