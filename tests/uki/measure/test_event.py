"""Event model: extend/fold/replay, register mapping, and the known-answer vectors of measurements.md §1, §11."""

from __future__ import annotations

import hashlib

import pytest

from uki.measure.errors import MeasureError
from uki.measure.event import (
    CALLING_EFI_APPLICATION,
    EXIT_BOOT_SERVICES_INVOCATION,
    EXIT_BOOT_SERVICES_SUCCESS,
    SEPARATOR,
    Bank,
    Event,
    EventType,
    Register,
    RegisterKind,
    extend,
    fold,
    measure,
    pcr,
    pcr_to_rtmr,
    replay,
    retarget_tdx,
    rtmr,
)

# measurements.md §1 (SHA-384 constants verified against real CCELs; SHA-256 for the vTPM).
SHA384_SEPARATOR = "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0"
SHA384_CALLING = "77a0dab2312b4e1e57a84d865a21e5b2ee8d677a21012ada819d0a98988078d3d740f6346bfe0abaa938ca20439a8d71"
SHA384_EBS_INVOCATION = (
    "214b0bef1379756011344877743fdc2a5382bac6e70362d624ccf3f654407c1b4badf7d8f9295dd3dabdef65b27677e0")
SHA384_EBS_SUCCESS = (
    "0a2e01c85deae718a530ad8c6d20a84009babe6c8989269e950d8cf440c6e997695e64d455c4174a652cd080f6230b74")
SHA256_CALLING = "3d6772b4f84ed47595d72a2c4c5ffd15f5bb72c7507fe26f2aaee2c69d5633ba"
SHA256_SEPARATOR = "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119"

# measurements.md §11: the measured-boot tool's Azure vTPM vectors.
MB_PCR4 = "22116dee861aa6b44242ac469eab24cead344d52c77131f54ac1cac9d6a2408e"
MB_PCR9 = "eb4f7bca865807d3163b95174d6e66cfc74acf8b930a553e95ec94662cb6facd"
MB_PCR11 = "9dfe399fcd4432639f0e20f49df823aa66b095f0664f0a4b9fbdc11ea64683e2"


def test_action_and_separator_constants() -> None:
    assert Bank.SHA384.hash(SEPARATOR).hex() == SHA384_SEPARATOR
    assert Bank.SHA384.hash(CALLING_EFI_APPLICATION).hex() == SHA384_CALLING
    assert Bank.SHA384.hash(EXIT_BOOT_SERVICES_INVOCATION).hex() == SHA384_EBS_INVOCATION
    assert Bank.SHA384.hash(EXIT_BOOT_SERVICES_SUCCESS).hex() == SHA384_EBS_SUCCESS
    assert Bank.SHA256.hash(CALLING_EFI_APPLICATION).hex() == SHA256_CALLING
    assert Bank.SHA256.hash(SEPARATOR).hex() == SHA256_SEPARATOR


def test_measured_boot_vectors() -> None:
    h = Bank.SHA256.hash
    pcr4 = fold([h(CALLING_EFI_APPLICATION), h(SEPARATOR), bytes(32), b"\x01" * 32], Bank.SHA256)
    assert pcr4.hex() == MB_PCR4
    pcr9 = fold([h("console=tty0".encode("utf-16-le") + b"\x00\x00"), bytes(32)], Bank.SHA256)
    assert pcr9.hex() == MB_PCR9
    pcr11 = fold([h(b".linux\x00"), bytes(32), h(b".initrd\x00"), b"\x01" * 32], Bank.SHA256)
    assert pcr11.hex() == MB_PCR11


def test_extend_is_hash_of_concatenation() -> None:
    value = extend(bytes(48), b"\x11" * 48, Bank.SHA384)
    assert value == hashlib.sha384(bytes(48) + b"\x11" * 48).digest()
    assert fold([], Bank.SHA256) == bytes(32)


def test_replay_folds_per_register_and_skips_no_action() -> None:
    a = measure(pcr(4), EventType.EV_EFI_ACTION, b"a")
    b = measure(pcr(5), EventType.EV_EFI_ACTION, b"b")
    c = measure(pcr(4), EventType.EV_EFI_ACTION, b"c")
    info = measure(pcr(4), EventType.EV_NO_ACTION, b"ignored")
    values = replay([a, info, b, c], Bank.SHA384)
    assert values[pcr(4)] == fold([a.digest(Bank.SHA384), c.digest(Bank.SHA384)], Bank.SHA384)
    assert values[pcr(5)] == fold([b.digest(Bank.SHA384)], Bank.SHA384)
    initial = {pcr(4): b"\x00" * 31 + b"\x03"}
    assert replay([a], Bank.SHA256, initial=initial)[pcr(4)] == extend(initial[pcr(4)], a.digest(Bank.SHA256),
                                                                        Bank.SHA256)


@pytest.mark.parametrize(
    ("index", "target"),
    [(0, Register(RegisterKind.MRTD, 0)), (1, rtmr(0)), (7, rtmr(0)), (2, rtmr(1)), (4, rtmr(1)), (5, rtmr(1)),
     (6, rtmr(1)), (8, rtmr(2)), (9, rtmr(2)), (11, rtmr(2)), (15, rtmr(2))],
)
def test_pcr_to_rtmr_mapping(index: int, target: Register) -> None:
    assert pcr_to_rtmr(index) == target


def test_pcr_without_rtmr_and_bad_indices() -> None:
    with pytest.raises(MeasureError):
        pcr_to_rtmr(16)
    with pytest.raises(MeasureError):
        pcr(24)
    with pytest.raises(MeasureError):
        rtmr(4)


def test_retarget_keeps_order_and_sha384_only() -> None:
    events = [measure(pcr(4), EventType.EV_EFI_ACTION, b"x"), measure(pcr(11), EventType.EV_IPL, b"y"),
              measure(pcr(0), EventType.EV_S_CRTM_VERSION, b"z")]
    out = retarget_tdx(events)
    assert [e.register for e in out] == [rtmr(1), rtmr(2)]
    assert all(tuple(e.digests) == (Bank.SHA384,) for e in out)


def test_event_rejects_wrong_digest_size() -> None:
    with pytest.raises(MeasureError):
        Event(register=pcr(4), event_type=EventType.EV_IPL, digests={Bank.SHA256: bytes(48)})
    with pytest.raises(MeasureError):
        measure(pcr(4), EventType.EV_IPL, b"x", banks=(Bank.SHA256,)).digest(Bank.SHA384)


def test_bank_alg_ids() -> None:
    assert [b.alg_id for b in Bank] == [0x4, 0xB, 0xC, 0xD]
    assert Bank.from_alg_id(0xC) is Bank.SHA384
    with pytest.raises(MeasureError):
        Bank.from_alg_id(0x12)
