"""lock() and fetch() end to end against a tiny signed archive served over local HTTP."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from debfetch import DownloadError, IntegrityError, Lock, SignatureError, Source, fetch, lock
from debfetch.errors import DebfetchError

from .archive import MiniArchive, flip_byte, serve, stanza, throwaway_key, throwaway_keyring, write_archive

WORLD = [
    stanza("base-files", "13.8", essential="yes", priority="required", pre_depends="awk"),
    stanza("mawk", "1.3.4", provides="awk", priority="required"),
    stanza("gawk", "1:5.2", provides="awk"),
    stanza("app", "2.0", depends="libfoo (>= 1.1) | libbar", recommends="extra"),
    stanza("libfoo", "1.2", arch="all"),
    stanza("extra", "1"),
]


@pytest.fixture
def archive(tmp_path: Path) -> MiniArchive:
    return write_archive(tmp_path / "mirror", WORLD)


def do_lock(url: str | list[str], cache: Path, **kw: object) -> Lock:
    mirrors = [url] if isinstance(url, str) else url
    return lock(sources=[Source(suite="trixie")], packages=["app"], mirrors=mirrors, source_date_epoch=0,
                cache_dir=cache, keyring=throwaway_keyring(), **kw)  # type: ignore[arg-type]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_lock_then_fetch(archive: MiniArchive, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    messages: list[str] = []
    with serve(archive.root) as url:
        result = do_lock(url, cache, progress=messages.append)
        assert [(p.name, p.version, p.reason) for p in result.packages] == [
            ("app", "2.0", "requested"), ("base-files", "13.8", "essential"),
            ("libfoo", "1.2", "dependency of app"), ("mawk", "1.3.4", "dependency of base-files"),
        ]
        (src,) = result.sources
        assert src.inrelease_sha256 == hashlib.sha256(archive.inrelease.read_bytes()).hexdigest()
        assert src.packages_sha256 == {
            "main/binary-amd64/Packages.xz": hashlib.sha256(archive.packages_xz.read_bytes()).hexdigest()}
        assert any(m.startswith("InRelease") for m in messages) and "resolving" in messages
        seen: list[tuple[int, int, str]] = []
        paths = fetch(result, mirrors=[url], cache_dir=cache, jobs=2,
                      progress=lambda done, total, name: seen.append((done, total, name)))
    assert seen[0] == (0, 4, "") and seen[-1][:2] == (4, 4)
    assert sorted(paths) == sorted(p.sha256 for p in result.packages)
    for pkg in result.packages:
        path = paths[pkg.sha256]
        assert path == cache / "sha256" / pkg.sha256
        assert path.read_bytes() == (archive.root / pkg.filename).read_bytes()
    assert not list((cache / "sha256").glob("*.part"))
    # The server is gone: everything now comes from the cache, including the index.
    assert fetch(result, mirrors=[closed_port_url()], cache_dir=cache) == paths


def test_lock_is_deterministic(archive: MiniArchive, tmp_path: Path) -> None:
    with serve(archive.root) as url:
        assert do_lock(url, tmp_path / "c1").to_json() == do_lock(url, tmp_path / "c2").to_json()


def test_tampered_inrelease(archive: MiniArchive, tmp_path: Path) -> None:
    data = archive.inrelease.read_bytes()
    archive.inrelease.write_bytes(data.replace(b"Codename: trixie", b"Codename: trixif"))
    with serve(archive.root) as url, pytest.raises(SignatureError) as info:
        do_lock(url, tmp_path / "cache")
    message = str(info.value)
    assert message.startswith(f"{url}/dists/trixie/InRelease: signature verification failed")
    assert "\n" not in message


def test_tampered_packages_index(archive: MiniArchive, tmp_path: Path) -> None:
    flip_byte(archive.packages_xz)
    for by_hash in (archive.packages_xz.parent / "by-hash" / "SHA256").iterdir():
        flip_byte(by_hash)
    with serve(archive.root) as url, pytest.raises(IntegrityError) as info:
        do_lock(url, tmp_path / "cache")
    message = str(info.value)
    assert "/dists/trixie/main/binary-amd64/" in message and "sha256" in message and "\n" not in message
    assert not list((tmp_path / "cache" / "sha256").iterdir())


def test_tampered_deb_on_mirror_and_good_second_mirror(archive: MiniArchive, tmp_path: Path) -> None:
    good = write_archive(tmp_path / "good", WORLD)
    with serve(archive.root) as url:
        result = do_lock(url, tmp_path / "cache")
    libfoo = result.package("libfoo")
    flip_byte(archive.deb_path(libfoo.filename))
    with serve(archive.root) as bad_url:
        with pytest.raises(IntegrityError) as info:
            fetch(result, mirrors=[bad_url], cache_dir=tmp_path / "cache")
        assert str(info.value).startswith(f"{bad_url}/{libfoo.filename}: libfoo 1.2: sha256")
        with serve(good.root) as good_url:
            paths = fetch(result, mirrors=[bad_url, good_url], cache_dir=tmp_path / "cache")
    assert paths[libfoo.sha256].read_bytes() == good.deb_path(libfoo.filename).read_bytes()


def test_tampered_cache_file_is_reported(archive: MiniArchive, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serve(archive.root) as url:
        result = do_lock(url, cache)
        paths = fetch(result, mirrors=[url], cache_dir=cache)
        victim = paths[result.package("mawk").sha256]
        flip_byte(victim)
        with pytest.raises(IntegrityError) as info:
            fetch(result, mirrors=[url], cache_dir=cache)
    assert str(info.value).startswith(f"{victim}: mawk 1.3.4: cached file does not match its name")


def test_missing_file_falls_through_to_next_mirror(archive: MiniArchive, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve(empty) as empty_url, serve(archive.root) as url:
        started = time.monotonic()
        result = do_lock([closed_port_url(), empty_url, url], tmp_path / "cache")
        fetch(result, mirrors=[closed_port_url(), empty_url, url], cache_dir=tmp_path / "cache2")
        assert time.monotonic() - started < 20
    with serve(empty) as empty_url, pytest.raises(DownloadError) as info:
        fetch(result, mirrors=[empty_url], cache_dir=tmp_path / "cache3")
    assert "HTTP 404" in str(info.value)


def test_release_for_another_suite_is_refused(tmp_path: Path) -> None:
    # A mirror answering the trixie URL with a validly signed bookworm Release (a downgrade).
    other = write_archive(tmp_path / "m", WORLD, suite="bookworm")
    (other.root / "dists" / "trixie").symlink_to(other.root / "dists" / "bookworm")
    with serve(other.root) as url, pytest.raises(DebfetchError, match="Release is for bookworm, not trixie"):
        do_lock(url, tmp_path / "cache")


def test_security_style_components_and_missing_component(tmp_path: Path) -> None:
    # debian-security's Release says "Components: updates/main" while its paths are "main/...".
    archive = write_archive(tmp_path / "m", WORLD, components="updates/main updates/contrib")
    with serve(archive.root) as url:
        assert do_lock(url, tmp_path / "cache").package("app").version == "2.0"
        with pytest.raises(DebfetchError, match="lists no Packages index for contrib/binary-amd64"):
            lock(sources=[Source(suite="trixie", components=("main", "contrib"))], packages=["app"],
                 mirrors=[url], source_date_epoch=0, cache_dir=tmp_path / "cache", keyring=throwaway_keyring())
        with pytest.raises(DebfetchError, match="component 'non-free' is not in this suite"):
            lock(sources=[Source(suite="trixie", components=("non-free",))], packages=["app"],
                 mirrors=[url], source_date_epoch=0, cache_dir=tmp_path / "cache", keyring=throwaway_keyring())


def test_unknown_and_unsatisfiable_requests(archive: MiniArchive, tmp_path: Path) -> None:
    with serve(archive.root) as url:
        with pytest.raises(DebfetchError, match=r"^packages: nope: no package 'nope'"):
            lock(sources=[Source(suite="trixie")], packages=["nope"], mirrors=[url], source_date_epoch=0,
                 cache_dir=tmp_path / "c", keyring=throwaway_keyring())
        with pytest.raises(DebfetchError, match="version 9 of app is not available"):
            lock(sources=[Source(suite="trixie")], packages=["app=9"], mirrors=[url], source_date_epoch=0,
                 cache_dir=tmp_path / "c", keyring=throwaway_keyring())


def test_bad_arguments() -> None:
    with pytest.raises(DebfetchError, match="source_date_epoch"):
        lock(sources=[Source(suite="trixie")], packages=[], mirrors=["http://x"], source_date_epoch=-1)
    with pytest.raises(DebfetchError, match="no mirror given"):
        lock(sources=[Source(suite="trixie")], packages=[], mirrors=[], source_date_epoch=0)


LOCK_SCRIPT = """
import sys
from pathlib import Path
from pysequoia import Tsk
from debfetch import Source, lock
from tests.debfetch.archive import throwaway_keyring
keyring = throwaway_keyring(Tsk.from_file(sys.argv[3]))
sys.stdout.write(lock(sources=[Source(suite="trixie")], packages=["app"], mirrors=[sys.argv[1]],
                      source_date_epoch=0, cache_dir=Path(sys.argv[2]), keyring=keyring).to_json())
"""


def test_lock_bytes_do_not_depend_on_host_state(archive: MiniArchive, tmp_path: Path, project_root: Path) -> None:
    key_file = tmp_path / "key.asc"
    key_file.write_text(str(throwaway_key()))
    outputs = []
    with serve(archive.root) as url:
        for seed, tz, umask, cwd in (("1", "UTC", "022", tmp_path), ("4242", "Asia/Tokyo", "077", project_root)):
            env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz, "LC_ALL": "C", "PYTHONPATH": str(project_root)}
            out = subprocess.run(
                ["sh", "-c", f'umask {umask} && exec "$0" -c "$1" "$2" "$3" "$4"', sys.executable, LOCK_SCRIPT, url,
                 str(tmp_path / f"cache-{seed}"), str(key_file)],
                env=env, cwd=cwd, check=True, capture_output=True, timeout=120,
            ).stdout
            outputs.append(out)
    assert outputs[0] == outputs[1] and b'"name": "app"' in outputs[0]
