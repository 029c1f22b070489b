"""TDVF metadata walk, MRTD (both page-add orders) and the QEMU TD HOB (measurements.md §2, §3.2, §11)."""

from __future__ import annotations

import hashlib
import itertools
import struct
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests import archive
from uki.measure.errors import FirmwareError
from uki.measure.event import Bank, EventType, replay, rtmr
from uki.measure.rtmr0 import capture_profile, rtmr0_events
from uki.measure.tcglog import parse_event_log
from uki.measure.tdvf import (
    OVMF_TABLE_FOOTER_GUID,
    TDX_METADATA_OFFSET_GUID,
    PageAddOrder,
    SectionType,
    TdvfMetadata,
    TdvfSection,
    build_td_hob,
    cfv_bytes,
    compute_mrtd,
    parse_tdvf_metadata,
    plan_memory_ranges,
)

EVENTLOGS = Path(__file__).resolve().parents[2] / "data" / "eventlogs" / "ccel"

# measurements.md §11: TD HOB digests for the current OVMF TDVF accepted set.
HOB_1024 = "1055c9b9a1fc534e688560e2304e18c8597b7261818cf61fb163d40c130547309b750575947a4dcaedbdce4b8d0535f2"
HOB_2048 = "0b8772e5b0b41b83e6044a68397e02f49fb47066b4fbe4917ea2c45c64f323fdacbb37948f821ebaf8bc9c938ba8a749"

CURRENT_OVMF_ACCEPTED = TdvfMetadata(version=1, sections=(
    TdvfSection(data_offset=0, raw_size=0, address=0x800000, memory_size=0x6000, type=SectionType.TEMP_MEM,
                attributes=0),
    TdvfSection(data_offset=0, raw_size=0, address=0x809000, memory_size=0x2000, type=SectionType.TD_HOB,
                attributes=0),
    TdvfSection(data_offset=0, raw_size=0, address=0x80B000, memory_size=0x2000, type=SectionType.TEMP_MEM,
                attributes=0),
    TdvfSection(data_offset=0, raw_size=0, address=0x810000, memory_size=0x10000, type=SectionType.TEMP_MEM,
                attributes=0),
))


@pytest.mark.parametrize(("mib", "want"), [(1024, HOB_1024), (2048, HOB_2048)])
def test_td_hob_vectors(mib: int, want: str) -> None:
    assert hashlib.sha384(build_td_hob(CURRENT_OVMF_ACCEPTED, mib << 20)).hexdigest() == want


def test_td_hob_of_a_real_8g_td() -> None:
    """Intel's test CCEL (tests/data) logs the TD HOB of an 8 GiB TD with the current OVMF layout."""
    log = parse_event_log((EVENTLOGS / "CCEL_unpadded.data.bin").read_bytes())
    (hob,) = [e for e in log.events if e.event_type == EventType.EV_EFI_HANDOFF_TABLES2]
    assert hashlib.sha384(build_td_hob(CURRENT_OVMF_ACCEPTED, 8 << 30)).digest() == hob.digest(Bank.SHA384)
    assert hashlib.sha384(build_td_hob(CURRENT_OVMF_ACCEPTED, 4 << 30)).digest() != hob.digest(Bank.SHA384)


def test_td_hob_large_ram_splits_at_2g() -> None:
    hob = build_td_hob(CURRENT_OVMF_ACCEPTED, 4096 << 20)
    # handoff (56) + 8 ranges below the last + the last range split in two = 10 resource HOBs of 48 bytes
    assert len(hob) == 56 + 48 * 9
    starts = [struct.unpack_from("<Q", hob, 56 + 48 * i + 32)[0] for i in range(9)]
    assert starts[-1] == 0x1_0000_0000
    ranges = plan_memory_ranges(CURRENT_OVMF_ACCEPTED, 1 << 30)
    assert ranges[0] == (False, 0, 0x800000) and ranges[-1] == (False, 0x820000, 1 << 30)
    assert all(a[2] == b[1] for a, b in itertools.pairwise(ranges))


def _firmware(sections: Sequence[tuple[int, int, int, int, int, int]], size: int = 0x10000,
              payload_seed: bytes = b"fw") -> bytes:
    """A flash image with a TDVF descriptor and the OVMF GUIDed table at its end."""
    fw = bytearray(hashlib.shake_256(payload_seed).digest(size))
    desc_off = 0x8000
    desc = struct.pack("<4sIII", b"TDVF", 16 + 32 * len(sections), 1, len(sections))
    desc += b"".join(struct.pack("<IIQQII", *s) for s in sections)
    fw[desc_off : desc_off + len(desc)] = desc
    entry = struct.pack("<I", size - desc_off) + struct.pack("<H", 4 + 18) + TDX_METADATA_OFFSET_GUID.bytes_le
    footer = struct.pack("<H", len(entry) + 18) + OVMF_TABLE_FOOTER_GUID.bytes_le
    table = entry + footer
    fw[size - 32 - len(table) : size - 32] = table
    return bytes(fw)


SECTIONS = [
    # DataOffset, RawDataSize, MemoryAddress, MemoryDataSize, Type, Attributes
    (0x0, 0x2000, 0xFFC00000, 0x2000, SectionType.CFV, 0),
    (0x2000, 0x3000, 0xFFC02000, 0x3000, SectionType.BFV, 1),
    (0, 0, 0x809000, 0x2000, SectionType.TD_HOB, 0),
    (0, 0, 0x800000, 0x1000, SectionType.TEMP_MEM, 2),
]


