"""Peer tests against Debian's own tools, on Debian's own binaries (network; cached downloads).

* ``ukify`` from trixie's ``systemd-ukify`` (257.13) and ``python -m uki build`` get the same
  flags and must write byte-identical UKIs, with the trixie cloud kernel and the stubs of trixie
  (257), bookworm-backports (254) and bookworm (252).
* Where ukify writes a broken image or fails (252's ``.sbat`` overlap, no header room) we check
  that ukify really does, and that we refuse or succeed as documented.
* Signed UKIs verify with ``sbverify`` and ``osslsigncode``; ``inspect`` agrees with
  ``objdump -h`` and ``ukify inspect --json``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import archive
from tests.uki.pefixtures import filler, make_cert, make_kernel
from uki import authenticode_digest, build_uki, read_pe
from uki.cli import main as uki_main
from uki.errors import PeFormatError
from uki.sbat import merge_sbat

pytestmark = pytest.mark.network

STUB_PATH = "usr/lib/systemd/boot/efi/linuxx64.efi.stub"
STUB_SUITES = {"257": "trixie", "254": "bookworm-backports", "252": "bookworm"}
SBAT_HEADER_ONLY = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md"
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n'


@dataclass(frozen=True)
class Peer:
    dir: Path
    ukify: Path
    stubs: dict[str, Path]
    stub_versions: dict[str, str]
    kernel: Path
    kernel_version: str

    def file(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Peer:
    work = tmp_path_factory.mktemp("ukify-peer")
    ukify, ukify_deb = archive.package("systemd-ukify", "trixie")
    assert ukify.version.startswith("257."), ukify.version
    (work / "ukify").write_bytes(archive.deb_member(ukify_deb, "usr/bin/ukify"))
    stubs, versions = {}, {}
    for major, suite in STUB_SUITES.items():
        stub, stub_deb = archive.package("systemd-boot-efi", suite)
        assert stub.version.startswith(major + "."), stub.version
        stubs[major] = work / f"linuxx64-{major}.efi.stub"
        stubs[major].write_bytes(archive.deb_member(stub_deb, STUB_PATH))
        versions[major] = stub.version
    kernel, kernel_deb = archive.cloud_kernel("trixie")
    kernel_release = archive.kernel_release(kernel)
    (work / "vmlinuz").write_bytes(archive.deb_member(kernel_deb, f"boot/vmlinuz-{kernel_release}"))
    peer = Peer(
        dir=work,
        ukify=work / "ukify",
        stubs=stubs,
        stub_versions=versions,
        kernel=work / "vmlinuz",
        kernel_version=kernel_release,
    )
    peer.file("initrd1", filler(100_003, b"initrd one"))  # odd sizes exercise the 4-byte padding
    peer.file("initrd2", filler(20_001, b"initrd two"))
    peer.file("os-release", OS_RELEASE.encode())
    peer.file("cmdline", b"console=ttyS0,115200n8  root=/dev/ram0\n")
    peer.file("blob", bytes(range(256)) * 3)
    return peer


def run_ukify(peer: Peer, args: list[str], output: Path) -> subprocess.CompletedProcess[str]:
    # sys.executable is the project's venv python, which has pefile (ukify's only hard import).
    cmd = [sys.executable, str(peer.ukify), "build", *args, f"--output={output}"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=peer.dir, timeout=300)


def run_ours(args: list[str], output: Path) -> int:
    return uki_main(["build", *args, f"--output={output}"])


def both(peer: Peer, args: list[str], name: str) -> tuple[bytes, bytes]:
    theirs, ours = peer.dir / f"{name}.ukify.efi", peer.dir / f"{name}.uki.efi"
    result = run_ukify(peer, args, theirs)
    assert result.returncode == 0, result.stderr
    assert run_ours(args, ours) == 0
    return theirs.read_bytes(), ours.read_bytes()


def common(peer: Peer, stub: str = "257") -> list[str]:
    return [f"--linux={peer.kernel}", f"--stub={peer.stubs[stub]}", f"--os-release=@{peer.dir / 'os-release'}"]


def long_sbat(peer: Peer, limit: int) -> str:
    """An --sbat text whose merge with the 257 stub's .sbat is as long as fits in ``limit`` bytes."""
    stub = peer.stubs["257"].read_bytes()
    lines = [SBAT_HEADER_ONLY]
    i = 0
    while True:
        candidate = [*lines, f"example{i},1,Example Component {i},example,{i},https://example.org/{i}"]
        text = "\n".join(candidate) + "\n"
        if len(merge_sbat([("stub", stub)], [text.encode()])) > limit:
            return "\n".join(lines) + "\n"
        lines = candidate
        i += 1


