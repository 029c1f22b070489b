"""The main job: build recipes/bob.toml from real trixie packages, rebuild it elsewhere, boot it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import ROOT, run_assembler, sha256


@pytest.mark.network
def test_main_job_outputs(bob_build: Path) -> None:
    sums = dict(reversed(line.split("  ", 1)) for line in (bob_build / "SHA256SUMS").read_text().splitlines())
    assert {"bob.efi", "bob.manifest.json", "bob.raw", "bob.tar.gz", "bob.vhd", "bob.measurements.json",
            "bob.eventlog.json"} <= set(sums)
    measurements = json.loads((bob_build / "bob.measurements.json").read_text())
    types = {entry["attestation_type"] for entry in measurements}
    assert types == {"azure-tdx", "dcap-tdx"}
    azure = next(e for e in measurements if e["attestation_type"] == "azure-tdx")
    assert all(len(azure["measurements"][k]["expected"]) == 64 for k in ("4", "9", "11"))
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
    assert {"libzstd", "python-zstandard", "zlib"} <= set(manifest["compressors"])
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
    assert result.lines("BOB-PAM ok"), result.lines("BOB-PAM")  # common-* from pam-auth-update


@pytest.mark.boot
@pytest.mark.network
def test_bob_raw_disk_boots_from_its_esp(bob_build: Path, tmp_path: Path) -> None:
    """bob.raw (GPT + FAT32 ESP with EFI/BOOT/BOOTX64.EFI) boots through OVMF's boot manager."""
    from boot import boot  # scripts/boot.py

    result = boot(bob_build / "bob.raw", disk=True, marker="BOB-DONE", timeout=600,
                  log_path=tmp_path / "console.log")
    assert result.found, result.console[-4000:]
    assert result.lines("BOB-READY")


def _initrd_members(efi: Path) -> dict[str, object]:
    import stat

    from assembler.initrd import read_initrd
    from uki.pe import read_pe

    members = {m.name.decode("utf-8", "surrogateescape"): m
               for m in read_initrd(read_pe(efi.read_bytes()).section_data(".initrd") or b"")}
    assert all(stat.S_IFMT(m.mode) for m in members.values())
    return members  # type: ignore[return-value]


@pytest.mark.network
def test_image_tree_is_sound(bob_build: Path) -> None:
    """No dangling symlinks (outside runtime file systems), /var/run -> /run, ids and modes as Debian's."""
    import posixpath
    import stat

    members = _initrd_members(bob_build / "bob.efi")

    def resolve(path: str, depth: int = 0) -> str | None:
        parts = path.split("/")
        done: list[str] = []
        while parts:
            cur = "/".join([*done, parts.pop(0)])
            m = members.get(cur)
            if m is None:
                return None
            if stat.S_ISLNK(m.mode):  # type: ignore[attr-defined]
                if depth > 40:
                    return None
                target = m.data.decode()  # type: ignore[attr-defined]
                base = "" if target.startswith("/") else "/".join(done)
                joined = posixpath.normpath(posixpath.join("/" + base, target)).lstrip("/")
                resolved = resolve(joined, depth + 1) if joined else ""
                if resolved is None:
                    return None
                parts = [p for p in resolved.split("/") if p] + parts
                done = []
                continue
            done.append(cur.rsplit("/", 1)[-1])
        return "/".join(done)

    runtime = ("/run", "/proc", "/sys", "/dev", "/tmp")
    dangling = []
    for name, m in members.items():
        if stat.S_ISLNK(m.mode):  # type: ignore[attr-defined]
            target = m.data.decode()  # type: ignore[attr-defined]
            absolute = target if target.startswith("/") else posixpath.normpath(
                posixpath.join("/" + posixpath.dirname(name), target))
            if absolute.startswith(runtime) or absolute == "/dev/null":
                continue
            if resolve(name) is None:
                dangling.append(f"{name} -> {target}")
    assert dangling == []
    assert members["var/run"].data == b"/run" and members["var/lock"].data == b"/run/lock"  # type: ignore[attr-defined]
    assert members["init"].mode == 0o100755  # type: ignore[attr-defined]
    assert members["dev/console"].rdevmajor == 5  # type: ignore[attr-defined]
    assert members["usr/bin/passwd"].mode == 0o104755  # type: ignore[attr-defined]
    shells = members["etc/shells"].data.decode().split()  # type: ignore[attr-defined]
    assert "/bin/sh" in shells and "/usr/bin/sh" in shells and "/usr/sbin/nologin" not in shells
    assert members["etc/machine-id"].data == b""  # type: ignore[attr-defined]
    assert b"pam_unix.so" in members["etc/pam.d/common-auth"].data  # type: ignore[attr-defined]
    assert all(m.mtime == 0 for m in members.values())  # type: ignore[attr-defined]


@pytest.mark.network
def test_verify_reproduces_and_names_a_difference(bob_build: Path, tmp_path: Path) -> None:
    """The auditor's command: OK for every published output; one altered digest is DIFFERS and exit 1."""
    published = (bob_build / "SHA256SUMS").read_text()
    good = tmp_path / "SHA256SUMS"
    good.write_text(published)
    r = run_assembler(["verify", str(ROOT / "recipes" / "bob.toml"), "--expect", str(good), "--out",
                       str(tmp_path / "v1")])
    assert r.code == 0, r.stderr[-2000:]
    assert {line.split()[0] for line in r.stdout.splitlines()} == {"OK"}
    lines = published.splitlines()
    name = lines[0].split("  ", 1)[1]
    bad = tmp_path / "BAD"
    bad.write_text("\n".join([f"{'0' * 64}  {name}", *lines[1:]]) + "\n")
    r = run_assembler(["verify", str(ROOT / "recipes" / "bob.toml"), "--expect", str(bad), "--out",
                       str(tmp_path / "v2")])
    assert r.code == 1
    assert f"DIFFERS  {name}" in r.stdout
