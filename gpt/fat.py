"""FAT32 (and, when allowed, FAT16/FAT12) file systems written from a list of files, reproducibly.

Follows Microsoft's "FAT: General Overview of On-Disk Format" 1.03 (fatgen103): BPB fields, FAT type
by cluster count (< 4085 FAT12, < 65525 FAT16, else FAT32), FAT32 cluster size table (page 20, as
mkfs.fat uses it), FSInfo, the backup boot sector at 6, long file names (VFAT LFN) with short-name
checksums, and the date/time encoding. 512-byte sectors only.

Everything that mkfs.fat/mtools take from the host is an argument or a constant: volume serial, label,
timestamps (one SOURCE_DATE_EPOCH for every entry, clamped to the FAT range 1980..2107, UTC), directory
entry order (names sorted by their UTF-8 bytes), and cluster allocation (directories first, then files,
each pre-order, each contiguous). The result is a list of extents, so a file's bytes are never copied.
"""

from __future__ import annotations

import datetime
import enum
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from gpt.errors import FatError
from gpt.sparse import Extent

log = logging.getLogger(__name__)

SECTOR_SIZE = 512
DIR_ENTRY_SIZE = 32
FAT32_RESERVED_SECTORS = 32
FAT32_FSINFO_SECTOR = 1
FAT32_BACKUP_BOOT_SECTOR = 6
SMALL_FAT_RESERVED_SECTORS = 1
SMALL_FAT_ROOT_ENTRIES = 512
NUM_FATS = 2
MEDIA_FIXED = 0xF8
MIN_FAT16_CLUSTERS = 4085
MIN_FAT32_CLUSTERS = 65525
MAX_FAT32_CLUSTERS = 0x0FFFFFF5 - 2
LFN_UNITS_PER_ENTRY = 13
MAX_LFN_UNITS = 255
OEM_NAME = b"MSWIN4.1"
NO_LABEL = "NO NAME"

ATTR_READ_ONLY = 0x01
ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_ARCHIVE = 0x20
ATTR_LONG_NAME = 0x0F

# fatgen103 p.14: characters not allowed in short names besides < 0x20; long names allow + , ; = [ ] . and
# space as well.
_SHORT_INVALID = set('"*+,./:;<=>?[\\]|')
_LONG_INVALID = set('"*/:<>?\\|')

# Directory entry (fatgen103 p.23): DIR_Name, DIR_Attr, DIR_NTRes, DIR_CrtTimeTenth, DIR_CrtTime,
# DIR_CrtDate, DIR_LstAccDate, DIR_FstClusHI, DIR_WrtTime, DIR_WrtDate, DIR_FstClusLO, DIR_FileSize.
_DIR_ENTRY = struct.Struct("<11sBBBHHHHHHHI")
assert _DIR_ENTRY.size == DIR_ENTRY_SIZE
# LFN entry (fatgen103 p.28): LDIR_Ord, LDIR_Name1, LDIR_Attr, LDIR_Type, LDIR_Chksum, LDIR_Name2,
# LDIR_FstClusLO, LDIR_Name3.
_LFN_ENTRY = struct.Struct("<B10sBBB12sH4s")
assert _LFN_ENTRY.size == DIR_ENTRY_SIZE
# BPB common part (offsets 0..35): BS_jmpBoot, BS_OEMName, BPB_BytsPerSec, BPB_SecPerClus,
# BPB_RsvdSecCnt, BPB_NumFATs, BPB_RootEntCnt, BPB_TotSec16, BPB_Media, BPB_FATSz16, BPB_SecPerTrk,
# BPB_NumHeads, BPB_HiddSec, BPB_TotSec32.
_BPB = struct.Struct("<3s8sHBHBHHBHHHII")
assert _BPB.size == 36
# FAT32 extension (offsets 36..89): BPB_FATSz32, BPB_ExtFlags, BPB_FSVer, BPB_RootClus, BPB_FSInfo,
# BPB_BkBootSec, BPB_Reserved, BS_DrvNum, BS_Reserved1, BS_BootSig, BS_VolID, BS_VolLab, BS_FilSysType.
_BPB32 = struct.Struct("<IHHIHH12sBBBI11s8s")
assert _BPB32.size == 54
# FAT12/16 extension (offsets 36..61): BS_DrvNum, BS_Reserved1, BS_BootSig, BS_VolID, BS_VolLab,
# BS_FilSysType.
_BPB16 = struct.Struct("<BBBI11s8s")
assert _BPB16.size == 26
_SECTORS_PER_TRACK = 63
_HEADS = 255


