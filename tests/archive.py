"""Debian packages for the network tests, downloaded and verified by debfetch.

One place for every test that needs a real .deb: ``index(suite)`` is debfetch's ``load_suite``
(InRelease verified with pysequoia against the pinned archive keys, ``main/binary-amd64/Packages``
fetched by hash and checked against the signed Release), loaded once per session; ``package(name)``
picks the highest version in that index and lets debfetch's ``Downloader`` fetch the .deb into the
sha256-named cache, accepting it only if size and sha256 match the signed index. Mirrors are
``debfetch.default_mirrors`` (``ASSEMBLER_MIRROR``, else the host's apt sources); the cache is
``debfetch.default_cache_dir()`` (``$ASSEMBLER_CACHE``, else ``~/.cache/assembler``), shared with the
assembler, so a second run only fetches the InRelease files. No verification code lives here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from assembler.deb import read_deb
from assembler.tree import Kind, normalize
from debfetch import Source, UrllibTransport, default_cache_dir, default_mirrors
from debfetch.cache import Cache
from debfetch.download import Downloader
from debfetch.index import SuiteIndex, load_suite
from debfetch.mirrors import archive_bases
from debfetch.packages import BinaryPackage
from debfetch.relations import parse_relations
from debfetch.version import version_key

ARCH = "amd64"
CLOUD_KERNEL_META = "linux-image-cloud-amd64"


@functools.cache
def mirrors() -> tuple[str, ...]:
    return tuple(default_mirrors([]))


@functools.cache
def _downloader() -> Downloader:
    return Downloader(transport=UrllibTransport(), cache=Cache(default_cache_dir()))


@functools.cache
def index(suite: str = "trixie") -> SuiteIndex:
    """The verified ``main`` amd64 index of ``suite`` (``trixie``, ``bookworm``, ``bookworm-backports``...)."""
    return load_suite(Source(suite=suite), arch=ARCH, mirrors=mirrors(), downloader=_downloader())


@functools.cache
def _by_name(suite: str) -> dict[str, tuple[BinaryPackage, ...]]:
    found: dict[str, list[BinaryPackage]] = {}
    for pkg in index(suite).packages:
        found.setdefault(pkg.name, []).append(pkg)
    return {name: tuple(pkgs) for name, pkgs in found.items()}


def stanza(name: str, suite: str = "trixie", version: str | None = None) -> BinaryPackage:
    """The highest version of ``name`` in ``suite`` (or exactly ``version``); LookupError if absent."""
    candidates = [p for p in _by_name(suite).get(name, ()) if version is None or p.version == version]
    if not candidates:
        wanted = name if version is None else f"{name} (= {version})"
        raise LookupError(f"{suite}: no package {wanted}")
    return max(candidates, key=lambda p: version_key(p.version))


def download(pkg: BinaryPackage) -> Path:
    """The verified .deb of ``pkg`` in the sha256-named cache (downloaded if not there yet)."""
    urls = [f"{base}/{pkg.filename}" for base in archive_bases(mirrors(), pkg.archive)]
    return _downloader().get_verified(urls, sha256=pkg.sha256, size=pkg.size, what=f"{pkg.suite} {pkg}")


def package(name: str, suite: str = "trixie", version: str | None = None) -> tuple[BinaryPackage, Path]:
    """(stanza, path of the verified .deb) of the highest version of ``name`` in ``suite``."""
    pkg = stanza(name, suite, version)
    return pkg, download(pkg)


def cloud_kernel_stanza(suite: str = "trixie") -> BinaryPackage:
    """The ``linux-image-<release>-cloud-amd64`` stanza that ``linux-image-cloud-amd64`` depends on."""
    meta = stanza(CLOUD_KERNEL_META, suite)
    for group in parse_relations(meta.depends, where=f"{suite} {meta}"):
        for alt in group:
            if alt.name.startswith("linux-image-"):
                exact = alt.constraint.version if alt.constraint and alt.constraint.op == "=" else None
                return stanza(alt.name, suite, exact)
    raise LookupError(f"{suite} {meta}: no linux-image-* in Depends: {meta.depends}")


def cloud_kernel(suite: str = "trixie") -> tuple[BinaryPackage, Path]:
    """(stanza, verified .deb) of the kernel image ``linux-image-cloud-amd64`` depends on."""
    pkg = cloud_kernel_stanza(suite)
    return pkg, download(pkg)


def kernel_release(pkg: BinaryPackage) -> str:
    """``uname -r`` of a ``linux-image-<release>`` package."""
    return pkg.name.removeprefix("linux-image-")


def deb_members(path: Path, members: Iterable[str]) -> dict[str, bytes]:
    """Regular files of a .deb's data.tar by path (``usr/bin/x``; ``./`` or ``/`` prefixes allowed).

    A path that is missing or not a regular file is a KeyError naming it.
    """
    wanted = {m: normalize(m) for m in members}
    files = {m.path: m.data for m in read_deb(path.read_bytes(), where=str(path)).members if m.kind is Kind.FILE}
    missing = sorted(m for m, p in wanted.items() if p not in files)
    if missing:
        raise KeyError(f"{path}: no regular file {', '.join(missing)}")
    return {m: files[p] for m, p in wanted.items()}


def deb_member(path: Path, member: str) -> bytes:
    """One regular file of a .deb's data.tar (see :func:`deb_members`)."""
    return deb_members(path, [member])[member]
