"""The UKI's section table read back with pefile, an independent PE parser."""

from __future__ import annotations

import itertools

import pefile

from tests.uki.pefixtures import make_kernel, make_stub
from uki import build_uki


def test_section_table_with_pefile() -> None:
    initrd = b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 20 + b"tail!"
    cmdline = b"console=ttyS0,115200n8 systemd.unit=minimal.target"
    osrel = b'ID=debian\nIMAGE_ID="bob"\n'
    efi = build_uki(stub=make_stub(), linux=make_kernel(), initrds=[initrd], cmdline=cmdline, os_release=osrel,
                    uname="6.12.117+deb13-cloud-amd64")
    pe = pefile.PE(data=efi)
    assert pe.get_warnings() == []
    sections = {s.Name.rstrip(b"\0").decode(): s for s in pe.sections}
    assert [n for n in sections if n.startswith((".osrel", ".cmdline", ".uname", ".linux", ".initrd"))] == [
        ".osrel", ".cmdline", ".uname", ".linux", ".initrd"]
    assert sections[".initrd"].get_data()[: sections[".initrd"].Misc_VirtualSize] == initrd
    assert sections[".cmdline"].get_data()[: len(cmdline)] == cmdline
    assert sections[".osrel"].Misc_VirtualSize == len(osrel)
    assert sections[".uname"].get_data().rstrip(b"\0") == b"6.12.117+deb13-cloud-amd64"
    align = pe.OPTIONAL_HEADER.SectionAlignment
    ordered = sorted(pe.sections, key=lambda s: s.VirtualAddress)
    for a, b in itertools.pairwise(ordered):
        assert a.VirtualAddress + a.Misc_VirtualSize <= b.VirtualAddress  # no overlap in memory
        assert b.VirtualAddress % align == 0
        assert b.PointerToRawData % pe.OPTIONAL_HEADER.FileAlignment == 0
    last = ordered[-1]
    assert pe.OPTIONAL_HEADER.SizeOfImage == -(-(last.VirtualAddress + last.Misc_VirtualSize) // align) * align
