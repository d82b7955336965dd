//! Generates the gRPC code from `proto/spanlite/*.proto` with the protoc binary
//! vendored by `protoc-bin-vendored`, so no system protoc is needed.

use std::error::Error;

const PROTOS: &[&str] = &[
    "proto/spanlite/common.proto",
    "proto/spanlite/time.proto",
    "proto/spanlite/raft.proto",
    "proto/spanlite/tablet.proto",
    "proto/spanlite/sql.proto",
    "proto/spanlite/admin.proto",
    "proto/spanlite/kv.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    let includes = ["proto".to_string(), well_known.display().to_string()];
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(
            config,
            PROTOS,
            &includes.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
