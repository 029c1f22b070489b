"""The newc cpio archives systemd-stub synthesizes at boot, byte for byte.

systemd-stub (src/boot/cpio.c, ``pack_cpio_literal``) wraps some UKI sections into tiny cpio
archives and appends them to the initrd the kernel receives, so the kernel's "Linux initrd"
measurement (PCR9 / RTMR2) covers them. Layout, as systemd writes it (spec measurements.md §5.3,
verified on the test bed with systemd-stub 257.13):

* header = ``"070701"`` + 13 fields of 8 **lower-case** hex digits (ino, mode, uid, gid, nlink, mtime,
  filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check), all zero except as noted;
* one directory record per path component of the target directory (``.extra``: ino 1, mode 040555,
  nlink 1), name + NUL padded to 4 bytes counted from the start of *this* archive;
* the file (``.extra/<name>``: ino 2, mode 0100444, nlink 1, size), name + NUL and data each padded to 4;
* the fixed 124-byte trailer whose namesize is written ``0000000B`` (upper-case B), ``TRAILER!!!`` and
  four NULs.

This is not a general cpio writer (assembler/cpio.py is); it reproduces one peer's output exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

_MAGIC = b"070701"
_DIR_MODE = 0o040000 | 0o555
_FILE_MODE = 0o100000 | 0o444

TRAILER = (
    _MAGIC
    + b"00000000" * 4  # ino, mode, uid, gid
    + b"00000001"  # nlink
    + b"00000000" * 6  # mtime, filesize, dev major/minor, rdev major/minor
    + b"0000000B"  # namesize, as systemd spells it
    + b"00000000"  # check
    + b"TRAILER!!!\x00\x00\x00\x00"
)
assert len(TRAILER) % 4 == 0

#: File names systemd-stub gives the sections it wraps (all under ``.extra``).
PCRSIG_NAME = "tpm2-pcr-signature.json"
PCRPKEY_NAME = "tpm2-pcr-public-key.pem"
OSREL_NAME = "os-release"
PROFILE_NAME = "profile"
EXTRA_DIR = ".extra"


def _header(ino: int, mode: int, size: int, namesize: int) -> bytes:
    fields = (ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, namesize, 0)
    return _MAGIC + b"".join(f"{v:08x}".encode("ascii") for v in fields)


def _pad4(buf: bytearray) -> None:
    buf += bytes(-len(buf) % 4)


def pack_cpio_literal(name: str, data: bytes, *, target_dir: str = EXTRA_DIR) -> bytes:
    """The archive systemd-stub builds for one embedded blob placed at ``target_dir/name``."""
    out = bytearray()
    ino = 1
    parts = target_dir.split("/")
    for i in range(len(parts)):
        path = "/".join(parts[: i + 1]).encode("ascii")
        out += _header(ino, _DIR_MODE, 0, len(path) + 1) + path + b"\x00"
        _pad4(out)
        ino += 1
    path = f"{target_dir}/{name}".encode("ascii")
    out += _header(ino, _FILE_MODE, len(data), len(path) + 1) + path + b"\x00"
    _pad4(out)
    out += data
    _pad4(out)
    out += TRAILER
    return bytes(out)


def combine_initrds(parts: Sequence[bytes]) -> bytes:
    """How systemd-stub joins initrd parts: empty parts dropped; one part as is; several each padded to 4."""
    present = [p for p in parts if p]
    if len(present) == 1:
        return present[0]
    return b"".join(p + bytes(-len(p) % 4) for p in present)
