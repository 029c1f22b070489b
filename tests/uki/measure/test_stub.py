"""UKI event prediction per systemd-stub version, on UKIs built in code (fake stub + fake kernel)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.uki.pefixtures import make_kernel, make_stub
from uki.authenticode import authenticode_digest
from uki.builder import build_uki
from uki.measure.errors import MeasureError, UnsupportedStubError
from uki.measure.event import Bank, EventType, fold, pcr, replay
from uki.measure.stub import mangle_cmdline, measure_uki, stub_behaviour, utf16_cmdline
from uki.measure.stubcpio import pack_cpio_literal
from uki.pe import read_pe

KERNEL = make_kernel(version_string=b"6.12.117+deb13-cloud-amd64 (x@y) #1 SMP Debian 6.12.117-1")
INITRD = b"0707010000" + b"\x5a" * 1001  # length not a multiple of 4
OSREL = b'ID=probe\nPRETTY_NAME="probe"\n'


def _uki(version: str, *, cmdline: bytes | None = b"console=ttyS0 quiet", osrel: bytes | None = OSREL,
         sections: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    return build_uki(stub=make_stub(version), linux=KERNEL, initrds=[INITRD], cmdline=cmdline, os_release=osrel,
                     sections=sections)


def _pcr11_reference(uki: bytes, order: tuple[str, ...], bank: Bank) -> bytes:
    pe = read_pe(uki)
    digests = []
    for name in order:
        data = pe.section_data(name)
        if data:
            digests += [bank.hash(name.encode() + b"\x00"), bank.hash(data)]
    return fold(digests, bank)


def test_stub_257_events() -> None:
    uki = _uki("257.13-1~deb13u1")
    m = measure_uki(uki)
    assert m.stub.major == 257 and m.behaviour.cc_measurements and m.behaviour.loads_kernel_image
    assert m.uname == "6.12.117+deb13-cloud-amd64" and m.kernel_cc
    names = [e.description.split(" ")[0] for e in m.stub_events]
    assert names == [n for s in (".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".sbat") for n in (s, s)]
    assert all(e.register == pcr(11) and e.event_type == EventType.EV_IPL for e in m.stub_events)
    for bank in (Bank.SHA256, Bank.SHA384):
        order = (".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".sbat")
        assert replay(m.stub_events, bank)[pcr(11)] == _pcr11_reference(uki, order, bank)
        assert m.uki_image.digest(bank) == authenticode_digest(uki, bank.value)  # type: ignore[arg-type]
    assert m.kernel_image is not None
    linux = read_pe(uki).section_data(".linux")
    assert linux is not None
    assert m.kernel_image.digest(Bank.SHA384) == authenticode_digest(linux, "sha384")
    # the initrd the kernel sees: .initrd padded to 4, then the os-release literal cpio
    assert m.initrd == INITRD + bytes(-len(INITRD) % 4) + pack_cpio_literal("os-release", OSREL)
    cmd, initrd = m.kernel_events
    assert cmd.digest(Bank.SHA256) == hashlib.sha256("console=ttyS0 quiet".encode("utf-16-le") + b"\0\0").digest()
    assert initrd.digest(Bank.SHA384) == hashlib.sha384(m.initrd).digest()
    assert cmd.data[:4] == (0x8F3B22ED).to_bytes(4, "little") and initrd.data.endswith(b"Linux initrd\x00")


def test_stub_252_and_255_have_no_uname_sbat_or_osrel_cpio() -> None:
    m252 = measure_uki(_uki("252.39-1~deb12u2"))
    assert [e.description.split(" ")[0] for e in m252.stub_events][::2] == [".linux", ".osrel", ".cmdline", ".initrd"]
    assert m252.initrd == INITRD and not m252.behaviour.cc_measurements
    m255 = measure_uki(_uki("255.4-1"))
    assert [e.description.split(" ")[0] for e in m255.stub_events][::2][-2:] == [".uname", ".sbat"]
    assert m255.initrd == INITRD and m255.kernel_image is not None


def test_stub_258_does_not_loadimage_the_kernel() -> None:
    m = measure_uki(_uki("258.1-1"))
    assert m.kernel_image is None and m.behaviour.cc_measurements


def test_pcrpkey_is_measured_and_wrapped_pcrsig_is_not_measured() -> None:
    pem = b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
    sig = b'{"sha256":[]}'
    m = measure_uki(_uki("257.13-1~deb13u1", sections=((".pcrsig", sig), (".pcrpkey", pem))))
    assert ".pcrsig" not in {e.description.split(" ")[0] for e in m.stub_events}
    assert m.stub_events[-2].description.startswith(".pcrpkey")
    parts = [INITRD, pack_cpio_literal("tpm2-pcr-signature.json", sig),
             pack_cpio_literal("tpm2-pcr-public-key.pem", pem), pack_cpio_literal("os-release", OSREL)]
    assert m.initrd == b"".join(p + bytes(-len(p) % 4) for p in parts)


def test_cmdline_mangling_and_override() -> None:
    assert mangle_cmdline(" \t console=ttyS0\nquiet \n\n") == "console=ttyS0 quiet"
    assert mangle_cmdline("\x7fa\x01b  ") == "a b"
    assert utf16_cmdline("ab") == b"a\x00b\x00\x00\x00"
    m = measure_uki(_uki("257.13-1~deb13u1", cmdline=b"console=ttyS0\n"), passed_cmdline="  rescue ")
    assert m.cmdline == "rescue"
    assert m.stub_events[-1].register == pcr(12)
    assert m.kernel_events[0].payload == utf16_cmdline("rescue")
    sb = measure_uki(_uki("257.13-1~deb13u1"), passed_cmdline="rescue", secure_boot=True)
    assert sb.cmdline == "console=ttyS0 quiet" and all(e.register != pcr(12) for e in sb.stub_events)


def test_no_cmdline_no_load_options_event() -> None:
    m = measure_uki(_uki("257.13-1~deb13u1", cmdline=None, osrel=None))
    assert [e.description for e in m.kernel_events] == [f"Linux initrd (1 part(s), {len(INITRD)} bytes)"]
    assert m.initrd == INITRD  # one part: passed as is, no padding


def test_unknown_stub_versions_are_refused() -> None:
    with pytest.raises(UnsupportedStubError):
        stub_behaviour(251)
    with pytest.raises(UnsupportedStubError):
        measure_uki(_uki("257.13-1~deb13u1"), stub_major=259)
    with pytest.raises(MeasureError):
        measure_uki(KERNEL)


@pytest.mark.skipif(shutil.which("/lib/systemd/systemd-measure") is None, reason="systemd-measure (systemd 252)")
def test_pcr11_matches_systemd_measure_252(tmp_path: Path) -> None:
    """Peer check: bookworm's systemd-measure 252 on the sections of a 252-stub UKI."""
    uki = _uki("252.39-1~deb12u2")
    pe = read_pe(uki)
    args = ["/lib/systemd/systemd-measure", "calculate", "--bank=sha256", "--bank=sha384", "--phase="]
    for name in (".linux", ".osrel", ".cmdline", ".initrd"):
        data = pe.section_data(name)
        assert data is not None
        path = tmp_path / name[1:]
        path.write_bytes(data)
        args.append(f"--{name[1:]}={path}")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    peer = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("11:"))
    m = measure_uki(uki)
    assert replay(m.stub_events, Bank.SHA256)[pcr(11)].hex() == peer["11:sha256"]
    assert replay(m.stub_events, Bank.SHA384)[pcr(11)].hex() == peer["11:sha384"]
