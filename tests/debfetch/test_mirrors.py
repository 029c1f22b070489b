from __future__ import annotations

from pathlib import Path

import pytest

from debfetch.errors import DebfetchError
from debfetch.mirrors import (
    archive_bases,
    default_mirrors,
    index_bases,
    parse_deb822_sources,
    parse_sources_list,
)

SOURCES = """Types: deb
URIs: http://mirror.example/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
Enabled: no
URIs: http://disabled.example/debian

Types: deb
URIs: http://mirror.example/debian-security
Suites: trixie-security
"""


def test_parse_deb822_sources() -> None:
    assert parse_deb822_sources(SOURCES) == ["http://mirror.example/debian", "http://mirror.example/debian-security"]


def test_parse_one_line_sources() -> None:
    text = "# comment\ndeb [signed-by=/k.gpg arch=amd64] http://a.example/debian trixie main\n" \
           "deb-src http://b.example/debian trixie main # tail\nbogus line\n"
    assert parse_sources_list(text) == ["http://a.example/debian", "http://b.example/debian"]


def test_precedence(tmp_path: Path) -> None:
    sources_dir = tmp_path / "sources.list.d"
    sources_dir.mkdir()
    (sources_dir / "debian.sources").write_text(SOURCES)
    (sources_dir / "ignored.txt").write_text("deb http://nope.example/debian trixie main\n")
    sources_list = tmp_path / "sources.list"
    sources_list.write_text("deb http://first.example/debian trixie main\n")
    kw = dict(sources_list=sources_list, sources_dir=sources_dir)
    assert default_mirrors(["http://cli.example/debian/"], environ={"ASSEMBLER_MIRROR": "http://env"}, **kw) == [
        "http://cli.example/debian"]
    assert default_mirrors([], environ={"ASSEMBLER_MIRROR": " http://e1/debian  http://e2 "}, **kw) == [
        "http://e1/debian", "http://e2"]
    assert default_mirrors([], environ={}, **kw) == [
        "http://first.example/debian", "http://mirror.example/debian", "http://mirror.example/debian-security"]
    with pytest.raises(DebfetchError, match="no Debian mirror configured"):
        default_mirrors([], environ={}, sources_list=tmp_path / "none", sources_dir=tmp_path / "none.d")


def test_archive_bases_map_sibling_archives() -> None:
    mirrors = ["http://h/debian", "http://h/debian-security", "http://127.0.0.1:8000"]
    assert archive_bases(mirrors, "debian") == ["http://h/debian", "http://127.0.0.1:8000"]
    assert archive_bases(mirrors, "debian-security") == ["http://h/debian-security", "http://127.0.0.1:8000"]


def test_snapshot_comes_first_for_indexes() -> None:
    assert index_bases(["http://h/debian"], archive="debian", snapshot="20261201T000000Z") == [
        "https://snapshot.debian.org/archive/debian/20261201T000000Z", "http://h/debian"]
    assert index_bases(["http://h/debian"], archive="debian", snapshot=None) == ["http://h/debian"]
    with pytest.raises(DebfetchError, match="malformed snapshot timestamp"):
        index_bases([], archive="debian", snapshot="2026-12-01")
