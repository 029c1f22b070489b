"""Predictions for a UKI on a list of platforms - the library entry the build and ``measure`` use."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gpt.disk import gpt_event_data
from uki.measure.errors import MeasureError
from uki.measure.event import Bank, Event
from uki.measure.output import azure_entry, dcap_entries, dump_json, eventlogs_json, platform_id
from uki.measure.platform import (
    Platform,
    TdxPrediction,
    VtpmPrediction,
    predict_tdx,
    predict_vtpm,
)
from uki.measure.rtmr0 import PlatformProfile
from uki.measure.stub import UkiMeasurements, measure_uki
from uki.measure.tdvf import PageAddOrder

log = logging.getLogger(__name__)

#: Disk layout (gpt.disk.Layout) the build writes for each TDX platform; its GPT is measured.
DISK_LAYOUT = {Platform.QEMU_TDX: "raw", Platform.GCP_TDX: "gcp"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """All platforms' predictions for one UKI."""

    uki: UkiMeasurements
    vtpm: VtpmPrediction | None
    tdx: tuple[TdxPrediction, ...]

    def event_lists(self) -> list[tuple[str, tuple[Event, ...]]]:
        out: list[tuple[str, tuple[Event, ...]]] = []
        if self.vtpm is not None:
            out.append((self.vtpm.platform.value, self.vtpm.events))
        out += [(t.platform.value, t.events) for t in self.tdx]
        return out


def parse_platforms(names: Sequence[str]) -> tuple[Platform, ...]:
    out = []
    for name in names:
        try:
            platform = Platform(name)
        except ValueError:
            raise MeasureError(f"unknown platform {name!r}",
                               hint=f"choose from {', '.join(p.value for p in Platform)}") from None
        if platform not in out:
            out.append(platform)
    return tuple(out)


def predict_platforms(
    uki: bytes,
    platforms: Sequence[str],
    *,
    image_id: str = "uki",
    firmware: Mapping[str, bytes] | bytes | None = None,
    memory: int | None = None,
    gpt_data: Mapping[str, bytes] | None = None,
    profiles: Mapping[str, PlatformProfile] | None = None,
    vtpm_banks: Sequence[Bank] = (Bank.SHA256,),
    page_add_orders: Sequence[PageAddOrder] | None = None,
    known_mrtd: Mapping[str, Sequence[bytes]] | None = None,
    separator_in_rtmr1: bool | None = None,
) -> Prediction:
    """Predict every platform. Per-platform inputs (firmware, GPT data, profile) are keyed by platform
    name; a plain ``firmware`` bytes value applies to every TDX platform; ``known_mrtd`` adds published
    MRTD values per platform. Without ``gpt_data`` for a
    TDX platform, the GPT of the disk the build writes for it (gpt.disk layout) is used.
    """
    chosen = parse_platforms(platforms)
    m = measure_uki(uki, banks=tuple(sorted({*vtpm_banks, Bank.SHA384})))
    vtpm = predict_vtpm(m, banks=vtpm_banks) if Platform.AZURE in chosen else None
    tdx = []
    for platform in chosen:
        if not platform.is_tdx:
            continue
        fw = firmware.get(platform.value) if isinstance(firmware, Mapping) else firmware
        gpt = (gpt_data or {}).get(platform.value)
        if gpt is None:
            gpt = gpt_event_data(len(uki), image_id=image_id, layout=DISK_LAYOUT[platform])
        profile = (profiles or {}).get(platform.value)
        tdx.append(predict_tdx(m, platform, firmware=fw, ram_size=memory, gpt_data=gpt, profile=profile,
                               page_add_orders=page_add_orders,
                               known_mrtd=(known_mrtd or {}).get(platform.value, ()),
                               separator_in_rtmr1=separator_in_rtmr1))
    return Prediction(uki=m, vtpm=vtpm, tdx=tuple(tdx))


def measurements_document(pred: Prediction, image_id: str) -> list[dict[str, object]]:
    """The attested-TLS proxy measurements list (azure-tdx and dcap-tdx entries)."""
    out: list[dict[str, object]] = []
    if pred.vtpm is not None:
        out.append(azure_entry(pred.vtpm, platform_id(image_id, Platform.AZURE)))
    for t in pred.tdx:
        out += dcap_entries(t, platform_id(image_id, t.platform))
    return out


def predict(
    uki: bytes,
    platforms: Sequence[str],
    *,
    image_id: str = "uki",
    firmware: Mapping[str, bytes] | bytes | None = None,
    memory: int | None = None,
    gpt_data: Mapping[str, bytes] | None = None,
    profiles: Mapping[str, PlatformProfile] | None = None,
) -> tuple[bytes, bytes]:
    """``(<id>.measurements.json, <id>.eventlog.json)`` bytes for ``platforms`` (see :mod:`.output`)."""
    pred = predict_platforms(uki, platforms, image_id=image_id, firmware=firmware, memory=memory,
                             gpt_data=gpt_data, profiles=profiles)
    return dump_json(measurements_document(pred, image_id)), eventlogs_json(pred.event_lists())
