"""Downloads with mirror fallback, retries with backoff, and verification into the cache.

Used by :func:`debfetch.lock` (InRelease, Packages indexes) and :func:`debfetch.fetch` (.debs).
For each candidate URL in order: a 404 moves on at once; other failures are retried with
exponential backoff; a host that cannot be resolved or connected to is skipped for the rest of the
run. A file is accepted only if its size and sha256 match; a mismatch from one mirror moves on to
the next, and if no mirror delivers the right bytes the error names the URL that served bad ones.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cache import Cache
from .errors import DownloadError, IntegrityError
from .transport import NotFound, Transport, TransportError, read_all

log = logging.getLogger(__name__)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


@dataclass(slots=True, kw_only=True)
class Downloader:
    transport: Transport
    cache: Cache
    retries: int = 3
    backoff: float = 0.5
    timeout: float = 60.0
    _dead_hosts: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dead_hosts(self) -> frozenset[str]:
        """Hosts skipped for the rest of this run (unresolvable or refusing connections)."""
        with self._lock:
            return frozenset(self._dead_hosts)

    def _alive(self, url: str) -> bool:
        with self._lock:
            return _host(url) not in self._dead_hosts

    def _mark_dead(self, url: str, reason: str) -> None:
        with self._lock:
            if _host(url) not in self._dead_hosts:
                log.warning("skipping %s for the rest of this run: %s", _host(url) or url, reason)
                self._dead_hosts.add(_host(url))

    def _attempts(self, url: str) -> range:
        return range(max(1, self.retries))

    def _sleep(self, attempt: int) -> None:
        if self.backoff > 0:
            time.sleep(self.backoff * (2 ** attempt))

    def get_bytes(self, urls: Sequence[str], *, what: str) -> tuple[str, bytes]:
        """Download the first URL that answers; return (url, bytes). No hash is known yet."""
        errors: list[str] = []
        for url in urls:
            if not self._alive(url):
                continue
            for attempt in self._attempts(url):
                try:
                    return url, read_all(self.transport, url, timeout=self.timeout)
                except TransportError as e:
                    errors.append(f"{url}: {e.reason}")
                    if e.unreachable:
                        self._mark_dead(url, e.reason)
                    if e.permanent or e.unreachable or attempt + 1 == self.retries:
                        break
                    self._sleep(attempt)
        raise DownloadError(f"cannot download {what}", where=errors[-1] if errors else "no usable mirror",
                            hint=f"tried {len(urls)} URL(s); check --mirror / ASSEMBLER_MIRROR")

    def get_verified(self, urls: Sequence[str], *, sha256: str, size: int, what: str) -> Path:
        """A cached, verified file with this sha256; downloaded from the first good URL if needed."""
        try:
            cached = self.cache.lookup(sha256, size)
        except IntegrityError as e:
            raise IntegrityError(f"{what}: {e.what}", where=e.where, hint=e.hint) from None
        if cached is not None:
            return cached
        errors: list[str] = []
        mismatches: list[IntegrityError] = []
        for url in urls:
            if not self._alive(url):
                continue
            for attempt in self._attempts(url):
                try:
                    with self.transport.open(url, timeout=self.timeout) as stream:
                        return self.cache.store_stream(stream, sha256=sha256, size=size, where=url)
                except IntegrityError as e:
                    log.warning("%s", e)
                    mismatches.append(e)
                    break
                except NotFound as e:
                    errors.append(f"{url}: {e.reason}")
                    break
                except (TransportError, OSError, http.client.HTTPException) as e:
                    reason = e.reason if isinstance(e, TransportError) else (str(e) or type(e).__name__)
                    errors.append(f"{url}: {reason}")
                    if isinstance(e, TransportError) and e.unreachable:
                        self._mark_dead(url, reason)
                        break
                    if attempt + 1 == self.retries:
                        break
                    self._sleep(attempt)
        if mismatches:
            first = mismatches[0]
            raise IntegrityError(f"{what}: {first.what}", where=first.where,
                                 hint="the mirror served altered bytes; try another mirror")
        raise DownloadError(f"cannot download {what}", where=errors[-1] if errors else "no usable mirror",
                            hint="a plain mirror drops superseded versions; re-lock or use a snapshot")
