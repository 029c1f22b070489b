"""measure/replay CLI entries, predict(), the JSON shapes and the per-event expectation diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpt.disk import esp_disk, write_raw
from gpt.gpt import uefi_gpt_data
from tests.uki.measure.test_tdvf import SECTIONS, _firmware
from tests.uki.pefixtures import make_kernel, make_stub
from uki.builder import build_uki
from uki.errors import UkiError
from uki.measure.cli import measure_main, parse_size, replay_main
from uki.measure.errors import MeasureError
from uki.measure.event import Bank, EventType, fold, measure, pcr, replay, rtmr
from uki.measure.expect import Status, diff_events, read_expected_events, write_expected_events
from uki.measure.predict import predict, predict_platforms
from uki.measure.tcglog import parse_event_log
from uki.measure.tdvf import PageAddOrder, compute_mrtd

EVENTLOGS = Path(__file__).resolve().parents[2] / "data" / "eventlogs"
KERNEL = make_kernel(version_string=b"6.12.117+deb13-cloud-amd64 (x@y) #1 SMP Debian 6.12.117-1")


@pytest.fixture(scope="module")
def uki() -> bytes:
    return build_uki(stub=make_stub("257.13-1~deb13u1"), linux=KERNEL, initrds=[b"initrd" * 100],
                     cmdline=b"console=ttyS0", os_release=b"ID=x\n")


def test_parse_size() -> None:
    assert parse_size("2G") == 2 << 30 and parse_size("2048") == 2 << 30 and parse_size("512M") == 512 << 20
    with pytest.raises(MeasureError):
        parse_size("two")


def test_measure_azure_json_is_measured_boot_shape(uki: bytes, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "img.efi"
    path.write_bytes(uki)
    assert measure_main([str(path), "--platform", "azure", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(doc["measurements"], key=int) == ["4", "9", "11", "12", "13", "15"]
    events = doc["EventLog"]["Events"]
    pcr4 = [bytes.fromhex(e["Digest"]) for e in events if e["PCRIndex"] == 4]
    assert len(pcr4) == 4  # Calling, separator, UKI, kernel
    assert doc["measurements"]["4"]["expected"] == fold(pcr4, Bank.SHA256).hex()
    assert doc["measurements"]["12"]["expected"] == "00" * 32


def test_measure_tdx_text_and_dcap_json(uki: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "img.efi"
    path.write_bytes(uki)
    fw = tmp_path / "fw.fd"
    fw.write_bytes(_firmware(SECTIONS))
    profile = tmp_path / "profile.json"
    assert replay_main([str(EVENTLOGS / "ccel" / "CCEL_unpadded.data.bin"), "--capture-profile", str(profile),
                        "--platform", "qemu-tdx"]) == 0
    capsys.readouterr()
    args = [str(path), "--platform", "qemu-tdx", "--firmware", str(fw), "--memory", "2G", "--profile", str(profile)]
    assert measure_main(args) == 0
    text = capsys.readouterr().out
    assert "MRTD (single-pass)" in text and "MRTD (two-pass)" in text and "RTMR2" in text
    assert measure_main([*args, "--json", "--eventlog", str(tmp_path / "ev.json")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["measurement_id"] for d in doc] == ["img-qemu-tdx-single-pass", "img-qemu-tdx-two-pass"]
    assert all(d["attestation_type"] == "dcap-tdx" and sorted(d["measurements"]) == ["0", "1", "2", "3", "4"]
               for d in doc)
    assert doc[0]["measurements"]["0"]["expected"] == compute_mrtd(fw.read_bytes(), PageAddOrder.SINGLE_PASS).hex()
    assert doc[0]["measurements"]["4"]["expected"] == "00" * 48
    lists = read_expected_events(tmp_path / "ev.json")
    events = lists["qemu-tdx"]
    assert replay(events, Bank.SHA384)[rtmr(2)].hex() == doc[0]["measurements"]["3"]["expected"]


def test_predict_library_entry(uki: bytes) -> None:
    measurements, eventlog = predict(uki, ["azure", "gcp-tdx"], image_id="bob")
    doc = json.loads(measurements)
    assert [d["measurement_id"] for d in doc] == ["bob-azure", "bob-gcp-tdx"]
    assert doc[0]["attestation_type"] == "azure-tdx" and doc[1]["attestation_type"] == "dcap-tdx"
    assert sorted(doc[1]["measurements"]) == ["2", "3", "4"]  # no firmware, no profile: MRTD/RTMR0 left out
    logs = json.loads(eventlog)["eventlogs"]
    assert [item["platform"] for item in logs] == ["azure", "gcp-tdx"]
    gcp = [e for e in logs[1]["events"] if e["event_type"] == EventType.EV_EFI_GPT_EVENT]
    assert len(gcp) == 1 and gcp[0]["register"] == "RTMR1"
    assert predict(uki, ["azure", "gcp-tdx"], image_id="bob") == (measurements, eventlog)  # deterministic
    with pytest.raises(UkiError):
        predict(uki, ["aws"])


def test_tdx_rtmr2_follows_stub_version() -> None:
    for version, stub_events in (("255.4-1", 0), ("257.13-1~deb13u1", 12)):
        image = build_uki(stub=make_stub(version), linux=KERNEL, initrds=[b"i" * 8], cmdline=b"x",
                          os_release=b"ID=x\n")
        pred = predict_platforms(image, ["qemu-tdx"])
        rtmr2 = [e for e in pred.tdx[0].events if e.register == rtmr(2)]
        assert len(rtmr2) == stub_events + 2, version  # + kernel LoadOptions and initrd


REPLAYED = [*sorted((EVENTLOGS / "tpm").glob("*.bin"))[:3], EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin"]


@pytest.mark.parametrize("path", REPLAYED, ids=lambda p: p.name)
def test_replay_prints_registers(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_main([str(path), "--json", "--events"]) == 0
    doc = json.loads(capsys.readouterr().out)
    log = parse_event_log(path.read_bytes())
    for bank in log.banks:
        values = doc["registers"][bank.value]
        expected = 4 if log.kind.value == "ccel" else 24
        assert len(values) == expected
        assert values[str(next(iter(log.replay(bank))))] == next(iter(log.replay(bank).values())).hex()
    assert len(doc["events"]) == len(log.events)
    assert replay_main([str(path)]) == 0
    assert "RTMR0" in capsys.readouterr().out or log.kind.value == "tpm"


def test_replay_refuses_the_acpi_table() -> None:
    with pytest.raises(MeasureError, match="ACPI"):
        replay_main([str(EVENTLOGS / "ccel" / "CCEL.bin")])


def test_expect_diff_names_the_differing_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = parse_event_log((EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin").read_bytes())
    expected = [e for e in log.measured_events() if e.register in (rtmr(1), rtmr(2))]
    assert all(d.status is Status.MATCH for d in diff_events(expected, log))
    # change one RTMR2 event, drop one RTMR1 event, add one unexpected
    changed = list(expected)
    k = next(i for i, e in enumerate(changed) if e.register == rtmr(2))
    changed[k] = measure(rtmr(2), changed[k].event_type, b"other", banks=(Bank.SHA384,), description="mine")
    dropped = next(i for i, e in enumerate(changed) if e.event_type == EventType.EV_EFI_GPT_EVENT)
    del changed[dropped]
    changed.insert(0, measure(rtmr(1), EventType.EV_EFI_ACTION, b"extra", banks=(Bank.SHA384,)))
    diffs = diff_events(changed, log)
    bad = [(d.status, str(d.register)) for d in diffs if d.status is not Status.MATCH]
    assert sorted(bad) == sorted([(Status.DIFFERS, "RTMR2"), (Status.UNEXPECTED, "RTMR1"),
                                  (Status.MISSING, "RTMR1")])
    path = tmp_path / "expect.json"
    path.write_bytes(write_expected_events(changed, platform="gcp-tdx"))
    assert replay_main([str(EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin"), "--expect", str(path)]) == 1
    out = capsys.readouterr().out
    assert "differs" in out and "mine" in out and "unexpected" in out and "missing" in out


def test_expect_with_pcr_events_against_tpm_log(tmp_path: Path) -> None:
    log = parse_event_log((EVENTLOGS / "tpm" / "rhel8-uefi.bin").read_bytes())
    expected = [e for e in log.measured_events() if e.register == pcr(4)]
    path = tmp_path / "expect.json"
    path.write_bytes(write_expected_events(expected))
    assert replay_main([str(EVENTLOGS / "tpm" / "rhel8-uefi.bin"), "--expect", str(path)]) == 0
    with pytest.raises(MeasureError):
        replay_main([str(EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin"), "--expect", str(path)])


def test_published_mrtd_for_gcp(uki: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "img.efi"
    path.write_bytes(uki)
    a, b = "ab" * 48, "cd" * 48
    assert measure_main([str(path), "--platform", "gcp-tdx", "--mrtd", a, "--mrtd", b, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(d["measurement_id"], d["measurements"]["0"]["expected"]) for d in doc] == [
        ("img-gcp-tdx-published-0", a), ("img-gcp-tdx-published-1", b)]
    with pytest.raises(MeasureError):
        measure_main([str(path), "--platform", "gcp-tdx", "--mrtd", "abcd"])


@pytest.mark.parametrize(("platform", "layout"), [("qemu-tdx", "raw"), ("gcp-tdx", "gcp")])
def test_predicted_gpt_event_is_the_disk_the_build_writes(uki: bytes, tmp_path: Path, platform: str,
                                                          layout: str) -> None:
    disk = tmp_path / "disk.raw"
    with disk.open("wb") as f:
        write_raw(esp_disk(uki, image_id="img", layout=layout, source_date_epoch=0), f)
    with disk.open("rb") as f:
        on_disk = uefi_gpt_data(f)
    pred = predict_platforms(uki, [platform], image_id="img")
    (gpt_event,) = [e for e in pred.tdx[0].events if e.event_type == EventType.EV_EFI_GPT_EVENT]
    assert gpt_event.digest(Bank.SHA384) == Bank.SHA384.hash(on_disk)


def test_legacy_separator_moves_out_of_rtmr1(uki: bytes) -> None:
    new = predict_platforms(uki, ["qemu-tdx"]).tdx[0]
    old = predict_platforms(uki, ["qemu-tdx"], separator_in_rtmr1=False).tdx[0]
    seps = [[e for e in p.events if e.event_type == EventType.EV_SEPARATOR] for p in (new, old)]
    assert [e.register for e in seps[0]] == [rtmr(1)] and seps[1] == []
    assert new.rtmrs()[rtmr(2)] == old.rtmrs()[rtmr(2)] and new.rtmrs()[rtmr(1)] != old.rtmrs()[rtmr(1)]


def test_expect_measurement_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ccel = EVENTLOGS / "ccel" / "cos-113-intel-tdx.bin"
    values = parse_event_log(ccel.read_bytes()).replay(Bank.SHA384)
    good = {str(r.index + 1): {"expected": v.hex()} for r, v in values.items()}
    bad = {**good, "2": {"expected": "11" * 48}, "0": {"expected": "00" * 48}}
    doc = [{"measurement_id": "bad", "attestation_type": "dcap-tdx", "measurements": bad},
           {"measurement_id": "good", "attestation_type": "dcap-tdx", "measurements": good}]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    assert replay_main([str(ccel), "--expect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "matching variants: good" in out and "bad [2] RTMR1: DIFFERS" in out and "[0] -: not in log" in out
    path.write_text(json.dumps(doc[:1]))
    assert replay_main([str(ccel), "--expect", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [v["ok"] for v in report["values"]] == [None, True, False, True, True]

    tpm = EVENTLOGS / "tpm" / "ubuntu-2104-no-secure-boot.bin"
    pcrs = parse_event_log(tpm.read_bytes()).replay(Bank.SHA256)
    mb = {"measurements": {str(i): {"expected": pcrs[pcr(i)].hex()} for i in (4, 9, 11)}}
    path.write_text(json.dumps(mb))
    assert replay_main([str(tpm), "--expect", str(path)]) == 0
    path.write_text(json.dumps({"something": 1}))
    with pytest.raises(MeasureError):
        replay_main([str(tpm), "--expect", str(path)])
