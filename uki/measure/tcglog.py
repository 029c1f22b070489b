"""TCG event logs: TPM 2.0 crypto-agile / SHA-1 logs and TDX CC event logs (CCEL).

Formats (TCG PC Client Platform Firmware Profile 1.05, §10.2; UEFI 2.10 §38.4 for CCEL):

* The log starts with one ``TCG_PCR_EVENT`` (SHA-1 form): ``u32 PCRIndex, u32 EventType,
  u8 Digest[20], u32 EventSize, u8 Event[EventSize]``.
* If that first event is EV_NO_ACTION with a ``TCG_EfiSpecIDEvent`` (signature ``"Spec ID Event03\\0"``,
  u32 platformClass, u8 specVersionMinor, u8 specVersionMajor, u8 specErrata, u8 uintnSize,
  u32 numberOfAlgorithms, {u16 algorithmId, u16 digestSize}[n], u8 vendorInfoSize, vendorInfo) the
  rest are ``TCG_PCR_EVENT2``: ``u32 PCRIndex, u32 EventType, u32 count, {u16 algId,
  u8 digest[size]}[count], u32 EventSize, u8 Event[EventSize]``. Otherwise every event is
  ``TCG_PCR_EVENT`` (a pre-crypto-agile SHA-1 log).
* A CCEL has the same layout; the index is the CC MR index (1..4 = RTMR0..3) and the only bank is
  SHA-384. The log area (``/sys/firmware/acpi/tables/data/CCEL``) is zero- or 0xFF-padded.

Quirks handled: trailing padding (all-zero or all-0xFF record headers, or a zero digest count) ends
the log; a record that runs past the end of the buffer ends it too and sets ``truncated``.
A ``StartupLocality`` EV_NO_ACTION event (PFP §10.4.5.3) sets PCR0's reset value.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import uuid
from dataclasses import dataclass
from enum import StrEnum

from uki.measure.errors import EventLogError, MeasureError
from uki.measure.event import (
    Bank,
    Event,
    EventType,
    Register,
    RegisterKind,
    cc_mr_index_to_register,
    pcr,
    replay,
    zero,
)

log = logging.getLogger(__name__)

SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
STARTUP_LOCALITY_SIGNATURE = b"StartupLocality\x00"

_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
#: TCG_PCR_EVENT: PCRIndex, EventType, SHA-1 digest, EventSize.
_PCR_EVENT = struct.Struct("<II20sI")
#: TCG_PCR_EVENT2 head: PCRIndex, EventType, digest count.
_PCR_EVENT2_HEAD = struct.Struct("<III")
#: TCG_EfiSpecIDEvent after the signature: platformClass, minor, major, errata, uintnSize, numberOfAlgorithms.
_SPEC_ID_HEAD = struct.Struct("<IBBBBI")

PCR_COUNT = 24
RTMR_COUNT = 4


class LogKind(StrEnum):
    TPM = "tpm"
    CCEL = "ccel"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecId:
    """The TCG_EfiSpecIDEvent header of a crypto-agile log."""

    platform_class: int
    version: tuple[int, int, int]
    uintn_size: int
    algorithms: tuple[tuple[int, int], ...]  # (TPM2_ALG_ID, digest size) in log order
    vendor_info: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EventLog:
    """A parsed event log. ``events`` includes EV_NO_ACTION records (they are never extended)."""

    kind: LogKind
    banks: tuple[Bank, ...]
    events: tuple[Event, ...]
    spec_id: SpecId | None
    startup_locality: int = 0
    truncated: bool = False
    size: int = 0  # bytes consumed

    def initial_values(self, bank: Bank) -> dict[Register, bytes]:
        if self.kind is LogKind.TPM and self.startup_locality:
            return {pcr(0): bytes(bank.digest_size - 1) + bytes([self.startup_locality])}
        return {}

    def replay(self, bank: Bank) -> dict[Register, bytes]:
        """Every register of the log's kind (PCR0..23 or RTMR0..3), replayed in ``bank``."""
        if bank not in self.banks:
            raise MeasureError(f"the log has no {bank} bank (it has {', '.join(self.banks)})")
        initial = self.initial_values(bank)
        values = replay([e for e in self.events if bank in e.digests or not e.measured], bank, initial=initial)
        if self.kind is LogKind.TPM:
            registers = [pcr(i) for i in range(PCR_COUNT)]
        else:
            registers = [Register(RegisterKind.RTMR, i) for i in range(RTMR_COUNT)]
        return {r: values.get(r, initial.get(r, zero(bank))) for r in registers}

    def measured_events(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.measured)


