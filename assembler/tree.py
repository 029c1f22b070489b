"""The in-memory root filesystem: canonical path -> entry.

Paths are relative, without a leading ``/`` or ``./``, and canonical for merged-/usr
(``usr/bin/sh``, never ``bin/sh``). The root itself is implicit. Hardlinks are groups: every member
carries the same ``link`` key (the canonical path of the group's first member) and the same data.

The tree is the one mutable object of the pipeline: each configure step receives it and edits it
in place, and the steps run in a fixed order (``assembler.build``). Entries are frozen values.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from .errors import TreeError


class Kind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"

    @property
    def type_bits(self) -> int:
        return {
            Kind.FILE: stat.S_IFREG, Kind.DIR: stat.S_IFDIR, Kind.SYMLINK: stat.S_IFLNK,
            Kind.CHAR: stat.S_IFCHR, Kind.BLOCK: stat.S_IFBLK, Kind.FIFO: stat.S_IFIFO,
        }[self]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    kind: Kind
    mode: int  # permission bits, 0o7777 (setuid/setgid/sticky kept)
    user: str = "root"
    group: str = "root"
    mtime: int = 0
    data: bytes = b""  # file content
    target: str = ""  # symlink target, verbatim
    rdev: tuple[int, int] = (0, 0)
    package: str | None = None  # package of origin; None for generated entries
    link: str | None = None  # hardlink group key

    @property
    def st_mode(self) -> int:
        return self.kind.type_bits | (self.mode & 0o7777)


def normalize(path: str) -> str:
    """``/x``, ``./x`` and ``x/`` all become ``x``; refuse ``..`` and empty components."""
    p = path
    while p.startswith("./"):
        p = p[2:]
    p = p.strip("/")
    if p in ("", "."):
        return ""
    parts = [c for c in p.split("/") if c not in ("", ".")]
    if any(c == ".." for c in parts):
        raise TreeError(f"path escapes the root: {path!r}")
    return "/".join(parts)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """``**`` matches across directories, ``*`` and ``?`` within one component."""
    pat = normalize(pattern) if pattern not in ("", "/") else ""
    out = []
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        elif pat[i] == "[":
            j = pat.find("]", i + 1)
            if j < 0:
                out.append(re.escape(pat[i]))
                i += 1
            else:
                out.append(fnmatch.translate(pat[i:j + 1])[4:-3])
                i = j + 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


class Tree:
    """A mapping of canonical paths to entries with the few operations the steps need."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def __contains__(self, path: str) -> bool:
        return normalize(path) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str) -> Entry | None:
        return self._entries.get(normalize(path))

    def __getitem__(self, path: str) -> Entry:
        p = normalize(path)
        try:
            return self._entries[p]
        except KeyError:
            raise TreeError(f"no such path in the image: /{p}") from None

    def paths(self) -> list[str]:
        """All paths sorted by bytes (which puts parents before children)."""
        return sorted(self._entries, key=lambda p: p.encode("utf-8", "surrogateescape"))

    def items(self) -> Iterator[tuple[str, Entry]]:
        for p in self.paths():
            yield p, self._entries[p]

    def set(self, path: str, entry: Entry, *, parents: bool = True, mtime: int = 0) -> None:
        """Put ``entry`` at ``path``, creating missing parents as 0755 root:root directories."""
        p = normalize(path)
        if not p:
            raise TreeError("cannot replace the root directory")
        if parents:
            self.mkdirs(posixpath.dirname(p), mtime=mtime)
        old = self._entries.get(p)
        if old is not None and old.kind is Kind.DIR and entry.kind is not Kind.DIR and self.listdir(p):
            raise TreeError(f"cannot replace the non-empty directory /{p} with a {entry.kind}")
        self._entries[p] = entry

    def mkdirs(self, path: str, *, mode: int = 0o755, mtime: int = 0) -> None:
        p = normalize(path)
        if not p:
            return
        existing = self._entries.get(p)
        if existing is not None:
            if existing.kind is not Kind.DIR:
                raise TreeError(f"/{p} is a {existing.kind}, not a directory")
            return
        self.mkdirs(posixpath.dirname(p), mtime=mtime)
        self._entries[p] = Entry(kind=Kind.DIR, mode=mode, mtime=mtime)

    def write(self, path: str, data: bytes, *, mode: int = 0o644, user: str = "root", group: str = "root",
              mtime: int = 0) -> None:
        self.set(path, Entry(kind=Kind.FILE, mode=mode, user=user, group=group, data=data, mtime=mtime),
                 mtime=mtime)

    def symlink(self, path: str, target: str, *, mtime: int = 0) -> None:
        self.set(path, Entry(kind=Kind.SYMLINK, mode=0o777, target=target, mtime=mtime), mtime=mtime)

    def remove(self, path: str) -> None:
        """Remove a path and, for a directory, everything below it."""
        p = normalize(path)
        self._entries.pop(p, None)
        prefix = p + "/"
        for q in [q for q in self._entries if q.startswith(prefix)]:
            del self._entries[q]

    def remove_globs(self, patterns: Iterable[str]) -> int:
        """Remove every path matching one of ``patterns`` and what is below it; return how many went.

        One pass over the tree: a path goes when it or one of its ancestors matches.
        """
        regexes = [glob_to_regex(p) for p in patterns]
        if not regexes:
            return 0
        combined = re.compile("|".join(f"(?:{rx.pattern})" for rx in regexes), re.S)
        hits = {p for p in self._entries if combined.match(p)}
        if not hits:
            return 0

        def doomed(p: str) -> bool:
            if p in hits:
                return True
            i = p.rfind("/")
            while i > 0:
                if p[:i] in hits:
                    return True
                i = p.rfind("/", 0, i)
            return False

        gone = [p for p in self._entries if doomed(p)]
        for p in gone:
            del self._entries[p]
        return len(gone)

    def replace(self, path: str, **changes: object) -> None:
        p = normalize(path)
        self._entries[p] = replace(self[p], **changes)  # type: ignore[arg-type]

    def listdir(self, path: str) -> list[str]:
        """Names directly below ``path``, sorted by bytes."""
        p = normalize(path)
        prefix = p + "/" if p else ""
        names = {q[len(prefix):] for q in self._entries if q.startswith(prefix) and "/" not in q[len(prefix):]}
        return sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))

    def resolve(self, path: str, *, max_links: int = 40) -> str | None:
        """Follow symlinks (in every component) inside the image; None when the target is missing."""
        parts = normalize(path).split("/") if normalize(path) else []
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            cur = "/".join([*done, part])
            entry = self._entries.get(cur)
            if entry is None:
                return None
            if entry.kind is Kind.SYMLINK:
                hops += 1
                if hops > max_links:
                    return None
                base = "" if entry.target.startswith("/") else "/".join(done)
                joined = posixpath.normpath(posixpath.join("/" + base, entry.target)).lstrip("/")
                parts = ([c for c in joined.split("/") if c]) + parts
                done = []
                continue
            done.append(part)
        return "/".join(done)

    def clamp_mtimes(self, epoch: int) -> None:
        for p, e in self._entries.items():
            if e.mtime > epoch:
                self._entries[p] = replace(e, mtime=epoch)
