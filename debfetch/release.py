"""The signed ``Release`` text of a suite (the body of ``InRelease``; spec §1.1–§1.2).

Parsed with python-debian's ``deb822.Release`` into a frozen :class:`Release`. Only the ``SHA256``
index list is kept (MD5Sum is ignored); each entry is ``<hex> <size> <path>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from debian.deb822 import Release as _Deb822Release

from .errors import FormatError

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One ``SHA256:`` line of a Release file."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    suite: str
    codename: str
    version: str | None
    date: str | None
    valid_until: str | None
    acquire_by_hash: bool
    not_automatic: bool
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    sha256: Mapping[str, IndexEntry]

    def names(self) -> tuple[str, ...]:
        """The names this Release answers to (suite and codename)."""
        return tuple(dict.fromkeys(n for n in (self.suite, self.codename) if n))


def parse_release(text: bytes, *, where: str) -> Release:
    """Parse the signed text of a Release file."""
    try:
        para = _Deb822Release(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"cannot parse Release: {e}", where=where) from None
    if "SHA256" not in para:
        raise FormatError("Release has no SHA256 field", where=where)
    entries: dict[str, IndexEntry] = {}
    for item in para["SHA256"]:
        sha, size, path = item.get("sha256", ""), item.get("size", ""), item.get("name", "")
        if not _HEX64.match(sha) or not str(size).isdigit() or not path:
            raise FormatError(f"malformed SHA256 line {sha} {size} {path}", where=where)
        entries[path] = IndexEntry(path=path, size=int(size), sha256=sha)

    def field(name: str) -> str | None:
        value = para.get(name)
        return str(value).strip() if value is not None else None

    return Release(
        suite=field("Suite") or "",
        codename=field("Codename") or "",
        version=field("Version"),
        date=field("Date"),
        valid_until=field("Valid-Until"),
        acquire_by_hash=(field("Acquire-By-Hash") or "").lower() == "yes",
        not_automatic=(field("NotAutomatic") or "").lower() == "yes",
        architectures=tuple((field("Architectures") or "").split()),
        components=tuple((field("Components") or "").split()),
        sha256=MappingProxyType(dict(sorted(entries.items()))),
    )
