"""Checks a function's release zip as Lambda will take it: a `bootstrap` executable for
the chosen processor, of a plausible size, and nothing else.

Usage: python check_release.py <bootstrap.zip> --arch arm64|x86_64
"""

import argparse
import stat
import sys
import zipfile

# ELF e_machine values.
MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}
MAX_ZIP_BYTES = 50 * 1024 * 1024  # Lambda's limit for a direct upload


def problems(path: str, arch: str) -> list[str]:
    found = []
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        return [f"{path}: not a zip ({err})"]
    with archive:
        names = archive.namelist()
        if names != ["bootstrap"]:
            found.append(f"{path} holds {names}, not one bootstrap")
        if "bootstrap" not in names:
            return found
        info = archive.getinfo("bootstrap")
        binary = archive.read("bootstrap")
        zipped = sum(i.compress_size for i in archive.infolist())
    if not 512 * 1024 <= len(binary) <= 200 * 1024 * 1024:
        found.append(f"bootstrap is {len(binary)} bytes: not a release build of a function")
    if binary[:4] != b"\x7fELF":
        found.append("bootstrap is not an ELF executable")
    elif int.from_bytes(binary[18:20], "little") != MACHINES[arch]:
        found.append(f"bootstrap is not built for {arch}")
    mode = info.external_attr >> 16
    if mode and not mode & stat.S_IXUSR:
        found.append("bootstrap is not executable")
    if zipped > MAX_ZIP_BYTES:
        found.append(f"the zip is {zipped} bytes, over Lambda's {MAX_ZIP_BYTES}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zip")
    parser.add_argument("--arch", choices=sorted(MACHINES), required=True)
    args = parser.parse_args()
    found = problems(args.zip, args.arch)
    for problem in found:
        print(f"release-check: {problem}", file=sys.stderr)
    if not found:
        with zipfile.ZipFile(args.zip) as archive:
            info = archive.getinfo("bootstrap")
            print(
                f"release-check: {args.zip}: {info.compress_size} bytes zipped, "
                f"bootstrap {info.file_size} bytes, {args.arch}"
            )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
