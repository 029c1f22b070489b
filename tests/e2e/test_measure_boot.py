"""Boot proof of the measurement engine (issue 4, testbed.md).

A probe image - Debian trixie's cloud kernel and a busybox-static init that prints the TPM event log
(base64) and the sysfs PCRs to the serial console and powers off - is built into a UKI with
``uki.builder.build_uki`` (stub from trixie's systemd-boot-efi), written to a GPT disk with the gpt
package, and booted under QEMU (TCG) + OVMF + swtpm with SHA-256 and SHA-384 banks, ``-nic none``,
no ``-append``. Every event our predictor emits for PCRs 4, 5, 9, 11 and 12 must equal the logged
event in both banks, and the replayed log must equal the TPM's PCRs. A second UKI whose cmdline
differs by one byte must differ in exactly the cmdline event, and ``replay --expect`` must say so.

Downloads go through the host's Debian mirror (``ASSEMBLER_MIRROR`` or the apt sources) with
:mod:`tests.archive`, i.e. debfetch: InRelease verified against the pinned Debian archive keys, the
Packages index checked against the signed Release and each .deb against its stanza; the .debs are
cached by sha256 under ``$ASSEMBLER_CACHE/sha256`` (default ``~/.cache/assembler/sha256``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from assembler.cpio import CpioEntry, write_newc
from gpt.disk import esp_disk, write_raw
from tests import archive
from uki.builder import build_uki
from uki.measure.cli import replay_main
from uki.measure.event import Bank, Event, EventType, pcr, rtmr
from uki.measure.expect import write_expected_events
from uki.measure.platform import tdx_boot_events, tpm_boot_events
from uki.measure.stub import measure_uki
from uki.measure.tcglog import EventLog, parse_event_log
from uki.sbat import SBAT_HEADER

pytestmark = [pytest.mark.boot, pytest.mark.network, pytest.mark.timeout(1500)]

SUITE = "trixie"
HOST_OVMF = (Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.fd"))
CMDLINE = b"console=ttyS0 panic=-1"
CHECKED_PCRS = (4, 5, 9, 11, 12)
QEMU_TIMEOUT = 600

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t securityfs securityfs /sys/kernel/security
echo PROBE-BOOT-OK
echo "PROBE-CMDLINE $(cat /proc/cmdline)"
echo EVLOG-B64-BEGIN
base64 /sys/kernel/security/tpm0/binary_bios_measurements
echo EVLOG-B64-END
for bank in sha256 sha384; do
  for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
    echo "PROBE-PCR $bank $i $(cat /sys/class/tpm/tpm0/pcr-$bank/$i)"
  done
done
echo PROBE-DONE
poweroff -f
"""


# --- probe image ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeInputs:
    stub: bytes
    linux: bytes
    uname: str
    initrd: bytes
    sbat: tuple[bytes, ...] | None = None
    sections: tuple[tuple[str, bytes], ...] = ()


def _probe_initrd(busybox: bytes) -> bytes:
    entries = [
        CpioEntry(name=b"bin", mode=0o040755),
        CpioEntry(name=b"bin/busybox", mode=0o100755, data=busybox),
        CpioEntry(name=b"dev", mode=0o040755),
        CpioEntry(name=b"dev/console", mode=0o020600, rdevmajor=5, rdevminor=1),
        CpioEntry(name=b"dev/null", mode=0o020666, rdevmajor=1, rdevminor=3),
        CpioEntry(name=b"init", mode=0o100755, data=INIT.encode()),
        CpioEntry(name=b"proc", mode=0o040755),
        CpioEntry(name=b"sys", mode=0o040755),
    ]
    return write_newc(entries)


@pytest.fixture(scope="session")
def probe_inputs() -> ProbeInputs:
    kernel, kernel_deb = archive.cloud_kernel(SUITE)
    assert kernel.name.endswith("-cloud-amd64"), kernel
    uname = archive.kernel_release(kernel)
    linux = archive.deb_member(kernel_deb, f"boot/vmlinuz-{uname}")
    _, stub_deb = archive.package("systemd-boot-efi", SUITE)
    stub = archive.deb_member(stub_deb, "usr/lib/systemd/boot/efi/linuxx64.efi.stub")
    _, bb_deb = archive.package("busybox-static", SUITE)
    try:
        busybox = archive.deb_member(bb_deb, "usr/bin/busybox")
    except KeyError:
        busybox = archive.deb_member(bb_deb, "bin/busybox")
    return ProbeInputs(stub=stub, linux=linux, uname=uname, initrd=_probe_initrd(busybox))


