"""Against the real trixie archive through the configured mirror (``-m network``).

Downloads go to the normal cache (``$ASSEMBLER_CACHE`` or ``~/.cache/assembler``) so repeated runs
only fetch InRelease; the tampering tests use a fresh cache so the altered bytes are really seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from debfetch import IntegrityError, Lock, SignatureError, Source, UrllibTransport, default_mirrors, fetch, lock
from debfetch.cache import Cache
from debfetch.download import Downloader
from debfetch.keyring import DEBIAN_KEYS, archive_keyring, verify_clearsigned
from debfetch.mirrors import archive_bases

pytestmark = pytest.mark.network

# The 22 Essential: yes packages of trixie (spec §2.2).
ESSENTIAL = {
    "base-files", "base-passwd", "bash", "bsdutils", "coreutils", "dash", "debianutils", "diffutils", "dpkg",
    "findutils", "grep", "gzip", "hostname", "init-system-helpers", "libc-bin", "ncurses-base", "ncurses-bin",
    "perl-base", "sed", "sysvinit-utils", "tar", "util-linux",
}


class FlipByteTransport:
    """The real urllib transport, but one byte of every response whose URL contains ``needle`` is
    flipped: a mirror (or network path) that alters data."""

    def __init__(self, needle: str) -> None:
        self.needle = needle
        self.inner = UrllibTransport()
        self.flipped: list[str] = []

    @contextlib.contextmanager
    def open(self, url: str, *, timeout: float) -> Iterator[IO[bytes]]:
        with self.inner.open(url, timeout=timeout) as stream:
            data = stream.read()
        if self.needle in url and data:
            altered = bytearray(data)
            altered[len(altered) // 2] ^= 0x01
            data = bytes(altered)
            self.flipped.append(url)
        yield io.BytesIO(data)


@pytest.fixture(scope="session")
def mirrors() -> list[str]:
    return default_mirrors()


@pytest.fixture(scope="session")
def trixie_lock(mirrors: list[str]) -> Lock:
    return lock(sources=[Source(suite="trixie")], packages=["systemd", "linux-image-cloud-amd64", "busybox"],
                base="essential", mirrors=mirrors, source_date_epoch=0)


def test_lock_systemd_kernel_busybox(trixie_lock: Lock) -> None:
    pkgs = {p.name: p for p in trixie_lock.packages}
    assert len(pkgs) == len(trixie_lock.packages)
    assert {n for n, p in pkgs.items() if p.reason == "essential"} == ESSENTIAL
    assert {n for n, p in pkgs.items() if p.reason == "requested"} == {"systemd", "linux-image-cloud-amd64", "busybox"}
    # awk → mawk (Priority: required), never gawk.
    assert "mawk" in pkgs and "gawk" not in pkgs
    assert "mawk" in pkgs["base-files"].depends_on
    assert pkgs["mawk"].reason == "dependency of base-files"
    # The meta package depends on exactly the kernel image of its own (highest) version.
    meta = pkgs["linux-image-cloud-amd64"]
    (image,) = [n for n in meta.depends_on if n.startswith("linux-image-")]
    assert pkgs[image].version == meta.version
    for p in trixie_lock.packages:
        assert p.arch in ("amd64", "all") and p.suite == "trixie" and p.filename.startswith("pool/main/")
        assert set(p.depends_on) <= set(pkgs), p.name
        assert p.reason in ("essential", "requested") or p.reason.removeprefix("dependency of ") in pkgs
    (src,) = trixie_lock.sources
    assert set(src.packages_sha256) == {"main/binary-amd64/Packages.xz"}
    assert Lock.from_json(trixie_lock.to_json()) == trixie_lock


def test_fetch_verifies_against_the_lock(trixie_lock: Lock, mirrors: list[str]) -> None:
    small = dataclasses.replace(trixie_lock, packages=tuple(
        p for p in trixie_lock.packages if p.name in ("busybox", "base-files", "mawk")))
    paths = fetch(small, mirrors=mirrors)
    for p in small.packages:
        data = paths[p.sha256].read_bytes()
        assert len(data) == p.size and hashlib.sha256(data).hexdigest() == p.sha256
        assert data.startswith(b"!<arch>\ndebian-binary")


def test_flipped_byte_in_packages_index(mirrors: list[str], tmp_path: Path) -> None:
    transport = FlipByteTransport("/binary-amd64/")
    with pytest.raises(IntegrityError) as info:
        lock(sources=[Source(suite="trixie")], packages=["busybox"], mirrors=mirrors, source_date_epoch=0,
             cache_dir=tmp_path, transport=transport)
    message = str(info.value)
    assert transport.flipped and message.startswith(transport.flipped[0]) and "\n" not in message
    assert "sha256" in message


def test_flipped_byte_in_inrelease(mirrors: list[str], tmp_path: Path) -> None:
    transport = FlipByteTransport("/InRelease")
    with pytest.raises(SignatureError) as info:
        lock(sources=[Source(suite="trixie")], packages=["busybox"], mirrors=mirrors, source_date_epoch=0,
             cache_dir=tmp_path, transport=transport)
    message = str(info.value)
    assert message.startswith(transport.flipped[0]) and "\n" not in message


def test_flipped_byte_in_deb(trixie_lock: Lock, mirrors: list[str], tmp_path: Path) -> None:
    small = dataclasses.replace(trixie_lock, packages=(trixie_lock.package("busybox"),))
    transport = FlipByteTransport(".deb")
    with pytest.raises(IntegrityError) as info:
        fetch(small, mirrors=mirrors, cache_dir=tmp_path, transport=transport)
    message = str(info.value)
    assert message.startswith(transport.flipped[0]) and "busybox" in message and "\n" not in message
    assert not list((tmp_path / "sha256").iterdir())


def test_lock_with_updates_and_security(mirrors: list[str]) -> None:
    sources = [Source(suite="trixie"), Source(suite="trixie-updates"),
               Source(archive="debian-security", suite="trixie-security")]
    result = lock(sources=sources, packages=["libc6", "openssl"], base="minimal", mirrors=mirrors,
                  source_date_epoch=0)
    assert [(s.archive, s.suite) for s in result.sources] == [
        ("debian", "trixie"), ("debian", "trixie-updates"), ("debian-security", "trixie-security")]
    assert all(s.packages_sha256 for s in result.sources)
    assert {p.suite for p in result.packages} <= {"trixie", "trixie-updates", "trixie-security"}


@pytest.mark.parametrize(("archive", "suite"), [("debian", "trixie"), ("debian", "bookworm"),
                                                ("debian-security", "trixie-security")])
def test_real_inrelease_signers_are_pinned(mirrors: list[str], archive: str, suite: str) -> None:
    downloader = Downloader(transport=UrllibTransport(), cache=Cache(Path("/nonexistent")))
    urls = [f"{base}/dists/{suite}/InRelease" for base in archive_bases(mirrors, archive)]
    url, data = downloader.get_bytes(urls, what=suite)
    verified = verify_clearsigned(data, archive_keyring(archive), where=url)
    known = {k.signing for k in DEBIAN_KEYS}
    assert verified.signers and set(verified.signers) <= known