CASES: dict[str, list[str]] = {
    "one-initrd": ["--initrd=@initrd1", "--cmdline=console=ttyS0,115200n8   quiet \t rw  "],
    "two-initrds": ["--initrd=@initrd1", "--initrd=@initrd2", "--cmdline=@cmdline"],
    "no-uname": ["--initrd=@initrd1", "--cmdline=quiet", "--uname="],
    "explicit-uname": ["--initrd=@initrd1", "--uname=6.1.0-custom"],
    "extra-section": ["--initrd=@initrd1", "--cmdline=quiet", "--section=.test:hello world", "--section=.blob:@blob"],
    "no-initrd-os-release-text": ["--cmdline=quiet", "--os-release=ID=test\nVERSION_ID=1\n"],
    "dtb-splash-pcrpkey-ucode": [
        "--initrd=@initrd1",
        "--devicetree=@blob",
        "--devicetree-auto=@blob",
        "--devicetree-auto=@cmdline",
        "--splash=@blob",
        "--pcrpkey=@os-release",
        "--microcode=@initrd2",
        "--section=.extra:after ucode",
    ],
    "sbat-text-and-file": ["--initrd=@initrd2", "--sbat=@sbat-file", f"--sbat={SBAT_HEADER_ONLY}\nextra,1,X,x,1,u"],
}


PATH_FLAGS = {"--initrd", "--devicetree", "--devicetree-auto", "--splash", "--pcrpkey", "--microcode"}


def expand(peer: Peer, args: list[str]) -> list[str]:
    """Turn ``--flag=@name`` into a path in the work dir (bare for flags that take only a path)."""
    out = []
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag in PATH_FLAGS and value.startswith("@"):
            value = str(peer.dir / value[1:])
        elif value.startswith("@") and ":" not in value:
            value = "@" + str(peer.dir / value[1:])
        elif flag == "--section" and ":@" in value:
            name, _, path = value.partition(":@")
            value = f"{name}:@{peer.dir / path}"
        out.append(f"{flag}={value}")
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_byte_identical_to_ukify(peer: Peer, case: str) -> None:
    peer.file("sbat-file", f"{SBAT_HEADER_ONLY}\nfile,1,From a file,file,1,https://example.org\n".encode())
    theirs, ours = both(peer, common(peer) + expand(peer, CASES[case]), case)
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(theirs).hexdigest()
    pe = read_pe(ours)
    if case == "no-uname":
        assert pe.find_section(".uname") is None
    elif case == "explicit-uname":
        assert pe.section_data(".uname") == b"6.1.0-custom"
    else:
        assert pe.section_data(".uname") == peer.kernel_version.encode()
    if case == "one-initrd":
        assert pe.section_data(".cmdline") == b"console=ttyS0,115200n8 quiet rw"
    if case == "two-initrds":
        assert pe.section_data(".cmdline") == (peer.dir / "cmdline").read_bytes()  # verbatim, with its \n
        assert (
            pe.section_data(".initrd")
            == filler(100_003, b"initrd one") + b"\0" + filler(20_001, b"initrd two") + b"\0" * 3
        )
    if case == "dtb-splash-pcrpkey-ucode":
        names = [s.name for s in pe.sections][6:]
        assert names == [".osrel", ".dtb", ".dtbauto", ".dtbauto", ".uname", ".splash", ".pcrpkey",
                         ".linux", ".initrd", ".ucode", ".extra"]  # fmt: skip
    if case == "extra-section":
        assert pe.section_data(".test") == b"hello world"
        assert [s.name for s in pe.sections][-2:] == [".test", ".blob"]  # .sbat is rewritten in place


def test_long_sbat_byte_identical_and_too_long_refused_by_both(peer: Peer) -> None:
    text = long_sbat(peer, 0x200)
    theirs, ours = both(peer, [*common(peer), "--initrd", str(peer.dir / "initrd2"), f"--sbat={text}"], "long-sbat")
    assert ours == theirs
    sbat = read_pe(ours).section_data(".sbat")
    assert sbat is not None and 0x1C0 < len(sbat) <= 0x200
    too_long = text + "one,1,One line too many,one,1,https://example.org/one-line-too-many\n"
    result = run_ukify(peer, [*common(peer), f"--sbat={too_long}"], peer.dir / "too-long.efi")
    assert result.returncode != 0 and "Not enough space in existing section .sbat" in result.stderr
    assert run_ours([*common(peer), f"--sbat={too_long}"], peer.dir / "too-long.uki.efi") == 2


def test_library_equals_cli(peer: Peer) -> None:
    _, ours = both(peer, common(peer) + expand(peer, CASES["two-initrds"]), "library")
    direct = build_uki(
        stub=peer.stubs["257"].read_bytes(),
        linux=peer.kernel.read_bytes(),
        initrds=[(peer.dir / "initrd1").read_bytes(), (peer.dir / "initrd2").read_bytes()],
        cmdline=(peer.dir / "cmdline").read_bytes(),
        os_release=OS_RELEASE.encode(),
    )
    assert direct == ours


