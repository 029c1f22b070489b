"""Downloading the locked .debs into the content-addressed cache (spec §1.5).

Order per package: the cache (re-verified) → each plain mirror's ``<base>/<Filename>`` → the
snapshot service at the source's timestamp → ``snapshot/file/<sha1>`` when the lock knows the
sha1. A file is accepted only if size and sha256 match (see :mod:`debfetch.download`), so the
mirror's honesty does not matter. Downloads run in a thread pool; the progress callback is called
from the calling thread as packages complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from .cache import Cache, default_cache_dir
from .download import Downloader
from .lockfile import Lock, LockedPackage
from .mirrors import SNAPSHOT_SERVICE, archive_bases, snapshot_base
from .transport import Transport, UrllibTransport

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


def package_urls(pkg: LockedPackage, lock: Lock, mirrors: Sequence[str]) -> list[str]:
    """Candidate URLs of one locked package, in the order they are tried."""
    urls = [f"{base}/{pkg.filename}" for base in archive_bases(mirrors, pkg.archive)]
    for source in lock.sources:
        if source.archive == pkg.archive and source.suite == pkg.suite and source.snapshot:
            urls.append(f"{snapshot_base(pkg.archive, source.snapshot)}/{pkg.filename}")
    if pkg.sha1:
        urls.append(f"{SNAPSHOT_SERVICE}/file/{pkg.sha1}")
    return urls


def fetch_packages(lock: Lock, *, mirrors: Sequence[str], downloader: Downloader, jobs: int = 4,
                   progress: Progress | None = None) -> dict[str, Path]:
    """Make every locked .deb available in the cache; return ``{sha256: path}``."""
    packages = sorted(lock.packages, key=lambda p: (p.name.encode(), p.arch.encode()))
    total = len(packages)
    result: dict[str, Path] = {}
    done = 0
    if progress:
        progress(0, total, "")
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="debfetch") as pool:
        futures: dict[Future[Path], LockedPackage] = {
            pool.submit(downloader.get_verified, package_urls(pkg, lock, mirrors), sha256=pkg.sha256,
                        size=pkg.size, what=f"{pkg.name} {pkg.version}"): pkg
            for pkg in packages
        }
        pending: set[Future[Path]] = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in sorted(finished, key=lambda f: futures[f].name.encode()):
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                pkg = futures[future]
                result[pkg.sha256] = future.result()
                done += 1
                if progress:
                    progress(done, total, pkg.name)
    log.info("%d packages available in %s", total, downloader.cache.root)
    return dict(sorted(result.items()))


def fetch(lock: Lock, *, mirrors: Sequence[str], cache_dir: Path | None = None, jobs: int = 4,
          progress: Progress | None = None, transport: Transport | None = None) -> dict[str, Path]:
    """Download (or find in the cache) every package of ``lock``; return ``{sha256: path}``."""
    downloader = Downloader(transport=transport or UrllibTransport(),
                            cache=Cache(cache_dir or default_cache_dir()))
    return fetch_packages(lock, mirrors=mirrors, downloader=downloader, jobs=jobs, progress=progress)
