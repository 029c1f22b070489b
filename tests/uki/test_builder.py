"""uki.builder on fake stubs and kernels: layout rules of ukify 257, refusals, header growth, NX."""

from __future__ import annotations

import pytest

from tests.uki.pefixtures import FakeSection, filler, make_kernel, make_stub
from uki import build_uki
from uki.builder import join_initrds, plan_sections
from uki.errors import KernelError, PlacementError, SectionError, StubError
from uki.pe import read_pe
from uki.sbat import STUB_SBAT

OSREL = b"ID=debian\nVERSION_ID=13\n"


def _build(**kwargs: object) -> bytes:
    args: dict[str, object] = {"stub": make_stub(), "linux": make_kernel(), "os_release": OSREL}
    args.update(kwargs)
    return build_uki(**args)  # type: ignore[arg-type]


def test_section_order_and_placement() -> None:
    out = read_pe(_build(initrds=[b"abc"], cmdline=b"console=ttyS0", sections=[(".extra", b"E" * 5)]))
    names = [s.name for s in out.sections]
    assert names == [".text", ".data", ".sbat", ".sdmagic", ".reloc",
                     ".osrel", ".cmdline", ".uname", ".linux", ".initrd", ".extra"]  # fmt: skip
    prev = out.sections[4]
    for section in out.sections[5:]:
        # next SectionAlignment boundary after the previous header, raw data FileAlignment-aligned
        assert section.virtual_address == -(-(prev.virtual_address + prev.virtual_size) // 0x1000) * 0x1000
        assert section.pointer_to_raw_data % 0x200 == 0
        assert section.size_of_raw_data == -(-section.virtual_size // 0x200) * 0x200
        prev = section
    assert out.section_data(".cmdline") == b"console=ttyS0"
    assert out.section_data(".osrel") == OSREL
    assert out.section_data(".uname") == b"6.1.0-test-amd64"
    assert out.section_data(".initrd") == b"abc"
    assert out.find_section(".linux").characteristics == 0x40000020  # type: ignore[union-attr]
    assert out.find_section(".osrel").characteristics == 0x40000040  # type: ignore[union-attr]
    last = out.sections[-1]
    assert out.size_of_image == -(-(last.virtual_address + last.virtual_size) // 0x1000) * 0x1000
    assert out.checksum == 0
    assert len(out.data) % 0x200 == 0


def test_stub_sections_are_unchanged_except_sbat() -> None:
    stub = read_pe(make_stub())
    out = read_pe(_build())
    for before, after in zip(stub.sections, out.sections, strict=False):
        assert (before.virtual_address, before.pointer_to_raw_data, before.size_of_raw_data) == (
            after.virtual_address,
            after.pointer_to_raw_data,
            after.size_of_raw_data,
        )
        if before.name != ".sbat":
            assert stub.raw_data(before) == out.raw_data(after)
    assert out.size_of_initialized_data == stub.size_of_initialized_data + sum(
        s.virtual_size for s in out.sections[len(stub.sections) :]
    )


def test_sbat_is_merged_in_place() -> None:
    kernel_sbat = b"sbat,1,SBAT Version,sbat,1,https://x\nlinux,1,Linux,linux,6.1,https://kernel.org\n"
    out = read_pe(_build(linux=make_kernel(sbat=kernel_sbat)))
    sbat = out.section_data(".sbat")
    assert sbat == (
        b"sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
        b"systemd-stub,1,The systemd Developers,systemd,257,https://systemd.io/\n"
        b"systemd-stub.debian,1,Debian GNU/Linux,systemd,257.13-1~deb13u1,https://tracker.debian.org/pkg/systemd\n"
        b"linux,1,Linux,linux,6.1,https://kernel.org\n"
        b"uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n\0"
    )
    assert [s.name for s in out.sections].count(".sbat") == 1


def test_multiple_initrds_are_padded_to_four_bytes() -> None:
    assert join_initrds([b"a", b"bcdef", b"gh"]) == b"a\0\0\0bcdef\0\0\0gh\0\0"
    assert join_initrds([b"abcde"]) == b"abcde"  # a single initrd is not padded
    assert join_initrds([]) is None


def test_uname_detection_and_override() -> None:
    assert read_pe(_build(uname="1.2.3")).section_data(".uname") == b"1.2.3"
    assert read_pe(_build(uname="")).find_section(".uname") is None
    no_version = make_kernel(version_string=b"garbage")
    assert read_pe(_build(linux=no_version)).find_section(".uname") is None


def test_none_omits_a_section_and_empty_bytes_keep_it() -> None:
    out = read_pe(_build(cmdline=None, os_release=None))
    assert out.find_section(".cmdline") is None and out.find_section(".osrel") is None
    out = read_pe(_build(cmdline=b""))
    cmdline = out.find_section(".cmdline")
    assert cmdline is not None and cmdline.virtual_size == 0


def test_nx_compat_follows_the_kernel() -> None:
    assert read_pe(_build(linux=make_kernel(nx=True))).nx_compat
    out = read_pe(_build(linux=make_kernel(nx=False)))
    assert not out.nx_compat
    assert out.dll_characteristics == 0x160 & ~0x100


def test_refuses_a_signed_stub() -> None:
    with pytest.raises(StubError, match="signed"):
        _build(stub=make_stub(signed=True))


def test_refuses_unknown_and_missing_stub_versions() -> None:
    with pytest.raises(StubError, match="unsupported systemd-stub version 249"):
        _build(stub=make_stub("249.11-0ubuntu3"))
    with pytest.raises(StubError, match="not a systemd-stub"):
        _build(stub=make_kernel())


def test_stub_by_path_versions() -> None:
    for version in ("252.39-1~deb12u2", "254.26-1~bpo12+1", "255.4-1", "256.7-2", "257.13-1~deb13u1"):
        out = read_pe(_build(stub=make_stub(version)))
        assert out.stub_version().version == version  # type: ignore[union-attr]


def test_refuses_a_kernel_that_is_not_a_pe() -> None:
    with pytest.raises(KernelError, match="not a PE image"):
        _build(linux=b"\x1f\x8b" + bytes(100))


def test_section_names_and_duplicates() -> None:
    with pytest.raises(SectionError, match="longer than 8"):
        _build(sections=[(".toolongname", b"x")])
    with pytest.raises(SectionError, match="printable ASCII"):
        _build(sections=[(".t\x00x", b"x")])
    with pytest.raises(SectionError, match=r"duplicate section \.cmdline"):
        _build(cmdline=b"a", sections=[(".cmdline", b"b")])
    with pytest.raises(SectionError, match="already exists in the stub"):
        _build(sections=[(".text", b"b")])


def test_sbat_too_large_for_the_stub_section() -> None:
    big = b"sbat,1,SBAT Version,sbat,1,https://x\n" + b"".join(
        f"c{i},1,Component {i},c,1,https://example.org/{i}\n".encode() for i in range(20)
    )
    with pytest.raises(PlacementError, match=r"not enough space in the stub's \.sbat"):
        _build(sbat=[big])


def test_sbat_that_would_overlap_the_next_section_in_memory() -> None:
    # Like Debian's 252 stub: .sdmagic is mapped 0x100 bytes after .sbat.
    stub = make_stub("252.39-1~deb12u2", sbat_virtual_span=0x100)
    with pytest.raises(PlacementError, match=r"would overlap \.sdmagic"):
        _build(stub=stub)
    # A merged .sbat that stays below 0x100 bytes fits.
    header_only = b"sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
    out = read_pe(_build(stub=stub, sbat=[header_only]))
    assert len(out.section_data(".sbat") or b"") < 0x100


def test_header_room_is_grown_when_it_runs_out() -> None:
    # SizeOfHeaders 0x200: the table (0x148 + 5*40 = 0x210) already needs more; make it tight instead.
    stub = make_stub(size_of_headers=0x400)
    room = (0x400 - (0x148 + 5 * 40)) // 40
    extras = [(f".x{i}", filler(7 + i, b"e")) for i in range(room + 3)]
    out = read_pe(_build(stub=stub, sections=extras))
    assert out.size_of_headers == 0x600
    stub_pe = read_pe(stub)
    for before, after in zip(stub_pe.sections, out.sections, strict=False):
        assert after.pointer_to_raw_data == before.pointer_to_raw_data + 0x200
        assert after.virtual_address == before.virtual_address
        if before.name != ".sbat":
            assert out.raw_data(after) == stub_pe.raw_data(before)
    for name, data in extras:
        assert out.section_data(name) == data


def test_header_room_cannot_grow_past_the_first_section() -> None:
    stub = make_stub(size_of_headers=0x400, section_alignment=0x200)  # first section mapped at 0x400
    extras = [(f".x{i}", b"x") for i in range(10)]
    with pytest.raises(PlacementError, match="not enough header space"):
        _build(stub=stub, sections=extras)


def test_default_sbat_when_none_or_empty() -> None:
    a = plan_sections(stub=make_stub(), linux=make_kernel(), sbat=None)
    b = plan_sections(stub=make_stub(), linux=make_kernel(), sbat=[])
    c = plan_sections(stub=make_stub(), linux=make_kernel(), sbat=[STUB_SBAT])
    assert a == b == c


def test_build_is_deterministic() -> None:
    assert _build(initrds=[b"x" * 1001, b"y" * 3]) == _build(initrds=[b"x" * 1001, b"y" * 3])


def test_symbol_table_at_the_end_of_an_old_stub_is_stripped() -> None:
    from tests.uki.pefixtures import PeSpec, make_pe

    symbols = bytes(18 * 3) + (4 + 5).to_bytes(4, "little") + b"abcd\0"
    stub = make_pe(
        PeSpec(
            [
                FakeSection(b".text", filler(0x300, b"t"), characteristics=0x60000020),
                FakeSection(b".sbat", b"sbat,1,SBAT Version,sbat,1,https://x\n", raw_size=0x200),
                FakeSection(b".sdmagic", b"#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####"),
            ],
            symbol_table=symbols,
            number_of_symbols=3,
        )
    )
    out = read_pe(_build(stub=stub))
    assert out.pointer_to_symbol_table == 0 and out.number_of_symbols == 0
    assert symbols not in out.data


def test_header_growth_refused_when_the_debug_directory_holds_file_offsets() -> None:
    import struct

    stub = bytearray(make_stub(size_of_headers=0x400))
    struct.pack_into("<II", stub, 0x58 + 112 + 8 * 6, 0x1000, 28)  # IMAGE_DIRECTORY_ENTRY_DEBUG
    extras = [(f".x{i}", b"x") for i in range(10)]
    with pytest.raises(PlacementError, match="debug directory"):
        _build(stub=bytes(stub), sections=extras)
    assert read_pe(_build(stub=bytes(stub)))  # with enough room the directory does not matter
