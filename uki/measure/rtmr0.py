"""RTMR0 (TDVF configuration: PCR1 + PCR7 events) from the firmware, the RAM size and a platform profile.

What can be computed (measurements.md §3): the TD HOB QEMU builds (from the TDVF metadata and RAM),
the CFV blob, the Secure Boot variables (from the CFV's variable store) and separators. What depends
on the VM shape - ACPI tables, fw_cfg items, BootOrder/Boot#### variables, a hypervisor-built TD HOB on
GCP - is taken from a **platform profile**: the RTMR0 event list captured once from a real CCEL of the
same VM configuration (:func:`capture_profile`), each event tagged with how it is recomputed:

* ``td-hob``: recomputed from firmware + RAM when both are given (QEMU), else the captured digest;
* ``cfv``: recomputed from the firmware when given;
* ``variable``: recomputed from the firmware's CFV variable store when given
  (SecureBoot = 1 byte, 1 only with Secure Boot enforcing; missing variables measured with no data);
* ``separator``: always SHA-384(00000000);
* ``fixed``: the captured digest.

Profile file (JSON, ``format`` 1): ``{"format": 1, "platform": str, "description": str,
"separator_in_rtmr1": bool, "rtmr0": [{"kind", "event_type", "description", "digest", ("name",
"vendor")}]}``.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from uki.measure.errors import FirmwareError, ProfileError
from uki.measure.event import SEPARATOR, Bank, Event, EventType, RegisterKind, rtmr
from uki.measure.tcglog import EventLog, LogKind, decode_variable_name
from uki.measure.tdvf import SectionType, build_td_hob, cfv_bytes, fv_name, parse_tdvf_metadata
from uki.measure.varstore import (
    EFI_GLOBAL_VARIABLE,
    EFI_IMAGE_SECURITY_DATABASE,
    Variable,
    read_variable_store,
    variable_data,
)

PROFILE_FORMAT = 1
RTMR0 = rtmr(0)

#: The Secure Boot variables TDVF measures, in order (EDK2 TdTcg2Dxe mVariableType).
SECURE_BOOT_VARIABLES: tuple[tuple[str, uuid.UUID], ...] = (
    ("SecureBoot", EFI_GLOBAL_VARIABLE),
    ("PK", EFI_GLOBAL_VARIABLE),
    ("KEK", EFI_GLOBAL_VARIABLE),
    ("db", EFI_IMAGE_SECURITY_DATABASE),
    ("dbx", EFI_IMAGE_SECURITY_DATABASE),
)


class SlotKind(StrEnum):
    TD_HOB = "td-hob"
    CFV = "cfv"
    VARIABLE = "variable"
    SEPARATOR = "separator"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileEvent:
    kind: SlotKind
    event_type: int
    description: str
    digest: bytes
    name: str | None = None
    vendor: uuid.UUID | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformProfile:
    platform: str
    description: str
    separator_in_rtmr1: bool
    rtmr0: tuple[ProfileEvent, ...]


# --- capture / load / save ---------------------------------------------------------------------


def _classify(event: Event) -> ProfileEvent:
    digest = event.digest(Bank.SHA384)
    etype = event.event_type
    if etype == EventType.EV_EFI_HANDOFF_TABLES2 and b"TdxTable" in event.data[:16]:
        return ProfileEvent(kind=SlotKind.TD_HOB, event_type=etype, description="TD HOB", digest=digest)
    if etype == EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2:
        return ProfileEvent(kind=SlotKind.CFV, event_type=etype, description=event.description, digest=digest)
    if etype == EventType.EV_SEPARATOR:
        return ProfileEvent(kind=SlotKind.SEPARATOR, event_type=etype, description="separator", digest=digest)
    if etype == EventType.EV_EFI_VARIABLE_DRIVER_CONFIG:
        var = decode_variable_name(event.data)
        if var is not None:
            return ProfileEvent(
                kind=SlotKind.VARIABLE,
                event_type=etype,
                description=var[1],
                digest=digest,
                name=var[1],
                vendor=uuid.UUID(bytes_le=var[0]),
            )
    return ProfileEvent(kind=SlotKind.FIXED, event_type=etype, description=event.description, digest=digest)


def capture_profile(log: EventLog, *, platform: str, description: str = "") -> PlatformProfile:
    """A platform profile from a real CCEL: its RTMR0 events and RTMR1 separator placement."""
    if log.kind is not LogKind.CCEL:
        raise ProfileError("a platform profile is captured from a TDX CCEL, not a TPM log")
    events = [e for e in log.measured_events() if e.register == RTMR0]
    if not events:
        raise ProfileError("the CCEL has no RTMR0 events")
    rtmr1 = [e for e in log.measured_events() if e.register.kind is RegisterKind.RTMR and e.register.index == 1]
    sep1 = any(e.event_type == EventType.EV_SEPARATOR for e in rtmr1)
    return PlatformProfile(
        platform=platform, description=description, separator_in_rtmr1=sep1, rtmr0=tuple(_classify(e) for e in events)
    )


def profile_to_json(profile: PlatformProfile) -> dict[str, Any]:
    events = []
    for e in profile.rtmr0:
        item: dict[str, Any] = {
            "kind": e.kind.value,
            "event_type": e.event_type,
            "description": e.description,
            "digest": e.digest.hex(),
        }
        if e.name is not None:
            item["name"] = e.name
        if e.vendor is not None:
            item["vendor"] = str(e.vendor)
        events.append(item)
    return {
        "format": PROFILE_FORMAT,
        "platform": profile.platform,
        "description": profile.description,
        "separator_in_rtmr1": profile.separator_in_rtmr1,
        "rtmr0": events,
    }


def profile_from_json(doc: Mapping[str, Any], *, source: str = "profile") -> PlatformProfile:
    try:
        if doc.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"{source}: unsupported profile format {doc.get('format')!r}")
        events = []
        for i, item in enumerate(doc["rtmr0"]):
            digest = bytes.fromhex(item["digest"])
            if len(digest) != 48:
                raise ProfileError(f"{source}: rtmr0[{i}].digest is not a SHA-384 digest")
            events.append(
                ProfileEvent(
                    kind=SlotKind(item["kind"]),
                    event_type=int(item["event_type"]),
                    description=str(item.get("description", "")),
                    digest=digest,
                    name=item.get("name"),
                    vendor=uuid.UUID(item["vendor"]) if "vendor" in item else None,
                )
            )
        return PlatformProfile(
            platform=str(doc["platform"]),
            description=str(doc.get("description", "")),
            separator_in_rtmr1=bool(doc["separator_in_rtmr1"]),
            rtmr0=tuple(events),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ProfileError(f"{source}: malformed platform profile ({e})") from e


def load_profile(path: Path) -> PlatformProfile:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ProfileError(f"{path}: cannot read platform profile ({e})") from e
    if not isinstance(doc, dict):
        raise ProfileError(f"{path}: a platform profile is a JSON object")
    return profile_from_json(doc, source=str(path))


# --- computation -------------------------------------------------------------------------------


def secure_boot_variable_events(
    store: Mapping[tuple[uuid.UUID, str], Variable], *, secure_boot: bool = False
) -> tuple[Event, ...]:
    """The EV_EFI_VARIABLE_DRIVER_CONFIG events TDVF measures for the Secure Boot variables.

    SecureBoot is the volatile u8 the firmware derives at boot (1 only when enforcing; real GCP and
    OVMF logs show 0 with and without enrolled keys when Secure Boot is off).
    """
    out = []
    for name, vendor in SECURE_BOOT_VARIABLES:
        if name == "SecureBoot":
            data = bytes([1 if secure_boot else 0])
        else:
            var = store.get((vendor, name))
            data = var.data if var is not None else b""
        payload = variable_data(vendor, name, data)
        out.append(
            Event(
                register=RTMR0,
                event_type=EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
                digests={Bank.SHA384: hashlib.sha384(payload).digest()},
                description=name,
                data=payload,
                payload=payload,
            )
        )
    return tuple(out)


#: gUefiOvmfPkgTokenSpaceGuid, the VendorGuid TDVF logs for the TD HOB handoff table.
OVMF_PKG_TOKEN_SPACE_GUID = uuid.UUID("93bb96af-b9f2-4eb8-9462-e0ba74564236")


def td_hob_event(fw: bytes, ram_size: int) -> Event:
    """EV_EFI_HANDOFF_TABLES2: data ``u8 9, "TdxTable\\0", u64 1, GUID, u64 hob address``; digest over the HOB."""
    md = parse_tdvf_metadata(fw)
    hob = build_td_hob(md, ram_size)
    data = (bytes([9]) + b"TdxTable\x00" + struct.pack("<Q", 1) + OVMF_PKG_TOKEN_SPACE_GUID.bytes_le
            + struct.pack("<Q", md.first(SectionType.TD_HOB).address))
    return Event(register=RTMR0, event_type=EventType.EV_EFI_HANDOFF_TABLES2,
                 digests={Bank.SHA384: hashlib.sha384(hob).digest()},
                 description=f"TD HOB ({ram_size >> 20} MiB RAM)", data=data, payload=hob)


def cfv_event(fw: bytes) -> Event:
    """EV_EFI_PLATFORM_FIRMWARE_BLOB2: data ``u8 len, "Fv(<name>)\\0", u64 base, u64 length``."""
    section, blob = cfv_bytes(fw)
    name = fv_name(blob)
    label = str(name).upper() if name else "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
    text = f"Fv({label})".encode("ascii") + b"\x00"
    data = bytes([len(text)]) + text + struct.pack("<QQ", section.address, section.raw_size)
    return Event(register=RTMR0, event_type=EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2,
                 digests={Bank.SHA384: hashlib.sha384(blob).digest()},
                 description=f"Fv({label}) CFV at 0x{section.address:x}+0x{section.raw_size:x}", data=data)


def rtmr0_events(
    profile: PlatformProfile,
    *,
    firmware: bytes | None = None,
    ram_size: int | None = None,
    secure_boot: bool = False,
) -> tuple[Event, ...]:
    """RTMR0 event list: the profile's slots, recomputed where the inputs allow."""
    variables: dict[str, Event] = {}
    if firmware is not None:
        _, cfv = cfv_bytes(firmware)
        try:
            store = read_variable_store(cfv)
        except FirmwareError:
            store = {}
        variables = {e.description: e for e in secure_boot_variable_events(store, secure_boot=secure_boot)}
    out: list[Event] = []
    for slot in profile.rtmr0:
        if slot.kind is SlotKind.TD_HOB and firmware is not None and ram_size is not None:
            out.append(td_hob_event(firmware, ram_size))
        elif slot.kind is SlotKind.CFV and firmware is not None:
            out.append(cfv_event(firmware))
        elif slot.kind is SlotKind.VARIABLE and firmware is not None and slot.name in variables:
            out.append(variables[slot.name])
        elif slot.kind is SlotKind.SEPARATOR:
            out.append(
                Event(
                    register=RTMR0,
                    event_type=EventType.EV_SEPARATOR,
                    digests={Bank.SHA384: hashlib.sha384(SEPARATOR).digest()},
                    description="separator",
                    data=SEPARATOR,
                    payload=SEPARATOR,
                )
            )
        else:
            out.append(
                Event(
                    register=RTMR0,
                    event_type=slot.event_type,
                    digests={Bank.SHA384: slot.digest},
                    description=f"{slot.description} (from profile {profile.platform})",
                )
            )
    return tuple(out)