class FatType(enum.IntEnum):
    FAT12 = 12
    FAT16 = 16
    FAT32 = 32

    @property
    def fs_type_label(self) -> bytes:
        return f"FAT{self.value}".encode().ljust(8)


@dataclass(frozen=True, slots=True, kw_only=True)
class FatGeometry:
    """Where everything sits in the volume, in sectors; ``clusters`` is the data cluster count."""

    fat_type: FatType
    total_sectors: int
    sectors_per_cluster: int
    reserved_sectors: int
    fat_sectors: int
    root_entries: int
    clusters: int

    @property
    def cluster_size(self) -> int:
        return self.sectors_per_cluster * SECTOR_SIZE

    @property
    def root_dir_sectors(self) -> int:
        return self.root_entries * DIR_ENTRY_SIZE // SECTOR_SIZE

    @property
    def first_data_sector(self) -> int:
        return self.reserved_sectors + NUM_FATS * self.fat_sectors + self.root_dir_sectors

    def cluster_offset(self, cluster: int) -> int:
        """Byte offset of a data cluster (numbered from 2) from the start of the volume."""
        return (self.first_data_sector + (cluster - 2) * self.sectors_per_cluster) * SECTOR_SIZE


def _fat_bytes(fat_type: FatType, entries: int) -> int:
    return entries * 4 if fat_type is FatType.FAT32 else (entries * fat_type.value + 7) // 8


