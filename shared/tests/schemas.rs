//! `events/schemas/` is the schema registry: one file per event type and version,
//! generated from the Rust types. A published schema never changes; a change to an event
//! is a new version (with an upcaster for the old one), so an older consumer never meets
//! a message it cannot read.
//!
//! Regenerate after adding an event or a version: `make schemas`.

use std::path::PathBuf;

fn registry() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/schemas")
}

fn render(schema: &schemars::Schema) -> String {
    serde_json::to_string_pretty(schema).expect("a schema serialises") + "\n"
}

/// The schema without its prose: rewording a doc comment changes no message.
fn shape(text: &str) -> Option<serde_json::Value> {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("description");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::from_str(text).ok()?;
    strip(&mut value);
    Some(value)
}

#[test]
fn every_published_schema_matches_its_event_type() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for entry in shared::events::catalogue() {
        let path = registry().join(entry.file_name());
        let current = render(&entry.schema);
        match std::fs::read_to_string(&path) {
            Ok(published) if published == current => {}
            Ok(published) if shape(&published) == shape(&current) => {
                if update {
                    std::fs::write(&path, current).expect("schema written");
                }
            }
            Ok(_) if update => panic!(
                "{} is published and must not change: bump the version of {} and add an upcaster instead",
                path.display(),
                entry.event_type
            ),
            Ok(_) => stale.push(format!("{} changed (bump the event's version instead)", entry.file_name())),
            Err(_) if update => std::fs::write(&path, current).expect("schema written"),
            Err(_) => stale.push(format!("{} is not published (run `make schemas`)", entry.file_name())),
        }
    }
    assert!(stale.is_empty(), "the schema registry is out of date:\n{}", stale.join("\n"));
}

#[test]
fn every_version_ever_published_is_still_understood() {
    // Removing an event type, or a version's upcaster, would strand messages still in
    // flight or in a DLQ. Each file must still belong to a known type at or below its
    // current version.
    let catalogue = shared::events::catalogue();
    for file in std::fs::read_dir(registry()).expect("events/schemas exists") {
        let name = file.expect("a directory entry").file_name().to_string_lossy().into_owned();
        let Some((event_type, rest)) = name.split_once(".v") else { continue };
        let version: u32 = rest.trim_end_matches(".schema.json").parse().unwrap_or_else(|_| panic!("bad name {name}"));
        let known = catalogue.iter().find(|e| e.event_type == event_type);
        assert!(known.is_some_and(|e| e.version >= version), "{name}: no current event type understands it");
    }
}
