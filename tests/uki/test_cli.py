"""python -m uki: ukify's flag semantics, inspect output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.uki.pefixtures import make_cert, make_kernel, make_stub
from uki import read_pe
from uki.cli import main


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "stub.efi").write_bytes(make_stub())
    (tmp_path / "vmlinuz").write_bytes(make_kernel())
    (tmp_path / "initrd").write_bytes(b"initrd-bytes")
    (tmp_path / "cmdline").write_bytes(b"root=/dev/sda1   ro\n")
    (tmp_path / "os-release").write_bytes(b"ID=test\n")
    return tmp_path


def build(d: Path, *extra: str, output: str = "out.efi") -> int:
    return main(["build", f"--linux={d / 'vmlinuz'}", f"--stub={d / 'stub.efi'}", f"--output={d / output}", *extra])


def test_cmdline_text_is_collapsed_and_file_is_verbatim(inputs: Path) -> None:
    assert build(inputs, "--cmdline=  a   b\tc\n d  ", output="text.efi") == 0
    assert read_pe((inputs / "text.efi").read_bytes()).section_data(".cmdline") == b"a b c d"
    assert build(inputs, f"--cmdline=@{inputs / 'cmdline'}", output="file.efi") == 0
    assert read_pe((inputs / "file.efi").read_bytes()).section_data(".cmdline") == b"root=/dev/sda1   ro\n"
    assert build(inputs, "--cmdline=   ", output="empty.efi") == 0
    assert read_pe((inputs / "empty.efi").read_bytes()).find_section(".cmdline") is None


def test_os_release_text_file_and_empty(inputs: Path) -> None:
    assert build(inputs, "--os-release=ID=x\nVERSION_ID=1", output="a.efi") == 0
    assert read_pe((inputs / "a.efi").read_bytes()).section_data(".osrel") == b"ID=x\nVERSION_ID=1"
    assert build(inputs, f"--os-release=@{inputs / 'os-release'}", output="b.efi") == 0
    assert read_pe((inputs / "b.efi").read_bytes()).section_data(".osrel") == b"ID=test\n"
    assert build(inputs, "--os-release=", output="c.efi") == 0
    assert read_pe((inputs / "c.efi").read_bytes()).find_section(".osrel") is None


def test_sections_initrds_and_uname(inputs: Path) -> None:
    args = [f"--initrd={inputs / 'initrd'}", f"--initrd={inputs / 'initrd'}", "--uname=9.9.9"]
    args += ["--section=.text1:hello", f"--section=.file:@{inputs / 'os-release'}"]
    assert build(inputs, *args) == 0
    pe = read_pe((inputs / "out.efi").read_bytes())
    assert pe.section_data(".initrd") == b"initrd-bytes" * 2  # 12 bytes: already 4-aligned
    assert pe.section_data(".uname") == b"9.9.9"
    assert pe.section_data(".text1") == b"hello"
    assert pe.section_data(".file") == b"ID=test\n"


def test_default_output_name_like_ukify(inputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(inputs)
    assert main(["build", f"--linux={inputs / 'vmlinuz'}", f"--stub={inputs / 'stub.efi'}"]) == 0
    assert (inputs / "vmlinuz.unsigned.efi").exists()


def test_signed_build(inputs: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_cert(key, "cli test", serial=7, days=30)
    (inputs / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (inputs / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    signing = [f"--secureboot-private-key={inputs / 'k.pem'}", f"--secureboot-certificate={inputs / 'c.pem'}"]
    assert build(inputs, *signing, output="s1.efi") == 0
    assert build(inputs, *signing, "--secureboot-hash=sha384", output="s2.efi") == 0
    assert read_pe((inputs / "s1.efi").read_bytes()).is_signed
    assert (inputs / "s1.efi").read_bytes() != (inputs / "s2.efi").read_bytes()
    assert build(inputs, signing[0], output="s3.efi") == 2


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "uki", *args], capture_output=True, text=True, check=False)


def test_errors_are_one_line_without_traceback(inputs: Path) -> None:
    bad = inputs / "bad.efi"
    bad.write_bytes(make_stub()[:0x180])
    cases = [
        ("inspect", str(bad)),
        ("inspect", str(inputs / "missing.efi")),
        ("build", f"--linux={inputs / 'vmlinuz'}", f"--stub={bad}", f"--output={inputs / 'x.efi'}"),
        ("build", f"--linux={inputs / 'initrd'}", f"--stub={inputs / 'stub.efi'}", f"--output={inputs / 'x.efi'}"),
        ("build", f"--linux={inputs / 'vmlinuz'}", f"--stub={inputs / 'stub.efi'}", "--section=.a:b:c"),
        ("build", f"--linux={inputs / 'vmlinuz'}", f"--stub={inputs / 'vmlinuz'}", f"--output={inputs / 'x.efi'}"),
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("uki: error: ")]
        assert len(errors) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert not (inputs / "x.efi").exists()


def test_inspect_text_and_json(inputs: Path) -> None:
    assert build(inputs, "--cmdline=quiet splash", f"--os-release=@{inputs / 'os-release'}") == 0
    text = run_cli("inspect", str(inputs / "out.efi"))
    assert text.returncode == 0
    assert "stub: systemd-stub 257.13-1~deb13u1" in text.stdout
    assert ".cmdline:\n    quiet splash" in text.stdout
    assert "signature: none" in text.stdout
    result = run_cli("inspect", "--json", str(inputs / "out.efi"))
    info = json.loads(result.stdout)
    assert list(info) == sorted(info)
    assert info["texts"][".cmdline"] == "quiet splash"
    assert info["texts"][".uname"] == "6.1.0-test-amd64"
    assert info["signed"] is False
    names = [s["name"] for s in info["sections"]]
    assert names == [".text", ".data", ".sbat", ".sdmagic", ".reloc", ".osrel", ".cmdline", ".uname", ".linux"]
    assert len(info["authenticode"]["sha384"]) == 96