def _reference_mrtd(fw: bytes, two_pass: bool) -> bytes:
    """measurements.md §2.2 written out literally, as a second implementation."""
    h = hashlib.sha384()

    def add(gpa: int) -> None:
        h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + gpa.to_bytes(8, "little") + bytes(104))

    def ext(gpa: int, chunk: bytes) -> None:
        h.update(b"MR.EXTEND".ljust(16, b"\0") + gpa.to_bytes(8, "little") + bytes(104) + chunk)

    for off, _raw, gpa, mem, _t, attr in SECTIONS:
        pages = range(0, mem, 4096)
        extends = [(gpa + p + i, fw[off + p + i : off + p + i + 256]) for p in pages for i in range(0, 4096, 256)]
        if two_pass:
            for p in pages:
                if not attr & 2:
                    add(gpa + p)
            if attr & 1:
                for g, c in extends:
                    ext(g, c)
        else:
            for p in pages:
                if not attr & 2:
                    add(gpa + p)
                if attr & 1:
                    for g, c in extends[p // 256 : p // 256 + 16]:
                        ext(g, c)
    return h.digest()


def test_metadata_walk_and_mrtd_orders() -> None:
    fw = _firmware(SECTIONS)
    md = parse_tdvf_metadata(fw)
    assert [s.type for s in md.sections] == [1, 0, 2, 3]
    assert md.first(SectionType.TD_HOB).address == 0x809000
    single = compute_mrtd(fw, PageAddOrder.SINGLE_PASS)
    two = compute_mrtd(fw, PageAddOrder.TWO_PASS)
    assert single != two
    assert single == _reference_mrtd(fw, two_pass=False)
    assert two == _reference_mrtd(fw, two_pass=True)
    # only the measured bytes matter: changing the CFV (not MR_EXTEND) keeps MRTD, changing the BFV does not
    changed_cfv = bytearray(fw)
    changed_cfv[0x10] ^= 1
    assert compute_mrtd(bytes(changed_cfv)) == single
    changed_bfv = bytearray(fw)
    changed_bfv[0x2010] ^= 1
    assert compute_mrtd(bytes(changed_bfv)) != single
    section, blob = cfv_bytes(fw)
    assert section.address == 0xFFC00000 and blob == fw[:0x2000]


def test_bad_firmware_is_refused() -> None:
    with pytest.raises(FirmwareError, match="footer"):
        parse_tdvf_metadata(bytes(0x10000))
    unaligned = [(0, 0x1000, 0xFFC00100, 0x1000, SectionType.BFV, 1)]
    with pytest.raises(FirmwareError, match="aligned"):
        parse_tdvf_metadata(_firmware(unaligned))
    short = [(0, 0x800, 0xFFC00000, 0x1000, SectionType.BFV, 1)]
    with pytest.raises(FirmwareError, match="MR_EXTEND"):
        parse_tdvf_metadata(_firmware(short))
    assert uuid.UUID(bytes_le=TDX_METADATA_OFFSET_GUID.bytes_le) == TDX_METADATA_OFFSET_GUID


# dstack-mr (measurements.md §3.4) hard-codes the CFV digest of its OVMF build ("344bc51c…6790"); Intel's test
# CCEL logs the same digest, and Debian trixie's OVMF.fd carries the same empty variable store.
DSTACK_CFV_PREFIX, DSTACK_CFV_SUFFIX = "344bc51c", "6790"


@pytest.fixture(scope="module")
def trixie_ovmf() -> bytes:
    _, deb = archive.package("ovmf", "trixie")
    return archive.deb_member(deb, "usr/share/ovmf/OVMF.fd")


@pytest.mark.network
def test_trixie_ovmf_is_a_tdvf(trixie_ovmf: bytes) -> None:
    fw = trixie_ovmf
    md = parse_tdvf_metadata(fw)
    kinds = [s.type for s in md.sections]
    assert kinds.count(SectionType.BFV) == 1 and kinds.count(SectionType.TD_HOB) == 1
    assert md.first(SectionType.BFV).extended and not md.first(SectionType.TD_HOB).extended
    digest = hashlib.sha384(cfv_bytes(fw, md)[1]).hexdigest()
    assert digest.startswith(DSTACK_CFV_PREFIX) and digest.endswith(DSTACK_CFV_SUFFIX)
    assert compute_mrtd(fw, PageAddOrder.SINGLE_PASS) != compute_mrtd(fw, PageAddOrder.TWO_PASS)


@pytest.mark.network
def test_rtmr0_of_a_real_td_from_firmware_and_profile(trixie_ovmf: bytes) -> None:
    """RTMR0 of Intel's test CCEL: CFV and Secure Boot variables computed from the trixie OVMF (same CFV);
    the VM-shape events (ACPI, Boot####) and the TD HOB come from the profile captured from that log
    (its firmware's TEMP_MEM layout differs from trixie's; the HOB itself is checked above)."""
    log = parse_event_log((EVENTLOGS / "CCEL_unpadded.data.bin").read_bytes())
    profile = capture_profile(log, platform="qemu-tdx")
    ours = rtmr0_events(profile, firmware=trixie_ovmf)
    logged = [e for e in log.measured_events() if e.register == rtmr(0)]
    computed = [e for e in ours if "from profile" not in e.description]
    assert len(computed) == 8  # CFV, 5 variables, 2 separators (pre-202411 firmware)
    for mine, real in zip(ours, logged, strict=True):
        assert mine.digest(Bank.SHA384) == real.digest(Bank.SHA384), mine.description
        if "from profile" not in mine.description:
            assert mine.data == real.data, mine.description
    assert replay(ours, Bank.SHA384)[rtmr(0)] == log.replay(Bank.SHA384)[rtmr(0)]
    trixie_hob = rtmr0_events(profile, firmware=trixie_ovmf, ram_size=8 << 30)[0]
    assert trixie_hob.data[-8:] == (0x809000).to_bytes(8, "little") and trixie_hob.data == logged[0].data