@pytest.mark.parametrize("major", ["257", "254"])
def test_stub_versions_byte_identical(peer: Peer, major: str) -> None:
    args = [*common(peer, major), f"--initrd={peer.dir / 'initrd1'}", "--cmdline=quiet"]
    theirs, ours = both(peer, args, f"stub{major}")
    assert ours == theirs
    version = read_pe(ours).stub_version()
    assert version is not None and version.version == peer.stub_versions[major]
    assert read_pe(ours).nx_compat  # the Debian kernel is NX_COMPAT, so the stub's bit stays


def test_stub_252_short_sbat_byte_identical(peer: Peer) -> None:
    # 252 is an old gnu-efi stub: symbol table at the end of the file, SectionAlignment 0x200.
    stub = read_pe(peer.stubs["252"].read_bytes())
    assert stub.pointer_to_symbol_table and stub.section_alignment == 0x200
    args = [*common(peer, "252"), f"--initrd={peer.dir / 'initrd1'}", "--cmdline=quiet", f"--sbat={SBAT_HEADER_ONLY}"]
    theirs, ours = both(peer, args, "stub252")
    assert ours == theirs
    assert read_pe(ours).pointer_to_symbol_table == 0


def test_stub_252_default_sbat_overlap(peer: Peer) -> None:
    args = [*common(peer, "252"), f"--initrd={peer.dir / 'initrd1'}"]
    result = run_ukify(peer, args, peer.dir / "overlap.ukify.efi")
    assert result.returncode == 0  # ukify writes it…
    with pytest.raises(PeFormatError, match=r"\.sbat .* and \.sdmagic .* overlap in memory"):
        read_pe((peer.dir / "overlap.ukify.efi").read_bytes())  # …but .sbat runs into .sdmagic
    assert run_ours(args, peer.dir / "overlap.uki.efi") == 2
    assert not (peer.dir / "overlap.uki.efi").exists()


def objdump_sections(path: Path) -> list[tuple[str, int, int, int]]:
    """(name, size, vma, file offset) from ``objdump -h``."""
    out = subprocess.run(["objdump", "-h", str(path)], capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", out, re.M)
    return [(name, int(size, 16), int(vma, 16), int(off, 16)) for name, size, vma, off in rows]


def inspect_json(path: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "uki", "inspect", "--json", str(path)], capture_output=True, text=True, check=True
    )
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_header_room_grows_where_ukify_fails(peer: Peer) -> None:
    # The 252 stub has room for 7 more section headers; ask for 8.
    extras = [f"--section=.x{i}:extra section {i}" for i in range(3)]
    args = [*common(peer, "252"), f"--initrd={peer.dir / 'initrd1'}", "--cmdline=quiet", f"--sbat={SBAT_HEADER_ONLY}"]
    result = run_ukify(peer, args + extras, peer.dir / "room.ukify.efi")
    assert result.returncode != 0 and "Not enough header space to add section" in result.stderr
    assert run_ours(args + extras, peer.dir / "room.uki.efi") == 0
    ours = read_pe((peer.dir / "room.uki.efi").read_bytes())
    stub = read_pe(peer.stubs["252"].read_bytes())
    assert ours.size_of_headers == stub.size_of_headers + 0x200
    assert [s.name for s in ours.sections][-4:] == [".initrd", ".x0", ".x1", ".x2"]
    for i in range(3):
        assert ours.section_data(f".x{i}") == f"extra section {i}".encode()
    assert ours.section_data(".linux") == peer.kernel.read_bytes()
    listed = objdump_sections(peer.dir / "room.uki.efi")
    assert [(n, va - ours.image_base, off) for n, _, va, off in listed] == [
        (s.name, s.virtual_address, s.pointer_to_raw_data) for s in ours.sections
    ]


def test_nx_compat_cleared_like_ukify(peer: Peer) -> None:
    kernel = peer.file("vmlinuz-no-nx", make_kernel(nx=False, size=0x5000))
    args = [f"--linux={kernel}", f"--stub={peer.stubs['257']}", "--os-release=ID=x", "--cmdline=quiet"]
    theirs, ours = both(peer, args, "nx")
    assert ours == theirs
    assert not read_pe(ours).nx_compat
    assert read_pe(peer.stubs["257"].read_bytes()).nx_compat


