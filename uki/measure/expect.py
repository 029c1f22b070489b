"""Compare expected (predicted) events with a real event log, event by event.

For every register the expectation covers, the expected and the logged measured events are aligned
(difflib on (event type, digest) keys, per register, in order) and each position gets a status:

* ``match``: same event type and digest in every compared bank;
* ``differs``: the event sits where expected but measured something else (e.g. a changed cmdline);
* ``missing``: expected but not in the log;
* ``unexpected``: in the log but not expected (e.g. an option ROM, a failed boot option).

Registers the expectation does not mention are not compared. :func:`check_values` does the coarser
check of a measurements document (register values per acceptable variant) against the replayed log.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from uki.measure.errors import ExpectationError
from uki.measure.event import Bank, Event, Register, RegisterKind, event_type_name
from uki.measure.output import EVENTLOG_FORMAT, event_from_json, eventlogs_json
from uki.measure.tcglog import EventLog, LogKind


class Status(StrEnum):
    MATCH = "match"
    DIFFERS = "differs"
    MISSING = "missing"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDiff:
    register: Register
    status: Status
    expected: Event | None
    logged: Event | None
    position: int  # index within the register's logged events (or where it would be)


def write_expected_events(events: Sequence[Event], platform: str = "expected") -> bytes:
    """An expectation file (our eventlog JSON) for :func:`read_expected_events`."""
    return eventlogs_json([(platform, events)])


def read_expected_events(path: Path, *, platform: str | None = None) -> dict[str, tuple[Event, ...]]:
    """Event lists by platform from an ``<id>.eventlog.json`` file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ExpectationError(f"{path}: cannot read expected events ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != EVENTLOG_FORMAT or "eventlogs" not in doc:
        raise ExpectationError(
            f"{path}: not an assembler event list (format {EVENTLOG_FORMAT})",
            hint="pass the <id>.eventlog.json written by the build or by measure --eventlog",
        )
    out: dict[str, tuple[Event, ...]] = {}
    for item in doc["eventlogs"]:
        name = str(item.get("platform", ""))
        if platform is None or name == platform:
            out[name] = tuple(event_from_json(e) for e in item.get("events", []))
    if not out:
        raise ExpectationError(f"{path}: no event list for platform {platform!r}")
    return out


def _key(event: Event, banks: Sequence[Bank]) -> tuple[int, tuple[bytes, ...]]:
    return event.event_type, tuple(event.digests.get(b, b"") for b in banks)


def compare_banks(expected: Sequence[Event], log: EventLog) -> tuple[Bank, ...]:
    have = set(log.banks)
    for e in expected:
        have &= set(e.digests)
    if not have:
        raise ExpectationError("the expected events and the log share no hash bank")
    return tuple(b for b in log.banks if b in have)


def diff_events(expected: Sequence[Event], log: EventLog) -> list[EventDiff]:
    banks = compare_banks(expected, log)
    out: list[EventDiff] = []
    registers = sorted({e.register for e in expected})
    logged_all = log.measured_events()
    for register in registers:
        want = [e for e in expected if e.register == register]
        got = [e for e in logged_all if e.register == register]
        matcher = difflib.SequenceMatcher(
            a=[_key(e, banks) for e in want], b=[_key(e, banks) for e in got], autojunk=False
        )
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                out += [
                    EventDiff(
                        register=register,
                        status=Status.MATCH,
                        expected=want[i1 + k],
                        logged=got[j1 + k],
                        position=j1 + k,
                    )
                    for k in range(i2 - i1)
                ]
                continue
            pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
            for k in range(pairs):
                out.append(
                    EventDiff(
                        register=register,
                        status=Status.DIFFERS,
                        expected=want[i1 + k],
                        logged=got[j1 + k],
                        position=j1 + k,
                    )
                )
            for k in range(i1 + pairs, i2):
                out.append(
                    EventDiff(
                        register=register, status=Status.MISSING, expected=want[k], logged=None, position=j1 + pairs
                    )
                )
            for k in range(j1 + pairs, j2):
                out.append(
                    EventDiff(register=register, status=Status.UNEXPECTED, expected=None, logged=got[k], position=k)
                )
    return out


def _event_summary(event: Event | None, banks: Sequence[Bank]) -> dict[str, Any] | None:
    if event is None:
        return None
    return {
        "event_type": event_type_name(event.event_type),
        "description": event.description,
        "digests": {b.value: event.digests[b].hex() for b in banks if b in event.digests},
    }


def diff_to_json(diffs: Sequence[EventDiff], banks: Sequence[Bank]) -> list[dict[str, Any]]:
    return [
        {
            "register": str(d.register),
            "position": d.position,
            "status": d.status.value,
            "expected": _event_summary(d.expected, banks),
            "logged": _event_summary(d.logged, banks),
        }
        for d in diffs
    ]


def diff_to_text(diffs: Sequence[EventDiff], banks: Sequence[Bank]) -> list[str]:
    bank = banks[-1]
    lines = []
    for d in diffs:
        head = f"{d.register!s:>6} #{d.position:<3} {d.status.value:<10}"
        if d.status is Status.MATCH:
            assert d.expected is not None
            lines.append(f"{head} {event_type_name(d.expected.event_type)} {d.expected.description}")
            continue
        if d.expected is not None:
            lines.append(
                f"{head} expected {event_type_name(d.expected.event_type)} {d.expected.description} "
                f"{bank}={d.expected.digests.get(bank, b'').hex()}"
            )
        if d.logged is not None:
            pad = " " * len(head) if d.expected is not None else head
            lines.append(
                f"{pad} logged   {event_type_name(d.logged.event_type)} {d.logged.description} "
                f"{bank}={d.logged.digests.get(bank, b'').hex()}"
            )
    return lines


# --- register values (measurements.json / measured-boot tool output) -----------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ValueCheck:
    """One expected register value of one acceptable variant, compared with the replayed log."""

    measurement_id: str
    key: str
    register: Register | None  # None: not derivable from this log (e.g. MRTD from a CCEL)
    expected: bytes
    actual: bytes | None

    @property
    def ok(self) -> bool | None:
        return None if self.actual is None else self.actual == self.expected


def read_expected_values(doc: Any, *, source: str = "expectation") -> list[tuple[str, str, dict[str, bytes]]]:
    """(measurement_id, attestation_type, {key: value}) from a measurements list or measured-boot output."""
    entries: list[tuple[str, str, dict[str, bytes]]] = []
    try:
        if isinstance(doc, dict) and "measurements" in doc:  # measured-boot tool shape
            items = [{"measurement_id": "measured-boot", "attestation_type": "azure-tdx",
                      "measurements": doc["measurements"]}]
        elif isinstance(doc, list):
            items = doc
        else:
            raise ExpectationError(f"{source}: neither an event list nor a measurements document")
        for item in items:
            values = {str(k): bytes.fromhex(v["expected"]) for k, v in item["measurements"].items()}
            entries.append((str(item["measurement_id"]), str(item["attestation_type"]), values))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ExpectationError(f"{source}: malformed measurements document ({e})") from e
    return entries


def check_values(entries: Sequence[tuple[str, str, dict[str, bytes]]], log: EventLog) -> list[ValueCheck]:
    """Compare each variant's values with the log: dcap-tdx keys 1..4 = RTMR0..3 of a CCEL, azure-tdx keys
    = PCR numbers of a TPM log (bank from the value's length). MRTD (key 0) is not in any log."""
    out: list[ValueCheck] = []
    replayed: dict[Bank, dict[Register, bytes]] = {b: log.replay(b) for b in log.banks}
    for ident, kind, values in entries:
        for key, value in sorted(values.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else -1):
            register: Register | None = None
            actual = None
            if kind == "dcap-tdx" and log.kind is LogKind.CCEL and key in ("1", "2", "3", "4"):
                register = Register(RegisterKind.RTMR, int(key) - 1)
                actual = replayed[Bank.SHA384][register]
            elif kind != "dcap-tdx" and log.kind is LogKind.TPM and key.isdigit() and int(key) < 24:
                register = Register(RegisterKind.PCR, int(key))
                bank = next((b for b in log.banks if b.digest_size == len(value)), None)
                actual = replayed[bank][register] if bank is not None else None
            out.append(ValueCheck(measurement_id=ident, key=key, register=register, expected=value, actual=actual))
    return out
