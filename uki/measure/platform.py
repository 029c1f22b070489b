"""Whole-boot event lists for a UKI on each platform: firmware events around the UKI's own events.

* ``azure`` - Hyper-V Gen2 vTPM (measured-boot tool model, measurements.md §8.3): PCR4 = [Calling,
  separator, UKI, kernel(252-257)], PCR9 = [LoadOptions, initrd], PCR11 = section pairs, PCR12 =
  passed cmdline (normally none). SHA-256, and SHA-384 on request.
* OVMF + TPM (the boot test bed): additionally PCR5 = [separator, GPT, ExitBootServices x2].
* ``qemu-tdx`` / ``gcp-tdx`` - TDVF (measurements.md §4-§5): RTMR1 = [Calling, separator (edk2 >=
  202411), GPT, UKI, kernel(252-257), EBS invocation, EBS success]; RTMR2 = [stub PCR11/12 events
  (stub >= 256)] + [LoadOptions, initrd (kernel >= 6.9)]; RTMR0 from firmware + profile; MRTD from the
  firmware (single- and two-pass page-add orders); RTMR3 = 0.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from uki.measure.errors import MeasureError
from uki.measure.event import (
    CALLING_EFI_APPLICATION,
    EXIT_BOOT_SERVICES_INVOCATION,
    EXIT_BOOT_SERVICES_SUCCESS,
    PREDICTED_BANKS,
    SEPARATOR,
    Bank,
    Event,
    EventType,
    Register,
    RegisterKind,
    measure,
    pcr,
    replay,
    retarget_tdx,
    rtmr,
    zero,
)
from uki.measure.rtmr0 import PlatformProfile, rtmr0_events
from uki.measure.stub import PCR_BOOT_LOADER_CODE, PCR_GPT, UkiMeasurements
from uki.measure.tdvf import PageAddOrder, compute_mrtd

log = logging.getLogger(__name__)


class Platform(StrEnum):
    AZURE = "azure"
    QEMU_TDX = "qemu-tdx"
    GCP_TDX = "gcp-tdx"

    @property
    def is_tdx(self) -> bool:
        return self is not Platform.AZURE


def separator(index: int, banks: Sequence[Bank]) -> Event:
    return measure(pcr(index), EventType.EV_SEPARATOR, SEPARATOR, banks=banks, description="separator")


def efi_action(index: int, text: bytes, banks: Sequence[Bank]) -> Event:
    return measure(pcr(index), EventType.EV_EFI_ACTION, text, banks=banks, description=text.decode("ascii"))


def gpt_event(gpt_data: bytes, banks: Sequence[Bank]) -> Event:
    return measure(pcr(PCR_GPT), EventType.EV_EFI_GPT_EVENT, gpt_data, banks=banks, description="GPT (UEFI_GPT_DATA)")


def tpm_boot_events(
    m: UkiMeasurements,
    *,
    banks: Sequence[Bank] = PREDICTED_BANKS,
    gpt_data: bytes | None = None,
    pcr5: bool = True,
) -> tuple[Event, ...]:
    """Events of a UKI booted by OVMF/Hyper-V BDS with a TPM, in log order (PCRs 4, 5, 9, 11, 12).

    ``gpt_data``: UEFI_GPT_DATA of the boot disk (None when booted without a GPT disk);
    ``pcr5=False`` leaves out PCR5 (the measured-boot tool does not predict it).
    """
    banks = tuple(banks)
    out: list[Event] = [
        efi_action(PCR_BOOT_LOADER_CODE, CALLING_EFI_APPLICATION, banks),
        separator(PCR_BOOT_LOADER_CODE, banks),
    ]
    if pcr5:
        out.append(separator(PCR_GPT, banks))
        if gpt_data is not None:
            out.append(gpt_event(gpt_data, banks))
    out.append(_with_banks(m.uki_image, banks))
    out.extend(_with_banks(e, banks) for e in m.stub_events)
    if m.kernel_image is not None:
        out.append(_with_banks(m.kernel_image, banks))
    out.extend(_with_banks(e, banks) for e in m.kernel_events)
    if pcr5:
        out.append(efi_action(PCR_GPT, EXIT_BOOT_SERVICES_INVOCATION, banks))
        out.append(efi_action(PCR_GPT, EXIT_BOOT_SERVICES_SUCCESS, banks))
    return tuple(out)


def _with_banks(event: Event, banks: Sequence[Bank]) -> Event:
    missing = [b for b in banks if b not in event.digests]
    if missing:
        raise MeasureError(f"event {event.description!r} was not computed for {', '.join(missing)}")
    return Event(
        register=event.register,
        event_type=event.event_type,
        digests={b: event.digests[b] for b in banks},
        description=event.description,
        data=event.data,
        payload=event.payload,
    )


def tdx_boot_events(
    m: UkiMeasurements,
    *,
    gpt_data: bytes | None,
    separator_in_rtmr1: bool = True,
) -> tuple[Event, ...]:
    """RTMR1 and RTMR2 events of a UKI booted from a GPT disk by TDVF (no vTPM), in log order."""
    banks = (Bank.SHA384,)
    out: list[Event] = [efi_action(PCR_BOOT_LOADER_CODE, CALLING_EFI_APPLICATION, banks)]
    if separator_in_rtmr1:
        out.append(separator(PCR_BOOT_LOADER_CODE, banks))
    if gpt_data is not None:
        out.append(gpt_event(gpt_data, banks))
    out.append(m.uki_image)
    if m.behaviour.cc_measurements:
        out.extend(m.stub_events)
    if m.kernel_image is not None:
        out.append(m.kernel_image)
    if m.kernel_cc:
        out.extend(m.kernel_events)
    else:
        log.warning("kernel %s does not measure into RTMR2 (needs Linux >= 6.9)", m.uname)
    out.append(efi_action(PCR_GPT, EXIT_BOOT_SERVICES_INVOCATION, banks))
    out.append(efi_action(PCR_GPT, EXIT_BOOT_SERVICES_SUCCESS, banks))
    return retarget_tdx(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class TdxPrediction:
    """One platform's TDX prediction: register values per variant plus the event lists behind them."""

    platform: Platform
    mrtd: tuple[tuple[str, bytes], ...]
    """(variant name, MRTD) pairs; empty without a firmware file."""
    rtmr0_events: tuple[Event, ...] | None
    """None without a platform profile (RTMR0 then left out of the output)."""
    boot_events: tuple[Event, ...]
    """RTMR1 + RTMR2 events."""

    def rtmrs(self) -> dict[Register, bytes]:
        events = [*(self.rtmr0_events or ()), *self.boot_events]
        values = replay(events, Bank.SHA384)
        out = {rtmr(i): values.get(rtmr(i), zero(Bank.SHA384)) for i in range(4)}
        if self.rtmr0_events is None:
            del out[rtmr(0)]
        return out

    @property
    def events(self) -> tuple[Event, ...]:
        return (*(self.rtmr0_events or ()), *self.boot_events)


