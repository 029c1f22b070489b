"""What a UKI itself contributes to measured boot: firmware image events, systemd-stub and kernel events.

Per systemd-stub version (read from ``.sdmagic``; spec uki.md §3-§4, measurements.md §4-§5):

* PCR4 (firmware, EV_EFI_BOOT_SERVICES_APPLICATION): Authenticode digest of the UKI file; with
  252-257 stubs also of the ``.linux`` section (VirtualSize bytes), which the stub LoadImage()s.
  258+ starts the kernel itself: no second event.
* PCR11 (stub, EV_IPL): for each present, non-empty section in the version's canonical order, the
  hash of ``name\\0`` then the hash of the section's VirtualSize bytes. 256+ stubs also measure into
  the TDX CC protocol (RTMR2); 252-255 measure into the TPM only.
* PCR12 (stub, EV_IPL): a command line passed in LoadOptions (boot entry / shell) when accepted.
* PCR9 (kernel EFI stub, EV_EVENT_TAG): the LoadOptions the stub hands over (UTF-16LE cmdline incl.
  NUL), then the initrd it serves through LINUX_EFI_INITRD_MEDIA_GUID: ``.ucode``, ``.initrd`` and
  the literal cpios of ``.pcrsig``/``.pcrpkey`` (+ ``.osrel``/``.profile`` from 257 on), joined by
  :func:`uki.measure.stubcpio.combine_initrds`. Kernels >= 6.9 measure into RTMR2 when there is no TPM.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass

from uki.authenticode import authenticode_digest
from uki.measure.errors import MeasureError, UnsupportedStubError
from uki.measure.event import PREDICTED_BANKS, Bank, Event, EventType, Register, measure, pcr
from uki.measure.stubcpio import (
    OSREL_NAME,
    PCRPKEY_NAME,
    PCRSIG_NAME,
    PROFILE_NAME,
    combine_initrds,
    pack_cpio_literal,
)
from uki.pe import PeImage, StubVersion, read_pe

log = logging.getLogger(__name__)

PCR_BOOT_LOADER_CODE = 4
PCR_GPT = 5
PCR_KERNEL_CONFIG = 9  # Linux EFI stub: LoadOptions + initrd
PCR_KERNEL_IMAGE = 11  # systemd-stub: UKI sections
PCR_KERNEL_PARAMETERS = 12  # systemd-stub: passed-in cmdline, credentials, confext

# Linux EFI stub tagged-event ids and their event data (drivers/firmware/efi/libstub/efi-stub-helper.c).
LINUX_EVENT_ID_INITRD = 0x8F3B22EC
LINUX_EVENT_ID_LOAD_OPTIONS = 0x8F3B22ED
LINUX_INITRD_DESCRIPTION = b"Linux initrd\x00"
LINUX_LOAD_OPTIONS_DESCRIPTION = b"LOADED_IMAGE::LoadOptions\x00"

_ORDER_252: tuple[str, ...] = (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey")
_ORDER_254 = (".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey")
_ORDER_256 = (".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey")
_ORDER_257 = (*_ORDER_256, ".profile", ".dtbauto", ".hwids")
_ORDER_258 = (*_ORDER_257, ".efifw")

#: Stub majors whose behaviour is modelled.
KNOWN_STUB_MAJORS = range(252, 259)


@dataclass(frozen=True, slots=True, kw_only=True)
class StubBehaviour:
    """The measurement-relevant behaviour of one systemd-stub major version."""

    major: int
    pcr11_sections: tuple[str, ...]
    loads_kernel_image: bool
    """The stub LoadImage()s ``.linux`` from memory, so the firmware measures the kernel into PCR4."""
    cc_measurements: bool
    """The stub's own events also go to EFI_CC_MEASUREMENT_PROTOCOL (RTMR2)."""
    initrd_parts: tuple[str, ...]
    """Embedded sections that become parts of the initrd the kernel sees, in order."""


