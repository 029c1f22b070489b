"""The ``newc`` cpio format (magic ``070701``), as the Linux initramfs unpacker reads it.

Layout (Linux ``Documentation/driver-api/early-userspace/buffer-format.rst``, spec
debian-and-rootfs.md §6): each member is a 110-byte ASCII header (magic + 13 fields of 8 hex
digits: ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
namesize including the NUL, check), the NUL-terminated name padded to 4 bytes, then the data
padded to 4 bytes. The archive ends with a member named ``TRAILER!!!``.

Choices made here, all fixed so that the bytes depend only on the entries:
- lower-case hex digits (as GNU cpio writes them), check = 0, all device numbers 0 except rdev;
- inodes numbered from 1 in emission order; a hardlink group shares one inode, its nlink is the
  group size and the data sits on the group's last member (GNU convention); every other member
  has nlink 1;
- the caller decides the order (``assembler.initrd`` sorts by path bytes, which puts parents
  before their children).

A small reader (:func:`read_newc`) is here for ``inspect`` and round-trip tests; tests check the
writer with GNU cpio as an independent reader.
"""

from __future__ import annotations

import stat
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass

from .errors import CpioError

MAGIC = b"070701"
HEADER_SIZE = 110
TRAILER = b"TRAILER!!!"
_MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class CpioEntry:
    """One member. ``data`` is the file content, or the target of a symlink (no NUL)."""

    name: bytes
    mode: int  # full st_mode, file type bits included
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    data: bytes = b""
    rdevmajor: int = 0
    rdevminor: int = 0
    link_key: Hashable | None = None  # members with the same key form one hardlink group


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _header(*, ino: int, mode: int, uid: int, gid: int, nlink: int, mtime: int, size: int,
            rdevmajor: int, rdevminor: int, namesize: int) -> bytes:
    fields = (ino, mode, uid, gid, nlink, mtime, size, 0, 0, rdevmajor, rdevminor, namesize, 0)
    for value in fields:
        if not 0 <= value <= _MAX_U32:
            raise CpioError(f"field value {value} does not fit in a newc header")
    return MAGIC + b"".join(b"%08x" % value for value in fields)


def _member(name: bytes, header: bytes, data: bytes) -> Iterator[bytes]:
    yield header
    yield name + b"\0"
    yield b"\0" * _pad4(HEADER_SIZE + len(name) + 1)
    if data:
        yield data
        yield b"\0" * _pad4(len(data))


def iter_newc(entries: Iterable[CpioEntry]) -> Iterator[bytes]:
    """Yield the archive as chunks, in the given member order, ending with the trailer."""
    members = list(entries)
    group_size = Counter(e.link_key for e in members if e.link_key is not None)
    group_seen: Counter[Hashable] = Counter()
    group_ino: dict[Hashable, int] = {}
    next_ino = 1
    names: set[bytes] = set()
    for entry in members:
        if not entry.name or b"\0" in entry.name:
            raise CpioError(f"invalid member name {entry.name!r}")
        if entry.name in names:
            raise CpioError(f"duplicate member {entry.name.decode(errors='replace')}")
        names.add(entry.name)
        kind = stat.S_IFMT(entry.mode)
        data = entry.data
        if kind not in (stat.S_IFREG, stat.S_IFLNK) and data:
            raise CpioError(f"{entry.name.decode(errors='replace')}: only files and symlinks carry data")
        nlink = 1
        if entry.link_key is not None and group_size[entry.link_key] > 1:
            if kind != stat.S_IFREG:
                raise CpioError(f"{entry.name.decode(errors='replace')}: only regular files can be hardlinked")
            key = entry.link_key
            if key not in group_ino:
                group_ino[key] = next_ino
                next_ino += 1
            ino = group_ino[key]
            nlink = group_size[key]
            group_seen[key] += 1
            if group_seen[key] < nlink:
                data = b""  # the data goes on the group's last member
        else:
            ino = next_ino
            next_ino += 1
        header = _header(ino=ino, mode=entry.mode, uid=entry.uid, gid=entry.gid, nlink=nlink,
                         mtime=entry.mtime, size=len(data), rdevmajor=entry.rdevmajor,
                         rdevminor=entry.rdevminor, namesize=len(entry.name) + 1)
        yield from _member(entry.name, header, data)
    trailer = _header(ino=0, mode=0, uid=0, gid=0, nlink=1, mtime=0, size=0, rdevmajor=0,
                      rdevminor=0, namesize=len(TRAILER) + 1)
    yield from _member(TRAILER, trailer, b"")


def write_newc(entries: Iterable[CpioEntry]) -> bytes:
    """The whole archive as bytes."""
    return b"".join(iter_newc(entries))


@dataclass(frozen=True, slots=True, kw_only=True)
class CpioMember:
    """A member as read back, with its raw header numbers."""

    name: bytes
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    mtime: int
    data: bytes
    rdevmajor: int
    rdevminor: int


def read_newc(archive: bytes) -> list[CpioMember]:
    """Parse one uncompressed newc archive up to its trailer."""
    out: list[CpioMember] = []
    pos = 0
    while True:
        header = archive[pos:pos + HEADER_SIZE]
        if len(header) < HEADER_SIZE or header[:6] not in (b"070701", b"070702"):
            raise CpioError(f"no newc header at offset {pos}")
        try:
            f = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        except ValueError as e:
            raise CpioError(f"bad hex digits in the header at offset {pos}") from e
        ino, mode, uid, gid, nlink, mtime, size, _, _, rmaj, rmin, namesize, _ = f
        name_start = pos + HEADER_SIZE
        name = archive[name_start:name_start + namesize - 1]
        data_start = name_start + namesize + _pad4(HEADER_SIZE + namesize)
        data = archive[data_start:data_start + size]
        if len(data) != size:
            raise CpioError(f"{name.decode(errors='replace')}: data runs past the end of the archive")
        pos = data_start + size + _pad4(size)
        if name == TRAILER:
            return out
        out.append(CpioMember(name=name, ino=ino, mode=mode, uid=uid, gid=gid, nlink=nlink, mtime=mtime,
                              data=data, rdevmajor=rmaj, rdevminor=rmin))
