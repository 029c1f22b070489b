"""Loading one suite's verified package index (spec §1.1–§1.2).

``InRelease`` is fetched from the first working base (the snapshot service first when the source
names a timestamp, then the mirrors), its signature checked against the pinned archive keys, and
its signed text parsed. Then each component's ``binary-<arch>/Packages.xz`` (``.gz`` if there is no
``.xz``) is fetched by hash when the Release says ``Acquire-By-Hash: yes`` — so a mirror that
updates in between cannot mix two states — checked against the signed size and sha256, cached
under that sha256, and parsed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .download import Downloader
from .errors import DebfetchError, FormatError
from .keyring import Keyring, archive_keyring, verify_clearsigned
from .mirrors import index_bases
from .packages import BinaryPackage, read_packages_index
from .release import IndexEntry, Release, parse_release

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One (archive, suite) to resolve from; ``snapshot`` pins a snapshot.debian.org timestamp."""

    suite: str
    archive: str = "debian"
    components: tuple[str, ...] = ("main",)
    snapshot: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteIndex:
    source: Source
    base_url: str
    inrelease_sha256: str
    release: Release
    packages_sha256: Mapping[str, str]
    packages: tuple[BinaryPackage, ...] = field(repr=False)


def _index_entry(release: Release, component: str, arch: str, *, where: str) -> IndexEntry:
    for suffix in (".xz", ".gz"):
        path = f"{component}/binary-{arch}/Packages{suffix}"
        if path in release.sha256:
            return release.sha256[path]
    raise FormatError(f"Release lists no Packages index for {component}/binary-{arch}", where=where,
                      hint="check the suite's components and architectures")


def load_suite(source: Source, *, arch: str, mirrors: Sequence[str], downloader: Downloader,
               keyring: Keyring | None = None,
               progress: Callable[[str], None] | None = None) -> SuiteIndex:
    """Fetch, verify and parse the indexes of one source."""
    say = progress or (lambda _msg: None)
    bases = index_bases(mirrors, archive=source.archive, snapshot=source.snapshot)
    urls = [f"{base}/dists/{source.suite}/InRelease" for base in bases]
    say(f"InRelease {source.archive}/{source.suite}")
    url, data = downloader.get_bytes(urls, what=f"InRelease of {source.suite}")
    base = url.removesuffix(f"/dists/{source.suite}/InRelease")
    if source.snapshot and not base.startswith("https://snapshot.debian.org"):
        log.warning("snapshot %s unavailable; %s/%s resolved from a plain mirror", source.snapshot,
                    source.archive, source.suite)
    verified = verify_clearsigned(data, keyring or archive_keyring(source.archive), where=url)
    release = parse_release(verified.text, where=url)
    if source.suite not in release.names():
        # A mirror must not be able to answer with another suite's (validly signed) Release.
        raise DebfetchError(f"Release is for {'/'.join(release.names())}, not {source.suite}", where=url)
    if release.architectures and arch not in release.architectures:
        raise DebfetchError(f"architecture {arch} is not in this suite", where=url)
    packages: list[BinaryPackage] = []
    packages_sha256: dict[str, str] = {}
    for component in source.components:
        # debian-security lists its components as "updates/main" while its paths use "main/".
        known = {c for c in release.components} | {c.rsplit("/", 1)[-1] for c in release.components}
        if release.components and component not in known:
            raise DebfetchError(f"component {component!r} is not in this suite", where=url,
                                hint=f"available: {' '.join(release.components)}")
        entry = _index_entry(release, component, arch, where=url)
        dist = f"{base}/dists/{source.suite}"
        by_hash = f"{dist}/{entry.path.rsplit('/', 1)[0]}/by-hash/SHA256/{entry.sha256}"
        index_urls = [by_hash, f"{dist}/{entry.path}"] if release.acquire_by_hash else [f"{dist}/{entry.path}"]
        index_urls += [u.replace(base, other, 1) for other in bases if other != base for u in index_urls]
        say(f"Packages {source.suite}/{entry.path} ({entry.size} bytes)")
        path = downloader.get_verified(index_urls, sha256=entry.sha256, size=entry.size,
                                       what=f"{source.suite}/{entry.path}")
        where = f"{dist}/{entry.path}"
        packages += read_packages_index(path.read_bytes(), entry, archive=source.archive,
                                        suite=source.suite, component=component, where=where)
        packages_sha256[entry.path] = entry.sha256
    log.info("%s/%s: %d stanzas, signed by %s", source.archive, source.suite, len(packages),
             ", ".join(verified.signers))
    return SuiteIndex(
        source=source, base_url=base, inrelease_sha256=hashlib.sha256(data).hexdigest(),
        release=release, packages_sha256=MappingProxyType(dict(sorted(packages_sha256.items()))),
        packages=tuple(packages),
    )
