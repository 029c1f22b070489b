"""GUID Partition Table: protective MBR, primary and backup headers and entry arrays.

Follows UEFI 2.10 §5.2.3 (protective MBR) and §5.3 (GPT header, partition entry array). Sector size is
fixed at 512 bytes, entries at 128 bytes; the header is revision 1.0 (0x00010000), 92 bytes.
Also builds the ``UEFI_GPT_DATA`` payload that firmware measures as EV_EFI_GPT_EVENT (TCG PC Client
PFP §10.4.4 / EDK2 ``Tcg2MeasureGptTable``): the primary header as on disk (92 bytes incl. its CRC32),
``UINT64 NumberOfPartitions`` and the entries whose type GUID is not zero, in table order.

Supported: any number of partitions up to ``entry_count``; refused: 4Kn sectors, hybrid MBRs.
"""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from gpt.errors import LayoutError, PartitionTableError

SECTOR_SIZE = 512
ENTRY_SIZE = 128
DEFAULT_ENTRY_COUNT = 128
HEADER_SIZE = 92
GPT_REVISION = 0x00010000
GPT_SIGNATURE = b"EFI PART"
MAX_NAME_UNITS = 36
MIB = 1024 * 1024
ALIGNMENT_SECTORS = MIB // SECTOR_SIZE

ESP_TYPE_GUID = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
LINUX_DATA_TYPE_GUID = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")

# UEFI 2.10 table 5-6: Signature, Revision, HeaderSize, HeaderCRC32, Reserved, MyLBA, AlternateLBA,
# FirstUsableLBA, LastUsableLBA, DiskGUID, PartitionEntryLBA, NumberOfPartitionEntries,
# SizeOfPartitionEntry, PartitionEntryArrayCRC32 (offsets 0, 8, 12, 16, 20, 24, 32, 40, 48, 56, 72, 80,
# 84, 88).
_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
assert _HEADER.size == HEADER_SIZE
_HEADER_CRC_OFFSET = 16
# UEFI 2.10 table 5-7: PartitionTypeGUID, UniquePartitionGUID, StartingLBA, EndingLBA, Attributes,
# PartitionName (offsets 0, 16, 32, 40, 48, 56).
_ENTRY = struct.Struct("<16s16sQQQ72s")
assert _ENTRY.size == ENTRY_SIZE
# UEFI 2.10 table 5-4 (legacy MBR partition record): BootIndicator, StartingCHS, OSType, EndingCHS,
# StartingLBA, SizeInLBA.
_MBR_RECORD = struct.Struct("<B3sB3sII")
_MBR_RECORDS_OFFSET = 446
_PROTECTIVE_OS_TYPE = 0xEE


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """One partition entry; LBAs are inclusive, as in the entry itself."""

    type_guid: uuid.UUID
    unique_guid: uuid.UUID
    first_lba: int
    last_lba: int
    attributes: int = 0
    name: str = ""

    @property
    def size_bytes(self) -> int:
        return (self.last_lba - self.first_lba + 1) * SECTOR_SIZE

    @property
    def offset_bytes(self) -> int:
        return self.first_lba * SECTOR_SIZE


