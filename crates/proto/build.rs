//! Compiles the contracts in `proto/` with `protox`, a pure-Rust protobuf
//! compiler, so building the workspace never needs a system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "syncchain/users/v1/users.proto",
        "syncchain/products/v1/products.proto",
        "syncchain/orders/v1/orders.proto",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let descriptors = protox::compile(&paths, [&root])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