def _u32(buf: bytes, off: int) -> int:
    value: int = _U32.unpack_from(buf, off)[0]
    return value


def parse_spec_id(data: bytes, *, source: str | None = None) -> SpecId:
    if not data.startswith(SPEC_ID_SIGNATURE):
        raise EventLogError("not a Spec ID Event03 header", offset=0, source=source)
    off = len(SPEC_ID_SIGNATURE)
    try:
        platform_class, minor, major, errata, uintn, count = _SPEC_ID_HEAD.unpack_from(data, off)
        off += _SPEC_ID_HEAD.size
        algorithms = []
        for _ in range(count):
            alg, size = struct.unpack_from("<HH", data, off)
            algorithms.append((alg, size))
            off += 4
        vendor_size = data[off]
        vendor = data[off + 1 : off + 1 + vendor_size]
    except (struct.error, IndexError) as e:
        raise EventLogError("truncated Spec ID event", source=source) from e
    if len(vendor) != vendor_size:
        raise EventLogError("truncated Spec ID vendor info", source=source)
    if not algorithms:
        raise EventLogError("Spec ID event lists no algorithms", source=source)
    return SpecId(
        platform_class=platform_class,
        version=(major, minor, errata),
        uintn_size=uintn,
        algorithms=tuple(algorithms),
        vendor_info=bytes(vendor),
    )


def _is_padding(head: bytes) -> bool:
    return head == bytes(len(head)) or head == b"\xff" * len(head)


def _register(kind: LogKind, index: int, off: int, source: str | None) -> Register:
    try:
        if kind is LogKind.CCEL:
            return cc_mr_index_to_register(index)
        return pcr(index)
    except MeasureError as e:
        raise EventLogError(f"register index {index} out of range", offset=off, source=source) from e


def guess_kind(spec_id: SpecId | None) -> LogKind:
    """A CCEL's Spec ID lists exactly SHA-384; a TPM log lists SHA-1 and/or SHA-256 (and more)."""
    if spec_id is not None and [a for a, _ in spec_id.algorithms] == [Bank.SHA384.alg_id]:
        return LogKind.CCEL
    return LogKind.TPM


