"""debfetch: a verifying Debian archive client.

``lock()`` fetches each suite's InRelease, verifies it against the pinned Debian archive keys,
checks the Packages indexes against the signed Release, resolves the requested packages (spec §2)
and returns a :class:`Lock`; ``fetch()`` downloads the locked .debs into a sha256-named cache.
It knows nothing about images.
"""

from __future__ import annotations

from .cache import default_cache_dir
from .errors import (
    DebfetchError,
    DownloadError,
    FormatError,
    IntegrityError,
    LockfileError,
    SignatureError,
    UnknownPackage,
    Unsatisfiable,
)
from .fetch import fetch
from .index import Source
from .lockfile import Lock, LockedPackage, LockedSource
from .locking import lock
from .mirrors import default_mirrors
from .resolver import Base
from .transport import Transport, UrllibTransport

__all__ = [
    "Base",
    "DebfetchError",
    "DownloadError",
    "FormatError",
    "IntegrityError",
    "Lock",
    "LockedPackage",
    "LockedSource",
    "LockfileError",
    "SignatureError",
    "Source",
    "Transport",
    "UnknownPackage",
    "Unsatisfiable",
    "UrllibTransport",
    "default_cache_dir",
    "default_mirrors",
    "fetch",
    "lock",
]
