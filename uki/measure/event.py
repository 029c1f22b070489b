"""Event model of measured boot: events, banks, registers, extend and replay.

An :class:`Event` is one measurement as a firmware/loader log records it (TCG PC Client Platform
Firmware Profile, TCG_PCR_EVENT2) or as we predict it: the register it extends, the event type, one
digest per hash bank, the event data (what the log stores, a description of the measured object),
a human description, and - for predicted events - the payload bytes the digest was computed from.

Registers: TPM PCRs 0..23 and the TDX measurement registers. A predicted event lives in PCR space
(what the firmware asks to measure); the TDX register follows from the UEFI 2.10 §38.4.1 mapping
(:func:`pcr_to_rtmr`). A CCEL log records the CC MR index (1..4 = RTMR0..3), so parsed CCEL events
carry an RTMR register directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType

from uki.measure.errors import MeasureError


class Bank(StrEnum):
    """A hash bank (TPM2 algorithm); values are hashlib names."""

    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"

    @property
    def alg_id(self) -> int:
        """TPM2_ALG_ID (TCG Algorithm Registry)."""
        return _ALG_IDS[self]

    @property
    def digest_size(self) -> int:
        return _DIGEST_SIZES[self]

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.value, data).digest()

    @classmethod
    def from_alg_id(cls, alg_id: int) -> Bank:
        for bank, value in _ALG_IDS.items():
            if value == alg_id:
                return bank
        raise MeasureError(f"unsupported TPM2 hash algorithm id 0x{alg_id:04x}")


_ALG_IDS = {Bank.SHA1: 0x0004, Bank.SHA256: 0x000B, Bank.SHA384: 0x000C, Bank.SHA512: 0x000D}
_DIGEST_SIZES = {Bank.SHA1: 20, Bank.SHA256: 32, Bank.SHA384: 48, Bank.SHA512: 64}

#: The banks this project predicts: SHA-256 (vTPM) and SHA-384 (TDX, and the test-bed TPM).
PREDICTED_BANKS: tuple[Bank, ...] = (Bank.SHA256, Bank.SHA384)


class EventType(IntEnum):
    """TCG event types (PC Client PFP spec §10.4.1) that occur in our logs and predictions."""

    EV_PREBOOT_CERT = 0x0
    EV_POST_CODE = 0x1
    EV_UNUSED = 0x2
    EV_NO_ACTION = 0x3
    EV_SEPARATOR = 0x4
    EV_ACTION = 0x5
    EV_EVENT_TAG = 0x6
    EV_S_CRTM_CONTENTS = 0x7
    EV_S_CRTM_VERSION = 0x8
    EV_CPU_MICROCODE = 0x9
    EV_PLATFORM_CONFIG_FLAGS = 0xA
    EV_TABLE_OF_DEVICES = 0xB
    EV_COMPACT_HASH = 0xC
    EV_IPL = 0xD
    EV_IPL_PARTITION_DATA = 0xE
    EV_NONHOST_CODE = 0xF
    EV_NONHOST_CONFIG = 0x10
    EV_NONHOST_INFO = 0x11
    EV_OMIT_BOOT_DEVICE_EVENTS = 0x12
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
    EV_EFI_VARIABLE_BOOT = 0x80000002
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
    EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
    EV_EFI_GPT_EVENT = 0x80000006
    EV_EFI_ACTION = 0x80000007
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
    EV_EFI_HANDOFF_TABLES = 0x80000009
    EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A
    EV_EFI_HANDOFF_TABLES2 = 0x8000000B
    EV_EFI_VARIABLE_BOOT2 = 0x8000000C
    EV_EFI_HCRTM_EVENT = 0x80000010
    EV_EFI_VARIABLE_AUTHORITY = 0x800000E0
    EV_EFI_SPDM_FIRMWARE_BLOB = 0x800000E1
    EV_EFI_SPDM_FIRMWARE_CONFIG = 0x800000E2


def event_type_name(value: int) -> str:
    """Symbolic name of an event type, or its hex value when unknown."""
    try:
        return EventType(value).name
    except ValueError:
        return f"0x{value:08x}"


class RegisterKind(StrEnum):
    PCR = "pcr"
    MRTD = "mrtd"
    RTMR = "rtmr"


@dataclass(frozen=True, slots=True, order=True)
class Register:
    """A measurement register: a TPM PCR (0..23), the TDX MRTD, or TDX RTMR 0..3."""

    kind: RegisterKind
    index: int

    def __post_init__(self) -> None:
        limit = {RegisterKind.PCR: 24, RegisterKind.MRTD: 1, RegisterKind.RTMR: 4}[self.kind]
        if not 0 <= self.index < limit:
            raise MeasureError(f"register index {self.index} out of range for {self.kind}")

    def __str__(self) -> str:
        return "MRTD" if self.kind is RegisterKind.MRTD else f"{self.kind.value.upper()}{self.index}"


def pcr(index: int) -> Register:
    return Register(RegisterKind.PCR, index)


def rtmr(index: int) -> Register:
    return Register(RegisterKind.RTMR, index)


def pcr_to_rtmr(index: int) -> Register:
    """TDX register a PCR's measurement goes to (UEFI 2.10 §38.4.1; EDK TdxMeasurementMapPcrToMrIndex)."""
    if index == 0:
        return Register(RegisterKind.MRTD, 0)
    if index in (1, 7):
        return rtmr(0)
    if 2 <= index <= 6:
        return rtmr(1)
    if 8 <= index <= 15:
        return rtmr(2)
    raise MeasureError(f"PCR{index} has no TDX measurement register")


