"""The main job: build recipes/bob.toml from real trixie packages, rebuild it elsewhere, boot it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import ROOT, run_assembler, sha256


@pytest.mark.network
def test_main_job_outputs(bob_build: Path) -> None:
    sums = dict(reversed(line.split("  ", 1)) for line in (bob_build / "SHA256SUMS").read_text().splitlines())
    assert {"bob.efi", "bob.manifest.json"} <= set(sums)
    for name, digest in sums.items():
        assert sha256(bob_build / name) == digest, name
    manifest = json.loads((bob_build / "bob.manifest.json").read_text())
    assert manifest["image"]["id"] == "bob"
    assert manifest["uki"]["sha256"] == sums["bob.efi"]
    lock = (ROOT / "recipes" / "bob.lock.json").read_bytes()
    import hashlib

    assert manifest["lock"]["sha256"] == hashlib.sha256(lock).hexdigest()
    names = {p["name"] for p in manifest["packages"]}
    assert {"systemd", "busybox", "chrony", "dropbear-bin", "iptables", "linux-image-cloud-amd64"} <= names
    assert all(len(p["sha256"]) == 64 for p in manifest["packages"])
    assert manifest["initrd"]["files"] > 1000
    assert "zstd" in manifest["compressors"]
    assert not list(bob_build.parent.glob(".bob.tmp-*")), "a staging directory was left behind"


@pytest.mark.network
def test_rebuild_elsewhere_is_byte_identical(bob_build: Path, tmp_path: Path) -> None:
    """Another cwd, TZ, umask, locale and hash seed; same lock and cache: same bytes."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    out = tmp_path / "out"
    r = run_assembler(["build", str(ROOT / "recipes" / "bob.toml"), "--out", str(out), "--offline"], cwd=elsewhere,
                      env={"TZ": "Pacific/Kiritimati", "PYTHONHASHSEED": "4242", "LANG": "tr_TR.UTF-8",
                           "LC_ALL": "C"}, umask="077")
    assert r.code == 0, r.stderr[-3000:]
    assert sha256(out / "bob" / "bob.efi") == sha256(bob_build / "bob.efi")
    assert (out / "bob" / "SHA256SUMS").read_bytes() == (bob_build / "SHA256SUMS").read_bytes()


@pytest.mark.boot
@pytest.mark.network
def test_bob_boots_to_its_target(bob_build: Path, tmp_path: Path) -> None:
    from boot import boot  # scripts/boot.py

    result = boot(bob_build / "bob.efi", marker="BOB-DONE", timeout=600, log_path=tmp_path / "console.log")
    assert result.found, result.console[-4000:]
    ready = result.lines("BOB-READY")
    assert ready and "minimal.target reached" in ready[0]
    assert "Initramfs unpacking failed" not in result.console
    assert result.lines("BOB-FAILED") == [], result.lines("BOB-FAILED")
    # issue 6: udev autoloads virtio_net by alias, networkd gets QEMU's DHCP lease, iptables works
    assert any(" 10.0.2.15/24" in line for line in result.lines("BOB-NET")), result.console[-3000:]
    assert result.lines("BOB-IPTABLES ok"), result.lines("BOB-IPTABLES")


@pytest.mark.boot
@pytest.mark.network
def test_bob_raw_disk_boots_from_its_esp(bob_build: Path, tmp_path: Path) -> None:
    """bob.raw (GPT + FAT32 ESP with EFI/BOOT/BOOTX64.EFI) boots through OVMF's boot manager."""
    from boot import boot  # scripts/boot.py

    result = boot(bob_build / "bob.raw", disk=True, marker="BOB-DONE", timeout=600,
                  log_path=tmp_path / "console.log")
    assert result.found, result.console[-4000:]
    assert result.lines("BOB-READY")
