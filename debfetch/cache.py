"""Content-addressed download cache (ARCHITECTURE.md "Network and mirrors", spec §1.5).

Files live at ``<root>/sha256/<hex>``. A file is written under a temporary name in the same
directory and renamed into place only after its size and sha256 matched, so a name always
promises its content. A cached file that no longer matches (disk corruption or tampering) is an
:class:`IntegrityError` naming the file; it is never silently used or replaced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from .errors import IntegrityError

CHUNK_SIZE: Final = 1 << 20


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$ASSEMBLER_CACHE``, else ``$XDG_CACHE_HOME/assembler``, else ``~/.cache/assembler``."""
    env = os.environ if environ is None else environ
    if env.get("ASSEMBLER_CACHE"):
        return Path(env["ASSEMBLER_CACHE"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "assembler"
    return Path.home() / ".cache" / "assembler"


def hash_file(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class SizeExceeded(Exception):
    """A stream delivered more bytes than expected (aborts the transfer early)."""


@dataclass(frozen=True, slots=True)
class Cache:
    root: Path

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def lookup(self, sha256: str, size: int) -> Path | None:
        """The cached file for ``sha256`` after re-checking it, or None if absent."""
        path = self.path_for(sha256)
        if not path.is_file():
            return None
        got_size, got_sha = hash_file(path)
        if got_size != size or got_sha != sha256:
            raise IntegrityError(
                f"cached file does not match its name (size {got_size}, sha256 {got_sha})",
                where=str(path), hint="the cache was altered; delete the file to download it again",
            )
        return path

    def store_stream(self, stream: IO[bytes], *, sha256: str, size: int, where: str) -> Path:
        """Copy ``stream`` into the cache; raise :class:`IntegrityError` on a size/sha256 mismatch."""
        final = self.path_for(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{sha256[:16]}.", suffix=".part", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            got = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    got += len(chunk)
                    if got > size:
                        raise IntegrityError(f"more than the expected {size} bytes", where=where)
                    digest.update(chunk)
                    out.write(chunk)
            if got != size:
                raise IntegrityError(f"size {got} differs from the expected {size}", where=where)
            if digest.hexdigest() != sha256:
                raise IntegrityError(f"sha256 {digest.hexdigest()} differs from the expected {sha256}",
                                     where=where)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            return final
        finally:
            tmp.unlink(missing_ok=True)

    def store_bytes(self, data: bytes, *, sha256: str, where: str) -> Path:
        """Cache ``data`` that the caller already verified against ``sha256``."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"sha256 differs from the expected {sha256}", where=where)
        final = self.path_for(sha256)
        if final.is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{sha256[:16]}.", suffix=".part", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final
