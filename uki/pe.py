"""PE/COFF image reader (Microsoft PE format, PE32 and PE32+), strict about offsets and sizes.

Reads the headers a UKI builder, an Authenticode hasher and a measurement predictor need: the COFF
file header, the fixed part of the optional header, the data directories and the section table.
Field offsets follow the PE format specification (spec `uki.md` §2):

    e_lfanew      u32 @ 0x3c                 file header  fh  = e_lfanew + 4 (after "PE\\0\\0")
    optional header opt = fh + 20            section table st = opt + SizeOfOptionalHeader

Everything is validated before it is used, so a hostile file gives a :class:`PeFormatError` with
the offending offset instead of a traceback or a huge allocation: truncated headers, a section
table outside the file or the headers, raw data past the end of the file, sections overlapping
each other (in the file or in memory) or the headers, and a VirtualSize that would make the loader
zero-fill more than :data:`MAX_ZERO_FILL` bytes.

The systemd-stub version is read from its ``.sdmagic`` section
(``#### LoaderInfo: systemd-stub 257.13-1~deb13u1 ####``).
"""

from __future__ import annotations

import itertools
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from uki.errors import PeFormatError

# --- layout constants (PE format specification) -------------------------------------------------
DOS_MAGIC = b"MZ"
PE_SIGNATURE = b"PE\0\0"
E_LFANEW_OFFSET = 0x3C
FILE_HEADER_SIZE = 20
SECTION_HEADER_SIZE = 40
SECTION_NAME_SIZE = 8
MAX_SECTIONS = 96  # the PE loader limit (Windows and EDK2)
MAGIC_PE32 = 0x10B
MAGIC_PE32_PLUS = 0x20B

# Optional header field offsets relative to its start; the same for PE32 and PE32+ up to 0x48.
OPT_SIZE_OF_INITIALIZED_DATA = 8
OPT_SECTION_ALIGNMENT = 32
OPT_FILE_ALIGNMENT = 36
OPT_SIZE_OF_IMAGE = 56
OPT_SIZE_OF_HEADERS = 60
OPT_CHECKSUM = 64
OPT_DLL_CHARACTERISTICS = 70
# NumberOfRvaAndSizes and the data directories move by 16 bytes between PE32 and PE32+.
OPT_NUMBER_OF_RVA_AND_SIZES = {MAGIC_PE32: 92, MAGIC_PE32_PLUS: 108}
OPT_DATA_DIRECTORIES = {MAGIC_PE32: 96, MAGIC_PE32_PLUS: 112}
DATA_DIRECTORY_SIZE = 8
MAX_DATA_DIRECTORIES = 16
DIRECTORY_SECURITY = 4  # IMAGE_DIRECTORY_ENTRY_SECURITY; its VirtualAddress is a file offset
DIRECTORY_DEBUG = 6  # IMAGE_DIRECTORY_ENTRY_DEBUG; its entries hold file offsets (PointerToRawData)

# File header field offsets relative to its start.
FH_NUMBER_OF_SECTIONS = 2
FH_POINTER_TO_SYMBOL_TABLE = 8
FH_NUMBER_OF_SYMBOLS = 12
FH_SIZE_OF_OPTIONAL_HEADER = 16
FH_CHARACTERISTICS = 18

FILE_LOCAL_SYMS_STRIPPED = 0x0008
DLL_NX_COMPAT = 0x0100
SCN_CNT_CODE = 0x00000020
SCN_CNT_INITIALIZED_DATA = 0x00000040
SCN_MEM_READ = 0x40000000
COFF_SYMBOL_SIZE = 18

#: The most bytes a section may ask the loader to zero-fill past its raw data (pefile's limit).
MAX_ZERO_FILL = 256 * 1024 * 1024

_FILE_HEADER = struct.Struct("<HHIIIHH")  # Machine NumberOfSections TimeDateStamp PtrSym NSym SizeOpt Chars
_SECTION_HEADER = struct.Struct("<8sIIIIIIHHI")
assert _FILE_HEADER.size == FILE_HEADER_SIZE
assert _SECTION_HEADER.size == SECTION_HEADER_SIZE

_SDMAGIC_RE = re.compile(rb"#### LoaderInfo: (?P<kind>systemd-[a-z]+) (?P<version>(?P<major>\d+)[^ \0]*) ####")