def build_probe_uki(inputs: ProbeInputs, cmdline: bytes) -> bytes:
    os_release = b'PRETTY_NAME="assembler measurement probe"\nID=probe\n'
    return build_uki(stub=inputs.stub, linux=inputs.linux, initrds=[inputs.initrd], cmdline=cmdline,
                     os_release=os_release, uname=inputs.uname, sbat=inputs.sbat, sections=inputs.sections)


#: .pcrsig/.pcrpkey payloads: the stub wraps both into cpios appended to the initrd (four parts then)
#: and measures .pcrpkey (never .pcrsig) into PCR11; it does not parse them for booting.
PCRSIG = b'{"sha256":[{"pcrs":[11],"pkfp":"00","pol":"00","sig":"AA=="}]}\n'
PCRPKEY = (b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
           b"-----END PUBLIC KEY-----\n")


@pytest.fixture(scope="session")
def probe_inputs_pcrkey(probe_inputs: ProbeInputs) -> ProbeInputs:
    return dataclasses.replace(probe_inputs, sections=((".pcrsig", PCRSIG), (".pcrpkey", PCRPKEY)))


@pytest.fixture(scope="session")
def probe_inputs_252(probe_inputs: ProbeInputs) -> ProbeInputs:
    """The same probe with bookworm's systemd-stub 252 (no .uname/.sbat measurement, no os-release cpio).

    Its .sbat leaves 0x100 bytes before .sdmagic, so ukify's extra "uki" SBAT line does not fit: pass
    only the SBAT header as the extra text."""
    _, stub_deb = archive.package("systemd-boot-efi", "bookworm")
    stub = archive.deb_member(stub_deb, "usr/lib/systemd/boot/efi/linuxx64.efi.stub")
    return dataclasses.replace(probe_inputs, stub=stub, sbat=(SBAT_HEADER.encode(),))


# --- QEMU + OVMF + swtpm ----------------------------------------------------------------------

@dataclass(frozen=True)
class BootResult:
    console: str
    log: EventLog
    raw_log: bytes
    pcrs: dict[tuple[Bank, int], bytes]


def _parse_console(console: str) -> tuple[bytes, dict[tuple[Bank, int], bytes]]:
    assert "PROBE-DONE" in console, f"probe did not finish; console tail:\n{console[-3000:]}"
    b64 = console.split("EVLOG-B64-BEGIN", 1)[1].split("EVLOG-B64-END", 1)[0]
    raw = base64.b64decode("".join(line.strip() for line in b64.splitlines()))
    pcrs = {}
    for m in re.finditer(r"PROBE-PCR (sha256|sha384) (\d+) ([0-9A-Fa-f]+)", console):
        pcrs[(Bank(m[1]), int(m[2]))] = bytes.fromhex(m[3])
    return raw, pcrs


def boot_disk(disk: Path, work: Path, ovmf: tuple[Path, Path] = HOST_OVMF) -> BootResult:
    for tool in ("qemu-system-x86_64", "swtpm", "swtpm_setup", "timeout"):
        assert shutil.which(tool), f"{tool} missing (scripts/apt-packages.txt)"
    tpm = work / "tpm"
    tpm.mkdir()
    subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", str(tpm), "--pcr-banks", "sha256,sha384",
                    "--overwrite"], check=True, capture_output=True)
    sock = work / "swtpm.sock"
    swtpm = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={tpm}", "--ctrl",
                              f"type=unixio,path={sock}", "--terminate"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        vars_fd = work / "vars.fd"
        shutil.copyfile(ovmf[1], vars_fd)
        console = work / "console.log"
        # -nodefaults: no empty DVD drive, whose failing boot option would add "Returning from EFI
        # Application" and more Boot#### events (testbed.md §8.4); -nic none: no iPXE ROM in PCR2.
        cmd = [
            "timeout", "--kill-after=10", str(QEMU_TIMEOUT), "qemu-system-x86_64",
            "-machine", "q35", "-accel", "tcg", "-m", "1024", "-smp", "1",
            "-nodefaults", "-display", "none", "-no-reboot", "-nic", "none",
            "-serial", f"file:{console}",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={ovmf[0]}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}",
            "-chardev", f"socket,id=chrtpm,path={sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", "tpm-tis,tpmdev=tpm0",
            "-drive", f"if=none,id=disk,format=raw,readonly=on,file={disk}",
            "-device", "virtio-blk-pci,drive=disk",
        ]
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       check=False)
        text = console.read_text(encoding="utf-8", errors="replace")
    finally:
        if swtpm.poll() is None:
            swtpm.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                swtpm.wait(timeout=10)
            if swtpm.poll() is None:
                swtpm.kill()
    raw, pcrs = _parse_console(text)
    return BootResult(console=text, log=parse_event_log(raw, source="probe"), raw_log=raw, pcrs=pcrs)


