"""The system tests are declared one by one in tests/Cargo.toml (`autotests = false`: each
file is a test binary of its own, with the shared harness in tests/src/). A file that is
not declared would never run, silently: this check fails instead."""

import tomllib
import unittest
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2] / "tests"


class SystemTestLayoutTest(unittest.TestCase):
    def test_every_file_in_tests_is_a_declared_test_and_every_declared_one_exists(self):
        manifest = tomllib.loads((TESTS / "Cargo.toml").read_text())
        declared = {test["path"] for test in manifest.get("test", [])}
        files = {path.name for path in TESTS.glob("*.rs")}
        self.assertEqual(files - declared, set(), "test files tests/Cargo.toml does not declare: they never run")
        self.assertEqual(declared - files, set(), "declared tests without their file")


if __name__ == "__main__":
    unittest.main()