@pytest.fixture(scope="module")
def keypair(peer: Peer) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_cert(key, "uki peer test", serial=1, days=3650)
    key_path = peer.file(
        "db.key",
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    cert_path = peer.file("db.crt", cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_signed_uki_verifies_and_matches_ukify_sbsign(peer: Peer, keypair: tuple[Path, Path]) -> None:
    key, cert = keypair
    args = [*common(peer), f"--initrd={peer.dir / 'initrd1'}", "--cmdline=quiet"]
    signing = [f"--secureboot-private-key={key}", f"--secureboot-certificate={cert}"]
    theirs, ours = both(peer, args + signing, "signed")  # ukify signs with sbsign (random signingTime)
    assert run_ours(args + signing, peer.dir / "signed-again.uki.efi") == 0
    assert (peer.dir / "signed-again.uki.efi").read_bytes() == ours  # deterministic
    for path in (peer.dir / "signed.uki.efi", peer.dir / "signed.ukify.efi"):
        out = subprocess.run(["sbverify", "--cert", str(cert), str(path)], capture_output=True, text=True)
        assert out.returncode == 0 and "Signature verification OK" in out.stdout + out.stderr
        out = subprocess.run(
            ["osslsigncode", "verify", "-CAfile", str(cert), "-in", str(path)], capture_output=True, text=True
        )
        assert out.returncode == 0 and "Succeeded" in out.stdout, out.stdout + out.stderr
    # Same unsigned bytes underneath: the Authenticode digests agree.
    assert authenticode_digest(ours, "sha256") == authenticode_digest(theirs, "sha256")
    assert authenticode_digest(ours, "sha384") == authenticode_digest(theirs, "sha384")
    unsigned = peer.dir / "unsigned.uki.efi"
    assert run_ours(args, unsigned) == 0
    assert authenticode_digest(unsigned.read_bytes(), "sha256") == authenticode_digest(ours, "sha256")


def _uki_files(peer: Peer) -> Iterator[Path]:
    args = [*common(peer), f"--initrd={peer.dir / 'initrd1'}", "--cmdline=quiet", "--section=.test:x"]
    theirs, ours = peer.dir / "inspect.ukify.efi", peer.dir / "inspect.uki.efi"
    assert run_ukify(peer, args, theirs).returncode == 0
    assert run_ours(args, ours) == 0
    yield theirs
    yield ours


def test_inspect_lists_the_same_sections_as_objdump_and_ukify(peer: Peer) -> None:
    for path in _uki_files(peer):
        info = inspect_json(path)
        sections = info["sections"]
        assert isinstance(sections, list)
        base = info["image_base"]
        assert isinstance(base, int)
        assert [
            (s["name"], s["virtual_size"], base + s["virtual_address"], s["pointer_to_raw_data"]) for s in sections
        ] == (objdump_sections(path))
        ukify = subprocess.run(
            [sys.executable, str(peer.ukify), "inspect", str(path), "--json=short"],
            capture_output=True,
            text=True,
            check=True,
        )
        theirs = json.loads(ukify.stdout)
        ours = {s["name"]: s for s in sections}
        assert theirs, "ukify showed no sections"
        for name, desc in theirs.items():
            assert (ours[name]["size"], ours[name]["sha256"]) == (desc["size"], desc["sha256"]), name
        texts = info["texts"]
        assert isinstance(texts, dict)
        for name in (".cmdline", ".uname", ".osrel", ".sbat"):
            assert texts[name] == theirs[name]["text"], name
        stub = info["stub"]
        assert isinstance(stub, dict) and stub["major"] == 257
        assert texts[".cmdline"] == "quiet"
        assert texts[".uname"] == peer.kernel_version


def test_digest_of_the_debian_signed_kernel_matches_its_signature(peer: Peer) -> None:
    # Debian signed this kernel: the digest inside its PKCS#7 is an independent known answer.
    out = subprocess.run(["osslsigncode", "verify", "-in", str(peer.kernel)], capture_output=True, text=True)
    embedded = re.search(r"Current message digest\s*:\s*([0-9A-F]{64})", out.stdout)
    assert embedded is not None, out.stdout + out.stderr
    assert authenticode_digest(peer.kernel.read_bytes(), "sha256").hex() == embedded[1].lower()
    info = inspect_json(peer.kernel)
    assert info["signed"] is True
    signatures = info["signatures"]
    assert isinstance(signatures, list)
    assert any("Debian Secure Boot Signer" in c for c in signatures[0]["certificates"])


def test_signed_stub_is_refused_by_both(peer: Peer, keypair: tuple[Path, Path]) -> None:
    key, cert = keypair
    signed_stub = peer.dir / "signed.stub"
    subprocess.run(
        ["sbsign", "--key", str(key), "--cert", str(cert), "--output", str(signed_stub), str(peer.stubs["257"])],
        capture_output=True,
        check=True,
    )
    args = [f"--linux={peer.kernel}", f"--stub={signed_stub}", "--os-release=ID=x"]
    result = run_ukify(peer, args, peer.dir / "signed-stub.ukify.efi")
    assert result.returncode != 0 and "Stub image is signed, refusing" in result.stderr
    assert run_ours(args, peer.dir / "signed-stub.uki.efi") == 2
