"""Where to download from (ARCHITECTURE.md "Network and mirrors", spec §1.4).

Mirror base URLs come from ``--mirror`` values, else ``ASSEMBLER_MIRROR`` (space separated), else
the URIs of the host's apt sources (deb822 ``*.sources`` and one-line ``sources.list``/``*.list``).
No mirror host is built in except the snapshot service, which comes first for a source that names
a snapshot timestamp. A mirror URL ending in a known archive name (``…/debian``,
``…/debian-security``) also stands for its sibling archives on the same host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from .errors import DebfetchError

SNAPSHOT_SERVICE: Final = "https://snapshot.debian.org"
KNOWN_ARCHIVES: Final[tuple[str, ...]] = ("debian", "debian-security", "debian-ports", "debian-archive")
_SNAPSHOT_RE: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
APT_SOURCES_LIST: Final = Path("/etc/apt/sources.list")
APT_SOURCES_DIR: Final = Path("/etc/apt/sources.list.d")


def parse_deb822_sources(text: str) -> list[str]:
    """URIs of the enabled ``deb``/``deb-src`` stanzas of a ``.sources`` file."""
    uris: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if sep:
                key = name.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if not set(fields.get("types", "").split()) & {"deb", "deb-src"}:
            continue
        uris.extend(fields.get("uris", "").split())
    return uris


def parse_sources_list(text: str) -> list[str]:
    """URIs of the ``deb``/``deb-src`` lines of a one-line-style ``sources.list``."""
    uris: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = re.sub(r"\[[^\]]*\]", " ", line).split()
        if len(words) >= 2 and words[0] in ("deb", "deb-src"):
            uris.append(words[1])
    return uris


def host_apt_uris(sources_list: Path = APT_SOURCES_LIST, sources_dir: Path = APT_SOURCES_DIR) -> list[str]:
    """The URIs of the host's apt sources, in file order (``sources.list`` first, then by name)."""
    uris: list[str] = []
    files: list[Path] = [sources_list] if sources_list.is_file() else []
    if sources_dir.is_dir():
        files += sorted((p for p in sources_dir.iterdir() if p.suffix in (".list", ".sources")),
                        key=lambda p: p.name.encode())
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        uris += parse_deb822_sources(text) if path.suffix == ".sources" else parse_sources_list(text)
    return [u for u in uris if u.startswith(("http://", "https://", "file:"))]


def _dedupe(urls: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for url in urls:
        url = url.rstrip("/")
        if url and url not in seen:
            seen.add(url)
            out.append(url)
    return out


def default_mirrors(cli_mirrors: Sequence[str] = (), *, environ: Mapping[str, str] | None = None,
                    sources_list: Path = APT_SOURCES_LIST, sources_dir: Path = APT_SOURCES_DIR) -> list[str]:
    """Mirror base URLs: ``--mirror`` values, else ``ASSEMBLER_MIRROR``, else the host's apt URIs."""
    env = os.environ if environ is None else environ
    if cli_mirrors:
        return _dedupe(cli_mirrors)
    from_env = env.get("ASSEMBLER_MIRROR", "").split()
    if from_env:
        return _dedupe(from_env)
    mirrors = _dedupe(host_apt_uris(sources_list, sources_dir))
    if not mirrors:
        raise DebfetchError("no Debian mirror configured", where="mirrors",
                            hint="pass --mirror URL or set ASSEMBLER_MIRROR")
    return mirrors


def check_snapshot(timestamp: str) -> str:
    if not _SNAPSHOT_RE.match(timestamp):
        raise DebfetchError(f"malformed snapshot timestamp {timestamp!r}", where="snapshot",
                            hint="use YYYYMMDDTHHMMSSZ, e.g. 20261201T000000Z")
    return timestamp


def snapshot_base(archive: str, timestamp: str) -> str:
    """``https://snapshot.debian.org/archive/<archive>/<timestamp>`` (spec §1.4)."""
    return f"{SNAPSHOT_SERVICE}/archive/{archive}/{check_snapshot(timestamp)}"


def archive_bases(mirrors: Sequence[str], archive: str) -> list[str]:
    """The base URL of ``archive`` on each mirror.

    ``http://h/debian`` serves ``debian`` and, as on the official mirror network, its sibling
    ``http://h/debian-security``; a URL not ending in a known archive name is used as given.
    """
    bases: list[str] = []
    for mirror in mirrors:
        mirror = mirror.rstrip("/")
        head, _, last = mirror.rpartition("/")
        if last in KNOWN_ARCHIVES and head and not head.endswith(":/"):
            bases.append(f"{head}/{archive}")
        else:
            bases.append(mirror)
    return _dedupe(bases)


def index_bases(mirrors: Sequence[str], *, archive: str, snapshot: str | None) -> list[str]:
    """Bases to fetch indexes from: the snapshot service first (if pinned), then the mirrors."""
    bases = archive_bases(mirrors, archive)
    if snapshot:
        return _dedupe([snapshot_base(archive, snapshot), *bases])
    return bases
