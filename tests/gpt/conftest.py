"""Fixtures for the gpt tests: seeded fake UKI payloads and a runner for Debian peer tools."""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
from collections.abc import Callable, Sequence

import pytest

ToolRunner = Callable[..., subprocess.CompletedProcess[str]]

# Debian package that ships each peer tool (scripts/apt-packages.txt lists them for CI).
PEER_TOOLS = {
    "sfdisk": "fdisk",
    "sgdisk": "gdisk",
    "fsck.fat": "dosfstools",
    "mdir": "mtools",
    "mcopy": "mtools",
    "qemu-img": "qemu-utils",
    "tar": "tar",
}


def fake_efi(size: int, seed: int = 1) -> bytes:
    """Random but seeded bytes standing in for a UKI (the disk code never parses it)."""
    return random.Random(seed).randbytes(size)


def data_ranges(path: str) -> list[tuple[int, int]]:
    """The (start, end) byte ranges of a file that are not holes (SEEK_DATA/SEEK_HOLE)."""
    ranges = []
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, end))
            pos = end
    return ranges


def same_content(a: str, b: str, *, length: int | None = None) -> bool:
    """Whether the first ``length`` bytes (default: all, sizes equal) of two sparse files are equal,
    reading only where either file has data (holes read as zeros in both)."""
    if length is None:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        length = os.path.getsize(a)
    spans = sorted(r for r in data_ranges(a) + data_ranges(b) if r[0] < length)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        pos = 0
        for start, end in spans:
            start, end = max(start, pos), min(end, length)
            while start < end:
                step = min(end - start, 16 << 20)
                fa.seek(start)
                fb.seek(start)
                if fa.read(step) != fb.read(step):
                    return False
                start += step
            pos = max(pos, end)
    return True


@pytest.fixture(scope="session")
def compare_sparse() -> Callable[..., bool]:
    return same_content


@pytest.fixture(scope="session")
def make_efi() -> Callable[..., bytes]:
    return fake_efi


@pytest.fixture(scope="session")
def efi_payload() -> bytes:
    return fake_efi(3 * 1024 * 1024 + 4321)


@pytest.fixture(scope="session")
def run_tool() -> ToolRunner:
    """Run a peer tool; fail (never skip) when it is missing, naming the package to install."""

    def run(
        argv: Sequence[str], *, check: bool = True, input: str | None = None, cwd: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        tool = argv[0]
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install {PEER_TOOLS.get(tool, tool)}")
        result = subprocess.run(
            list(argv), capture_output=True, text=True, check=False, input=input, cwd=cwd, timeout=300
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    return run
