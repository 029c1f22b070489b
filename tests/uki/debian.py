"""Fetching a few Debian packages for the peer tests, verified and cached.

Mirrors come from ``ASSEMBLER_MIRROR`` (space separated) or the host's apt sources; never a
hard-coded host. ``dists/SUITE/InRelease`` is checked with ``gpgv`` against the Debian archive
keyring, ``Packages.xz`` against the sha256 in InRelease, and each .deb against the sha256 in
Packages. Files are cached by sha256 under ``$ASSEMBLER_CACHE/test-debs`` (default
``~/.cache/assembler/test-debs``), so repeated runs only fetch the small InRelease files.
"""

from __future__ import annotations

import functools
import hashlib
import io
import lzma
import os
import re
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import zstandard

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
TIMEOUT = 120


def cache_dir() -> Path:
    base = os.environ.get("ASSEMBLER_CACHE")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assembler"
    path = root / "test-debs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirrors() -> list[str]:
    env = os.environ.get("ASSEMBLER_MIRROR", "").split()
    if env:
        return [m.rstrip("/") for m in env]
    found: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    files = sorted(sources.glob("*.sources")) if sources.is_dir() else []
    for f in files:
        for line in f.read_text().splitlines():
            if line.startswith("URIs:"):
                found += line.split()[1:]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                uri = next(p for p in parts[1:] if not p.startswith("["))
                found.append(uri)
    # the main archive, not debian-security or third-party repositories
    main = [u.rstrip("/") for u in found if re.search(r"/debian/?$", u)]
    if not main:
        raise RuntimeError("no Debian mirror: set ASSEMBLER_MIRROR or configure apt sources")
    return list(dict.fromkeys(main))


def _get(path: str) -> bytes:
    errors = []
    for mirror in mirrors():
        try:
            with urllib.request.urlopen(f"{mirror}/{path}", timeout=TIMEOUT) as response:
                data: bytes = response.read()
                return data
        except OSError as e:
            errors.append(f"{mirror}: {e}")
    raise RuntimeError(f"cannot fetch {path}: {'; '.join(errors)}")


def _cached(sha256: str, path: str) -> bytes:
    target = cache_dir() / sha256
    if target.exists():
        data = target.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    data = _get(path)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise RuntimeError(f"{path}: sha256 {got} != {sha256}")
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(target)
    return data


def verified_release(suite: str) -> str:
    inrelease = _get(f"dists/{suite}/InRelease")
    result = subprocess.run(
        ["gpgv", "--keyring", str(KEYRING), "--output", "-", "-"],
        input=inrelease,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"InRelease of {suite} does not verify: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode()


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    filename: str
    sha256: str
    depends: str


@functools.cache
def packages_index(suite: str) -> str:
    """The verified ``main/binary-amd64/Packages`` text of a suite (once per test session)."""
    release = verified_release(suite)
    match = re.search(r"^ ([0-9a-f]{64})\s+\d+ main/binary-amd64/Packages\.xz$", release, re.M)
    if match is None:
        raise RuntimeError(f"{suite}: no main/binary-amd64/Packages.xz in InRelease")
    return lzma.decompress(_cached(match[1], f"dists/{suite}/main/binary-amd64/Packages.xz")).decode()


def packages(suite: str, names: set[str]) -> dict[str, Package]:
    """The paragraphs of ``names`` in ``SUITE main amd64`` (the last one wins, as apt's newest)."""
    text = packages_index(suite)
    found: dict[str, Package] = {}
    for para in text.split("\n\n"):
        first = para.split("\n", 1)[0]
        if not first.startswith("Package: ") or first[9:] not in names:
            continue
        fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", para, re.M))
        found[fields["Package"]] = Package(
            name=fields["Package"],
            version=fields["Version"],
            filename=fields["Filename"],
            sha256=fields["SHA256"],
            depends=fields.get("Depends", ""),
        )
    missing = names - found.keys()
    if missing:
        raise RuntimeError(f"{suite}: packages not found: {sorted(missing)}")
    return found


def deb_bytes(package: Package) -> bytes:
    return _cached(package.sha256, package.filename)


def deb_members(deb: bytes) -> dict[str, bytes]:
    """The regular files of a .deb's data archive, by path without the leading ``./``."""
    if not deb.startswith(b"!<arch>\n"):
        raise RuntimeError("not a .deb (ar) archive")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".xz"):
            tar_bytes = lzma.decompress(body)
        elif name.endswith(".zst"):
            tar_bytes = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)).read()
        elif name == "data.tar":
            tar_bytes = body
        else:
            raise RuntimeError(f"unsupported data member {name}")
        out: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    out[member.name.removeprefix("./")] = extracted.read()
        return out
    raise RuntimeError("no data.tar member in .deb")


@dataclass(frozen=True)
class DebianFile:
    package: Package
    path: str
    data: bytes


def extract(package: Package, path: str) -> bytes:
    """One file of a package, cached next to the .deb (keyed by the .deb's sha256 and the path)."""
    key = hashlib.sha256(f"{package.sha256}:{path}".encode()).hexdigest()
    target = cache_dir() / f"extract-{key}"
    if target.exists():
        return target.read_bytes()
    members = deb_members(deb_bytes(package))
    if path not in members:
        raise RuntimeError(f"{package.filename} has no {path}")
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(members[path])
    tmp.replace(target)
    return members[path]


def fetch_file(suite: str, package: str, path: str) -> DebianFile:
    pkg = packages(suite, {package})[package]
    return DebianFile(package=pkg, path=path, data=extract(pkg, path))


def fetch_cloud_kernel(suite: str = "trixie") -> DebianFile:
    """vmlinuz of the version ``linux-image-cloud-amd64`` depends on."""
    meta = packages(suite, {"linux-image-cloud-amd64"})["linux-image-cloud-amd64"]
    match = re.match(r"linux-image-([^ ,(]+)", meta.depends)
    if match is None:
        raise RuntimeError(f"cannot read the kernel package from Depends: {meta.depends}")
    name = f"linux-image-{match[1]}"
    image = packages(suite, {name})[name]
    path = f"boot/vmlinuz-{match[1]}"
    return DebianFile(package=image, path=path, data=extract(image, path))
