//! `events/schemas/` is the schema registry: one file per event type and version,
//! generated from the Rust types. A published schema never changes; a change to an event
//! is a new version (with an upcaster for the old one), so an older message is never one
//! a consumer cannot read. `events/samples/` holds one message of every published version.
//!
//! Regenerate after adding an event or a version: `make schemas`, then add its sample.

use std::path::PathBuf;

use pizza_events::WireEvent;
use pizza_events::registry::{catalogue, decode_current};

fn events_dir() -> PathBuf {
    // Read at run time: a test binary reused from a shared target directory (another
    // clone's build) must still read this checkout's files.
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(crate_dir).join("../../events")
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
    for entry in catalogue() {
        let path = events_dir().join("schemas").join(entry.file_name());
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
fn a_sample_of_every_version_ever_published_is_still_understood() {
    // Removing an event type, or a version's upcaster, would strand messages still in
    // flight, in a DLQ or in the archive. Each published version has a sample message,
    // and the current decoder must read it.
    let mut checked = 0;
    for file in std::fs::read_dir(events_dir().join("schemas")).expect("events/schemas exists") {
        let name = file.expect("a directory entry").file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".schema.json") else { continue };
        let sample_path = events_dir().join("samples").join(format!("{stem}.json"));
        let sample = std::fs::read_to_string(&sample_path)
            .unwrap_or_else(|_| panic!("{name} is published without a sample: add {}", sample_path.display()));
        let event = WireEvent::from_json(&sample).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(format!("{}.v{}", event.event_type, event.version), stem, "the sample is of another version");
        let current = decode_current(&event).unwrap_or_else(|e| panic!("{stem} is no longer understood: {e}"));
        assert!(current.is_object(), "{stem} decodes to {current}");
        checked += 1;
    }
    assert!(checked >= catalogue().len(), "only {checked} published versions found");
}