def cc_mr_index_to_register(mr_index: int) -> Register:
    """CC MR index of a CCEL record -> register (0 = MRTD, 1..4 = RTMR0..3)."""
    if mr_index == 0:
        return Register(RegisterKind.MRTD, 0)
    if 1 <= mr_index <= 4:
        return rtmr(mr_index - 1)
    raise MeasureError(f"CC MR index {mr_index} out of range")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One measurement event.

    ``digests`` maps each bank to the digest extended into ``register``. ``data`` is the event data
    as a log stores it; ``payload`` (predictions only) is the byte string the digest is the hash of,
    when that string is small enough and meaningful to keep (e.g. a UTF-16 cmdline), else ``None``.
    """

    register: Register
    event_type: int
    digests: Mapping[Bank, bytes]
    description: str = ""
    data: bytes = b""
    payload: bytes | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for bank, digest in self.digests.items():
            if len(digest) != bank.digest_size:
                raise MeasureError(
                    f"{bank} digest of {len(digest)} bytes for event {self.description!r} in {self.register}"
                )
        object.__setattr__(self, "digests", MappingProxyType(dict(sorted(self.digests.items()))))

    @property
    def type_name(self) -> str:
        return event_type_name(self.event_type)

    def digest(self, bank: Bank) -> bytes:
        try:
            return self.digests[bank]
        except KeyError:
            raise MeasureError(f"event {self.description!r} in {self.register} has no {bank} digest") from None

    @property
    def banks(self) -> tuple[Bank, ...]:
        return tuple(self.digests)

    @property
    def measured(self) -> bool:
        """EV_NO_ACTION events are informational and never extended."""
        return self.event_type != EventType.EV_NO_ACTION


def measure(
    register: Register,
    event_type: int,
    payload: bytes,
    *,
    banks: Iterable[Bank] = PREDICTED_BANKS,
    description: str = "",
    data: bytes | None = None,
    keep_payload: bool = True,
) -> Event:
    """A predicted event whose digest in every bank is the hash of ``payload``.

    ``data`` is the log's event data; it defaults to the payload itself (events whose digest is
    over their own data: separators, EFI actions, GPT, variables in PCR7).
    """
    return Event(
        register=register,
        event_type=event_type,
        digests={bank: bank.hash(payload) for bank in banks},
        description=description,
        data=payload if data is None else data,
        payload=payload if keep_payload else None,
    )


def extend(value: bytes, digest: bytes, bank: Bank) -> bytes:
    """TPM2_PCR_Extend / TDG.MR.RTMR.EXTEND: ``H(value || digest)``."""
    return bank.hash(value + digest)


def zero(bank: Bank) -> bytes:
    return bytes(bank.digest_size)


def fold(digests: Iterable[bytes], bank: Bank, *, initial: bytes | None = None) -> bytes:
    """Extend a register from its reset value (all zeros unless ``initial``) with ``digests``."""
    value = zero(bank) if initial is None else initial
    for digest in digests:
        value = extend(value, digest, bank)
    return value


def replay(
    events: Sequence[Event],
    bank: Bank,
    *,
    initial: Mapping[Register, bytes] | None = None,
) -> dict[Register, bytes]:
    """Fold measured events into registers, in order. Registers without events are absent.

    ``initial`` overrides reset values (e.g. PCR0 after a StartupLocality event).
    """
    values: dict[Register, bytes] = {}
    for event in events:
        if not event.measured:
            continue
        start = (initial or {}).get(event.register, zero(bank))
        values[event.register] = extend(values.get(event.register, start), event.digest(bank), bank)
    return dict(sorted(values.items()))


def retarget_tdx(events: Iterable[Event]) -> tuple[Event, ...]:
    """The same events re-indexed from PCRs to TDX RTMRs (SHA-384 digests only).

    PCR0 events (MRTD is not extended at runtime) and PCRs above 15 have no RTMR and are dropped.
    """
    out = []
    for event in events:
        if event.register.kind is not RegisterKind.PCR:
            out.append(event)
            continue
        if event.register.index == 0 or event.register.index > 15:
            continue
        out.append(
            Event(
                register=pcr_to_rtmr(event.register.index),
                event_type=event.event_type,
                digests={Bank.SHA384: event.digest(Bank.SHA384)},
                description=event.description,
                data=event.data,
                payload=event.payload,
            )
        )
    return tuple(out)


# Event data strings the firmware measures as EV_EFI_ACTION (PC Client PFP §10.4.4; EDK2 TcgDxe/
# Tcg2Dxe/TdTcg2Dxe); the digest is over the ASCII string without NUL.
CALLING_EFI_APPLICATION = b"Calling EFI Application from Boot Option"
RETURNING_FROM_EFI_APPLICATION = b"Returning from EFI Application from Boot Option"
EXIT_BOOT_SERVICES_INVOCATION = b"Exit Boot Services Invocation"
EXIT_BOOT_SERVICES_SUCCESS = b"Exit Boot Services Returned with Success"
#: EV_SEPARATOR data/payload for a successful boot (PFP §3.3.2.2).
SEPARATOR = b"\x00\x00\x00\x00"