def predict_tdx(
    m: UkiMeasurements,
    platform: Platform,
    *,
    firmware: bytes | None = None,
    ram_size: int | None = None,
    gpt_data: bytes | None = None,
    profile: PlatformProfile | None = None,
    page_add_orders: Sequence[PageAddOrder] | None = None,
    secure_boot: bool = False,
    known_mrtd: Sequence[bytes] = (),
    separator_in_rtmr1: bool | None = None,
) -> TdxPrediction:
    """TDX MRTD/RTMR0..3 prediction for ``platform`` (``qemu-tdx`` or ``gcp-tdx``).

    ``known_mrtd``: MRTD values published for the firmware (e.g. Google's per-firmware values for GCP,
    whose firmware is not a public file), added as variants ``published-N``.
    ``separator_in_rtmr1``: None takes it from the profile, else True (edk2 >= stable202411 measures
    the ReadyToBoot separator into RTMR1; older TDVF into RTMR0).
    """
    if not platform.is_tdx:
        raise MeasureError(f"{platform} is not a TDX platform")
    if gpt_data is None:
        log.warning("%s: no boot disk given; the GPT event (RTMR1) is left out", platform)
    if separator_in_rtmr1 is None:
        separator_in_rtmr1 = True if profile is None else profile.separator_in_rtmr1
    boot = tdx_boot_events(m, gpt_data=gpt_data, separator_in_rtmr1=separator_in_rtmr1)
    mrtd: list[tuple[str, bytes]] = []
    if firmware is not None:
        if page_add_orders is None:
            page_add_orders = (
                (PageAddOrder.SINGLE_PASS,)
                if platform is Platform.GCP_TDX
                else (PageAddOrder.SINGLE_PASS, PageAddOrder.TWO_PASS)
            )
        seen: set[bytes] = set()
        for order in page_add_orders:
            value = compute_mrtd(firmware, order)
            if value not in seen:
                seen.add(value)
                mrtd.append((order.value, value))
        log.info("%s: firmware sha384 %s", platform, hashlib.sha384(firmware).hexdigest())
    for i, value in enumerate(known_mrtd):
        if len(value) != 48:
            raise MeasureError(f"published MRTD #{i} is {len(value)} bytes, not 48")
        mrtd.append((f"published-{i}", value))
    if not mrtd:
        log.warning("%s: no firmware or MRTD given; MRTD is left out of the prediction", platform)
    rtmr0 = None
    if profile is not None:
        rtmr0 = rtmr0_events(profile, firmware=firmware, ram_size=ram_size, secure_boot=secure_boot)
    else:
        log.warning("%s: no platform profile given; RTMR0 is left out of the prediction", platform)
    return TdxPrediction(platform=platform, mrtd=tuple(mrtd), rtmr0_events=rtmr0, boot_events=boot)


@dataclass(frozen=True, slots=True, kw_only=True)
class VtpmPrediction:
    platform: Platform
    banks: tuple[Bank, ...]
    events: tuple[Event, ...]

    def pcrs(self, bank: Bank, indices: Sequence[int] = (4, 9, 11, 12, 13, 15)) -> dict[int, bytes]:
        values = replay(self.events, bank)
        return {i: values.get(pcr(i), zero(bank)) for i in indices}


def predict_vtpm(m: UkiMeasurements, *, banks: Sequence[Bank] = (Bank.SHA256,)) -> VtpmPrediction:
    """Azure vTPM PCR 4/9/11 (+ 12/13/15 expected zero) prediction, measured-boot tool compatible."""
    events = tpm_boot_events(m, banks=banks, pcr5=False)
    assert all(e.register.kind is RegisterKind.PCR for e in events)
    return VtpmPrediction(platform=Platform.AZURE, banks=tuple(banks), events=events)
