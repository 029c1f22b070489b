"""HTTP access behind a small :class:`Transport` protocol (the seam tests and callers can replace).

:class:`UrllibTransport` is the default: plain ``urllib`` with a timeout. It raises
:class:`NotFound` for HTTP 404/410 (try the next mirror at once) and :class:`TransportError` for
everything else (retried with backoff by the callers).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO, Final, Protocol

USER_AGENT: Final = "assembler-debfetch/0.1"
CHUNK_SIZE: Final = 1 << 20


class TransportError(Exception):
    """A transfer failed; ``permanent`` errors are not worth retrying on the same host."""

    def __init__(self, url: str, reason: str, *, permanent: bool = False, unreachable: bool = False) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.permanent = permanent
        self.unreachable = unreachable


class NotFound(TransportError):
    """The server answered 404/410 for this URL."""

    def __init__(self, url: str, reason: str = "not found") -> None:
        super().__init__(url, reason, permanent=True)


class Transport(Protocol):
    def open(self, url: str, *, timeout: float) -> contextlib.AbstractContextManager[IO[bytes]]:
        """Open ``url`` for reading; raise :class:`TransportError` (or :class:`NotFound`)."""
        ...


class UrllibTransport:
    """HTTP(S) and file:// through ``urllib.request``."""

    @contextlib.contextmanager
    def open(self, url: str, *, timeout: float) -> Iterator[IO[bytes]]:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                raise NotFound(url, f"HTTP {e.code}") from None
            raise TransportError(url, f"HTTP {e.code}", permanent=400 <= e.code < 500) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, FileNotFoundError):
                raise NotFound(url, "no such file") from None
            # A host we cannot resolve or connect to is skipped for the rest of the run (this is
            # what makes the unreachable snapshot service fall through fast).
            unreachable = isinstance(reason, socket.gaierror | ConnectionRefusedError | TimeoutError)
            raise TransportError(url, str(reason), unreachable=unreachable) from None
        except (OSError, ValueError) as e:
            raise TransportError(url, str(e) or type(e).__name__) from None
        with response:
            yield response


MAX_UNVERIFIED_BYTES: Final = 64 << 20
"""Cap on a download whose hash is not known in advance (InRelease is ~140 kB)."""


def read_all(transport: Transport, url: str, *, timeout: float, limit: int = MAX_UNVERIFIED_BYTES) -> bytes:
    """Download ``url`` into memory (InRelease files), refusing more than ``limit`` bytes."""
    with transport.open(url, timeout=timeout) as stream:
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := stream.read(CHUNK_SIZE):
                total += len(chunk)
                if total > limit:
                    raise TransportError(url, f"response larger than {limit} bytes", permanent=True)
                chunks.append(chunk)
        except (OSError, http.client.HTTPException) as e:
            raise TransportError(url, str(e) or type(e).__name__) from None
        return b"".join(chunks)
