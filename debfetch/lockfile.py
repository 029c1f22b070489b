"""The lockfile (spec §1.5): the resolved, pinned package set as canonical JSON.

``Lock.to_json()`` writes sorted keys, two-space indentation, fixed separators and a final
newline; packages are sorted by (name, arch) in bytes and sources keep their recipe order.
``Lock.from_json()`` checks every field and raises :class:`LockfileError` naming the key.
``sha1`` is optional (plain mirrors do not publish it) and omitted when unknown.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .errors import LockfileError

FORMAT: Final = 1
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_HEX40: Final = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedSource:
    archive: str
    suite: str
    components: tuple[str, ...]
    snapshot: str | None
    inrelease_sha256: str
    packages_sha256: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    name: str
    version: str
    arch: str
    archive: str
    suite: str
    filename: str
    size: int
    sha256: str
    source: str
    depends_on: tuple[str, ...]
    reason: str
    sha1: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Lock:
    arch: str
    source_date_epoch: int
    sources: tuple[LockedSource, ...]
    packages: tuple[LockedPackage, ...]
    format: int = FORMAT

    def package(self, name: str) -> LockedPackage:
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        sources: list[dict[str, object]] = [
            {"archive": s.archive, "suite": s.suite, "components": list(s.components),
             "snapshot": s.snapshot, "inrelease_sha256": s.inrelease_sha256,
             "packages_sha256": dict(s.packages_sha256)}
            for s in self.sources
        ]
        packages: list[dict[str, object]] = []
        for p in sorted(self.packages, key=lambda p: (p.name.encode(), p.arch.encode())):
            entry: dict[str, object] = {
                "name": p.name, "version": p.version, "arch": p.arch, "archive": p.archive,
                "suite": p.suite, "filename": p.filename, "size": p.size, "sha256": p.sha256,
                "source": p.source, "depends_on": list(p.depends_on), "reason": p.reason,
            }
            if p.sha1 is not None:
                entry["sha1"] = p.sha1
            packages.append(entry)
        return {"format": self.format, "arch": self.arch, "source_date_epoch": self.source_date_epoch,
                "sources": sources, "packages": packages}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, separators=(",", ": "),
                          ensure_ascii=False) + "\n"

    @property
    def sha256(self) -> str:
        """sha256 of the canonical JSON (the "lock hash" of a build manifest)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str = "lockfile") -> Lock:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise LockfileError(f"not valid JSON: {e}", where=where) from None
        return cls.from_dict(data, where=where)

    @classmethod
    def from_dict(cls, data: object, *, where: str = "lockfile") -> Lock:
        r = _Reader(where)
        top = r.obj(data, "")
        fmt = r.int_(top, "format", "")
        if fmt != FORMAT:
            raise LockfileError(f"unsupported lockfile format {fmt}", where=f"{where}: format",
                                hint="re-create it with `lock --update`")
        sources = tuple(r.source(s, f"sources[{i}]") for i, s in enumerate(r.list_(top, "sources", "")))
        packages = tuple(r.package(p, f"packages[{i}]") for i, p in enumerate(r.list_(top, "packages", "")))
        names = [(p.name, p.arch) for p in packages]
        if len(set(names)) != len(names):
            raise LockfileError("a package appears twice", where=f"{where}: packages")
        return cls(format=fmt, arch=r.str_(top, "arch", ""), source_date_epoch=r.int_(top, "source_date_epoch", ""),
                   sources=sources, packages=packages)


class _Reader:
    """Typed access to parsed JSON with errors that name the key path."""

    def __init__(self, where: str) -> None:
        self.where = where

    def _err(self, path: str, what: str) -> LockfileError:
        return LockfileError(what, where=f"{self.where}: {path}" if path else self.where)

    def obj(self, value: object, path: str) -> Mapping[str, object]:
        if not isinstance(value, dict):
            raise self._err(path, "expected an object")
        return value

    def _get(self, obj: Mapping[str, object], key: str, path: str) -> object:
        if key not in obj:
            raise self._err(f"{path}.{key}".lstrip("."), "missing")
        return obj[key]

    def str_(self, obj: Mapping[str, object], key: str, path: str) -> str:
        value = self._get(obj, key, path)
        if not isinstance(value, str) or not value:
            raise self._err(f"{path}.{key}".lstrip("."), "expected a non-empty string")
        return value

    def opt_str(self, obj: Mapping[str, object], key: str, path: str) -> str | None:
        if obj.get(key) is None:
            return None
        return self.str_(obj, key, path)

    def int_(self, obj: Mapping[str, object], key: str, path: str) -> int:
        value = self._get(obj, key, path)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self._err(f"{path}.{key}".lstrip("."), "expected a non-negative integer")
        return value

    def list_(self, obj: Mapping[str, object], key: str, path: str) -> list[object]:
        value = self._get(obj, key, path)
        if not isinstance(value, list):
            raise self._err(f"{path}.{key}".lstrip("."), "expected a list")
        return value

    def strs(self, obj: Mapping[str, object], key: str, path: str) -> tuple[str, ...]:
        items = self.list_(obj, key, path)
        if not all(isinstance(x, str) for x in items):
            raise self._err(f"{path}.{key}".lstrip("."), "expected a list of strings")
        return tuple(str(x) for x in items)

    def hex_(self, obj: Mapping[str, object], key: str, path: str, pattern: re.Pattern[str]) -> str:
        value = self.str_(obj, key, path)
        if not pattern.match(value):
            raise self._err(f"{path}.{key}".lstrip("."), f"malformed hash {value!r}")
        return value

    def source(self, value: object, path: str) -> LockedSource:
        obj = self.obj(value, path)
        hashes = self.obj(self._get(obj, "packages_sha256", path), f"{path}.packages_sha256")
        checked: dict[str, str] = {}
        for key in sorted(hashes):
            checked[key] = self.hex_(hashes, key, f"{path}.packages_sha256", _HEX64)
        return LockedSource(
            archive=self.str_(obj, "archive", path), suite=self.str_(obj, "suite", path),
            components=self.strs(obj, "components", path), snapshot=self.opt_str(obj, "snapshot", path),
            inrelease_sha256=self.hex_(obj, "inrelease_sha256", path, _HEX64),
            packages_sha256=MappingProxyType(checked),
        )

    def package(self, value: object, path: str) -> LockedPackage:
        obj = self.obj(value, path)
        sha1 = obj.get("sha1")
        filename = self.str_(obj, "filename", path)
        if filename.startswith("/") or ".." in filename.split("/"):
            raise self._err(f"{path}.filename", f"unsafe path {filename!r}")
        return LockedPackage(
            name=self.str_(obj, "name", path), version=self.str_(obj, "version", path),
            arch=self.str_(obj, "arch", path), archive=self.str_(obj, "archive", path),
            suite=self.str_(obj, "suite", path), filename=filename,
            size=self.int_(obj, "size", path), sha256=self.hex_(obj, "sha256", path, _HEX64),
            source=self.str_(obj, "source", path), depends_on=self.strs(obj, "depends_on", path),
            reason=self.str_(obj, "reason", path),
            sha1=None if sha1 is None else self.hex_(obj, "sha1", path, _HEX40),
        )
