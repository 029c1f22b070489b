"""uki.pe: reading fields, section data, stub version, and clear errors for hostile images."""

from __future__ import annotations

import random
import struct

import pytest

from tests.uki.pefixtures import FakeSection, PeSpec, filler, make_kernel, make_pe, make_stub
from uki.errors import PeFormatError
from uki.pe import read_pe

TABLE = 0x40 + 4 + 20 + 240  # section table offset in the fixtures (e_lfanew 0x40, PE32+ with 16 dirs)


def test_reads_headers_and_sections() -> None:
    pe = read_pe(make_stub())
    assert [s.name for s in pe.sections] == [".text", ".data", ".sbat", ".sdmagic", ".reloc"]
    assert pe.magic == 0x20B
    assert (pe.section_alignment, pe.file_alignment) == (0x1000, 0x200)
    assert pe.image_base == 0x14DF90000
    assert pe.section_table_offset == TABLE
    assert pe.size_of_headers == 0x400
    text = pe.sections[0]
    assert (text.virtual_address, text.pointer_to_raw_data, text.virtual_size) == (0x1000, 0x400, 0x1234)
    assert not pe.is_signed
    assert pe.nx_compat


def test_section_data_is_virtual_size_zero_extended() -> None:
    pe = read_pe(make_stub())
    data = pe.section_data(".data")
    assert data is not None
    assert len(data) == 0x300
    assert data[:0x80] == filler(0x80, b"data")
    assert data[0x80:] == bytes(0x280)
    text = pe.section_data(".text")
    assert text == filler(0x1234, b"text")  # cut to VirtualSize, not SizeOfRawData
    assert pe.section_data(".nothere") is None


def test_stub_version_from_sdmagic() -> None:
    for version, major in [("257.13-1~deb13u1", 257), ("252.39-1~deb12u2", 252), ("255.4", 255)]:
        found = read_pe(make_stub(version)).stub_version()
        assert found is not None
        assert (found.kind, found.version, found.major) == ("systemd-stub", version, major)
    assert read_pe(make_kernel()).stub_version() is None


def _patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:0x30], "no MZ header"),
        (lambda d: b"XY" + d[2:], "no MZ header"),
        (lambda d: _patch(d, 0x3C, "<I", 0xFFFFFFF0), "outside the file"),
        (lambda d: d[:0x40] + b"NE\0\0" + d[0x44:], "no PE signature"),
        (lambda d: d[:0x100], "runs past the end of the file"),
        (lambda d: d[: TABLE + 20], "section table"),
        (lambda d: _patch(d, 0x46, "<H", 2000), "sections"),
        (lambda d: _patch(d, 0x46, "<H", 90), "section table"),
        (lambda d: _patch(d, 0x58, "<H", 0x999), "unknown optional header magic"),
        (lambda d: _patch(d, TABLE + 8, "<I", 0x7FFFFFFF), "VirtualSize"),
        (lambda d: _patch(d, TABLE + 40 + 12, "<I", 0x1800), "overlap in memory"),
        (lambda d: _patch(d, TABLE + 40 + 20, "<I", 0x400), "overlap in the file"),
        (lambda d: _patch(d, TABLE + 20, "<I", 0x7FFFFF00), "runs past the end of the file"),
        (lambda d: _patch(d, TABLE + 12, "<I", 0x100), "overlaps the headers"),
        (lambda d: _patch(d, 0x58 + 36, "<I", 0x300), "not a power of two"),
        (lambda d: _patch(d, 0x58 + 108, "<I", 200), "NumberOfRvaAndSizes"),
        (lambda d: _patch(d, 0x58 + 112 + 32, "<II", 0x10, 0x10000), "certificate table"),
    ],
)
def test_hostile_images_give_clear_errors(mutate: object, message: str) -> None:
    assert callable(mutate)
    with pytest.raises(PeFormatError, match=message) as info:
        read_pe(mutate(make_stub()), what="test.efi")
    assert str(info.value).startswith("test.efi: ")


def test_every_truncation_is_a_clear_error() -> None:
    data = make_stub()
    for n in range(0, len(data), 61):
        with pytest.raises(PeFormatError):
            read_pe(data[:n])


def test_random_corruption_never_escapes_as_another_exception() -> None:
    data = make_stub()
    rng = random.Random(1234)
    parsed = failed = 0
    for _ in range(2000):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(0, 0x400)] = rng.randrange(256)
        try:
            pe = read_pe(bytes(buf))
        except PeFormatError:
            failed += 1
            continue
        parsed += 1
        for section in pe.sections:
            assert len(pe.loaded_data(section)) == section.virtual_size
    assert parsed and failed


def test_pe32_is_read() -> None:
    # A PE32 optional header is 16 bytes shorter before the data directories.
    stub = make_pe(PeSpec([FakeSection(b".text", b"\xc3" * 16)], number_of_rva=16))
    buf = bytearray(stub)
    struct.pack_into("<H", buf, 0x58, 0x10B)
    struct.pack_into("<I", buf, 0x58 + 92, 16)
    pe = read_pe(bytes(buf))
    assert pe.magic == 0x10B
    assert len(pe.data_directories) == 16