def parse_event_log(buf: bytes, *, kind: LogKind | None = None, source: str | None = None) -> EventLog:
    """Parse a TPM (``binary_bios_measurements``) or CCEL log; ``kind=None`` guesses from the header."""
    if len(buf) < _PCR_EVENT.size:
        raise EventLogError(f"event log of {len(buf)} bytes is too short", source=source)
    index, etype, sha1, size = _PCR_EVENT.unpack_from(buf, 0)
    first_data = buf[_PCR_EVENT.size : _PCR_EVENT.size + size]
    if len(first_data) != size:
        raise EventLogError("first event is truncated", offset=0, source=source)
    spec_id = None
    if etype == EventType.EV_NO_ACTION and first_data.startswith(SPEC_ID_SIGNATURE):
        spec_id = parse_spec_id(first_data, source=source)
    if kind is None:
        kind = guess_kind(spec_id)
    if spec_id is None:
        if kind is LogKind.CCEL:
            raise EventLogError("a CCEL must start with a Spec ID Event03 header", offset=0, source=source)
        return _parse_sha1_log(buf, source=source)

    sizes = dict(spec_id.algorithms)
    banks = []
    for alg, digest_size in spec_id.algorithms:
        try:
            bank = Bank.from_alg_id(alg)
        except MeasureError:
            log.debug("%s: ignoring unsupported algorithm 0x%04x", source or "log", alg)
            continue
        if digest_size != bank.digest_size:
            raise EventLogError(f"Spec ID gives {bank} a digest size of {digest_size}", source=source)
        banks.append(bank)
    events: list[Event] = [
        Event(
            register=_register(kind, index, 0, source),
            event_type=etype,
            digests={Bank.SHA1: sha1} if Bank.SHA1 in banks else {},
            description="Spec ID Event03",
            data=bytes(first_data),
        )
    ]
    off = _PCR_EVENT.size + size
    truncated = False
    locality = 0
    while off < len(buf):
        head = buf[off : off + _PCR_EVENT2_HEAD.size]
        if len(head) < _PCR_EVENT2_HEAD.size:
            if not _is_padding(head):
                truncated = True
            break
        if _is_padding(head):
            break
        index, etype, count = _PCR_EVENT2_HEAD.unpack(head)
        if count == 0:
            break  # padding of a CCEL area that is not all zero
        if count > len(sizes):
            raise EventLogError(f"event has {count} digests but the log has {len(sizes)} banks", offset=off,
                                source=source)
        p = off + _PCR_EVENT2_HEAD.size
        digests: dict[Bank, bytes] = {}
        try:
            for _ in range(count):
                (alg,) = _U16.unpack_from(buf, p)
                p += 2
                if alg not in sizes:
                    raise EventLogError(f"digest of algorithm 0x{alg:04x} not in the Spec ID header", offset=p - 2,
                                        source=source)
                digest = buf[p : p + sizes[alg]]
                if len(digest) != sizes[alg]:
                    raise struct.error("digest")
                p += sizes[alg]
                with contextlib.suppress(MeasureError):
                    digests[Bank.from_alg_id(alg)] = bytes(digest)
            event_size = _u32(buf, p)
            p += 4
        except struct.error:
            truncated = True
            break
        data = buf[p : p + event_size]
        if len(data) != event_size:
            truncated = True
            break
        event = Event(
            register=_register(kind, index, off, source),
            event_type=etype,
            digests=digests,
            description=describe(etype, bytes(data)),
            data=bytes(data),
        )
        if (
            kind is LogKind.TPM
            and etype == EventType.EV_NO_ACTION
            and data.startswith(STARTUP_LOCALITY_SIGNATURE)
            and len(data) > len(STARTUP_LOCALITY_SIGNATURE)
        ):
            locality = data[len(STARTUP_LOCALITY_SIGNATURE)]
        events.append(event)
        off = p + event_size
    if truncated:
        log.warning("%s: event log truncated at offset 0x%x", source or "log", off)
    return EventLog(
        kind=kind,
        banks=tuple(banks),
        events=tuple(events),
        spec_id=spec_id,
        startup_locality=locality,
        truncated=truncated,
        size=off,
    )


def _parse_sha1_log(buf: bytes, *, source: str | None) -> EventLog:
    events = []
    off = 0
    truncated = False
    while off < len(buf):
        head = buf[off : off + _PCR_EVENT.size]
        if len(head) < _PCR_EVENT.size:
            truncated = not _is_padding(head)
            break
        if _is_padding(head[:8]):
            break
        index, etype, sha1, size = _PCR_EVENT.unpack(head)
        data = buf[off + _PCR_EVENT.size : off + _PCR_EVENT.size + size]
        if len(data) != size:
            truncated = True
            break
        events.append(
            Event(
                register=_register(LogKind.TPM, index, off, source),
                event_type=etype,
                digests={Bank.SHA1: sha1},
                description=describe(etype, bytes(data)),
                data=bytes(data),
            )
        )
        off += _PCR_EVENT.size + size
    if truncated:
        log.warning("%s: event log truncated at offset 0x%x", source or "log", off)
    return EventLog(
        kind=LogKind.TPM, banks=(Bank.SHA1,), events=tuple(events), spec_id=None, truncated=truncated, size=off
    )


# --- event data -> description ------------------------------------------------------------------

_TAGGED_EVENT_IDS = {
    0x8F3B22EC: "Linux initrd",
    0x8F3B22ED: "LOADED_IMAGE::LoadOptions",
}


def _printable(data: bytes) -> str:
    text = data.rstrip(b"\x00").decode("ascii", "replace")
    return "".join(c if c.isprintable() else "." for c in text)


def _utf16(data: bytes) -> str:
    text = data.decode("utf-16-le", "replace").split("\x00", 1)[0]
    return "".join(c if c.isprintable() else "." for c in text)


