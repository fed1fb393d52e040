import tempfile
import unittest
import zipfile
from pathlib import Path

from check_release import problems


def elf(machine: int, size: int) -> bytes:
    header = b"\x7fELF" + bytes(14) + machine.to_bytes(2, "little")
    return header + bytes(size - len(header))


class CheckReleaseTest(unittest.TestCase):
    def zip_of(self, files: dict[str, bytes], mode: int = 0o755) -> str:
        path = Path(tempfile.mkdtemp()) / "bootstrap.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                archive.writestr(info, data)
        return str(path)

    def test_a_release_bootstrap_for_the_right_processor_passes(self):
        self.assertEqual(problems(self.zip_of({"bootstrap": elf(0x3E, 1 << 20)}), "x86_64"), [])
        self.assertEqual(problems(self.zip_of({"bootstrap": elf(0xB7, 1 << 20)}), "arm64"), [])

    def test_the_wrong_processor_a_stub_extra_files_or_no_zip_fail(self):
        self.assertEqual(len(problems(self.zip_of({"bootstrap": elf(0xB7, 1 << 20)}), "x86_64")), 1)
        self.assertEqual(len(problems(self.zip_of({"bootstrap": elf(0x3E, 100)}), "x86_64")), 1)
        self.assertEqual(len(problems(self.zip_of({"bootstrap": b"#!/bin/sh\n" * 100_000}), "x86_64")), 1)
        self.assertEqual(len(problems(self.zip_of({"bootstrap": elf(0x3E, 1 << 20), "x": b""}), "x86_64")), 1)
        self.assertEqual(len(problems(self.zip_of({"bootstrap": elf(0x3E, 1 << 20)}, mode=0o644), "x86_64")), 1)
        self.assertEqual(len(problems("/nonexistent/bootstrap.zip", "x86_64")), 1)


if __name__ == "__main__":
    unittest.main()
