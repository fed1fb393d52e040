"""The manifest the deploy step writes is read by Rust (`tools/local-runner/src/manifest.rs`);
its JSON Schema is generated from that Rust type (`make schemas` publishes it beside this
file), and every manifest is checked against it before it is written, so the two sides
cannot drift apart unnoticed."""

import json
from pathlib import Path

from jsonschema.validators import validator_for

SCHEMA = Path(__file__).with_name("manifest.schema.json")


def problems(manifest: dict) -> list[str]:
    """Where `manifest` differs from what the runner's type accepts, one line each."""
    schema = json.loads(SCHEMA.read_text())
    validator = validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(str(part) for part in error.absolute_path) or '(top)'}: {error.message}" for error in errors]
