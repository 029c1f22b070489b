"""JSON shapes of predictions and event lists (measurements.md §9).

* measured-boot tool shape (Azure vTPM, ``measure --platform azure --json``):
  ``{"measurements": {"4": {"expected": hex}, "9", "11", "12", "13", "15"}, "EventLog": {"Events":
  [{"PCRIndex": int, "Digest": hex, "Data": hex, "Description": str}]}}``. (The Go tool writes digests
  as byte arrays; we write hex.)
* dcap-tdx list (attested-TLS proxies, ``measurements.json``): ``[{"measurement_id": str,
  "attestation_type": "dcap-tdx", "measurements": {"0": MRTD, "1".."4": RTMR0..3}}]``, one entry per
  acceptable variant (MRTD page-add order); keys whose value we cannot predict are left out.
  azure-tdx entries carry PCR numbers as keys.
* our event list (``<id>.eventlog.json``, and ``replay --expect``): ``{"format": 1, "eventlogs":
  [{"platform": str, "events": [{"register", "event_type", "event_type_name", "digests": {bank: hex},
  "description", "data"}]}]}``.

All JSON goes through :func:`dump_json` (sorted keys, fixed separators, trailing newline).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from uki.measure.errors import ExpectationError
from uki.measure.event import Bank, Event, Register, RegisterKind, event_type_name
from uki.measure.platform import Platform, TdxPrediction, VtpmPrediction

EVENTLOG_FORMAT = 1


def dump_json(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, separators=(",", ": "), ensure_ascii=False) + "\n").encode(
        "utf-8"
    )


def event_to_json(event: Event) -> dict[str, Any]:
    return {
        "register": str(event.register),
        "event_type": event.event_type,
        "event_type_name": event_type_name(event.event_type),
        "digests": {bank.value: digest.hex() for bank, digest in event.digests.items()},
        "description": event.description,
        "data": event.data.hex(),
    }


def parse_register(text: str) -> Register:
    t = text.strip().upper()
    try:
        if t == "MRTD":
            return Register(RegisterKind.MRTD, 0)
        if t.startswith("PCR"):
            return Register(RegisterKind.PCR, int(t[3:]))
        if t.startswith("RTMR"):
            return Register(RegisterKind.RTMR, int(t[4:]))
    except ValueError:
        pass
    raise ExpectationError(f"unknown register {text!r}")


def event_from_json(item: Mapping[str, Any]) -> Event:
    try:
        return Event(
            register=parse_register(str(item["register"])),
            event_type=int(item["event_type"]),
            digests={Bank(k): bytes.fromhex(v) for k, v in item["digests"].items()},
            description=str(item.get("description", "")),
            data=bytes.fromhex(item.get("data", "")),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ExpectationError(f"malformed event {item!r:.120}: {e}") from e


def eventlogs_json(logs: Sequence[tuple[str, Sequence[Event]]]) -> bytes:
    return dump_json(
        {
            "format": EVENTLOG_FORMAT,
            "eventlogs": [{"platform": name, "events": [event_to_json(e) for e in events]} for name, events in logs],
        }
    )


def vtpm_json(pred: VtpmPrediction, bank: Bank = Bank.SHA256) -> dict[str, Any]:
    """measured-boot tool shape for one bank."""
    return {
        "measurements": {str(i): {"expected": v.hex()} for i, v in pred.pcrs(bank).items()},
        "EventLog": {
            "Events": [
                {
                    "PCRIndex": e.register.index,
                    "Digest": e.digest(bank).hex(),
                    "Data": e.data.hex(),
                    "Description": f"{event_type_name(e.event_type)}: {e.description}",
                }
                for e in pred.events
            ]
        },
    }


def azure_entry(pred: VtpmPrediction, measurement_id: str) -> dict[str, Any]:
    return {
        "measurement_id": measurement_id,
        "attestation_type": "azure-tdx",
        "measurements": {str(i): {"expected": v.hex()} for i, v in pred.pcrs(Bank.SHA256).items()},
    }


def dcap_entries(pred: TdxPrediction, measurement_id: str) -> list[dict[str, Any]]:
    """One dcap-tdx entry per MRTD variant (or one entry without key "0" when MRTD is unknown)."""
    rtmrs = {str(r.index + 1): {"expected": v.hex()} for r, v in pred.rtmrs().items()}
    variants: Sequence[tuple[str, bytes | None]] = pred.mrtd or [("", None)]
    out = []
    for name, mrtd in variants:
        values: dict[str, Any] = dict(rtmrs)
        if mrtd is not None:
            values["0"] = {"expected": mrtd.hex()}
        ident = f"{measurement_id}-{name}" if name and len(variants) > 1 else measurement_id
        out.append({"measurement_id": ident, "attestation_type": "dcap-tdx", "measurements": values})
    return out


def platform_id(image_id: str, platform: Platform) -> str:
    return f"{image_id}-{platform.value}"
