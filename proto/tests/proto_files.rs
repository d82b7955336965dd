//! The .proto files are the contract between nodes: every field and every rpc
//! carries a comment (STYLE.md #14), and the generated code round-trips.

use std::fs;
use std::path::PathBuf;

use prost::Message;
use spanlite_proto::{common, sql};

/// Claim: in every .proto file, each message field and each rpc is directly
/// preceded by a `//` comment line.
#[test]
fn every_field_and_rpc_is_commented() {
    // Cargo sets CARGO_MANIFEST_DIR when it runs the test; prefer that over the
    // compile-time value so a binary built from another checkout of the same
    // target dir still reads this checkout's files.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let dir = root.join("proto/spanlite");
    let mut uncommented = Vec::new();
    let mut files = 0;
    for entry in fs::read_dir(&dir).expect("proto dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("proto") {
            continue;
        }
        files += 1;
        let text = fs::read_to_string(&path).expect("read proto");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let mut in_enum = false;
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("enum ") {
                in_enum = true;
            } else if in_enum && *line == "}" {
                in_enum = false;
            }
            let is_rpc = line.starts_with("rpc ");
            let is_field = !in_enum
                && line.ends_with(';')
                && line.contains(" = ")
                && !line.starts_with("syntax")
                && !line.starts_with("package")
                && !line.starts_with("option");
            if (is_rpc || is_field) && !lines[..i].last().is_some_and(|prev| prev.starts_with("//"))
            {
                uncommented.push(format!("{}:{}: {line}", path.display(), i + 1));
            }
        }
    }
    assert_eq!(files, 7, "expected the seven service files");
    assert!(
        uncommented.is_empty(),
        "uncommented fields or rpcs:\n{}",
        uncommented.join("\n")
    );
}

/// Claim: generated messages encode and decode losslessly, oneofs included.
#[test]
fn generated_messages_round_trip() {
    let descriptor = common::TabletDescriptor {
        tablet_id: 7,
        range: Some(common::KeyRange {
            start: b"a".to_vec(),
            end: b"m".to_vec(),
        }),
        replicas: vec![1, 2, 3],
        learners: vec![],
        generation: 4,
    };
    let bytes = descriptor.encode_to_vec();
    assert_eq!(
        common::TabletDescriptor::decode(bytes.as_slice()).unwrap(),
        descriptor
    );

    let value = sql::Value {
        kind: Some(sql::value::Kind::Int(-42)),
    };
    assert_eq!(
        sql::Value::decode(value.encode_to_vec().as_slice()).unwrap(),
        value
    );
    assert!(common::TabletDescriptor::decode(&[0xff, 0xff, 0xff][..]).is_err());
}
