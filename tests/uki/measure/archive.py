"""Debian archive access for the measurement tests: InRelease (gpgv) -> Packages.xz -> .deb, cached.

Mirrors come from ``ASSEMBLER_MIRROR`` or the host's apt sources. InRelease is checked with gpgv
against the Debian archive keyring, Packages.xz against InRelease (by-hash as a fallback), and each
.deb against its Packages stanza. A mirror caught mid-sync may serve a Packages.xz newer than its
InRelease; then a warning is printed and the .debs are still checked against that index. The .debs
are cached by sha256 under ``$ASSEMBLER_CACHE/test-debs`` (default ``~/.cache/assembler/test-debs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import os
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


# --- Debian archive access --------------------------------------------------------------------

def _mirrors() -> list[str]:
    env = os.environ.get("ASSEMBLER_MIRROR", "").split()
    if env:
        return [m.rstrip("/") for m in env]
    found: list[str] = []
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("URIs:"):
                found += line.split()[1:]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if parts and parts[0] == "deb":
                found += [p for p in parts[1:] if "://" in p][:1]
    mirrors = [m.rstrip("/") for m in found if m.startswith("http") and "security" not in m]
    assert mirrors, "no Debian mirror: set ASSEMBLER_MIRROR or configure apt sources"
    return list(dict.fromkeys(mirrors))


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        data: bytes = response.read()
        return data


def _cache_dir() -> Path:
    base = os.environ.get("ASSEMBLER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "assembler")
    path = Path(base) / "test-debs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            yield fields


@dataclass(frozen=True)
class Archive:
    mirror: str
    packages: dict[str, dict[str, str]]

    def deb(self, name: str) -> bytes:
        para = self.packages[name]
        sha = para["SHA256"]
        cached = _cache_dir() / f"{sha}.deb"
        if cached.exists() and hashlib.sha256(cached.read_bytes()).hexdigest() == sha:
            return cached.read_bytes()
        data = _get(f"{self.mirror}/{para['Filename']}")
        assert hashlib.sha256(data).hexdigest() == sha, f"{name}: .deb does not match Packages SHA256"
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(cached)
        return data


@cache
def archive(suite: str) -> Archive:
    mirror = _mirrors()[0]
    inrelease = _get(f"{mirror}/dists/{suite}/InRelease")
    gpgv = subprocess.run(["gpgv", "--keyring", str(KEYRING), "--output", "-", "-"], input=inrelease,
                          capture_output=True, check=False)
    assert gpgv.returncode == 0, f"InRelease signature: {gpgv.stderr.decode(errors='replace')}"
    release = gpgv.stdout.decode("utf-8")
    sums = {}
    in_sha = False
    for line in release.splitlines():
        if not line.startswith(" "):
            in_sha = line.startswith("SHA256:")
            continue
        if in_sha:
            digest, _size, name = line.split()
            sums[name] = digest
    packages: dict[str, dict[str, str]] = {}
    for arch in ("amd64", "all"):
        name = f"main/binary-{arch}/Packages.xz"
        blob = _get(f"{mirror}/dists/{suite}/{name}")
        if hashlib.sha256(blob).hexdigest() != sums[name]:
            with contextlib.suppress(OSError):
                blob = _get(f"{mirror}/dists/{suite}/{name.rsplit('/', 1)[0]}/by-hash/SHA256/{sums[name]}")
        if hashlib.sha256(blob).hexdigest() != sums[name]:
            # A mirror caught mid-sync serves an index newer than its InRelease; every .deb is still
            # checked against the Packages stanza it came from.
            print(f"warning: {name} does not match InRelease (mirror mid-sync?)", file=sys.stderr)
        for para in _paragraphs(lzma.decompress(blob).decode("utf-8")):
            packages.setdefault(para["Package"], para)
    return Archive(mirror=mirror, packages=packages)


def deb_file(deb: bytes, wanted: str) -> bytes:
    """A file from a .deb's data.tar (ar + tar, via the standard library)."""
    pos = 8
    while pos < len(deb):
        name = deb[pos : pos + 16].decode().strip().rstrip("/")
        size = int(deb[pos + 48 : pos + 58].decode().strip())
        body = deb[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            if name.endswith(".xz"):
                body = lzma.decompress(body)
            elif name.endswith(".zst"):
                import zstandard

                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            with tarfile.open(fileobj=io.BytesIO(body)) as tf:
                for member in tf.getmembers():
                    if member.name.lstrip("./") == wanted.lstrip("/") and member.isfile():
                        f = tf.extractfile(member)
                        assert f is not None
                        return f.read()
    raise AssertionError(f"{wanted} not in the package")
