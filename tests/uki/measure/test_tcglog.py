"""TCG2 / CCEL parsing and replay on the real logs in tests/data/eventlogs, plus synthetic edge cases."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from uki.measure.errors import EventLogError
from uki.measure.event import Bank, EventType, fold, pcr, rtmr
from uki.measure.tcglog import LogKind, parse_event_log

EVENTLOGS = Path(__file__).resolve().parents[2] / "data" / "eventlogs"
# Fixed lists, not globs: a missing file must fail its test, not silently drop it.
TPM_LOGS = [EVENTLOGS / "tpm" / name for name in (
    "arch-linux-workstation.bin",
    "cos-101-amd-sev.bin",
    "cos-85-amd-sev.bin",
    "cos-93-amd-sev.bin",
    "debian-10.bin",
    "glinux-alex.bin",
    "rhel8-uefi.bin",
    "ubuntu-1804-amd-sev.bin",
    "ubuntu-2104-no-dbx.bin",
    "ubuntu-2104-no-secure-boot.bin",
)]
CCEL_LOGS = [EVENTLOGS / "ccel" / name for name in (
    "CCEL_unpadded.data.bin",
    "cos-113-intel-tdx-dupe-separator-unpadded.bin",
    "cos-113-intel-tdx-dupe-separator.bin",
    "cos-113-intel-tdx.bin",
    "event_log.bin",
)]

# go-eventlog ccel/cceventlog_test.go: expected RTMRs of the COS-113 GCP TDX log (its "dupe separator" form)
# and of Intel's test CCEL (RTMR0).
COS113_DUPE = {
    0: "a4de2df23e9611299123ba4359c42a5e578b0f8488bf1bba8ef5606d9ea5d81c97c064b482a5eac537d166bd0f0f752d",
    1: "0ee9366c928a77092f55e9e114c7394181fd264699155f0df77d23577618d5f650568a17d379355a07bd846e552f4e20",
    2: "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1",
}
INTEL_CCEL_RTMR0 = "8083cd6898cc52a90231cdf9c0532bf9513c40465c6f71e56cbe32ee2c11a9dfc030297ca3ca0f62477d6d1f610d3fdb"


def test_logs_are_present() -> None:
    assert len(TPM_LOGS) >= 10 and len(CCEL_LOGS) >= 5


@pytest.mark.parametrize("path", TPM_LOGS, ids=lambda p: p.name)
def test_every_tpm_log_parses_and_replays(path: Path) -> None:
    raw = path.read_bytes()
    log = parse_event_log(raw, source=path.name)
    assert log.kind is LogKind.TPM
    assert not log.truncated
    assert log.size == len(raw.rstrip(b"\x00")) or log.size == len(raw)
    assert len(log.measured_events()) > 10
    for bank in log.banks:
        values = log.replay(bank)
        assert sorted(r.index for r in values) == list(range(24))
        assert values == log.replay(bank)  # deterministic
        # PCR7 always holds at least the Secure Boot separator on these UEFI machines
        assert values[pcr(7)] != bytes(bank.digest_size)
    # events carry every bank the header announces
    for e in log.measured_events():
        assert set(e.digests) == set(log.banks)


@pytest.mark.parametrize("path", CCEL_LOGS, ids=lambda p: p.name)
def test_every_ccel_parses_and_replays(path: Path) -> None:
    log = parse_event_log(path.read_bytes(), source=path.name)
    assert log.kind is LogKind.CCEL
    assert log.banks == (Bank.SHA384,)
    values = log.replay(Bank.SHA384)
    assert sorted(str(r) for r in values) == ["RTMR0", "RTMR1", "RTMR2", "RTMR3"]
    assert values[rtmr(0)] != bytes(48)
    assert values[rtmr(3)] == bytes(48)


def test_cos113_vectors_and_padding_forms_agree() -> None:
    padded = parse_event_log((EVENTLOGS / "ccel" / "cos-113-intel-tdx-dupe-separator.bin").read_bytes())
    unpadded = parse_event_log((EVENTLOGS / "ccel" / "cos-113-intel-tdx-dupe-separator-unpadded.bin").read_bytes())
    assert padded.events == unpadded.events
    values = padded.replay(Bank.SHA384)
    for index, want in COS113_DUPE.items():
        assert values[rtmr(index)].hex() == want


def test_intel_ccel_rtmr0() -> None:
    log = parse_event_log((EVENTLOGS / "ccel" / "CCEL_unpadded.data.bin").read_bytes())
    assert log.replay(Bank.SHA384)[rtmr(0)].hex() == INTEL_CCEL_RTMR0


def test_ccel_replay_equals_fold_of_digests() -> None:
    log = parse_event_log((EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin").read_bytes())
    rtmr1 = [e.digest(Bank.SHA384) for e in log.measured_events() if e.register == rtmr(1)]
    assert log.replay(Bank.SHA384)[rtmr(1)] == fold(rtmr1, Bank.SHA384)
    actions = [e.description for e in log.events if e.event_type == EventType.EV_EFI_ACTION]
    assert actions[0] == "Calling EFI Application from Boot Option"
    assert actions[-1] == "Exit Boot Services Returned with Success"


def test_sha1_log_and_startup_locality() -> None:
    debian = parse_event_log((EVENTLOGS / "tpm" / "debian-10.bin").read_bytes())
    assert debian.banks == (Bank.SHA1,) and debian.spec_id is None
    alex = parse_event_log((EVENTLOGS / "tpm" / "glinux-alex.bin").read_bytes())
    assert alex.startup_locality == 3
    pcr0 = [e.digest(Bank.SHA256) for e in alex.measured_events() if e.register == pcr(0)]
    assert alex.replay(Bank.SHA256)[pcr(0)] == fold(pcr0, Bank.SHA256, initial=bytes(31) + b"\x03")


def _spec_id_log(*records: bytes) -> bytes:
    spec = b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) + struct.pack("<HH", 0xC, 48) + b"\x00"
    head = struct.pack("<II20sI", 0, EventType.EV_NO_ACTION, bytes(20), len(spec)) + spec
    return head + b"".join(records)


def _record(index: int, etype: int, digest: bytes, data: bytes) -> bytes:
    return struct.pack("<III", index, etype, 1) + struct.pack("<H", 0xC) + digest + struct.pack("<I", len(data)) + data


def test_truncated_and_padded_logs() -> None:
    rec = _record(2, EventType.EV_EFI_ACTION, b"\x22" * 48, b"action")
    full = _spec_id_log(rec, rec)
    log = parse_event_log(full + b"\xff" * 64)
    assert len(log.measured_events()) == 2 and not log.truncated and log.kind is LogKind.CCEL
    cut = parse_event_log(full[:-3])
    assert len(cut.measured_events()) == 1 and cut.truncated
    zero = parse_event_log(full + bytes(4096))
    assert zero.events == log.events


def test_malformed_logs_raise() -> None:
    with pytest.raises(EventLogError):
        parse_event_log(b"\x00" * 10)
    bad = _spec_id_log(struct.pack("<III", 1, 4, 1) + struct.pack("<H", 0xB) + bytes(32) + struct.pack("<I", 0))
    with pytest.raises(EventLogError, match="not in the Spec ID header"):
        parse_event_log(bad)
    with pytest.raises(EventLogError, match="out of range"):
        parse_event_log(_spec_id_log(_record(9, EventType.EV_IPL, bytes(48), b"")))


def test_image_events_name_their_file() -> None:
    log = parse_event_log((EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin").read_bytes())
    images = [e.description for e in log.events if e.event_type == EventType.EV_EFI_BOOT_SERVICES_APPLICATION]
    assert images == ["PE image \\EFI\\BOOT\\BOOTX64.EFI", "PE image \\EFI\\BOOT\\grub-lakitu.efi"]
