"""Fixed-size VHD (Microsoft "Virtual Hard Disk Image Format Specification" 1.0, 2006): the raw disk
followed by one 512-byte big-endian footer.

Azure wants a fixed VHD whose virtual size is a whole number of MiB. The footer's content matches what
the reference toolchain writes (``qemu-img convert -O vpc -o subformat=fixed,force_size``): creator
"qem2" 5.3 on "Wi2k" and the maximal CHS geometry 65535/16/255, which tells readers (QEMU among them)
to take the size from Current Size rather than from CHS. The two fields qemu-img takes from the host
are fixed: the time stamp comes from SOURCE_DATE_EPOCH and the unique id is a caller-chosen UUID.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from gpt.errors import VhdError

FOOTER_SIZE = 512
MIB = 1024 * 1024
COOKIE = b"conectix"
FEATURES_RESERVED = 0x00000002
FILE_FORMAT_VERSION = 0x00010000
FIXED_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
DISK_TYPE_FIXED = 2
CREATOR_APPLICATION = b"qem2"
CREATOR_VERSION = 0x00050003
CREATOR_HOST_OS = b"Wi2k"
MAX_CYLINDERS, MAX_HEADS, MAX_SECTORS_PER_TRACK = 65535, 16, 255
# Seconds from 1970-01-01 to 2000-01-01 00:00:00 UTC, the VHD time stamp epoch.
VHD_EPOCH = 946684800

# Footer (spec "Hard Disk Footer Format"): Cookie 0, Features 8, File Format Version 12, Data Offset 16,
# Time Stamp 24, Creator Application 28, Creator Version 32, Creator Host OS 36, Original Size 40,
# Current Size 48, Disk Geometry 56 (cylinders u16, heads u8, sectors u8), Disk Type 60, Checksum 64,
# Unique Id 68, Saved State 84, Reserved 85..511.
_FOOTER = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427s")
assert _FOOTER.size == FOOTER_SIZE
_CHECKSUM_OFFSET = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class VhdFooter:
    """The footer fields that vary; the rest are the constants above."""

    size: int
    timestamp: int
    unique_id: uuid.UUID


def vhd_timestamp(source_date_epoch: int) -> int:
    """SOURCE_DATE_EPOCH as VHD seconds since 2000-01-01, clamped to 0..2^32-1."""
    return min(max(source_date_epoch - VHD_EPOCH, 0), 0xFFFFFFFF)


def _checksum(raw: bytes) -> int:
    """Ones' complement of the byte sum with the checksum field as zero."""
    return ~sum(raw) & 0xFFFFFFFF


def write_footer(footer: VhdFooter) -> bytes:
    if footer.size <= 0 or footer.size % MIB:
        raise VhdError(
            f"virtual size {footer.size} is not a positive multiple of 1 MiB",
            where="VHD footer",
            hint="Azure requires MiB-aligned fixed VHDs",
        )
    fields = [
        COOKIE,
        FEATURES_RESERVED,
        FILE_FORMAT_VERSION,
        FIXED_DATA_OFFSET,
        footer.timestamp,
        CREATOR_APPLICATION,
        CREATOR_VERSION,
        CREATOR_HOST_OS,
        footer.size,
        footer.size,
        MAX_CYLINDERS,
        MAX_HEADS,
        MAX_SECTORS_PER_TRACK,
        DISK_TYPE_FIXED,
        0,
        footer.unique_id.bytes,
        0,
        bytes(427),
    ]
    fields[14] = _checksum(_FOOTER.pack(*fields))
    return _FOOTER.pack(*fields)


def read_footer(raw: bytes) -> VhdFooter:
    """Parse and verify a fixed-disk footer (cookie, type, checksum, sizes)."""
    if len(raw) != FOOTER_SIZE:
        raise VhdError(f"footer is {len(raw)} bytes, not {FOOTER_SIZE}", where="VHD footer")
    fields = _FOOTER.unpack(raw)
    if fields[0] != COOKIE:
        raise VhdError(f"cookie {fields[0]!r} is not {COOKIE!r}", where="VHD footer")
    if fields[13] != DISK_TYPE_FIXED or fields[3] != FIXED_DATA_OFFSET:
        raise VhdError(f"disk type {fields[13]} is not fixed", where="VHD footer")
    zeroed = raw[:_CHECKSUM_OFFSET] + bytes(4) + raw[_CHECKSUM_OFFSET + 4 :]
    if _checksum(zeroed) != fields[14]:
        raise VhdError("checksum mismatch", where="VHD footer")
    if fields[8] != fields[9]:
        raise VhdError("original and current size differ", where="VHD footer")
    return VhdFooter(size=fields[9], timestamp=fields[4], unique_id=uuid.UUID(bytes=fields[15]))