def stub_behaviour(major: int) -> StubBehaviour:
    if major not in KNOWN_STUB_MAJORS:
        raise UnsupportedStubError(
            f"systemd-stub {major} is not modelled (known: {KNOWN_STUB_MAJORS.start}-{KNOWN_STUB_MAJORS.stop - 1})",
            hint="predictions for other versions would be guesses",
        )
    if major < 254:
        order = _ORDER_252
    elif major < 256:
        order = _ORDER_254
    elif major < 257:
        order = _ORDER_256
    elif major < 258:
        order = _ORDER_257
    else:
        order = _ORDER_258
    parts: tuple[str, ...] = (".initrd", ".pcrsig", ".pcrpkey")
    if major >= 256:
        parts = (".ucode", *parts)
    if major >= 257:
        parts = (*parts, ".osrel", ".profile")
    return StubBehaviour(
        major=major,
        pcr11_sections=order,
        loads_kernel_image=major <= 257,
        cc_measurements=major >= 256,
        initrd_parts=parts,
    )


_LITERAL_NAMES = {".pcrsig": PCRSIG_NAME, ".pcrpkey": PCRPKEY_NAME, ".osrel": OSREL_NAME, ".profile": PROFILE_NAME}


def mangle_cmdline(text: str) -> str:
    """systemd-stub's ``mangle_stub_cmdline``: drop leading blanks/controls, controls -> ' ', cut trailing blanks."""
    i = 0
    while i < len(text) and (ord(text[i]) <= 0x20 or ord(text[i]) == 0x7F):
        i += 1
    body = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text[i:])
    return body.rstrip("".join(chr(c) for c in range(0x21)))


def utf16_cmdline(text: str) -> bytes:
    """LoadOptions as systemd-stub sets them: UTF-16LE with the terminating NUL."""
    return text.encode("utf-16-le") + b"\x00\x00"


def _ipl_data(description: str) -> bytes:
    return description.encode("utf-16-le") + b"\x00\x00"


def _tagged(event_id: int, description: bytes) -> bytes:
    """TCG_PCClientTaggedEvent: u32 taggedEventID, u32 taggedEventDataSize, data."""
    return struct.pack("<II", event_id, len(description)) + description


_KERNEL_VERSION_RE = re.compile(r"^(\d+)\.(\d+)")


def kernel_measures_cc(uname: str | None) -> bool:
    """Linux >= 6.9 measures LoadOptions/initrd into the CC protocol when there is no TPM."""
    if uname is None:
        log.warning("UKI has no .uname; assuming the kernel measures into RTMR2 (Linux >= 6.9)")
        return True
    m = _KERNEL_VERSION_RE.match(uname)
    if m is None:
        log.warning(".uname %r is not a kernel version; assuming Linux >= 6.9", uname)
        return True
    return (int(m[1]), int(m[2])) >= (6, 9)


@dataclass(frozen=True, slots=True, kw_only=True)
class UkiMeasurements:
    """Everything the UKI contributes, before platform events are added around it."""

    stub: StubVersion
    behaviour: StubBehaviour
    uname: str | None
    uki_image: Event
    """PCR4: the UKI PE image (firmware LoadImage)."""
    kernel_image: Event | None
    """PCR4: the embedded kernel (stub LoadImage), 252-257 only."""
    stub_events: tuple[Event, ...]
    """PCR11 section events then PCR12 events, in execution order."""
    kernel_events: tuple[Event, ...]
    """PCR9: LoadOptions then initrd (empty parts are not measured)."""
    cmdline: str | None
    initrd: bytes | None
    """The initrd the kernel receives (the PCR9 initrd event's payload)."""

    @property
    def kernel_cc(self) -> bool:
        return kernel_measures_cc(self.uname)


def _section_bytes(pe: PeImage, name: str) -> bytes | None:
    if sum(1 for _ in pe.sections_named(name)) > 1 and name != ".dtbauto":
        raise MeasureError(f"UKI has several {name} sections")
    return pe.section_data(name)


def _image_event(register: Register, image: bytes, banks: tuple[Bank, ...], description: str) -> Event:
    digests: dict[Bank, bytes] = {}
    for bank in banks:
        if bank is Bank.SHA256:
            digests[bank] = authenticode_digest(image, "sha256")
        elif bank is Bank.SHA384:
            digests[bank] = authenticode_digest(image, "sha384")
        else:
            raise MeasureError(f"Authenticode digests are computed for sha256/sha384, not {bank}")
    return Event(
        register=register,
        event_type=EventType.EV_EFI_BOOT_SERVICES_APPLICATION,
        digests=digests,
        description=description,
    )