def round_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment`` (> 0)."""
    return (value + alignment - 1) // alignment * alignment


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "little")


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little")


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One entry of the section table."""

    name: str
    """Name with NUL padding removed (non-ASCII bytes are backslash-escaped)."""
    raw_name: bytes
    """The 8-byte name field as stored."""
    virtual_size: int
    virtual_address: int
    size_of_raw_data: int
    pointer_to_raw_data: int
    characteristics: int
    header_offset: int
    """File offset of this 40-byte header."""

    @property
    def loaded_size(self) -> int:
        """Bytes the loader maps: VirtualSize, or SizeOfRawData when VirtualSize is 0 (PE convention)."""
        return self.virtual_size or self.size_of_raw_data

    @property
    def virtual_end(self) -> int:
        return self.virtual_address + self.loaded_size


@dataclass(frozen=True, slots=True, kw_only=True)
class DataDirectory:
    virtual_address: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StubVersion:
    """The version a systemd-stub announces in ``.sdmagic``."""

    kind: str
    """``systemd-stub`` or ``systemd-addon`` (or ``systemd-boot`` for the boot loader)."""
    version: str
    """Full version as written, e.g. ``257.13-1~deb13u1``."""
    major: int
    """Upstream major version, e.g. 257."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeImage:
    """A validated PE image. ``data`` is the whole file; the other fields are decoded headers."""

    data: bytes
    e_lfanew: int
    machine: int
    number_of_sections: int
    time_date_stamp: int
    pointer_to_symbol_table: int
    number_of_symbols: int
    size_of_optional_header: int
    file_characteristics: int
    magic: int
    size_of_initialized_data: int
    address_of_entry_point: int
    image_base: int
    section_alignment: int
    file_alignment: int
    size_of_image: int
    size_of_headers: int
    checksum: int
    dll_characteristics: int
    data_directories: tuple[DataDirectory, ...]
    sections: tuple[Section, ...]
    memory_overlaps: tuple[str, ...] = ()
    """Sections overlapping in memory, when read with ``allow_memory_overlap`` (else an error)."""

    # -- offsets of fields a writer patches --------------------------------------------------
    @property
    def file_header_offset(self) -> int:
        return self.e_lfanew + len(PE_SIGNATURE)

    @property
    def optional_header_offset(self) -> int:
        return self.file_header_offset + FILE_HEADER_SIZE

    @property
    def section_table_offset(self) -> int:
        return self.optional_header_offset + self.size_of_optional_header

    @property
    def section_table_end(self) -> int:
        return self.section_table_offset + SECTION_HEADER_SIZE * self.number_of_sections

    @property
    def checksum_offset(self) -> int:
        return self.optional_header_offset + OPT_CHECKSUM

    def data_directory_offset(self, index: int) -> int:
        """File offset of data directory entry ``index`` (which must exist)."""
        if index >= len(self.data_directories):
            raise PeFormatError(f"PE has only {len(self.data_directories)} data directories, not {index + 1}")
        return self.optional_header_offset + OPT_DATA_DIRECTORIES[self.magic] + DATA_DIRECTORY_SIZE * index

    @property
    def security_directory(self) -> DataDirectory:
        """The certificate table (file offset, size); zeros when unsigned or absent."""
        if len(self.data_directories) > DIRECTORY_SECURITY:
            return self.data_directories[DIRECTORY_SECURITY]
        return DataDirectory(virtual_address=0, size=0)

    @property
    def is_signed(self) -> bool:
        return self.security_directory.virtual_address != 0

    @property
    def nx_compat(self) -> bool:
        return bool(self.dll_characteristics & DLL_NX_COMPAT)

    # -- sections ----------------------------------------------------------------------------
    def find_section(self, name: str) -> Section | None:
        """The first section called ``name`` (first match wins, as in systemd-stub's pe.c)."""
        for section in self.sections:
            if section.name == name:
                return section
        return None

    def sections_named(self, name: str) -> Iterator[Section]:
        return (s for s in self.sections if s.name == name)

    def raw_data(self, section: Section) -> bytes:
        """The section's SizeOfRawData bytes as stored in the file."""
        start = section.pointer_to_raw_data if section.size_of_raw_data else 0
        return self.data[start : start + section.size_of_raw_data]

    def loaded_data(self, section: Section) -> bytes:
        """VirtualSize bytes as the loader maps them: raw data cut or zero-extended to VirtualSize."""
        raw = self.raw_data(section)
        size = section.virtual_size
        if size <= len(raw):
            return raw[:size]
        return raw + bytes(size - len(raw))

    def section_data(self, name: str) -> bytes | None:
        """Loaded bytes (VirtualSize, zero-extended past SizeOfRawData) of the first ``name`` section."""
        section = self.find_section(name)
        return None if section is None else self.loaded_data(section)

    def stub_version(self) -> StubVersion | None:
        """The version from ``.sdmagic``, or None when the image has no systemd ``.sdmagic``."""
        data = self.section_data(".sdmagic")
        if data is None:
            return None
        match = _SDMAGIC_RE.search(data)
        if match is None:
            return None
        return StubVersion(
            kind=match["kind"].decode("ascii"),
            version=match["version"].decode("ascii", "backslashreplace"),
            major=int(match["major"]),
        )


def _decode_name(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii", "backslashreplace")


def read_pe(data: bytes, *, what: str = "PE image", allow_memory_overlap: bool = False) -> PeImage:
    """Parse and validate a PE image; ``what`` names the input in error messages.

    ``allow_memory_overlap`` records sections that overlap in memory in ``memory_overlaps``
    instead of failing (for ``inspect`` of a broken image such as ukify's 252-stub output).
    """
    data = bytes(data)
    size = len(data)

    def fail(message: str) -> PeFormatError:
        return PeFormatError(f"{what}: {message}")

    if size < E_LFANEW_OFFSET + 4 or data[:2] != DOS_MAGIC:
        raise fail("not a PE image (no MZ header)")
    e_lfanew = _u32(data, E_LFANEW_OFFSET)
    fh = e_lfanew + len(PE_SIGNATURE)
    if e_lfanew < E_LFANEW_OFFSET + 4 or fh + FILE_HEADER_SIZE > size:
        raise fail(f"PE header offset {e_lfanew:#x} lies outside the file (size {size:#x})")
    if data[e_lfanew:fh] != PE_SIGNATURE:
        raise fail(f"no PE signature at {e_lfanew:#x}")
    (machine, n_sections, timestamp, sym_ptr, n_symbols, size_opt, file_chars) = _FILE_HEADER.unpack_from(data, fh)
    opt = fh + FILE_HEADER_SIZE
    if opt + 2 > size:
        raise fail("truncated optional header")
    magic = _u16(data, opt)
    if magic not in OPT_DATA_DIRECTORIES:
        raise fail(f"unknown optional header magic {magic:#x} (want PE32 0x10b or PE32+ 0x20b)")
    dd_start = OPT_DATA_DIRECTORIES[magic]
    if size_opt < dd_start:
        raise fail(f"SizeOfOptionalHeader {size_opt:#x} is smaller than the fixed part ({dd_start:#x})")
    if opt + size_opt > size:
        raise fail(f"optional header (ends at {opt + size_opt:#x}) runs past the end of the file ({size:#x})")
    n_rva = _u32(data, opt + OPT_NUMBER_OF_RVA_AND_SIZES[magic])
    if n_rva > MAX_DATA_DIRECTORIES or dd_start + DATA_DIRECTORY_SIZE * n_rva > size_opt:
        raise fail(f"NumberOfRvaAndSizes {n_rva} does not fit SizeOfOptionalHeader {size_opt:#x}")
    directories = tuple(
        DataDirectory(
            virtual_address=_u32(data, opt + dd_start + DATA_DIRECTORY_SIZE * i),
            size=_u32(data, opt + dd_start + DATA_DIRECTORY_SIZE * i + 4),
        )
        for i in range(n_rva)
    )
    section_alignment = _u32(data, opt + OPT_SECTION_ALIGNMENT)
    file_alignment = _u32(data, opt + OPT_FILE_ALIGNMENT)
    size_of_image = _u32(data, opt + OPT_SIZE_OF_IMAGE)
    size_of_headers = _u32(data, opt + OPT_SIZE_OF_HEADERS)
    for label, alignment in (("FileAlignment", file_alignment), ("SectionAlignment", section_alignment)):
        if alignment == 0 or alignment & (alignment - 1):
            raise fail(f"{label} {alignment:#x} is not a power of two")
    if section_alignment < file_alignment:
        raise fail(f"SectionAlignment {section_alignment:#x} is below FileAlignment {file_alignment:#x}")

    if n_sections > MAX_SECTIONS:
        raise fail(f"{n_sections} sections (the PE limit is {MAX_SECTIONS})")
    st = opt + size_opt
    st_end = st + SECTION_HEADER_SIZE * n_sections
    if st_end > size:
        raise fail(f"section table ({st:#x}..{st_end:#x}) lies outside the file (size {size:#x})")
    if st_end > size_of_headers:
        raise fail(f"section table ends at {st_end:#x}, past SizeOfHeaders {size_of_headers:#x}")
    if size_of_headers > size:
        raise fail(f"SizeOfHeaders {size_of_headers:#x} is larger than the file ({size:#x})")

    sections = []
    for i in range(n_sections):
        offset = st + SECTION_HEADER_SIZE * i
        (raw_name, vsize, va, srd, prd, _relocs, _lines, _nrel, _nline, chars) = _SECTION_HEADER.unpack_from(
            data, offset
        )
        sections.append(
            Section(
                name=_decode_name(raw_name),
                raw_name=raw_name,
                virtual_size=vsize,
                virtual_address=va,
                size_of_raw_data=srd,
                pointer_to_raw_data=prd,
                characteristics=chars,
                header_offset=offset,
            )
        )
    overlaps = _check_sections(
        sections, size=size, size_of_headers=size_of_headers, size_of_image=size_of_image, fail=fail
    )
    if overlaps and not allow_memory_overlap:
        raise fail(overlaps[0])

    security = directories[DIRECTORY_SECURITY] if n_rva > DIRECTORY_SECURITY else None
    if security is not None and security.virtual_address:
        end = security.virtual_address + security.size
        if security.virtual_address < size_of_headers or end > size:
            raise fail(f"certificate table {security.virtual_address:#x}+{security.size:#x} lies outside the file")

    return PeImage(
        data=data,
        e_lfanew=e_lfanew,
        machine=machine,
        number_of_sections=n_sections,
        time_date_stamp=timestamp,
        pointer_to_symbol_table=sym_ptr,
        number_of_symbols=n_symbols,
        size_of_optional_header=size_opt,
        file_characteristics=file_chars,
        magic=magic,
        size_of_initialized_data=_u32(data, opt + OPT_SIZE_OF_INITIALIZED_DATA),
        address_of_entry_point=_u32(data, opt + 16),
        image_base=int.from_bytes(data[opt + 24 : opt + 32], "little")
        if magic == MAGIC_PE32_PLUS
        else _u32(data, opt + 28),
        section_alignment=section_alignment,
        file_alignment=file_alignment,
        size_of_image=size_of_image,
        size_of_headers=size_of_headers,
        checksum=_u32(data, opt + OPT_CHECKSUM),
        dll_characteristics=_u16(data, opt + OPT_DLL_CHARACTERISTICS),
        data_directories=directories,
        sections=tuple(sections),
        memory_overlaps=tuple(overlaps),
    )


def _check_sections(
    sections: list[Section],
    *,
    size: int,
    size_of_headers: int,
    size_of_image: int,
    fail: Callable[[str], PeFormatError],
) -> list[str]:
    """Raise for raw data outside the file or overlapping; return the overlaps in memory."""
    for s in sections:
        if s.size_of_raw_data:
            end = s.pointer_to_raw_data + s.size_of_raw_data
            if end > size:
                raise fail(
                    f"section {s.name}: raw data {s.pointer_to_raw_data:#x}..{end:#x} runs past the end of "
                    f"the file ({size:#x})"
                )
            if s.pointer_to_raw_data < size_of_headers:
                raise fail(f"section {s.name}: raw data at {s.pointer_to_raw_data:#x} overlaps the headers")
        if s.virtual_address < size_of_headers:
            raise fail(f"section {s.name}: VirtualAddress {s.virtual_address:#x} overlaps the headers in memory")
        if s.virtual_end > size_of_image:
            raise fail(
                f"section {s.name}: VirtualAddress+VirtualSize {s.virtual_end:#x} lies beyond SizeOfImage "
                f"{size_of_image:#x}"
            )
        if s.virtual_size > s.size_of_raw_data + MAX_ZERO_FILL:
            raise fail(
                f"section {s.name}: VirtualSize {s.virtual_size:#x} is far beyond its {s.size_of_raw_data:#x} "
                "bytes of raw data"
            )
    overlaps = []
    in_memory = sorted((s for s in sections if s.loaded_size), key=lambda s: s.virtual_address)
    for a, b in itertools.pairwise(in_memory):
        if b.virtual_address < a.virtual_end:
            overlaps.append(
                f"sections {a.name} ({a.virtual_address:#x}..{a.virtual_end:#x}) and {b.name} "
                f"({b.virtual_address:#x}..{b.virtual_end:#x}) overlap in memory"
            )
    in_file = sorted((s for s in sections if s.size_of_raw_data), key=lambda s: s.pointer_to_raw_data)
    for a, b in itertools.pairwise(in_file):
        if b.pointer_to_raw_data < a.pointer_to_raw_data + a.size_of_raw_data:
            raise fail(f"sections {a.name} and {b.name} overlap in the file")
    return overlaps


def pack_section_header(
    *,
    name: bytes,
    virtual_size: int,
    virtual_address: int,
    size_of_raw_data: int,
    pointer_to_raw_data: int,
    characteristics: int,
) -> bytes:
    """A 40-byte section header (no relocations or line numbers, as in any image file)."""
    if len(name) > SECTION_NAME_SIZE:
        raise ValueError(f"section name {name!r} is longer than {SECTION_NAME_SIZE} bytes")
    return _SECTION_HEADER.pack(
        name, virtual_size, virtual_address, size_of_raw_data, pointer_to_raw_data, 0, 0, 0, 0, characteristics
    )
