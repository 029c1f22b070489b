"""The initrd: the whole tree as one sorted newc cpio, compressed with single-threaded zstd.

Members are sorted by path bytes (parents come first), preceded by the root directory ``.`` so the
kernel gives the rootfs our mode; owners are resolved to numbers through the image's own accounts.
zstd runs with a fixed level, no worker threads, content size and no checksum, so the bytes depend
only on the cpio and the pinned libzstd (whose version the manifest records).
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import zstandard

from .accounts import Accounts
from .cpio import CpioEntry, CpioMember, iter_newc, read_newc
from .tree import Kind, Tree

ZSTD_LEVEL = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Initrd:
    cpio_sha256: str
    cpio_size: int
    compressed: bytes
    entries: int


def cpio_entries(tree: Tree, accounts: Accounts, *, epoch: int) -> Iterator[CpioEntry]:
    yield CpioEntry(name=b".", mode=0o40755, mtime=epoch)
    for path, e in tree.items():
        data = e.data if e.kind is Kind.FILE else e.target.encode("utf-8", "surrogateescape")
        yield CpioEntry(
            name=path.encode("utf-8", "surrogateescape"), mode=e.st_mode, uid=accounts.uid(e.user, path),
            gid=accounts.gid(e.group, path), mtime=e.mtime, data=data, rdevmajor=e.rdev[0], rdevminor=e.rdev[1],
            link_key=e.link,
        )


def compress(raw: bytes, level: int = ZSTD_LEVEL) -> bytes:
    cctx = zstandard.ZstdCompressor(level=level, threads=0, write_content_size=True, write_checksum=False)
    return cctx.compress(raw)


def pack(tree: Tree, accounts: Accounts, *, epoch: int, level: int = ZSTD_LEVEL) -> Initrd:
    raw = b"".join(iter_newc(cpio_entries(tree, accounts, epoch=epoch)))
    return Initrd(cpio_sha256=hashlib.sha256(raw).hexdigest(), cpio_size=len(raw), compressed=compress(raw, level),
                  entries=len(tree) + 1)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def decompress(blob: bytes) -> bytes:
    """The cpio inside an initrd as :func:`pack` writes it; a plain cpio is returned as it is."""
    if blob[:4] != ZSTD_MAGIC:
        return blob
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)) as reader:
        return reader.read()


def read_initrd(blob: bytes) -> list[CpioMember]:
    """The members of a (zstd-compressed) newc initrd: what ``inspect``, ``diff`` and tests read."""
    return read_newc(decompress(blob))


def library_versions() -> dict[str, str]:
    """Versions of the compressor libraries whose output is in the image (recorded in the manifest):
    libzstd for the initrd; zlib for the GCP tar.gz."""
    return {
        "libzstd": ".".join(map(str, zstandard.ZSTD_VERSION)),
        "python-zstandard": zstandard.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
