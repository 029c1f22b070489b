"""Measurement engine: predict and explain TDX MRTD/RTMR0-3 and vTPM PCRs for a UKI; parse and replay logs.

Modules (facts in shared/specs/measurements.md and uki.md §4-§6):

* :mod:`.event` - banks, registers, :class:`~.event.Event`, extend/fold/replay, PCR -> RTMR mapping;
* :mod:`.tcglog` - TPM 2.0 crypto-agile / SHA-1 logs and TDX CCELs (parse, replay);
* :mod:`.stub` / :mod:`.stubcpio` - what a UKI contributes per systemd-stub version (PCR4/9/11/12);
* :mod:`.tdvf` / :mod:`.varstore` / :mod:`.rtmr0` - OVMF TDVF metadata, MRTD, TD HOB, CFV, Secure Boot
  variables, platform profiles (RTMR0);
* :mod:`.platform` - whole-boot event lists (azure vTPM, OVMF+TPM, qemu-tdx, gcp-tdx);
* :mod:`.predict` / :mod:`.output` - the library entry for the build and the JSON documents;
* :mod:`.expect` - per-event diff of expected events against a real log;
* :mod:`.cli` - ``measure`` and ``replay`` entries for ``python -m assembler``.
"""

from __future__ import annotations

from uki.measure.cli import measure_main, replay_main
from uki.measure.predict import Prediction, predict, predict_platforms

__all__ = ["Prediction", "measure_main", "predict", "predict_platforms", "replay_main"]