@dataclass(frozen=True, slots=True, kw_only=True)
class GptTable:
    """A whole GPT: the disk it describes and its partitions in entry-array order."""

    disk_guid: uuid.UUID
    sectors: int
    first_usable_lba: int
    last_usable_lba: int
    partitions: tuple[Partition, ...]
    entry_count: int = DEFAULT_ENTRY_COUNT

    @property
    def size_bytes(self) -> int:
        return self.sectors * SECTOR_SIZE

    @property
    def entry_array_sectors(self) -> int:
        return -(-self.entry_count * ENTRY_SIZE // SECTOR_SIZE)

    @property
    def backup_header_lba(self) -> int:
        return self.sectors - 1

    @property
    def backup_entries_lba(self) -> int:
        return self.sectors - 1 - self.entry_array_sectors


def _check_name(name: str) -> bytes:
    encoded = name.encode("utf-16-le")
    if len(encoded) > MAX_NAME_UNITS * 2:
        raise PartitionTableError(
            f"partition name {name!r} is longer than {MAX_NAME_UNITS} UTF-16 code units", where="GPT entry"
        )
    if "\0" in name:
        raise PartitionTableError(f"partition name {name!r} contains NUL", where="GPT entry")
    return encoded.ljust(MAX_NAME_UNITS * 2, b"\0")


def plan_gpt(
    *,
    disk_guid: uuid.UUID,
    size_bytes: int,
    partitions: tuple[Partition, ...],
    first_usable_lba: int = ALIGNMENT_SECTORS,
    entry_count: int = DEFAULT_ENTRY_COUNT,
) -> GptTable:
    """Check the layout and return the table; LastUsableLBA leaves room for the backup array+header.

    ``first_usable_lba`` defaults to 2048 as libfdisk (and so systemd-repart) writes it.
    """
    if size_bytes % SECTOR_SIZE:
        raise LayoutError(f"disk size {size_bytes} is not a multiple of {SECTOR_SIZE}", where="GPT")
    if entry_count * ENTRY_SIZE < 16384:
        raise PartitionTableError(
            f"{entry_count} entries: UEFI requires at least 16384 bytes of entry array", where="GPT"
        )
    if len(partitions) > entry_count:
        raise PartitionTableError(f"{len(partitions)} partitions do not fit {entry_count} entries")
    sectors = size_bytes // SECTOR_SIZE
    array_sectors = -(-entry_count * ENTRY_SIZE // SECTOR_SIZE)
    min_first = 2 + array_sectors
    last_usable = sectors - 2 - array_sectors
    if first_usable_lba < min_first or first_usable_lba > last_usable:
        raise LayoutError(
            f"FirstUsableLBA {first_usable_lba} outside {min_first}..{last_usable}",
            where="GPT",
            hint="the disk is too small for its table",
        )
    table = GptTable(
        disk_guid=disk_guid,
        sectors=sectors,
        first_usable_lba=first_usable_lba,
        last_usable_lba=last_usable,
        partitions=partitions,
        entry_count=entry_count,
    )
    verify_layout(table)
    return table


def verify_layout(table: GptTable) -> None:
    """Raise unless every partition lies in the usable range, none overlap and GUIDs are unique."""
    seen: set[uuid.UUID] = set()
    spans: list[tuple[int, int, int]] = []
    for index, part in enumerate(table.partitions):
        where = f"GPT entry {index + 1}"
        if part.type_guid.int == 0:
            raise PartitionTableError("type GUID is zero (that marks an unused entry)", where=where)
        if part.unique_guid in seen or part.unique_guid == table.disk_guid:
            raise PartitionTableError(f"unique GUID {part.unique_guid} is used twice", where=where)
        seen.add(part.unique_guid)
        if not table.first_usable_lba <= part.first_lba <= part.last_lba <= table.last_usable_lba:
            raise LayoutError(
                f"LBAs {part.first_lba}..{part.last_lba} outside usable "
                f"{table.first_usable_lba}..{table.last_usable_lba}",
                where=where,
            )
        if not 0 <= part.attributes < 1 << 64:
            raise PartitionTableError(f"attributes {part.attributes:#x} do not fit 64 bits", where=where)
        _check_name(part.name)
        spans.append((part.first_lba, part.last_lba, index))
    spans.sort()
    for (_, last, a), (first, _, b) in itertools.pairwise(spans):
        if first <= last:
            raise LayoutError(f"GPT entries {a + 1} and {b + 1} overlap", where="GPT")


def _chs(lba: int) -> bytes:
    """CHS address for a 255-head, 63-sector geometry; clamps to 1023/254/63 as UEFI §5.2.3 allows."""
    heads, sectors_per_track = 255, 63
    cylinder = lba // (heads * sectors_per_track)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head = (lba // sectors_per_track) % heads
    sector = lba % sectors_per_track + 1
    return bytes((head, ((cylinder >> 2) & 0xC0) | sector, cylinder & 0xFF))


def write_protective_mbr(sectors: int) -> bytes:
    """LBA 0: one 0xEE record covering LBA 1 to the end of the disk (capped at 2^32-1 sectors)."""
    size = min(sectors - 1, 0xFFFFFFFF)
    record = _MBR_RECORD.pack(0, _chs(1), _PROTECTIVE_OS_TYPE, _chs(sectors - 1), 1, size)
    mbr = bytearray(SECTOR_SIZE)
    mbr[_MBR_RECORDS_OFFSET : _MBR_RECORDS_OFFSET + _MBR_RECORD.size] = record
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def write_entries(table: GptTable) -> bytes:
    """The partition entry array (``entry_count`` entries, unused ones all zero)."""
    out = bytearray(table.entry_count * ENTRY_SIZE)
    for index, part in enumerate(table.partitions):
        out[index * ENTRY_SIZE : (index + 1) * ENTRY_SIZE] = _ENTRY.pack(
            part.type_guid.bytes_le,
            part.unique_guid.bytes_le,
            part.first_lba,
            part.last_lba,
            part.attributes,
            _check_name(part.name),
        )
    return bytes(out)


def write_header(table: GptTable, *, backup: bool = False, entries: bytes | None = None) -> bytes:
    """The 92-byte header with both CRC32s filled in (primary at LBA 1, backup at the last LBA)."""
    array = write_entries(table) if entries is None else entries
    my_lba, alternate = (table.backup_header_lba, 1) if backup else (1, table.backup_header_lba)
    entries_lba = table.backup_entries_lba if backup else 2
    fields = (
        GPT_SIGNATURE,
        GPT_REVISION,
        HEADER_SIZE,
        0,
        0,
        my_lba,
        alternate,
        table.first_usable_lba,
        table.last_usable_lba,
        table.disk_guid.bytes_le,
        entries_lba,
        table.entry_count,
        ENTRY_SIZE,
        zlib.crc32(array),
    )
    without_crc = _HEADER.pack(*fields)
    return _HEADER.pack(*fields[:3], zlib.crc32(without_crc), *fields[4:])


@dataclass(frozen=True, slots=True, kw_only=True)
class GptRegions:
    """The two byte runs a GPT occupies: LBA 0..(2+array) and the backup array+header at the end."""

    primary_offset: int
    primary: bytes
    backup_offset: int
    backup: bytes


def write_gpt(table: GptTable) -> GptRegions:
    """Protective MBR, primary header and array, backup array and header, as two contiguous runs."""
    verify_layout(table)
    entries = write_entries(table)
    array_bytes = entries.ljust(table.entry_array_sectors * SECTOR_SIZE, b"\0")
    primary = (
        write_protective_mbr(table.sectors)
        + write_header(table, entries=entries).ljust(SECTOR_SIZE, b"\0")
        + array_bytes
    )
    backup = array_bytes + write_header(table, backup=True, entries=entries).ljust(SECTOR_SIZE, b"\0")
    return GptRegions(
        primary_offset=0,
        primary=primary,
        backup_offset=table.backup_entries_lba * SECTOR_SIZE,
        backup=backup,
    )


def uefi_gpt_data_for(table: GptTable) -> bytes:
    """``UEFI_GPT_DATA`` for a table we plan: primary header || UINT64 N || the N used entries."""
    entries = write_entries(table)
    used = entries[: len(table.partitions) * ENTRY_SIZE]
    return write_header(table, entries=entries) + struct.pack("<Q", len(table.partitions)) + used


ReadAt = Callable[[int, int], bytes]


def _reader(source: bytes | BinaryIO) -> tuple[ReadAt, int]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)

        def read_bytes(offset: int, size: int) -> bytes:
            return data[offset : offset + size]

        return read_bytes, len(data)
    stream = source
    size = stream.seek(0, 2)

    def read_stream(offset: int, length: int) -> bytes:
        stream.seek(offset)
        return stream.read(length)

    return read_stream, size


def _parse_header(raw: bytes, where: str) -> tuple[tuple[int, ...], tuple[bytes, ...]]:
    if len(raw) < HEADER_SIZE:
        raise PartitionTableError("truncated header", where=where)
    fields = _HEADER.unpack(raw[:HEADER_SIZE])
    signature, revision, header_size, header_crc = fields[0], fields[1], fields[2], fields[3]
    if signature != GPT_SIGNATURE:
        raise PartitionTableError(f"signature {signature!r} is not {GPT_SIGNATURE!r}", where=where)
    if header_size != HEADER_SIZE or revision != GPT_REVISION:
        raise PartitionTableError(f"unsupported header revision {revision:#x} / size {header_size}", where=where)
    zeroed = raw[:_HEADER_CRC_OFFSET] + b"\0\0\0\0" + raw[_HEADER_CRC_OFFSET + 4 : HEADER_SIZE]
    if zlib.crc32(zeroed) != header_crc:
        raise PartitionTableError("header CRC32 mismatch", where=where)
    ints = tuple(f for f in fields if isinstance(f, int))
    blobs = tuple(f for f in fields if isinstance(f, bytes))
    return ints, blobs


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedGpt:
    """What :func:`read_gpt` found: the table plus the raw primary header and entry array."""

    table: GptTable
    header: bytes
    entries: bytes


def read_gpt(source: bytes | BinaryIO) -> ParsedGpt:
    """Parse and verify a GPT: signatures, both CRC32s, and that the backup agrees with the primary."""
    read, disk_size = _reader(source)
    if disk_size % SECTOR_SIZE or disk_size < 3 * SECTOR_SIZE:
        raise PartitionTableError(f"disk size {disk_size} is not a whole number of sectors", where="disk")
    mbr = read(0, SECTOR_SIZE)
    if mbr[510:512] != b"\x55\xaa":
        raise PartitionTableError("no MBR boot signature", where="LBA 0")
    os_type = mbr[_MBR_RECORDS_OFFSET + 4]
    if os_type != _PROTECTIVE_OS_TYPE:
        raise PartitionTableError(f"first MBR record has type {os_type:#x}, not 0xee", where="LBA 0")
    header = read(SECTOR_SIZE, HEADER_SIZE)
    ints, blobs = _parse_header(header, "primary GPT header")
    _, _, _, _, my_lba, alternate, first_usable, last_usable, entries_lba, count, entry_size, array_crc = ints
    sectors = disk_size // SECTOR_SIZE
    if my_lba != 1 or alternate != sectors - 1:
        raise PartitionTableError(
            f"MyLBA {my_lba} / AlternateLBA {alternate} do not match a {sectors}-sector disk",
            where="primary GPT header",
        )
    if entry_size != ENTRY_SIZE:
        raise PartitionTableError(f"entry size {entry_size} is not {ENTRY_SIZE}", where="primary GPT header")
    entries = read(entries_lba * SECTOR_SIZE, count * ENTRY_SIZE)
    if zlib.crc32(entries) != array_crc:
        raise PartitionTableError("entry array CRC32 mismatch", where="primary GPT entries")
    partitions: list[Partition] = []
    for index in range(count):
        type_le, unique_le, first, last, attrs, name_raw = _ENTRY.unpack_from(entries, index * ENTRY_SIZE)
        if type_le == bytes(16):
            continue
        name = name_raw.decode("utf-16-le").split("\0", 1)[0]
        partitions.append(
            Partition(
                type_guid=uuid.UUID(bytes_le=type_le),
                unique_guid=uuid.UUID(bytes_le=unique_le),
                first_lba=first,
                last_lba=last,
                attributes=attrs,
                name=name,
            )
        )
    table = GptTable(
        disk_guid=uuid.UUID(bytes_le=blobs[1]),
        sectors=sectors,
        first_usable_lba=first_usable,
        last_usable_lba=last_usable,
        partitions=tuple(partitions),
        entry_count=count,
    )
    backup_header = read((sectors - 1) * SECTOR_SIZE, HEADER_SIZE)
    b_ints, b_blobs = _parse_header(backup_header, "backup GPT header")
    backup_entries = read(b_ints[8] * SECTOR_SIZE, count * ENTRY_SIZE)
    if (
        b_ints[4] != sectors - 1
        or b_ints[5] != 1
        or b_ints[6:8] != (first_usable, last_usable)
        or b_ints[9:] != ints[9:]
        or b_blobs[1] != blobs[1]
        or backup_entries != entries
    ):
        raise PartitionTableError("backup GPT does not match the primary", where="backup GPT header")
    verify_layout(table)
    return ParsedGpt(table=table, header=header, entries=entries)


def uefi_gpt_data(source: bytes | BinaryIO | GptTable) -> bytes:
    """The ``UEFI_GPT_DATA`` event payload for a disk image (bytes or a seekable file) or a table.

    Built from the bytes on disk, as firmware does: the 92-byte primary header, UINT64 count, then the
    entries with a non-zero type GUID in array order (each SizeOfPartitionEntry bytes).
    """
    if isinstance(source, GptTable):
        return uefi_gpt_data_for(source)
    parsed = read_gpt(source)
    used = [
        parsed.entries[i * ENTRY_SIZE : (i + 1) * ENTRY_SIZE]
        for i in range(parsed.table.entry_count)
        if parsed.entries[i * ENTRY_SIZE : i * ENTRY_SIZE + 16] != bytes(16)
    ]
    return parsed.header + struct.pack("<Q", len(used)) + b"".join(used)


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment``."""
    return -(-value // alignment) * alignment