def _write_disk(uki: bytes, path: Path) -> None:
    disk = esp_disk(uki, image_id="measure-probe", layout="raw", source_date_epoch=0)
    with path.open("wb") as f:
        write_raw(disk, f)


@dataclass(frozen=True)
class Booted:
    uki: bytes
    disk: Path
    gpt_data: bytes
    result: BootResult
    predicted: tuple[Event, ...]


def _boot_and_predict(inputs: ProbeInputs, cmdline: bytes, work: Path, ovmf: tuple[Path, Path] = HOST_OVMF) -> Booted:
    from gpt.gpt import uefi_gpt_data

    work.mkdir(parents=True, exist_ok=True)
    uki = build_probe_uki(inputs, cmdline)
    disk = work / "disk.raw"
    _write_disk(uki, disk)
    with disk.open("rb") as f:
        gpt_data = uefi_gpt_data(f)
    predicted = tpm_boot_events(measure_uki(uki), gpt_data=gpt_data)
    result = boot_disk(disk, work, ovmf)
    return Booted(uki=uki, disk=disk, gpt_data=gpt_data, result=result, predicted=predicted)


@pytest.fixture(scope="session")
def trixie_ovmf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Debian trixie's OVMF (edk2 2025.02, a newer firmware generation than the host's 2022.11)."""
    _, deb = archive.package("ovmf", SUITE)
    files = archive.deb_members(deb, ["usr/share/OVMF/OVMF_CODE_4M.fd", "usr/share/OVMF/OVMF_VARS_4M.fd"])
    out = tmp_path_factory.mktemp("trixie-ovmf")
    code, vars_fd = out / "OVMF_CODE_4M.fd", out / "OVMF_VARS_4M.fd"
    code.write_bytes(files["usr/share/OVMF/OVMF_CODE_4M.fd"])
    vars_fd.write_bytes(files["usr/share/OVMF/OVMF_VARS_4M.fd"])
    return code, vars_fd


Boot = Callable[[str, str, bytes], Booted]


@pytest.fixture(scope="session")
def boot(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Boot:
    """boot(firmware, stub, cmdline): each distinct combination is booted once per session."""
    done: dict[tuple[str, str, bytes], Booted] = {}

    def run(firmware: str, stub: str, cmdline: bytes) -> Booted:
        key = (firmware, stub, cmdline)
        if key not in done:
            ovmf = HOST_OVMF if firmware == "host-ovmf" else request.getfixturevalue("trixie_ovmf")
            fixture = {"stub-257": "probe_inputs", "stub-252": "probe_inputs_252",
                       "stub-257-pcrkey": "probe_inputs_pcrkey"}[stub]
            inputs = request.getfixturevalue(fixture)
            work = tmp_path_factory.mktemp(f"boot-{firmware}-{stub}")
            done[key] = _boot_and_predict(inputs, cmdline, work, ovmf)
        return done[key]

    return run


@pytest.fixture(scope="session", params=[("host-ovmf", "stub-257"), ("trixie-ovmf", "stub-257"),
                                         ("host-ovmf", "stub-252"), ("host-ovmf", "stub-257-pcrkey")],
                ids="-".join)
def booted(request: pytest.FixtureRequest, boot: Boot) -> Booted:
    firmware, stub = request.param
    return boot(firmware, stub, CMDLINE)


@pytest.fixture(scope="session")
def booted_host(boot: Boot) -> Booted:
    return boot("host-ovmf", "stub-257", CMDLINE)


@pytest.fixture(scope="session")
def booted_changed(boot: Boot) -> Booted:
    changed = CMDLINE.replace(b"panic=-1", b"panic=-2")
    assert len(changed) == len(CMDLINE) and sum(a != b for a, b in zip(changed, CMDLINE, strict=True)) == 1
    return boot("host-ovmf", "stub-257", changed)


def _logged(log: EventLog, index: int) -> list[Event]:
    return [e for e in log.measured_events() if e.register == pcr(index)]


# --- the proof --------------------------------------------------------------------------------

def test_every_predicted_event_matches_the_log(booted: Booted) -> None:
    log = booted.result.log
    assert log.banks == (Bank.SHA256, Bank.SHA384)
    for index in CHECKED_PCRS:
        want = [e for e in booted.predicted if e.register == pcr(index)]
        got = _logged(log, index)
        assert len(want) == len(got), (index, [e.description for e in want], [e.description for e in got])
        for w, g in zip(want, got, strict=True):
            assert w.event_type == g.event_type, (index, w.description, g.type_name)
            for bank in (Bank.SHA256, Bank.SHA384):
                assert w.digest(bank) == g.digest(bank), (index, bank, w.description, g.description)
    assert not _logged(log, 12), "no cmdline passed in: PCR12 must stay empty"


def test_replayed_log_equals_tpm(booted: Booted) -> None:
    result = booted.result
    for bank in (Bank.SHA256, Bank.SHA384):
        values = result.log.replay(bank)
        for index in range(16):
            if index == 10:  # IMA's boot_aggregate is not in the firmware log (testbed.md §8)
                continue
            assert values[pcr(index)] == result.pcrs[(bank, index)], (bank, index)


def test_tdx_prediction_is_the_logged_events_reindexed(booted: Booted) -> None:
    """What TDVF extends into RTMR1/RTMR2 are these same measurements: PCR2-6 -> RTMR1 (one separator
    per MR index at ReadyToBoot), PCR8-15 -> RTMR2 (without the stub's own events for stubs < 256, which
    measure into the TPM only). Our TDX event list must equal the SHA-384 log."""
    m = measure_uki(booted.uki)
    tdx = tdx_boot_events(m, gpt_data=booted.gpt_data, separator_in_rtmr1=True)
    logged = booted.result.log.measured_events()
    rtmr1_log = [e for e in logged if 2 <= e.register.index <= 6]
    first_sep = next(i for i, e in enumerate(rtmr1_log) if e.event_type == EventType.EV_SEPARATOR)
    rtmr1_log = [e for i, e in enumerate(rtmr1_log) if e.event_type != EventType.EV_SEPARATOR or i == first_sep]
    rtmr2_log = [e for e in logged if 8 <= e.register.index <= 15]
    if not m.behaviour.cc_measurements:
        rtmr2_log = [e for e in rtmr2_log if e.register.index not in (11, 12, 13)]
    for index, want in ((1, rtmr1_log), (2, rtmr2_log)):
        ours = [e for e in tdx if e.register == rtmr(index)]
        assert [e.digest(Bank.SHA384) for e in ours] == [e.digest(Bank.SHA384) for e in want], index
        assert [e.event_type for e in ours] == [e.event_type for e in want], index


def test_one_byte_cmdline_change_moves_exactly_the_cmdline_event(
    booted_host: Booted, booted_changed: Booted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def changed(a: Sequence[Event], b: Sequence[Event]) -> set[tuple[str, int]]:
        """(register, position within the register) of every event whose digests differ."""
        out = set()
        for index in CHECKED_PCRS:
            xs = [e for e in a if e.register == pcr(index)]
            ys = [e for e in b if e.register == pcr(index)]
            assert len(xs) == len(ys)
            out |= {(f"PCR{index}", k) for k, (x, y) in enumerate(zip(xs, ys, strict=True)) if x.digests != y.digests}
        return out

    predicted = changed(booted_host.predicted, booted_changed.predicted)
    logged = changed(booted_host.result.log.measured_events(), booted_changed.result.log.measured_events())
    assert predicted == logged
    # PCR9: exactly the kernel's LoadOptions event; PCR11: exactly the .cmdline content event;
    # PCR4: the UKI image (its bytes changed). Nothing else.
    pcr9 = [e for e in booted_host.predicted if e.register == pcr(9)]
    pcr11 = [e for e in booted_host.predicted if e.register == pcr(11)]
    pcr4 = [e for e in booted_host.predicted if e.register == pcr(4)]
    assert {p for p in logged if p[0] == "PCR9"} == {("PCR9", 0)} and "LoadOptions" in pcr9[0].description
    (c11,) = [k for r, k in logged if r == "PCR11"]
    assert pcr11[c11].description == ".cmdline (section content)"
    (c4,) = [k for r, k in logged if r == "PCR4"]
    assert pcr4[c4].description.startswith("UKI")
    assert {r for r, _ in logged} == {"PCR4", "PCR9", "PCR11"}

    expect = tmp_path / "expected.json"
    expect.write_bytes(write_expected_events(booted_host.predicted))
    log_b = tmp_path / "b.bin"
    log_b.write_bytes(booted_changed.result.raw_log)
    assert replay_main([str(log_b), "--expect", str(expect), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    mismatches = [m for m in report["diff"] if m["status"] != "match"]
    assert {m["register"] for m in mismatches} == {"PCR4", "PCR9", "PCR11"}
    assert all(m["status"] == "differs" for m in mismatches)
    (m9,) = [m for m in mismatches if m["register"] == "PCR9"]
    assert "LoadOptions" in m9["expected"]["description"] and m9["position"] == 0

    log_a = tmp_path / "a.bin"
    log_a.write_bytes(booted_host.result.raw_log)
    assert replay_main([str(log_a), "--expect", str(expect)]) == 0