def _geometry(total: int, fat_type: FatType, spc: int) -> FatGeometry | None:
    """Smallest FAT that covers the clusters left after it; data area aligned to the cluster size."""
    reserved = FAT32_RESERVED_SECTORS if fat_type is FatType.FAT32 else SMALL_FAT_RESERVED_SECTORS
    root_entries = 0 if fat_type is FatType.FAT32 else SMALL_FAT_ROOT_ENTRIES
    root_sectors = root_entries * DIR_ENTRY_SIZE // SECTOR_SIZE
    fat_sectors = 1
    for _ in range(64):
        meta = reserved + NUM_FATS * fat_sectors + root_sectors
        if meta % spc:
            reserved += spc - meta % spc
            meta = reserved + NUM_FATS * fat_sectors + root_sectors
        if meta >= total:
            return None
        clusters = (total - meta) // spc
        needed = -(-_fat_bytes(fat_type, clusters + 2) // SECTOR_SIZE)
        if needed <= fat_sectors:
            return FatGeometry(
                fat_type=fat_type,
                total_sectors=total,
                sectors_per_cluster=spc,
                reserved_sectors=reserved,
                fat_sectors=fat_sectors,
                root_entries=root_entries,
                clusters=clusters,
            )
        fat_sectors = needed
    raise AssertionError("FAT size did not converge")


def _fat32_default_spc(total: int) -> int:
    """fatgen103 p.20 (DskTableFAT32), as mkfs.fat applies it."""
    for limit, spc in ((532480, 1), (16777216, 8), (33554432, 16), (67108864, 32)):
        if total <= limit:
            return spc
    return 64


def _type_of(clusters: int) -> FatType:
    if clusters < MIN_FAT16_CLUSTERS:
        return FatType.FAT12
    if clusters < MIN_FAT32_CLUSTERS:
        return FatType.FAT16
    return FatType.FAT32


def plan_geometry(size_bytes: int, *, allow_small_fat: bool = False) -> FatGeometry:
    """FAT32 with the fatgen103 cluster size (halved until there are >= 65525 clusters); FAT16 or FAT12
    only if ``allow_small_fat`` and the volume is too small for FAT32."""
    if size_bytes % SECTOR_SIZE:
        raise FatError(f"volume size {size_bytes} is not a multiple of {SECTOR_SIZE}", where="FAT")
    total = size_bytes // SECTOR_SIZE
    spc = _fat32_default_spc(total)
    while True:
        geometry = _geometry(total, FatType.FAT32, spc)
        if geometry is not None and MIN_FAT32_CLUSTERS <= geometry.clusters <= MAX_FAT32_CLUSTERS:
            return geometry
        if spc == 1:
            break
        spc //= 2
    if not allow_small_fat:
        raise FatError(
            f"{size_bytes} bytes is too small for FAT32 (needs {MIN_FAT32_CLUSTERS} clusters)",
            where="FAT",
            hint="make the partition at least 33 MiB or allow FAT16/FAT12",
        )
    for fat_type in (FatType.FAT16, FatType.FAT12):
        for shift in range(8):
            candidate = _geometry(total, fat_type, 1 << shift)
            if candidate is not None and candidate.clusters >= 1 and _type_of(candidate.clusters) is fat_type:
                return candidate
    raise FatError(f"{size_bytes} bytes is too small for any FAT", where="FAT")


@dataclass(frozen=True, slots=True, kw_only=True)
class FatTimestamp:
    """A FAT date/time pair (local time per the spec; we always store UTC)."""

    date: int
    time: int
    tenths: int


_FAT_EPOCH_MIN = int(datetime.datetime(1980, 1, 1, tzinfo=datetime.UTC).timestamp())
_FAT_EPOCH_MAX = int(datetime.datetime(2107, 12, 31, 23, 59, 59, tzinfo=datetime.UTC).timestamp())


def fat_timestamp(epoch: int) -> FatTimestamp:
    """Encode seconds since 1970 (UTC), clamped to the FAT range 1980-01-01..2107-12-31."""
    clamped = min(max(epoch, _FAT_EPOCH_MIN), _FAT_EPOCH_MAX)
    moment = datetime.datetime.fromtimestamp(clamped, tz=datetime.UTC)
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    # DIR_CrtTimeTenth counts 10 ms units 0..199 and carries the odd second.
    return FatTimestamp(date=date, time=time, tenths=(moment.second % 2) * 100)


def _is_short_name(name: str) -> bool:
    if name in (".", ".."):
        return False
    base, dot, ext = name.partition(".")
    if not base or len(base) > 8 or len(ext) > 3 or (dot and not ext) or "." in ext:
        return False
    return all(0x20 < ord(c) < 0x7F and c not in _SHORT_INVALID and not c.islower() for c in base + ext)


def _pack_short(base: str, ext: str) -> bytes:
    raw = base.encode("ascii").ljust(8) + ext.encode("ascii").ljust(3)
    # fatgen103 p.23: a leading 0xE5 is stored as 0x05.
    return b"\x05" + raw[1:] if raw[0] == 0xE5 else raw


def _short_alias(name: str, taken: set[bytes]) -> bytes:
    """Numeric-tail alias (fatgen103 p.30 basis name + ``~N``) for a name that needs an LFN."""

    def clean(part: str) -> str:
        out = []
        for c in part.upper().replace(" ", ""):
            ok = 0x20 < ord(c) < 0x7F and c not in _SHORT_INVALID
            out.append(c if ok else "_")
        return "".join(out)

    stripped = name.lstrip(".")
    base, _, ext = stripped.rpartition(".") if "." in stripped else (stripped, "", "")
    base, ext = clean(base) or "_", clean(ext)[:3]
    for n in range(1, 1000000):
        tail = f"~{n}"
        candidate = _pack_short(base[: 8 - len(tail)] + tail, ext)
        if candidate not in taken:
            return candidate
    raise FatError(f"no free short name for {name!r}", where="FAT directory")


def lfn_checksum(short_name: bytes) -> int:
    """fatgen103 p.28 ChkSum over the 11-byte short name."""
    total = 0
    for byte in short_name:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _lfn_entries(name: str, short_name: bytes) -> list[bytes]:
    units = name.encode("utf-16-le")
    count = -(-len(units) // (LFN_UNITS_PER_ENTRY * 2))
    padded = units
    if len(padded) < count * LFN_UNITS_PER_ENTRY * 2:
        padded += b"\0\0"
    padded = padded.ljust(count * LFN_UNITS_PER_ENTRY * 2, b"\xff")
    checksum = lfn_checksum(short_name)
    entries = []
    for index in range(count):
        chunk = padded[index * 26 : (index + 1) * 26]
        order = index + 1 | (0x40 if index == count - 1 else 0)
        entries.append(_LFN_ENTRY.pack(order, chunk[0:10], ATTR_LONG_NAME, 0, checksum, chunk[10:22], 0, chunk[22:26]))
    entries.reverse()
    return entries


def _check_long_name(name: str, path: str) -> None:
    if name in ("", ".", "..") or any(ord(c) < 0x20 or c in _LONG_INVALID for c in name):
        raise FatError(f"invalid FAT file name {name!r}", where=path)
    if name != name.rstrip(" ."):
        raise FatError(f"FAT names cannot end in space or dot: {name!r}", where=path)
    if len(name.encode("utf-16-le")) // 2 > MAX_LFN_UNITS:
        raise FatError(f"name longer than {MAX_LFN_UNITS} UTF-16 units", where=path)


@dataclass(slots=True)
class _Node:
    """Build-time directory tree (private, mutable while planning)."""

    path: str
    data: bytes | None  # None for a directory
    children: dict[str, _Node]
    first_cluster: int = 0
    cluster_count: int = 0


def _build_tree(files: Mapping[str, bytes], directories: tuple[str, ...]) -> _Node:
    root = _Node(path="", data=None, children={})
    folded: dict[str, str] = {}

    def add(path: str, data: bytes | None) -> None:
        parts = path.strip("/").split("/")
        node = root
        for depth, part in enumerate(parts):
            sub = "/".join(parts[: depth + 1])
            _check_long_name(part, sub)
            key = sub.upper()
            if key in folded and folded[key] != sub:
                raise FatError(f"{sub!r} and {folded[key]!r} differ only in case", where=sub)
            folded[key] = sub
            last = depth == len(parts) - 1
            child = node.children.get(part)
            if child is None:
                child = _Node(path=sub, data=data if last else None, children={})
                node.children[part] = child
            elif last or child.data is not None:
                raise FatError("path given twice or used both as file and directory", where=sub)
            node = child

    for directory in sorted(directories, key=lambda p: p.encode()):
        add(directory, None)
    for path in sorted(files, key=lambda p: p.encode()):
        add(path, files[path])
    return root


def _dir_entries(node: _Node, *, root: bool, label: str, stamp: FatTimestamp, parent_cluster: int) -> bytes:
    """The directory's entries: label (root) or ``.``/``..``, then children sorted by UTF-8 name."""

    def short_entry(name11: bytes, attr: int, cluster: int, size: int) -> bytes:
        return _DIR_ENTRY.pack(
            name11,
            attr,
            0,
            stamp.tenths,
            stamp.time,
            stamp.date,
            stamp.date,
            cluster >> 16,
            stamp.time,
            stamp.date,
            cluster & 0xFFFF,
            size,
        )

    out: list[bytes] = []
    if root:
        if label != NO_LABEL:
            out.append(short_entry(_label_bytes(label), ATTR_VOLUME_ID, 0, 0))
    else:
        out.append(short_entry(b".".ljust(11), ATTR_DIRECTORY, node.first_cluster, 0))
        out.append(short_entry(b"..".ljust(11), ATTR_DIRECTORY, parent_cluster, 0))
    taken: set[bytes] = set()
    for name in sorted(node.children, key=lambda n: n.encode()):
        if _is_short_name(name):
            base, _, ext = name.partition(".")
            taken.add(_pack_short(base, ext))
    for name in sorted(node.children, key=lambda n: n.encode()):
        child = node.children[name]
        if _is_short_name(name):
            base, _, ext = name.partition(".")
            short = _pack_short(base, ext)
        else:
            short = _short_alias(name, taken)
            taken.add(short)
            out.extend(_lfn_entries(name, short))
        if child.data is None:
            out.append(short_entry(short, ATTR_DIRECTORY, child.first_cluster, 0))
        else:
            out.append(short_entry(short, ATTR_ARCHIVE, child.first_cluster, len(child.data)))
    return b"".join(out)


def _entry_count(node: _Node, *, root: bool, label: str) -> int:
    count = (1 if label != NO_LABEL else 0) if root else 2
    for name in node.children:
        count += 1
        if not _is_short_name(name):
            count += -(-len(name.encode("utf-16-le")) // (LFN_UNITS_PER_ENTRY * 2))
    return count


def _label_bytes(label: str) -> bytes:
    try:
        raw = label.encode("ascii")
    except UnicodeEncodeError as e:
        raise FatError(f"volume label {label!r} is not ASCII", where="FAT label") from e
    if len(raw) > 11 or any(b < 0x20 or chr(b) in _SHORT_INVALID or chr(b).islower() for b in raw):
        raise FatError(f"volume label {label!r} must be at most 11 upper-case ASCII characters", where="FAT label")
    return raw.ljust(11)


@dataclass(frozen=True, slots=True, kw_only=True)
class FatVolume:
    """A planned file system: its geometry and the extents (offsets from the volume start)."""

    geometry: FatGeometry
    volume_id: int
    label: str
    extents: tuple[Extent, ...]
    used_clusters: int

    @property
    def size_bytes(self) -> int:
        return self.geometry.total_sectors * SECTOR_SIZE


def _boot_sector(geometry: FatGeometry, *, volume_id: int, label: bytes, hidden_sectors: int) -> bytes:
    small = geometry.fat_type is not FatType.FAT32
    total16 = geometry.total_sectors if small and geometry.total_sectors < 0x10000 else 0
    bpb = _BPB.pack(
        b"\xeb\x3c\x90" if small else b"\xeb\x58\x90",
        OEM_NAME,
        SECTOR_SIZE,
        geometry.sectors_per_cluster,
        geometry.reserved_sectors,
        NUM_FATS,
        geometry.root_entries,
        total16,
        MEDIA_FIXED,
        geometry.fat_sectors if small else 0,
        _SECTORS_PER_TRACK,
        _HEADS,
        hidden_sectors,
        0 if total16 else geometry.total_sectors,
    )
    if small:
        ext = _BPB16.pack(0x80, 0, 0x29, volume_id, label, geometry.fat_type.fs_type_label)
    else:
        ext = _BPB32.pack(
            geometry.fat_sectors,
            0,
            0,
            2,
            FAT32_FSINFO_SECTOR,
            FAT32_BACKUP_BOOT_SECTOR,
            bytes(12),
            0x80,
            0,
            0x29,
            volume_id,
            label,
            geometry.fat_type.fs_type_label,
        )
    sector = bytearray(SECTOR_SIZE)
    head = bpb + ext
    sector[: len(head)] = head
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _fsinfo(free: int, next_free: int) -> bytes:
    """fatgen103 p.21: FSI_LeadSig, FSI_StrucSig, FSI_Free_Count, FSI_Nxt_Free, FSI_TrailSig."""
    sector = bytearray(SECTOR_SIZE)
    struct.pack_into("<I", sector, 0, 0x41615252)
    struct.pack_into("<IIII", sector, 484, 0x61417272, free, next_free, 0)
    struct.pack_into("<I", sector, 508, 0xAA550000)
    return bytes(sector)


def _fat_table(geometry: FatGeometry, chains: list[tuple[int, int]]) -> bytes:
    """The used prefix of one FAT (the rest is zero = free); ``chains`` are (first, count) runs."""
    fat_type = geometry.fat_type
    eoc = {FatType.FAT12: 0xFFF, FatType.FAT16: 0xFFFF, FatType.FAT32: 0x0FFFFFFF}[fat_type]
    last = max([first + count - 1 for first, count in chains], default=1)
    values = [0] * (last + 1)
    values[0] = (eoc & ~0xFF) | MEDIA_FIXED
    values[1] = eoc
    for first, count in chains:
        for cluster in range(first, first + count - 1):
            values[cluster] = cluster + 1
        values[first + count - 1] = eoc
    if fat_type is FatType.FAT32:
        raw = struct.pack(f"<{len(values)}I", *values)
    elif fat_type is FatType.FAT16:
        raw = struct.pack(f"<{len(values)}H", *values)
    else:
        if len(values) % 2:
            values.append(0)
        out = bytearray()
        for a, b in zip(values[0::2], values[1::2], strict=True):
            out += bytes((a & 0xFF, ((a >> 8) & 0x0F) | ((b & 0x0F) << 4), b >> 4))
        raw = bytes(out)
    return raw.ljust(-(-len(raw) // SECTOR_SIZE) * SECTOR_SIZE, b"\0")


def write_fat(
    *,
    size_bytes: int,
    files: Mapping[str, bytes],
    directories: tuple[str, ...] = (),
    volume_id: int,
    label: str = NO_LABEL,
    source_date_epoch: int,
    hidden_sectors: int = 0,
    allow_small_fat: bool = False,
) -> FatVolume:
    """Plan and write a FAT volume holding ``files`` (``"EFI/BOOT/BOOTX64.EFI" -> bytes``).

    ``hidden_sectors`` is the partition's first LBA (BPB_HiddSec). ``directories`` adds empty ones.
    """
    if not 0 <= volume_id <= 0xFFFFFFFF:
        raise FatError(f"volume serial {volume_id:#x} does not fit 32 bits", where="FAT")
    label_raw = _label_bytes(label)
    geometry = plan_geometry(size_bytes, allow_small_fat=allow_small_fat)
    stamp = fat_timestamp(source_date_epoch)
    root = _build_tree(files, directories)

    # Pre-order walk; directories are allocated first, then files, each contiguously.
    dirs: list[_Node] = []
    regular: list[_Node] = []

    def walk(node: _Node) -> None:
        for name in sorted(node.children, key=lambda n: n.encode()):
            child = node.children[name]
            if child.data is None:
                dirs.append(child)
                walk(child)
            else:
                regular.append(child)

    walk(root)
    cluster_size = geometry.cluster_size
    next_cluster = 2
    chains: list[tuple[int, int]] = []
    fat32 = geometry.fat_type is FatType.FAT32
    ordered_dirs = [root, *dirs] if fat32 else dirs
    if not fat32 and _entry_count(root, root=True, label=label) > geometry.root_entries:
        raise FatError(f"more than {geometry.root_entries} entries in the root directory", where="FAT /")
    for node in [*ordered_dirs, *regular]:
        if node.data is None:
            size = _entry_count(node, root=node is root, label=label) * DIR_ENTRY_SIZE
        else:
            size = len(node.data)
        count = -(-size // cluster_size)
        if count:
            node.first_cluster, node.cluster_count = next_cluster, count
            chains.append((next_cluster, count))
            next_cluster += count
    used = next_cluster - 2
    if used > geometry.clusters:
        raise FatError(
            f"files need {used} clusters of {cluster_size} bytes but the volume has {geometry.clusters}",
            where="FAT",
            hint="make the partition larger",
        )

    extents: list[Extent] = []
    boot = _boot_sector(geometry, volume_id=volume_id, label=label_raw, hidden_sectors=hidden_sectors)
    reserved = bytearray(geometry.reserved_sectors * SECTOR_SIZE)
    reserved[0:SECTOR_SIZE] = boot
    if fat32:
        free = geometry.clusters - used
        next_free = next_cluster if free else 0xFFFFFFFF
        info = _fsinfo(free, next_free)
        for base in (0, FAT32_BACKUP_BOOT_SECTOR):
            reserved[base * SECTOR_SIZE : (base + 1) * SECTOR_SIZE] = boot
            reserved[(base + 1) * SECTOR_SIZE : (base + 2) * SECTOR_SIZE] = info
    extents.append(Extent(offset=0, data=bytes(reserved)))
    table = _fat_table(geometry, chains)
    for index in range(NUM_FATS):
        offset = (geometry.reserved_sectors + index * geometry.fat_sectors) * SECTOR_SIZE
        extents.append(Extent(offset=offset, data=table))

    parents: dict[str, int] = {}
    for node in [root, *dirs]:
        for child in node.children.values():
            # ".." of a directory in the root points at cluster 0 (fatgen103 p.25).
            parents[child.path] = 0 if node is root else node.first_cluster
    for node in [root, *dirs]:
        entries = _dir_entries(
            node, root=node is root, label=label, stamp=stamp, parent_cluster=parents.get(node.path, 0)
        )
        if node is root and not fat32:
            offset = (geometry.reserved_sectors + NUM_FATS * geometry.fat_sectors) * SECTOR_SIZE
        else:
            offset = geometry.cluster_offset(node.first_cluster)
        extents.append(Extent(offset=offset, data=entries))
    for node in regular:
        if node.data:
            extents.append(Extent(offset=geometry.cluster_offset(node.first_cluster), data=node.data))
    log.debug("FAT%d: %d clusters of %d bytes, %d used", geometry.fat_type, geometry.clusters, cluster_size, used)
    return FatVolume(
        geometry=geometry,
        volume_id=volume_id,
        label=label,
        extents=tuple(extents),
        used_clusters=used,
    )
