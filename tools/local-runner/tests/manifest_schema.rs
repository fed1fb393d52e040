//! The manifest is written by Python (`tools/local/deploy.py`) and read by Rust: the JSON
//! Schema of the Rust type, published as `tools/local/manifest.schema.json`, is what the
//! deploy step checks its output against before writing it. This test fails when the type
//! changed and the published schema did not: `UPDATE_SCHEMAS=1 cargo test -p local-runner`
//! (or `make schemas`) publishes it again.

use std::path::PathBuf;

use local_runner::Manifest;

fn published() -> PathBuf {
    // Read at run time: a test binary reused from a shared target directory (another
    // clone's build) must still read this checkout's files.
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(crate_dir).join("../local/manifest.schema.json")
}

#[test]
fn the_published_manifest_schema_is_the_rust_types() {
    let current = serde_json::to_string_pretty(&schemars::schema_for!(Manifest)).expect("a schema serialises") + "\n";
    let path = published();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &current).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == current, "{} is out of date: run `make schemas`", path.display());
}