def decode_variable_name(data: bytes) -> tuple[bytes, str] | None:
    """UEFI_VARIABLE_DATA -> (VariableName GUID bytes, name), or None if malformed."""
    if len(data) < 32:
        return None
    guid = data[:16]
    name_len, _data_len = struct.unpack_from("<QQ", data, 16)
    if name_len > (len(data) - 32) // 2:
        return None
    return guid, data[32 : 32 + 2 * name_len].decode("utf-16-le", "replace")


def describe(event_type: int, data: bytes) -> str:
    """A short human description derived from event data (never used for digests)."""
    try:
        if event_type in (EventType.EV_EFI_ACTION, EventType.EV_ACTION, EventType.EV_S_CRTM_VERSION):
            if event_type == EventType.EV_S_CRTM_VERSION and len(data) % 2 == 0 and b"\x00" in data[1::2]:
                return _utf16(data)
            return _printable(data)
        if event_type == EventType.EV_SEPARATOR:
            return "separator" if data == b"\x00" * 4 else f"separator {data.hex()}"
        if event_type == EventType.EV_IPL:
            if len(data) >= 2 and len(data) % 2 == 0 and data[1:2] == b"\x00":
                return _utf16(data)
            return _printable(data)
        if event_type == EventType.EV_EVENT_TAG and len(data) >= 8:
            tag, _size = struct.unpack_from("<II", data, 0)
            return _TAGGED_EVENT_IDS.get(tag, f"tagged event 0x{tag:08x}")
        if event_type in (
            EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
            EventType.EV_EFI_VARIABLE_BOOT,
            EventType.EV_EFI_VARIABLE_BOOT2,
            EventType.EV_EFI_VARIABLE_AUTHORITY,
        ):
            var = decode_variable_name(data)
            return var[1] if var else ""
        if event_type == EventType.EV_NO_ACTION:
            return _printable(data.split(b"\x00", 1)[0])
        if event_type in (EventType.EV_PLATFORM_CONFIG_FLAGS, EventType.EV_POST_CODE):
            return _printable(data[:64])
        if event_type == EventType.EV_EFI_GPT_EVENT:
            return "GPT"
        if event_type in (EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2, EventType.EV_EFI_HANDOFF_TABLES2) and data:
            return _printable(data[1 : 1 + data[0]])
        if event_type in (
            EventType.EV_EFI_BOOT_SERVICES_APPLICATION,
            EventType.EV_EFI_BOOT_SERVICES_DRIVER,
            EventType.EV_EFI_RUNTIME_SERVICES_DRIVER,
        ):
            path = image_file_path(data)
            return f"PE image {path}" if path else "PE image"
    except (struct.error, UnicodeDecodeError):
        pass
    return ""


_IMAGE_LOAD_EVENT = struct.Struct("<QQQQ")  # ImageLocationInMemory, ImageLengthInMemory, LinkTimeAddress, DP length
_DP_MEDIA = 4
_DP_MEDIA_FILEPATH = 4
_DP_MEDIA_FV_FILE = 6
_DP_END = 0x7F


def image_file_path(data: bytes) -> str:
    """The file path (or FV file GUID) in a UEFI_IMAGE_LOAD_EVENT's device path, '' if none."""
    if len(data) < _IMAGE_LOAD_EVENT.size:
        return ""
    *_, dp_len = _IMAGE_LOAD_EVENT.unpack_from(data, 0)
    dp = data[_IMAGE_LOAD_EVENT.size : _IMAGE_LOAD_EVENT.size + dp_len]
    parts = []
    pos = 0
    while pos + 4 <= len(dp):
        kind, sub, length = dp[pos], dp[pos + 1], int.from_bytes(dp[pos + 2 : pos + 4], "little")
        if length < 4 or kind == _DP_END:
            break
        body = dp[pos + 4 : pos + length]
        if kind == _DP_MEDIA and sub == _DP_MEDIA_FILEPATH:
            parts.append(_utf16(body))
        elif kind == _DP_MEDIA and sub == _DP_MEDIA_FV_FILE and len(body) == 16:
            parts.append(f"FvFile({uuid.UUID(bytes_le=body)})")
        pos += length
    return "".join(parts)
