"""GNU "oldgnu" sparse tar (typeflag ``S``) of one sparse image, gzip-compressed, reproducibly.

Produces what ``tar --format=oldgnu -S --mtime=@0 -czf out.tar.gz disk.raw`` produces for a file
whose holes are runs of zero 512-byte blocks (GNU tar ``sparse_scan_file_raw``), which is the form
Google Compute Engine image import documents. Layout (GNU tar manual, "GNU Tar Format" /
``src/tar.h``): a 512-byte header with the first 4 sparse entries, extension headers of 21 entries
each while ``isextended`` is set, then the data of each segment, two zero blocks, and zero padding to
a 10240-byte record. Numeric fields are octal, or base-256 when they do not fit.

Header fields that GNU tar takes from the host are fixed: mode 0644, uid/gid 0, user/group "root",
mtime given by the caller. gzip: no file name, mtime 0, level 6 (the bytes depend on the zlib
version, which :func:`zlib_version` reports for the manifest).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from gpt.errors import TarError
from gpt.sparse import BLOCK_SIZE, SparseImage, data_segments, read_range

RECORD_SIZE = 20 * BLOCK_SIZE
GZIP_LEVEL = 6  # gzip's default, which ``tar -z`` uses
SPARSE_IN_HEADER = 4
SPARSE_IN_EXTENSION = 21
OLDGNU_MAGIC = b"ustar  \0"
_TYPE_SPARSE = b"S"


def zlib_version() -> str:
    """The zlib runtime that compresses the tarball (its output bytes can differ across versions)."""
    return zlib.ZLIB_RUNTIME_VERSION


def _number(value: int, width: int) -> bytes:
    """GNU tar numeric field: octal digits + NUL, or base-256 (0x80 prefix) when too large."""
    if value < 0:
        raise TarError(f"negative tar field {value}", where="tar header")
    digits = width - 1
    if value < 8**digits:
        return f"{value:0{digits}o}".encode() + b"\0"
    if value >= 256 ** (width - 1):
        raise TarError(f"value {value} does not fit a {width}-byte tar field", where="tar header")
    return b"\x80" + value.to_bytes(width - 1, "big")


@dataclass(frozen=True, slots=True, kw_only=True)
class TarMember:
    """The fixed metadata of the one archive member."""

    name: str
    mtime: int
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    uname: str = "root"
    gname: str = "root"


def _sparse_map(image: SparseImage) -> list[tuple[int, int]]:
    segments = list(data_segments(image))
    # GNU tar records one more, empty, segment when the file ends in a hole.
    if not segments or segments[-1][0] + segments[-1][1] < image.size:
        segments.append((image.size, 0))
    return segments


def _pack_entries(entries: list[tuple[int, int]], slots: int) -> bytes:
    raw = b"".join(_number(offset, 12) + _number(size, 12) for offset, size in entries)
    return raw.ljust(slots * 24, b"\0")


def sparse_headers(member: TarMember, image: SparseImage, segments: list[tuple[int, int]]) -> bytes:
    """The main header and its sparse extension headers."""
    name = member.name.encode()
    if len(name) > 100:
        raise TarError(f"member name {member.name!r} is longer than 100 bytes", where="tar header")
    stored = sum(size for _, size in segments)
    head, rest = segments[:SPARSE_IN_HEADER], segments[SPARSE_IN_HEADER:]
    header = bytearray(BLOCK_SIZE)
    header[0:100] = name.ljust(100, b"\0")
    header[100:108] = _number(member.mode, 8)
    header[108:116] = _number(member.uid, 8)
    header[116:124] = _number(member.gid, 8)
    header[124:136] = _number(stored, 12)
    header[136:148] = _number(member.mtime, 12)
    header[148:156] = b" " * 8
    header[156:157] = _TYPE_SPARSE
    header[257:265] = OLDGNU_MAGIC
    header[265:297] = member.uname.encode().ljust(32, b"\0")[:32]
    header[297:329] = member.gname.encode().ljust(32, b"\0")[:32]
    # oldgnu tail: atime 345, ctime 357, offset 369, longnames 381, pad 385, sp[4] 386, isextended 482,
    # realsize 483.
    header[386:482] = _pack_entries(head, SPARSE_IN_HEADER)
    header[482] = 1 if rest else 0
    header[483:495] = _number(image.size, 12)
    checksum = sum(header)
    header[148:156] = f"{checksum:06o}".encode() + b"\0 "
    blocks = [bytes(header)]
    while rest:
        chunk, rest = rest[:SPARSE_IN_EXTENSION], rest[SPARSE_IN_EXTENSION:]
        ext = bytearray(BLOCK_SIZE)
        ext[0:504] = _pack_entries(chunk, SPARSE_IN_EXTENSION)
        ext[504] = 1 if rest else 0
        blocks.append(bytes(ext))
    return b"".join(blocks)


def iter_sparse_tar(image: SparseImage, member: TarMember) -> Iterator[bytes]:
    """The uncompressed archive as a series of chunks (never the whole disk in memory)."""
    segments = _sparse_map(image)
    headers = sparse_headers(member, image, segments)
    yield headers
    written = 0
    for offset, size in segments:
        for chunk in read_range(image, offset, size):
            written += len(chunk)
            yield chunk
    # Data padded to a block, two zero blocks end the archive, zeros fill the last record.
    tail = -written % BLOCK_SIZE + 2 * BLOCK_SIZE
    tail += -(len(headers) + written + tail) % RECORD_SIZE
    yield bytes(tail)


def write_sparse_tar_gz(image: SparseImage, stream: BinaryIO, *, name: str = "disk.raw", mtime: int = 0) -> None:
    """Write ``image`` as the single sparse member ``name`` of a gzip-compressed tar to ``stream``."""
    member = TarMember(name=name, mtime=mtime)
    with gzip.GzipFile(filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=stream, mtime=0) as gz:
        for chunk in iter_sparse_tar(image, member):
            gz.write(chunk)
