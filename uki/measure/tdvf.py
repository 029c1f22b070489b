"""OVMF/TDVF firmware: TDX metadata, MRTD, the QEMU-built TD HOB and the CFV.

Format: the OVMF GUIDed table at the end of the flash image (OvmfPkg ResetVector) holds the offset
of the TDX metadata (TDVF Design Guide §11, "TDVF descriptor"): ``"TDVF"``, u32 length, u32 version,
u32 section count, then 32-byte sections ``u32 DataOffset, u32 RawDataSize, u64 MemoryAddress,
u64 MemoryDataSize, u32 Type, u32 Attributes``. See measurements.md §2-§3.

MRTD is built by the TDX module while the host adds the initial pages: one running SHA-384 over
128-byte TDH.MEM.PAGE.ADD / TDH.MR.EXTEND buffers. QEMU >= 9 (and GCE) add and extend page by page
("single-pass"); the QEMU 8.x TDX trees add all pages of a section before extending ("two-pass").
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum

from uki.measure.errors import FirmwareError

PAGE_SIZE = 4096
MR_EXTEND_CHUNK = 256

OVMF_TABLE_FOOTER_GUID = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d")
TDX_METADATA_OFFSET_GUID = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2")
_GUID_SIZE = 16
_TABLE_ENTRY_TAIL = 2 + _GUID_SIZE  # u16 length + GUID

_DESCRIPTOR = struct.Struct("<4sIII")  # "TDVF", length, version, number of sections
_SECTION = struct.Struct("<IIQQII")  # DataOffset, RawDataSize, MemoryAddress, MemoryDataSize, Type, Attributes
TDVF_SIGNATURE = b"TDVF"


class SectionType(IntEnum):
    BFV = 0
    CFV = 1
    TD_HOB = 2
    TEMP_MEM = 3
    PERM_MEM = 4
    PAYLOAD = 5
    PAYLOAD_PARAM = 6


class SectionAttr(IntFlag):
    MR_EXTEND = 1
    PAGE_AUG = 2


class PageAddOrder(StrEnum):
    """How the host interleaves TDH.MEM.PAGE.ADD and TDH.MR.EXTEND (measurements.md §2.2)."""

    SINGLE_PASS = "single-pass"  # QEMU >= 9, GCE
    TWO_PASS = "two-pass"  # QEMU 8.x TDX trees


@dataclass(frozen=True, slots=True, kw_only=True)
class TdvfSection:
    data_offset: int
    raw_size: int
    address: int
    memory_size: int
    type: int
    attributes: int

    @property
    def extended(self) -> bool:
        return bool(self.attributes & SectionAttr.MR_EXTEND)

    @property
    def augmented(self) -> bool:
        return bool(self.attributes & SectionAttr.PAGE_AUG)


@dataclass(frozen=True, slots=True, kw_only=True)
class TdvfMetadata:
    version: int
    sections: tuple[TdvfSection, ...]

    def first(self, kind: SectionType) -> TdvfSection:
        for s in self.sections:
            if s.type == kind:
                return s
        raise FirmwareError(f"TDVF metadata has no {kind.name} section")


def _table_entries(fw: bytes) -> dict[uuid.UUID, bytes]:
    """Walk the OVMF GUIDed table backwards from its footer at ``len - 32``."""
    end = len(fw) - 32
    if end < 50 or uuid.UUID(bytes_le=fw[end - _GUID_SIZE : end]) != OVMF_TABLE_FOOTER_GUID:
        raise FirmwareError("no OVMF GUIDed table footer at 32 bytes before the end of the firmware",
                            hint="pass an OVMF/TDVF build with TDX support (e.g. OVMF.fd, OVMF.inteltdx.fd)")
    (table_len,) = struct.unpack_from("<H", fw, end - _TABLE_ENTRY_TAIL)
    start = end - table_len
    if table_len < _TABLE_ENTRY_TAIL or start < 0:
        raise FirmwareError(f"OVMF GUIDed table length {table_len} is invalid")
    entries: dict[uuid.UUID, bytes] = {}
    pos = end - _TABLE_ENTRY_TAIL  # skip the footer entry itself
    while pos > start:
        guid = uuid.UUID(bytes_le=fw[pos - _GUID_SIZE : pos])
        (entry_len,) = struct.unpack_from("<H", fw, pos - _TABLE_ENTRY_TAIL)
        if entry_len < _TABLE_ENTRY_TAIL or pos - entry_len < start:
            raise FirmwareError(f"OVMF GUIDed table entry {guid} has invalid length {entry_len}")
        entries[guid] = fw[pos - entry_len : pos - _TABLE_ENTRY_TAIL]
        pos -= entry_len
    return entries


def parse_tdvf_metadata(fw: bytes) -> TdvfMetadata:
    """The TDX metadata (section table) of an OVMF/TDVF flash image."""
    entries = _table_entries(fw)
    data = entries.get(TDX_METADATA_OFFSET_GUID)
    if data is None or len(data) < 4:
        raise FirmwareError("the OVMF GUIDed table has no TDX metadata entry",
                            hint="this firmware was built without TDX support")
    (back,) = struct.unpack_from("<I", data, len(data) - 4)
    off = len(fw) - back
    if not 0 <= off <= len(fw) - _DESCRIPTOR.size:
        raise FirmwareError(f"TDX metadata offset {back} points outside the firmware")
    sig, length, version, count = _DESCRIPTOR.unpack_from(fw, off)
    if sig != TDVF_SIGNATURE:
        raise FirmwareError(f"TDX metadata at 0x{off:x} has signature {sig!r}, not 'TDVF'")
    if version != 1 or length != _DESCRIPTOR.size + count * _SECTION.size or off + length > len(fw):
        raise FirmwareError(f"TDX metadata at 0x{off:x}: version {version}, length {length}, {count} sections")
    sections = []
    for i in range(count):
        s = TdvfSection(**dict(zip(
            ("data_offset", "raw_size", "address", "memory_size", "type", "attributes"),
            _SECTION.unpack_from(fw, off + _DESCRIPTOR.size + i * _SECTION.size), strict=True)))
        _check_section(i, s, len(fw))
        sections.append(s)
    return TdvfMetadata(version=version, sections=tuple(sections))


def _check_section(i: int, s: TdvfSection, fw_len: int) -> None:
    what = f"TDVF section {i} (type {s.type})"
    if s.address % PAGE_SIZE or s.memory_size % PAGE_SIZE:
        raise FirmwareError(f"{what}: address 0x{s.address:x} / size 0x{s.memory_size:x} not 4 KiB aligned")
    if s.raw_size > s.memory_size:
        raise FirmwareError(f"{what}: raw size exceeds memory size")
    if s.extended and s.raw_size != s.memory_size:
        raise FirmwareError(f"{what}: MR_EXTEND section with raw size != memory size")
    if s.data_offset + s.raw_size > fw_len:
        raise FirmwareError(f"{what}: data runs past the end of the firmware")


def _page_add(h: hashlib._Hash, gpa: int) -> None:
    buf = bytearray(128)
    buf[0:12] = b"MEM.PAGE.ADD"
    struct.pack_into("<Q", buf, 16, gpa)
    h.update(buf)


def _mr_extend(h: hashlib._Hash, gpa: int, chunk: bytes) -> None:
    buf = bytearray(128)
    buf[0:9] = b"MR.EXTEND"
    struct.pack_into("<Q", buf, 16, gpa)
    h.update(buf)
    h.update(chunk)


def _extend_page(h: hashlib._Hash, fw: bytes, s: TdvfSection, page: int) -> None:
    base = s.data_offset + page * PAGE_SIZE
    for i in range(PAGE_SIZE // MR_EXTEND_CHUNK):
        off = base + i * MR_EXTEND_CHUNK
        _mr_extend(h, s.address + page * PAGE_SIZE + i * MR_EXTEND_CHUNK, fw[off : off + MR_EXTEND_CHUNK])


def compute_mrtd(fw: bytes, order: PageAddOrder = PageAddOrder.SINGLE_PASS,
                 metadata: TdvfMetadata | None = None) -> bytes:
    """MRTD of a TD launched from this firmware with the given host page-add order."""
    md = metadata or parse_tdvf_metadata(fw)
    h = hashlib.sha384()
    for s in md.sections:
        pages = s.memory_size // PAGE_SIZE
        if order is PageAddOrder.SINGLE_PASS:
            for p in range(pages):
                if not s.augmented:
                    _page_add(h, s.address + p * PAGE_SIZE)
                if s.extended:
                    _extend_page(h, fw, s, p)
        else:
            if not s.augmented:
                for p in range(pages):
                    _page_add(h, s.address + p * PAGE_SIZE)
            if s.extended:
                for p in range(pages):
                    _extend_page(h, fw, s, p)
    return h.digest()


# --- TD HOB (built by QEMU for TDVF; measured by TDVF into RTMR0 as EV_EFI_HANDOFF_TABLES2) --------

_HOB_HANDOFF = struct.Struct("<HHIIIQQQQQ")  # type 1, len 56, rsvd, version, boot mode, 4 x u64, EndOfHobList
_HOB_RESOURCE = struct.Struct("<HHI16sIIQQ")  # type 3, len 48, rsvd, owner, type, attributes, start, length
_HOB_TYPE_HANDOFF = 1
_HOB_TYPE_RESOURCE = 3
_HOB_END_SIZE = 8
_HANDOFF_VERSION = 9
RESOURCE_SYSTEM_MEMORY = 0
RESOURCE_MEMORY_UNACCEPTED = 7
_RESOURCE_ATTRIBUTES = 7  # PRESENT | INITIALIZED | TESTED
LOW_RAM_SPLIT = 0xB000_0000  # QEMU q35: RAM >= 2816 MiB is split at 2 GiB
LOW_RAM_END = 0x8000_0000
HIGH_RAM_START = 0x1_0000_0000


def _resource(kind: int, start: int, length: int) -> bytes:
    return _HOB_RESOURCE.pack(_HOB_TYPE_RESOURCE, _HOB_RESOURCE.size, 0, bytes(16), kind,
                              _RESOURCE_ATTRIBUTES, start, length)


def plan_memory_ranges(md: TdvfMetadata, ram_size: int) -> tuple[tuple[bool, int, int], ...]:
    """(accepted, start, end) ranges tiling [0, ram) as QEMU describes them to TDVF."""
    ranges: list[tuple[bool, int, int]] = [(False, 0, ram_size)]
    accepted = sorted((s.address, s.address + s.memory_size) for s in md.sections
                      if s.type in (SectionType.TD_HOB, SectionType.TEMP_MEM))
    for a_start, a_end in accepted:
        out: list[tuple[bool, int, int]] = []
        for acc, start, end in ranges:
            if acc or a_end <= start or a_start >= end:
                out.append((acc, start, end))
                continue
            if start < a_start:
                out.append((False, start, a_start))
            out.append((True, max(start, a_start), min(end, a_end)))
            if a_end < end:
                out.append((False, a_end, end))
        ranges = sorted(out, key=lambda r: r[1])
    return tuple(ranges)


def build_td_hob(md: TdvfMetadata, ram_size: int) -> bytes:
    """The TD HOB list QEMU writes for TDVF, up to (excluding) the END_OF_HOB_LIST header."""
    if ram_size <= 0 or ram_size % PAGE_SIZE:
        raise FirmwareError(f"RAM size {ram_size} is not a positive multiple of 4 KiB")
    hob_gpa = md.first(SectionType.TD_HOB).address
    ranges = plan_memory_ranges(md, ram_size)
    body = bytearray()
    for acc, start, end in ranges[:-1]:
        body += _resource(RESOURCE_SYSTEM_MEMORY if acc else RESOURCE_MEMORY_UNACCEPTED, start, end - start)
    acc, start, end = ranges[-1]
    kind = RESOURCE_SYSTEM_MEMORY if acc else RESOURCE_MEMORY_UNACCEPTED
    if ram_size >= LOW_RAM_SPLIT:
        body += _resource(kind, start, LOW_RAM_END - start)
        body += _resource(kind, HIGH_RAM_START, end - LOW_RAM_END)
    else:
        body += _resource(kind, start, end - start)
    end_of_hob_list = hob_gpa + _HOB_HANDOFF.size + len(body) + _HOB_END_SIZE
    handoff = _HOB_HANDOFF.pack(_HOB_TYPE_HANDOFF, _HOB_HANDOFF.size, 0, _HANDOFF_VERSION, 0, 0, 0, 0, 0,
                                end_of_hob_list)
    return handoff + bytes(body)


# --- CFV (configuration firmware volume = the variable store) ---------------------------------

_FV_SIGNATURE = b"_FVH"


def cfv_bytes(fw: bytes, md: TdvfMetadata | None = None) -> tuple[TdvfSection, bytes]:
    """The CFV section and its bytes as TDVF measures them (first section of type CFV)."""
    s = (md or parse_tdvf_metadata(fw)).first(SectionType.CFV)
    return s, fw[s.data_offset : s.data_offset + s.raw_size]


def fv_name(fv: bytes) -> uuid.UUID | None:
    """FvName GUID from an EFI_FIRMWARE_VOLUME_EXT_HEADER, if the volume has one (PI spec Vol 3 §3.2.1)."""
    if len(fv) < 56 or fv[40:44] != _FV_SIGNATURE:
        return None
    (ext_off,) = struct.unpack_from("<H", fv, 52)
    if ext_off == 0 or ext_off + 16 > len(fv):
        return None
    return uuid.UUID(bytes_le=fv[ext_off : ext_off + 16])


def section_list(md: TdvfMetadata) -> Sequence[str]:
    """Human-readable section table (for ``measure`` diagnostics)."""
    return [
        f"{SectionType(s.type).name if s.type in SectionType._value2member_map_ else s.type:>13} "
        f"file 0x{s.data_offset:08x}+0x{s.raw_size:x} gpa 0x{s.address:x}+0x{s.memory_size:x} "
        f"attr {s.attributes:#x}"
        for s in md.sections
    ]
