"""UKI assembly: systemd-stub + payload sections, byte-identical to Debian trixie's ukify 257.13.

The section order and the placement follow ukify's ``make_uki`` and ``pe_add_sections`` (spec
`uki.md` §1, §2): ``.osrel .cmdline .dtb .dtbauto* .uname .splash .pcrpkey .linux .initrd .ucode
[extra sections] .sbat``. Each new section
gets the next SectionAlignment-aligned address after the last header in the table and
FileAlignment-aligned raw data appended to the file; ``.sbat`` is merged (§2.4) and written in place
over the stub's own ``.sbat``.

Where ukify would produce a broken image we refuse instead (:class:`PlacementError`): a merged
``.sbat`` longer than the stub's ``.sbat`` VirtualSize room before the next section in memory
(Debian 252's ``.sdmagic`` sits 0x100 bytes after ``.sbat``), a signed stub, an unknown stub
version. When the stub's header has no room for the new section headers we insert header space
(§2.2) instead of failing, which ukify does not do; with enough room the output is unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from uki import pe as pefmt
from uki.errors import KernelError, PeFormatError, PlacementError, SectionError, StubError
from uki.kernel import detect_uname
from uki.pe import PeImage, read_pe, round_up
from uki.sbat import STUB_SBAT, merge_sbat

log = logging.getLogger(__name__)

#: Stub major versions whose layout and measurements we know (spec §3).
SUPPORTED_STUB_MAJORS = range(252, 259)
#: Sections that may appear more than once (ukify's duplicate rule).
REPEATABLE_SECTIONS = frozenset({".dtbauto"})
LINUX_CHARACTERISTICS = pefmt.SCN_CNT_CODE | pefmt.SCN_MEM_READ  # ukify: old kernels run in place
DATA_CHARACTERISTICS = pefmt.SCN_CNT_INITIALIZED_DATA | pefmt.SCN_MEM_READ
INITRD_ALIGNMENT = 4  # ukify pads each of several initrds to 32 bits
U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadSection:
    """A section to add to the stub: name (≤ 8 ASCII bytes) and its exact content."""

    name: str
    data: bytes


def check_section_name(name: str) -> None:
    """Refuse names the stub cannot look up (ukify's ``Section.check_name``)."""
    if not name or not name.isascii() or not name.isprintable():
        raise SectionError(f"bad section name {name!r}: must be printable ASCII")
    if len(name) > pefmt.SECTION_NAME_SIZE:
        raise SectionError(f"section name {name!r} is longer than {pefmt.SECTION_NAME_SIZE} bytes")


def join_initrds(initrds: Sequence[bytes]) -> bytes | None:
    """One initrd verbatim; several zero-padded to a multiple of 4 bytes each and concatenated."""
    if not initrds:
        return None
    if len(initrds) == 1:
        return bytes(initrds[0])
    return b"".join(bytes(i) + bytes(round_up(len(i), INITRD_ALIGNMENT) - len(i)) for i in initrds)


def plan_sections(
    *,
    stub: bytes,
    linux: bytes,
    initrds: Sequence[bytes] = (),
    cmdline: bytes | None = None,
    os_release: bytes | None = None,
    uname: str | None = None,
    sbat: Sequence[bytes] | None = None,
    sections: Sequence[tuple[str, bytes]] = (),
    devicetree: bytes | None = None,
    devicetree_auto: Sequence[bytes] = (),
    splash: bytes | None = None,
    pcrpkey: bytes | None = None,
    microcode: bytes | None = None,
) -> tuple[PayloadSection, ...]:
    """The payload sections in ukify 257's table order, with ``.uname`` detected and ``.sbat`` merged."""
    if uname is None:
        uname = detect_uname(linux)
        if uname is None:
            log.warning("kernel version not found in the kernel image; no .uname section")
        else:
            log.info("found kernel version %s", uname)
    initrd = join_initrds(initrds)
    planned: list[tuple[str, bytes | None]] = [
        (".osrel", os_release),
        (".cmdline", cmdline),
        (".dtb", devicetree),
        *((".dtbauto", dtb) for dtb in devicetree_auto),
        (".uname", uname.encode("utf-8") if uname else None),
        (".splash", splash),
        (".pcrpkey", pcrpkey),
        (".linux", linux),
        (".initrd", initrd if initrds and (len(initrds) == 1 or initrd) else None),
        (".ucode", microcode),
    ]
    out = [PayloadSection(name=name, data=bytes(data)) for name, data in planned if data is not None]
    for name, data in sections:
        check_section_name(name)
        out.append(PayloadSection(name=name, data=bytes(data)))
    merged = merge_sbat([("stub", stub), ("kernel", linux)], list(sbat) if sbat else [STUB_SBAT])
    out.append(PayloadSection(name=".sbat", data=merged))
    seen: set[str] = set()
    for section in out:
        if section.name in seen and section.name not in REPEATABLE_SECTIONS:
            raise SectionError(f"duplicate section {section.name}")
        seen.add(section.name)
    return tuple(out)


def _put_u16(buf: bytearray, offset: int, value: int) -> None:
    buf[offset : offset + 2] = value.to_bytes(2, "little")


def _put_u32(buf: bytearray, offset: int, value: int) -> None:
    if not 0 <= value <= U32_MAX:
        raise PlacementError(f"value {value:#x} at offset {offset:#x} does not fit 32 bits")
    buf[offset : offset + 4] = value.to_bytes(4, "little")


def _strip_symbol_table(pe: PeImage, buf: bytearray) -> None:
    """Drop a COFF symbol+string table that ends the file (old gnu-efi stubs), like ukify.

    ukify also sets IMAGE_FILE_LOCAL_SYMS_STRIPPED through a pefile flag attribute, which pefile
    2024.8.26 does not write back; we leave Characteristics unchanged to stay byte-identical.
    """
    if not pe.pointer_to_symbol_table:
        return
    end = pe.pointer_to_symbol_table + pefmt.COFF_SYMBOL_SIZE * pe.number_of_symbols
    if end + 4 <= len(buf):
        end += int.from_bytes(buf[end : end + 4], "little")
    if end != len(buf):
        return
    del buf[pe.pointer_to_symbol_table :]
    fh = pe.file_header_offset
    _put_u32(buf, fh + pefmt.FH_POINTER_TO_SYMBOL_TABLE, 0)
    _put_u32(buf, fh + pefmt.FH_NUMBER_OF_SYMBOLS, 0)


def _align_raw_data(pe: PeImage, buf: bytearray) -> None:
    """Move each section's raw data to FileAlignment and pad it to FileAlignment (ukify's fix-up)."""
    fa = pe.file_alignment
    shift = 0
    for section in pe.sections:
        old_pointer = section.pointer_to_raw_data + shift
        old_size = section.size_of_raw_data
        new_pointer = round_up(old_pointer, fa)
        new_size = round_up(old_size, fa)
        pad_before = new_pointer - old_pointer
        pad_after = new_size - old_size
        if pad_before or pad_after:
            buf[old_pointer + old_size : old_pointer + old_size] = bytes(pad_after)
            buf[old_pointer:old_pointer] = bytes(pad_before)
        off = section.header_offset
        _put_u32(buf, off + 16, new_size)
        _put_u32(buf, off + 20, new_pointer)
        shift += pad_before + pad_after
    opt = pe.optional_header_offset
    _put_u32(buf, opt + pefmt.OPT_SIZE_OF_HEADERS, round_up(pe.size_of_headers, fa))


def prepare_stub(stub: bytes) -> PeImage:
    """Validate the stub and apply ukify's fix-ups (symbol table strip, raw data alignment)."""
    pe = read_pe(stub, what="stub")
    if pe.is_signed:
        raise StubError("stub image is signed, refusing", hint="use the unsigned linuxx64.efi.stub")
    version = pe.stub_version()
    if version is None or version.kind != "systemd-stub":
        raise StubError("not a systemd-stub: no '#### LoaderInfo: systemd-stub …' in .sdmagic")
    if version.major not in SUPPORTED_STUB_MAJORS:
        raise StubError(
            f"unsupported systemd-stub version {version.version}",
            hint=f"supported: {SUPPORTED_STUB_MAJORS.start}..{SUPPORTED_STUB_MAJORS.stop - 1}",
        )
    buf = bytearray(pe.data)
    _strip_symbol_table(pe, buf)
    _align_raw_data(pe, buf)
    try:
        return read_pe(bytes(buf), what="stub (aligned)")
    except PeFormatError as e:
        raise StubError(f"stub cannot be prepared: {e}") from e


def _header_table_end(pe: PeImage, sections: Sequence[PayloadSection]) -> int:
    """End offset of the section table once every new (not in-place) section has its header."""
    original = {s.name for s in pe.sections}
    added = sum(1 for s in sections if s.name not in original or s.name in REPEATABLE_SECTIONS)
    return pe.section_table_offset + pefmt.SECTION_HEADER_SIZE * (pe.number_of_sections + added)


def _grow_headers(pe: PeImage, buf: bytearray, need: int) -> PeImage:
    """Insert FileAlignment-sized zero blocks after the headers (spec §2.2)."""
    grow = round_up(need - pe.size_of_headers, pe.file_alignment)
    new_size = pe.size_of_headers + grow
    lowest_va = min((s.virtual_address for s in pe.sections), default=pe.size_of_image)
    if new_size > lowest_va:
        raise PlacementError(
            f"not enough header space: the section table needs {need:#x} bytes of headers but the first "
            f"section is mapped at {lowest_va:#x}"
        )
    if pe.pointer_to_symbol_table:
        raise PlacementError("not enough header space, and the stub's symbol table would move")
    if len(pe.data_directories) > pefmt.DIRECTORY_DEBUG and pe.data_directories[pefmt.DIRECTORY_DEBUG].size:
        raise PlacementError("not enough header space, and the stub's debug directory holds file offsets")
    log.info("inserting %#x bytes of header space (SizeOfHeaders %#x -> %#x)", grow, pe.size_of_headers, new_size)
    buf[pe.size_of_headers : pe.size_of_headers] = bytes(grow)
    _put_u32(buf, pe.optional_header_offset + pefmt.OPT_SIZE_OF_HEADERS, new_size)
    for section in pe.sections:
        if section.size_of_raw_data or section.pointer_to_raw_data:
            _put_u32(buf, section.header_offset + 20, section.pointer_to_raw_data + grow)
    return read_pe(bytes(buf), what="stub (grown headers)")


def add_sections(stub: bytes, sections: Sequence[PayloadSection]) -> bytes:
    """Add ``sections`` to ``stub`` exactly as ukify 257's ``pe_add_sections`` lays them out."""
    pe = prepare_stub(stub)
    buf = bytearray(pe.data)
    need = _header_table_end(pe, sections)
    if need > pe.size_of_headers:
        pe = _grow_headers(pe, buf, need)
        buf = bytearray(pe.data)

    opt = pe.optional_header_offset
    fh = pe.file_header_offset
    fa, sa = pe.file_alignment, pe.section_alignment
    original = {s.name: s for s in reversed(pe.sections)}  # first match wins
    # (virtual_address, virtual_size) of every header in table order, updated as we go
    table = [(s.virtual_address, s.virtual_size) for s in pe.sections]
    dll_characteristics = pe.dll_characteristics
    initialized = pe.size_of_initialized_data

    for section in sections:
        data = section.data
        existing = original.get(section.name)
        if existing is not None and section.name not in REPEATABLE_SECTIONS:
            _replace_in_place(pe, buf, existing, data, table)
            continue
        virtual_address = round_up(table[-1][0] + table[-1][1], sa)
        pointer = round_up(len(buf), fa)
        raw_size = round_up(len(data), fa)
        if virtual_address + len(data) > U32_MAX:
            raise PlacementError(f"section {section.name} does not fit the 4 GiB PE address space")
        characteristics = DATA_CHARACTERISTICS
        if section.name == ".linux":
            characteristics = LINUX_CHARACTERISTICS
            # The UKI must not claim NX_COMPAT when the kernel it runs does not (systemd #38545).
            if not read_pe(data, what="kernel").nx_compat:
                dll_characteristics &= ~pefmt.DLL_NX_COMPAT
        header = pefmt.pack_section_header(
            name=section.name.encode("ascii"),
            virtual_size=len(data),
            virtual_address=virtual_address,
            size_of_raw_data=raw_size,
            pointer_to_raw_data=pointer,
            characteristics=characteristics,
        )
        header_offset = pe.section_table_offset + pefmt.SECTION_HEADER_SIZE * len(table)
        buf[header_offset : header_offset + pefmt.SECTION_HEADER_SIZE] = header
        buf += bytes(pointer - len(buf))
        buf += data
        buf += bytes(raw_size - len(data))
        table.append((virtual_address, len(data)))
        initialized += len(data)

    _put_u16(buf, fh + pefmt.FH_NUMBER_OF_SECTIONS, len(table))
    _put_u32(buf, opt + pefmt.OPT_SIZE_OF_INITIALIZED_DATA, initialized)
    _put_u16(buf, opt + pefmt.OPT_DLL_CHARACTERISTICS, dll_characteristics)
    _put_u32(buf, opt + pefmt.OPT_CHECKSUM, 0)
    _put_u32(buf, opt + pefmt.OPT_SIZE_OF_IMAGE, round_up(table[-1][0] + table[-1][1], sa))
    return bytes(buf)


def _replace_in_place(
    pe: PeImage, buf: bytearray, existing: pefmt.Section, data: bytes, table: list[tuple[int, int]]
) -> None:
    """Overwrite a stub section's raw data (ukify does this for ``.sbat``), keeping VA and sizes."""
    name = existing.name
    if len(data) > existing.size_of_raw_data:
        raise PlacementError(
            f"not enough space in the stub's {name} section: {len(data)} bytes into {existing.size_of_raw_data}",
            hint="shorten the --sbat text",
        )
    end = existing.virtual_address + len(data)
    for other in pe.sections:
        if other is not existing and existing.virtual_address <= other.virtual_address < end:
            raise PlacementError(
                f"merged {name} ({len(data):#x} bytes at {existing.virtual_address:#x}) would overlap "
                f"{other.name} at {other.virtual_address:#x} in memory",
                hint="this stub leaves little room after .sbat; pass a shorter --sbat",
            )
    start = existing.pointer_to_raw_data
    buf[start : start + existing.size_of_raw_data] = data + bytes(existing.size_of_raw_data - len(data))
    _put_u32(buf, existing.header_offset + 8, len(data))
    index = pe.sections.index(existing)
    table[index] = (existing.virtual_address, len(data))


def build_uki(
    *,
    stub: bytes,
    linux: bytes,
    initrds: Sequence[bytes] = (),
    cmdline: bytes | None = None,
    os_release: bytes | None = None,
    uname: str | None = None,
    sbat: Sequence[bytes] | None = None,
    sections: Sequence[tuple[str, bytes]] = (),
    devicetree: bytes | None = None,
    devicetree_auto: Sequence[bytes] = (),
    splash: bytes | None = None,
    pcrpkey: bytes | None = None,
    microcode: bytes | None = None,
) -> bytes:
    """Build a UKI from a systemd-stub and a kernel, byte-identical to ukify 257 on the same inputs.

    ``cmdline``/``os_release``: exact section bytes, None for no section (ukify's whitespace
    collapsing of a ``--cmdline TEXT`` is the CLI's job). ``uname``: None detects it from the
    kernel like ukify, ``""`` omits ``.uname``. ``sbat``: SBAT texts merged after the stub's and the
    kernel's; None or empty means ukify's default (:data:`uki.sbat.STUB_SBAT`). ``sections``: extra
    ``(name, data)`` sections placed after ``.initrd``/``.ucode``, as ``ukify --section``.
    ``devicetree``, ``devicetree_auto``, ``splash``, ``pcrpkey``, ``microcode``: the ``.dtb``,
    ``.dtbauto``, ``.splash``, ``.pcrpkey`` and ``.ucode`` sections, in ukify's positions.
    """
    try:
        read_pe(linux, what="kernel")
    except PeFormatError as e:
        raise KernelError(f"{e}", hint="the .linux payload must be an EFI-stub kernel (bzImage)") from e
    planned = plan_sections(
        stub=stub,
        linux=linux,
        initrds=initrds,
        cmdline=cmdline,
        os_release=os_release,
        uname=uname,
        sbat=sbat,
        sections=sections,
        devicetree=devicetree,
        devicetree_auto=devicetree_auto,
        splash=splash,
        pcrpkey=pcrpkey,
        microcode=microcode,
    )
    stub_pe = read_pe(stub, what="stub")
    for section in planned:
        if section.name != ".sbat" and stub_pe.find_section(section.name) is not None:
            raise SectionError(f"section {section.name} already exists in the stub")
    return add_sections(stub, planned)
