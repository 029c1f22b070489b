"""systemd-stub's literal cpio archives, checked byte by byte and with GNU cpio as an independent reader."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from uki.measure.stubcpio import TRAILER, combine_initrds, pack_cpio_literal

OSREL = b'ID=debian\nVERSION_ID="13"\n'


def test_os_release_cpio_layout() -> None:
    cpio = pack_cpio_literal("os-release", OSREL)
    assert len(cpio) % 4 == 0
    dir_header = cpio[:110]
    assert dir_header == (b"070701" + b"00000001" + b"0000416d" + b"00000000" * 2 + b"00000001" + b"00000000" * 6
                          + b"00000007" + b"00000000")
    assert cpio[110:120] == b".extra\x00\x00\x00\x00"
    file_header = cpio[120:230]
    assert file_header[6:14] == b"00000002" and file_header[14:22] == b"00008124"
    assert file_header[54:62] == f"{len(OSREL):08x}".encode()
    assert file_header[94:102] == b"00000012"  # 17 chars + NUL (measurements.md §5.3 says 19; the boot shows 18)
    assert cpio[230:248] == b".extra/os-release\x00"  # 230 + 18 = 248 is already 4-aligned (from archive start)
    assert cpio[248 : 248 + len(OSREL)] == OSREL
    assert cpio.endswith(TRAILER) and len(TRAILER) == 124 and b"0000000B" in TRAILER


def test_combine_initrds() -> None:
    assert combine_initrds([b"abcde"]) == b"abcde"
    assert combine_initrds([b"abcde", b"", b"xy"]) == b"abcde\x00\x00\x00xy\x00\x00"
    assert combine_initrds([b"", b"abc"]) == b"abc"


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio (scripts/apt-packages.txt)")
def test_gnu_cpio_reads_it(tmp_path: Path) -> None:
    cpio = pack_cpio_literal("tpm2-pcr-public-key.pem", b"PEM\n")
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=cpio, capture_output=True, check=True).stdout
    assert listing.decode().split() == [".extra", ".extra/tpm2-pcr-public-key.pem"]
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=cpio, cwd=tmp_path, check=True)
    assert (tmp_path / ".extra" / "tpm2-pcr-public-key.pem").read_bytes() == b"PEM\n"
