"""Rules of the repository's layout that no compiler checks.

The system tests are declared one by one in tests/Cargo.toml (`autotests = false`: each
file is a test binary of its own, with the shared harness in tests/src/). A file that is
not declared would never run, silently: this check fails instead.

Rust lines stay within rustfmt's 120 columns (rustfmt.toml), including the string
literals and macro calls it cannot wrap by itself, and no Rust file outside the tests (a
`tests/` folder or a `tests.rs` module) is over 400 lines: a longer one holds more than
one concern.

Every package is named as its folder, and no folder name repeats across shared/,
functions/ and tools/, so a name says where a thing is; the two top-level folders are
tests/ (system-tests) and bench/ (pizza-bench).

Every crate under shared/ is a library other code builds on, so each documents its whole
public surface: its lib.rs turns on `missing_docs`, which `make clippy` makes an error."""

import subprocess
import tomllib
import unittest
from pathlib import Path

from test_topology import workspace_packages

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
MAX_WIDTH = 120
MAX_LINES = 400
TOP_LEVEL_PACKAGES = {"tests": "system-tests", "bench": "pizza-bench"}
LAYERS = ("shared", "functions", "tools")


class SystemTestLayoutTest(unittest.TestCase):
    def test_every_file_in_tests_is_a_declared_test_and_every_declared_one_exists(self):
        manifest = tomllib.loads((TESTS / "Cargo.toml").read_text())
        declared = {test["path"] for test in manifest.get("test", [])}
        files = {path.name for path in TESTS.glob("*.rs")}
        self.assertEqual(files - declared, set(), "test files tests/Cargo.toml does not declare: they never run")
        self.assertEqual(declared - files, set(), "declared tests without their file")


class LineWidthTest(unittest.TestCase):
    def test_every_rust_line_fits_in_rustfmts_width(self):
        tracked = subprocess.run(["git", "ls-files", "*.rs"], cwd=ROOT, capture_output=True, text=True, check=True)
        too_long = [
            f"{path}:{number} ({len(line)} columns)"
            for path in tracked.stdout.split()
            for number, line in enumerate((ROOT / path).read_text().splitlines(), start=1)
            if len(line) > MAX_WIDTH
        ]
        self.assertEqual(too_long, [], "wrap these lines by hand: rustfmt cannot")

    def test_no_rust_file_outside_the_tests_holds_more_than_one_concern(self):
        tracked = subprocess.run(["git", "ls-files", "*.rs"], cwd=ROOT, capture_output=True, text=True, check=True)
        too_long = [
            f"{path} ({count} lines)"
            for path in tracked.stdout.split()
            if "tests" not in Path(path).parts and Path(path).name != "tests.rs"
            for count in [len((ROOT / path).read_text().splitlines())]
            if count > MAX_LINES
        ]
        self.assertEqual(too_long, [], f"split these: no file outside the tests is over {MAX_LINES} lines")


class NamingTest(unittest.TestCase):
    def test_every_package_is_named_as_its_folder_and_no_folder_name_repeats_across_layers(self):
        misnamed, folders = [], {}
        for package in workspace_packages():
            folder = Path(package["manifest_path"]).parent.relative_to(ROOT)
            expected = TOP_LEVEL_PACKAGES.get(str(folder), folder.name)
            if package["name"] != expected:
                misnamed.append(f"{folder}: package {package['name']}")
            if folder.parts[0] in LAYERS:
                folders.setdefault(folder.name, []).append(str(folder))
        self.assertEqual(misnamed, [], "rename the package or its folder")
        repeated = {name: paths for name, paths in folders.items() if len(paths) > 1}
        self.assertEqual(repeated, {}, "a folder name says where a thing is: once")


class SharedCrateDocsTest(unittest.TestCase):
    def test_every_shared_crate_documents_its_public_items(self):
        undocumented = [
            str(lib.relative_to(ROOT))
            for lib in sorted((ROOT / "shared").glob("*/src/lib.rs"))
            if "#![warn(missing_docs)]" not in lib.read_text()
        ]
        self.assertEqual(undocumented, [], "add #![warn(missing_docs)] and document what the lint finds")


if __name__ == "__main__":
    unittest.main()
