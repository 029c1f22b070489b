"""Command-line entries ``measure`` and ``replay`` (wired into ``python -m assembler`` by the CLI).

``measure UKI --platform azure|qemu-tdx|gcp-tdx [--platform ...] [--firmware FD] [--mrtd HEX]
[--memory SIZE] [--cpus N] [--disk RAW] [--profile FILE] [--legacy-separator] [--sha384] [--eventlog OUT]
[--json]``
prints the predicted registers and the events behind them; ``--json`` prints the measured-boot tool
shape for ``azure`` alone, else the attested-TLS proxy measurements list.

``replay LOG [--expect EVENTLOG_JSON] [--platform NAME] [--format tpm|ccel] [--events] [--json]``
parses a TPM ``binary_bios_measurements`` or a TDX CCEL, replays it (PCR0..23 per bank, RTMR0..3),
and with ``--expect`` prints a per-event diff against our predicted events (an ``<id>.eventlog.json``),
or, given a measurements list / measured-boot output, which variants' register values the log
reproduces; exit status 1 when any event differs / no variant matches. A platform profile is
captured with ``replay CCEL --capture-profile OUT --platform NAME``.

Results go to stdout, diagnostics to stderr (logging); errors are :class:`MeasureError` exceptions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from uki.measure.errors import ExpectationError, MeasureError
from uki.measure.event import Bank, Event, RegisterKind, event_type_name
from uki.measure.expect import (
    Status,
    ValueCheck,
    check_values,
    compare_banks,
    diff_events,
    diff_to_json,
    diff_to_text,
    read_expected_events,
    read_expected_values,
)
from uki.measure.output import (
    dump_json,
    event_to_json,
    eventlogs_json,
    vtpm_json,
)
from uki.measure.platform import Platform
from uki.measure.predict import measurements_document, predict_platforms
from uki.measure.rtmr0 import capture_profile, load_profile, profile_to_json
from uki.measure.tcglog import LogKind, parse_event_log
from uki.measure.tdvf import parse_tdvf_metadata, section_list

log = logging.getLogger(__name__)

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
ACPI_CCEL_TABLE_SIZE = 56


def parse_size(text: str) -> int:
    """QEMU ``-m`` syntax: a number with an optional K/M/G/T suffix; a bare number is MiB."""
    m = _SIZE_RE.match(text)
    if m is None:
        raise MeasureError(f"bad memory size {text!r}", hint="e.g. 2G, 2048M or 2048 (MiB)")
    return int(m[1]) * _UNITS[m[2].upper()]


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise MeasureError(f"{what} {path}: {e.strerror}") from e


def _print_events(events: Sequence[Event], out: TextIO, banks: Sequence[Bank]) -> None:
    for i, e in enumerate(events):
        digests = " ".join(f"{b}={e.digests[b].hex()}" for b in banks if b in e.digests)
        print(f"  {i:3} {e.register!s:<6} {event_type_name(e.event_type):<34} {e.description}", file=out)
        print(f"      {digests}", file=out)


def measure_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="assembler measure", description="Predict a UKI's boot measurements.")
    parser.add_argument("uki", help="the UKI (.efi)")
    parser.add_argument("--platform", action="append", required=True,
                        choices=[p.value for p in Platform], help="repeat for several platforms")
    parser.add_argument("--firmware", help="OVMF/TDVF firmware file (MRTD, RTMR0 CFV/HOB/variables)")
    parser.add_argument("--mrtd", action="append", default=[], metavar="HEX",
                        help="a published MRTD for the firmware (e.g. GCP); repeat for several")
    parser.add_argument("--memory", help="TD RAM size (QEMU -m syntax; TD HOB in RTMR0)")
    parser.add_argument("--cpus", type=int, help="vCPUs (only through the ACPI events of the profile)")
    parser.add_argument("--disk", help="raw disk image the UKI boots from (GPT event in RTMR1)")
    parser.add_argument("--profile", action="append", default=[],
                        help="platform profile JSON (RTMR0 VM-shape events), see replay --capture-profile")
    parser.add_argument("--legacy-separator", action="store_true",
                        help="TDVF older than edk2-stable202411: the ReadyToBoot separator goes to RTMR0, not RTMR1")
    parser.add_argument("--image-id", default=None, help="measurement_id prefix (default: UKI file stem)")
    parser.add_argument("--sha384", action="store_true", help="azure: also predict the SHA-384 bank")
    parser.add_argument("--eventlog", help="write our event list JSON (for replay --expect) to this file")
    parser.add_argument("--json", action="store_true", help="JSON to stdout")
    args = parser.parse_args(argv)

    uki = _read(args.uki, "UKI")
    image_id = args.image_id or Path(args.uki).stem
    profiles = {}
    for path in args.profile:
        prof = load_profile(Path(path))
        profiles[prof.platform] = prof
    gpt_data = None
    if args.disk:
        from gpt.gpt import uefi_gpt_data

        with Path(args.disk).open("rb") as f:
            data = uefi_gpt_data(f)
        gpt_data = {p: data for p in args.platform}
    if args.cpus is not None:
        log.info("--cpus %d: vCPUs change only the ACPI events, taken from the platform profile", args.cpus)
    firmware = _read(args.firmware, "firmware") if args.firmware else None
    memory = parse_size(args.memory) if args.memory else None
    banks = (Bank.SHA256, Bank.SHA384) if args.sha384 else (Bank.SHA256,)
    try:
        published = [bytes.fromhex(v) for v in args.mrtd]
    except ValueError as e:
        raise MeasureError(f"--mrtd: not hex ({e})") from e
    pred = predict_platforms(uki, args.platform, image_id=image_id, firmware=firmware, memory=memory,
                             gpt_data=gpt_data, profiles=profiles, vtpm_banks=banks,
                             known_mrtd={p: published for p in args.platform},
                             separator_in_rtmr1=False if args.legacy_separator else None)
    if args.eventlog:
        Path(args.eventlog).write_bytes(eventlogs_json(pred.event_lists()))

    out = sys.stdout
    if args.json:
        if [p for p in args.platform if p != Platform.AZURE.value] or pred.vtpm is None:
            out.write(dump_json(measurements_document(pred, image_id)).decode("utf-8"))
        else:
            out.write(dump_json(vtpm_json(pred.vtpm, Bank.SHA256)).decode("utf-8"))
        return 0

    m = pred.uki
    print(f"UKI {args.uki}: systemd-stub {m.stub.version}, kernel {m.uname or '?'}", file=out)
    if pred.vtpm is not None:
        print("azure (vTPM):", file=out)
        for bank in pred.vtpm.banks:
            for index, value in pred.vtpm.pcrs(bank).items():
                print(f"  PCR{index:<2} {bank}: {value.hex()}", file=out)
        _print_events(pred.vtpm.events, out, pred.vtpm.banks)
    if firmware is not None and pred.tdx:
        print(f"firmware {args.firmware}: sha384 {hashlib.sha384(firmware).hexdigest()}, TDVF sections:", file=out)
        for line in section_list(parse_tdvf_metadata(firmware)):
            print(f"  {line}", file=out)
    for t in pred.tdx:
        print(f"{t.platform.value} (TDX):", file=out)
        for name, value in t.mrtd:
            print(f"  MRTD ({name}): {value.hex()}", file=out)
        for reg, value in t.rtmrs().items():
            print(f"  {reg!s:<5}: {value.hex()}", file=out)
        _print_events(t.events, out, (Bank.SHA384,))
    return 0


def replay_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="assembler replay",
                                     description="Replay a TPM or CCEL event log; diff it against expected events.")
    parser.add_argument("log", help="binary_bios_measurements or CCEL data file")
    parser.add_argument("--expect", help="our event list JSON (<id>.eventlog.json or measure --eventlog)")
    parser.add_argument("--platform", help="which event list of --expect to use / profile platform name")
    parser.add_argument("--format", choices=[k.value for k in LogKind], help="log kind (default: guess)")
    parser.add_argument("--events", action="store_true", help="also list every event")
    parser.add_argument("--capture-profile", metavar="OUT", help="write a platform profile from this CCEL")
    parser.add_argument("--json", action="store_true", help="JSON to stdout")
    args = parser.parse_args(argv)

    raw = _read(args.log, "event log")
    if len(raw) == ACPI_CCEL_TABLE_SIZE and raw.startswith(b"CCEL"):
        raise MeasureError(f"{args.log} is the ACPI CCEL table, not the log",
                           hint="pass /sys/firmware/acpi/tables/data/CCEL")
    evlog = parse_event_log(raw, kind=LogKind(args.format) if args.format else None, source=args.log)
    if args.capture_profile:
        profile = capture_profile(evlog, platform=args.platform or "qemu-tdx",
                                  description=f"captured from {Path(args.log).name}")
        Path(args.capture_profile).write_bytes(dump_json(profile_to_json(profile)))

    registers = {bank.value: {str(r): v.hex() for r, v in evlog.replay(bank).items()} for bank in evlog.banks}
    diffs = None
    banks: tuple[Bank, ...] = evlog.banks
    checks: list[ValueCheck] | None = None
    if args.expect:
        try:
            expect_doc = json.loads(Path(args.expect).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ExpectationError(f"{args.expect}: cannot read ({e})") from e
        if isinstance(expect_doc, dict) and "eventlogs" in expect_doc:
            lists = read_expected_events(Path(args.expect), platform=args.platform)
            wanted = RegisterKind.RTMR if evlog.kind is LogKind.CCEL else RegisterKind.PCR
            candidates = [evs for evs in lists.values() if evs and all(e.register.kind is wanted for e in evs)]
            if len(candidates) != 1:
                raise MeasureError(f"{args.expect}: {len(candidates)} event lists fit a {evlog.kind} log",
                                   hint="choose one with --platform")
            expected = candidates[0]
            banks = compare_banks(expected, evlog)
            diffs = diff_events(expected, evlog)
        else:
            checks = check_values(read_expected_values(expect_doc, source=args.expect), evlog)

    out = sys.stdout
    if args.json:
        doc: dict[str, object] = {
            "kind": evlog.kind.value,
            "banks": [b.value for b in evlog.banks],
            "event_count": len(evlog.events),
            "truncated": evlog.truncated,
            "registers": registers,
        }
        if args.events:
            doc["events"] = [event_to_json(e) for e in evlog.events]
        if diffs is not None:
            doc["diff"] = diff_to_json(diffs, banks)
        if checks is not None:
            doc["values"] = [{"measurement_id": c.measurement_id, "key": c.key,
                              "register": str(c.register) if c.register else None, "expected": c.expected.hex(),
                              "actual": c.actual.hex() if c.actual is not None else None, "ok": c.ok}
                             for c in checks]
        out.write(json.dumps(doc, sort_keys=True, indent=2) + "\n")
    else:
        print(f"{args.log}: {evlog.kind.value} log, {len(evlog.events)} events, banks "
              f"{', '.join(evlog.banks)}{' (truncated)' if evlog.truncated else ''}", file=out)
        for bank, values in registers.items():
            for reg, value in values.items():
                print(f"  {reg:<6} {bank}: {value}", file=out)
        if args.events:
            _print_events(evlog.events, out, evlog.banks)
        if diffs is not None:
            print("per-event comparison with the expected events:", file=out)
            for line in diff_to_text(diffs, banks):
                print(f"  {line}", file=out)
    if diffs is not None and any(d.status is not Status.MATCH for d in diffs):
        bad = [d for d in diffs if d.status is not Status.MATCH]
        log.warning("%d event(s) differ from the expectation", len(bad))
        return 1
    if checks is not None:
        variants = sorted({c.measurement_id for c in checks})
        matching = [v for v in variants if all(c.ok is not False for c in checks if c.measurement_id == v)
                    and any(c.ok for c in checks if c.measurement_id == v)]
        if not args.json:
            for c in checks:
                state = {True: "match", False: "DIFFERS", None: "not in log"}[c.ok]
                print(f"  {c.measurement_id} [{c.key}] {c.register or '-'}: {state}"
                      + ("" if c.ok in (True, None) else f" expected {c.expected.hex()} got "
                         f"{c.actual.hex() if c.actual else '?'}"), file=out)
            print(f"matching variants: {', '.join(matching) or 'none'}", file=out)
        if not matching:
            log.warning("no variant of %s matches the log", args.expect)
            return 1
    return 0
