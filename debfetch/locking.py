"""``lock``: verified indexes → resolved package set → :class:`~debfetch.lockfile.Lock` (spec §8)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .cache import Cache, default_cache_dir
from .download import Downloader
from .errors import DebfetchError
from .index import Source, SuiteIndex, load_suite
from .keyring import Keyring
from .lockfile import Lock, LockedPackage, LockedSource
from .resolver import Base, Request, Resolution, Universe, parse_request, resolve
from .transport import Transport, UrllibTransport

log = logging.getLogger(__name__)


def lock_from_indexes(indexes: Sequence[SuiteIndex], requests: Sequence[Request], *, arch: str, base: Base,
                      tie_breaks: Mapping[str, str], source_date_epoch: int) -> tuple[Lock, Resolution]:
    """Resolve over already verified indexes (pure: no network, no host state)."""
    pins = {req.name: req for req in requests if req.version is not None or req.suite is not None}
    universe = Universe(
        (pkg for index in indexes for pkg in index.packages), arch=arch,
        not_automatic=frozenset(i.source.suite for i in indexes if i.release.not_automatic), pins=pins,
    )
    resolution = resolve(universe, requests, base=base, tie_breaks=tie_breaks)
    sources = tuple(
        LockedSource(archive=i.source.archive, suite=i.source.suite, components=i.source.components,
                     snapshot=i.source.snapshot, inrelease_sha256=i.inrelease_sha256,
                     packages_sha256=i.packages_sha256)
        for i in indexes
    )
    packages = tuple(
        LockedPackage(name=s.package.name, version=s.package.version, arch=s.package.arch,
                      archive=s.package.archive, suite=s.package.suite, filename=s.package.filename,
                      size=s.package.size, sha256=s.package.sha256, source=s.package.source,
                      depends_on=s.depends_on, reason=s.reason)
        for s in resolution.packages
    )
    return Lock(arch=arch, source_date_epoch=source_date_epoch, sources=sources, packages=packages), resolution


def lock(*, sources: Sequence[Source], packages: Sequence[str], arch: str = "amd64", base: Base = "essential",
         mirrors: Sequence[str], tie_breaks: Mapping[str, str] | None = None, source_date_epoch: int,
         progress: Callable[[str], None] | None = None, cache_dir: Path | None = None,
         transport: Transport | None = None, keyring: Keyring | None = None) -> Lock:
    """Fetch and verify the indexes of ``sources``, resolve ``packages`` and return the lock.

    ``keyring`` replaces the pinned Debian archive keys (for a private archive, or a test archive
    signed with a throwaway key); by default each source's archive picks its pinned keys.
    """
    if isinstance(source_date_epoch, bool) or not isinstance(source_date_epoch, int) or source_date_epoch < 0:
        raise DebfetchError(f"source_date_epoch must be a non-negative integer, not {source_date_epoch!r}",
                            where="source_date_epoch")
    if not sources:
        raise DebfetchError("no Debian source given", where="sources")
    if not mirrors and not all(s.snapshot for s in sources):
        raise DebfetchError("no mirror given", where="mirrors", hint="pass --mirror URL or set ASSEMBLER_MIRROR")
    requests = [parse_request(p) for p in packages]
    downloader = Downloader(transport=transport or UrllibTransport(),
                            cache=Cache(cache_dir or default_cache_dir()))
    indexes = [load_suite(s, arch=arch, mirrors=mirrors, downloader=downloader, keyring=keyring, progress=progress)
               for s in sources]
    if progress:
        progress("resolving")
    result, resolution = lock_from_indexes(indexes, requests, arch=arch, base=base,
                                           tie_breaks=tie_breaks or {}, source_date_epoch=source_date_epoch)
    if resolution.skipped_recommends:
        log.info("not following Recommends: %s", ", ".join(resolution.skipped_recommends))
    return result
