"""RTMR0: Secure Boot variable events, variable stores, platform profiles captured from real CCELs."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from uki.measure.errors import ProfileError
from uki.measure.event import Bank, EventType, replay, rtmr
from uki.measure.rtmr0 import (
    SlotKind,
    capture_profile,
    load_profile,
    profile_from_json,
    profile_to_json,
    rtmr0_events,
    secure_boot_variable_events,
)
from uki.measure.tcglog import parse_event_log
from uki.measure.varstore import (
    AUTHENTICATED_VARIABLE_STORE,
    EFI_GLOBAL_VARIABLE,
    EFI_IMAGE_SECURITY_DATABASE,
    read_variable_store,
    variable_data,
)

CCEL = Path(__file__).resolve().parents[2] / "data" / "eventlogs" / "ccel"
OVMF_VARS_MS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")

# measurements.md §11: UEFI_VARIABLE_DATA with data_len 0.
EMPTY_SECUREBOOT = "9dc3a1f80bcec915391dcda5ffbb15e7419f77eab462bbf72b42166fb70d50325e37b36f93537a863769bcf9bedae6fb"
EMPTY_PK = "6f2e3cbc14f9def86980f5f66fd85e99d63e69a73014ed8a5633ce56eca5b64b692108c56110e22acadcef58c3250f1b"


def test_empty_variable_vectors() -> None:
    assert hashlib.sha384(variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot", b"")).hexdigest() == EMPTY_SECUREBOOT
    assert hashlib.sha384(variable_data(EFI_GLOBAL_VARIABLE, "PK", b"")).hexdigest() == EMPTY_PK


@pytest.mark.parametrize("name", ["event_log.bin", "CCEL_unpadded.data.bin"])
def test_secure_boot_events_match_real_ovmf_logs(name: str) -> None:
    """Two real TDVF logs without enrolled keys: SecureBoot = u8 0, PK/KEK/db/dbx empty."""
    log = parse_event_log((CCEL / name).read_bytes())
    logged = [e for e in log.measured_events() if e.event_type == EventType.EV_EFI_VARIABLE_DRIVER_CONFIG]
    ours = secure_boot_variable_events({})
    assert [e.description for e in logged] == [e.description for e in ours]
    assert [e.digest(Bank.SHA384) for e in logged] == [e.digest(Bank.SHA384) for e in ours]
    assert [e.data for e in logged] == [e.data for e in ours]


def _store(variables: list[tuple[str, bytes]]) -> bytes:
    body = bytearray()
    for name, data in variables:
        raw_name = name.encode("utf-16-le") + b"\0\0"
        vendor = EFI_IMAGE_SECURITY_DATABASE if name in ("db", "dbx") else EFI_GLOBAL_VARIABLE
        body += struct.pack("<HBBIQ16sIII16s", 0x55AA, 0x3F, 0, 0x27, 0, bytes(16), 0, len(raw_name), len(data),
                            vendor.bytes_le) + raw_name + data
        body += bytes(-len(body) % 4)
    store = struct.pack("<16sIBBHI", AUTHENTICATED_VARIABLE_STORE.bytes_le, 28 + len(body) + 64, 0x5A, 0xFE, 0, 0)
    fv = bytearray(72)
    fv[40:44] = b"_FVH"
    struct.pack_into("<H", fv, 48, 72)
    return bytes(fv) + store + bytes(body) + b"\xff" * 64


def test_variable_store_round_trip_and_enrolled_keys() -> None:
    store = read_variable_store(_store([("PK", b"pk-cert"), ("db", b"db-cert")]))
    assert store[(EFI_GLOBAL_VARIABLE, "PK")].data == b"pk-cert"
    events = {e.description: e for e in secure_boot_variable_events(store)}
    assert events["PK"].payload == variable_data(EFI_GLOBAL_VARIABLE, "PK", b"pk-cert")
    assert events["KEK"].payload == variable_data(EFI_GLOBAL_VARIABLE, "KEK", b"")
    assert events["SecureBoot"].payload is not None and events["SecureBoot"].payload.endswith(b"\x00")
    on = {e.description: e for e in secure_boot_variable_events(store, secure_boot=True)}
    assert on["SecureBoot"].payload is not None and on["SecureBoot"].payload.endswith(b"\x01")


def test_ovmf_vars_with_microsoft_keys() -> None:
    assert OVMF_VARS_MS.exists(), "package ovmf (scripts/apt-packages.txt)"
    store = read_variable_store(OVMF_VARS_MS.read_bytes())
    for name, vendor in (("PK", EFI_GLOBAL_VARIABLE), ("KEK", EFI_GLOBAL_VARIABLE), ("db", EFI_IMAGE_SECURITY_DATABASE),
                         ("dbx", EFI_IMAGE_SECURITY_DATABASE)):
        data = store[(vendor, name)].data
        # EFI_SIGNATURE_LIST: SignatureType GUID, u32 ListSize == the variable size for one list or more
        assert struct.unpack_from("<I", data, 16)[0] <= len(data)


@pytest.mark.parametrize("name", ["cos-113-intel-tdx.bin", "cos-113-intel-tdx-dupe-separator.bin",
                                  "CCEL_unpadded.data.bin", "event_log.bin"])
def test_profile_capture_reproduces_rtmr0(name: str, tmp_path: Path) -> None:
    log = parse_event_log((CCEL / name).read_bytes())
    profile = capture_profile(log, platform="gcp-tdx", description=name)
    assert profile.rtmr0[0].kind is SlotKind.TD_HOB and profile.rtmr0[1].kind is SlotKind.CFV
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile_to_json(profile)))
    again = load_profile(path)
    assert again == profile
    events = rtmr0_events(again)
    assert replay(events, Bank.SHA384)[rtmr(0)] == log.replay(Bank.SHA384)[rtmr(0)]


def test_separator_placement_is_captured() -> None:
    new = capture_profile(parse_event_log((CCEL / "cos-113-intel-tdx.bin").read_bytes()), platform="gcp-tdx")
    old = capture_profile(parse_event_log((CCEL / "cos-113-intel-tdx-dupe-separator.bin").read_bytes()),
                          platform="gcp-tdx")
    assert new.separator_in_rtmr1 and not old.separator_in_rtmr1
    assert [s.kind for s in old.rtmr0].count(SlotKind.SEPARATOR) == 2


def test_profile_errors() -> None:
    tpm = parse_event_log((CCEL.parent / "tpm" / "rhel8-uefi.bin").read_bytes())
    with pytest.raises(ProfileError):
        capture_profile(tpm, platform="x")
    with pytest.raises(ProfileError):
        profile_from_json({"format": 2})
    with pytest.raises(ProfileError):
        profile_from_json({"format": 1, "platform": "x", "separator_in_rtmr1": True,
                           "rtmr0": [{"kind": "fixed", "event_type": 1, "digest": "00"}]})