def measure_uki(
    uki: bytes,
    *,
    banks: tuple[Bank, ...] = PREDICTED_BANKS,
    passed_cmdline: str | None = None,
    secure_boot: bool = False,
    stub_major: int | None = None,
) -> UkiMeasurements:
    """Predict the UKI's own events.

    ``passed_cmdline``: a command line given in the boot entry's LoadOptions (e.g. QEMU ``-append``);
    OVMF's auto-created disk boot options pass none. ``stub_major`` overrides the ``.sdmagic`` version.
    """
    pe = read_pe(uki, what="UKI")
    stub = pe.stub_version()
    if stub is None or stub.kind != "systemd-stub":
        raise UnsupportedStubError(
            "UKI has no systemd-stub .sdmagic version string", hint="only systemd-stub based UKIs are supported"
        )
    behaviour = stub_behaviour(stub_major if stub_major is not None else stub.major)
    if pe.find_section(".profile") is not None:
        raise MeasureError("multi-profile UKIs (.profile sections) are not supported by the predictor")
    linux = _section_bytes(pe, ".linux")
    if not linux:
        raise MeasureError("UKI has no .linux section")

    uki_image = _image_event(pcr(PCR_BOOT_LOADER_CODE), uki, banks, "UKI (PE image)")
    kernel_image = (
        _image_event(pcr(PCR_BOOT_LOADER_CODE), linux, banks, "Linux kernel (.linux, LoadImage by the stub)")
        if behaviour.loads_kernel_image
        else None
    )

    stub_events: list[Event] = []
    for name in behaviour.pcr11_sections:
        data = _section_bytes(pe, name)
        if not data:
            continue
        label = _ipl_data(name)
        stub_events.append(
            measure(
                pcr(PCR_KERNEL_IMAGE),
                EventType.EV_IPL,
                name.encode("ascii") + b"\x00",
                banks=banks,
                description=f"{name} (section name)",
                data=label,
            )
        )
        stub_events.append(
            measure(
                pcr(PCR_KERNEL_IMAGE),
                EventType.EV_IPL,
                data,
                banks=banks,
                description=f"{name} (section content)",
                data=label,
                keep_payload=len(data) <= 4096,
            )
        )

    embedded = _section_bytes(pe, ".cmdline")
    cmdline: str | None = None
    if embedded is not None:
        cmdline = mangle_cmdline(embedded.split(b"\x00", 1)[0].decode("utf-8", "replace"))
    if passed_cmdline is not None:
        if secure_boot and embedded is not None:
            log.info("passed command line ignored: Secure Boot is on and the UKI has .cmdline")
        else:
            cmdline = mangle_cmdline(passed_cmdline)
            stub_events.append(
                measure(
                    pcr(PCR_KERNEL_PARAMETERS),
                    EventType.EV_IPL,
                    utf16_cmdline(cmdline),
                    banks=banks,
                    description=f"cmdline override: {cmdline}",
                    data=_ipl_data(cmdline),
                )
            )

    parts = []
    for name in behaviour.initrd_parts:
        data = _section_bytes(pe, name)
        if not data:
            continue
        parts.append(pack_cpio_literal(_LITERAL_NAMES[name], data) if name in _LITERAL_NAMES else data)
    initrd = combine_initrds(parts) if parts else None

    kernel_events: list[Event] = []
    if cmdline is not None:
        kernel_events.append(
            measure(
                pcr(PCR_KERNEL_CONFIG),
                EventType.EV_EVENT_TAG,
                utf16_cmdline(cmdline),
                banks=banks,
                description=f"kernel LoadOptions: {cmdline}",
                data=_tagged(LINUX_EVENT_ID_LOAD_OPTIONS, LINUX_LOAD_OPTIONS_DESCRIPTION),
            )
        )
    if initrd:
        kernel_events.append(
            measure(
                pcr(PCR_KERNEL_CONFIG),
                EventType.EV_EVENT_TAG,
                initrd,
                banks=banks,
                description=f"Linux initrd ({len(parts)} part(s), {len(initrd)} bytes)",
                data=_tagged(LINUX_EVENT_ID_INITRD, LINUX_INITRD_DESCRIPTION),
                keep_payload=False,
            )
        )
    uname_raw = _section_bytes(pe, ".uname")
    uname = uname_raw.split(b"\x00", 1)[0].decode("utf-8", "replace") if uname_raw else None
    return UkiMeasurements(
        stub=stub,
        behaviour=behaviour,
        uname=uname,
        uki_image=uki_image,
        kernel_image=kernel_image,
        stub_events=tuple(stub_events),
        kernel_events=tuple(kernel_events),
        cmdline=cmdline,
        initrd=initrd,
    )
