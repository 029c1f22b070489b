"""Unpacking .deb data into the tree, with merged-/usr canonicalisation and dpkg's collision rules.

Rules (spec debian-and-rootfs.md §3):
- The alias links ``bin sbin lib`` (and ``lib64`` on amd64; ``lib32``/``libx32`` only when ``usr/<d>``
  exists) are ours: every shipped path below an alias is rewritten to its ``usr/`` path, shipped
  alias entries are dropped, and a moved relative symlink is re-aimed so it points where it did.
- Directories: the first package in install order wins; later disagreements are logged.
- The same file (or link) from two packages is fine when identical, or when one ``Replaces`` the
  other (the replacer wins); anything else is an error, as dpkg would refuse it. A directory versus a
  non-directory is always an error.
- Two shipped paths that become one canonical path (DEP-17 file loss) fail the build.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence

from debfetch.errors import DebfetchError
from debfetch.relations import parse_relations

from .deb import DebPackage, Member
from .errors import DebError, TreeError
from .tree import Entry, Kind, Tree

log = logging.getLogger(__name__)

ALIASES_AMD64 = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
OPTIONAL_ALIASES = {"lib32": "usr/lib32", "libx32": "usr/libx32"}


def canonical(path: str, aliases: dict[str, str] = ALIASES_AMD64) -> str:
    head, sep, rest = path.partition("/")
    if head in aliases:
        return aliases[head] + sep + rest if rest else aliases[head]
    return path


def _replaced_names(pkg: DebPackage, versions: dict[str, str]) -> set[str]:
    """Packages of this install that ``pkg`` replaces: ``Replaces: foo (<< 2)`` counts only when the
    selected foo is older than 2 (dpkg's rule)."""
    field = pkg.control.get("Replaces", "")
    if not field:
        return set()
    try:
        groups = parse_relations(field, where=f"{pkg.name} Replaces")
    except DebfetchError as e:
        raise DebError(f"malformed Replaces: {e}", where=pkg.name) from e
    out = set()
    for group in groups:
        for alt in group:
            version = versions.get(alt.name)
            if version is not None and (alt.constraint is None or alt.constraint.accepts(version)):
                out.add(alt.name)
    return out


def _retarget(orig: str, new: str, target: str, aliases: dict[str, str]) -> str:
    """Keep a relative symlink pointing at the same place after it moved from ``orig`` to ``new``."""
    if target.startswith("/") or orig == new:
        return target
    absolute = posixpath.normpath(posixpath.join("/" + posixpath.dirname(orig), target)).lstrip("/")
    dest = canonical(absolute, aliases)
    return posixpath.relpath("/" + dest, "/" + posixpath.dirname(new))


def install_order(packages: Sequence[DebPackage]) -> list[DebPackage]:
    """Essential packages first, then the rest; each group sorted by name (the lock's order)."""
    return sorted(packages, key=lambda p: (not p.essential, p.name))


def unpack(packages: Sequence[DebPackage], *, arch: str = "amd64", epoch: int = 0) -> Tree:
    """Unpack every package's data into a new tree, in :func:`install_order`."""
    if arch != "amd64":
        raise TreeError(f"architecture {arch} is not supported yet (amd64 only)")
    aliases = dict(ALIASES_AMD64)
    tree = Tree()
    owner: dict[str, str] = {}  # canonical path -> package
    shipped_as: dict[str, tuple[str, str]] = {}  # canonical path -> (package, shipped path)
    versions = {p.name: p.version for p in packages}
    replaces = {p.name: _replaced_names(p, versions) for p in packages}
    multi_arch_same = {p.name for p in packages if p.control.get("Multi-Arch") == "same"}
    ordered = install_order(packages)
    for pkg in ordered:
        for m in pkg.members:
            if m.path in aliases or m.path in OPTIONAL_ALIASES:
                continue  # the alias links are ours
            path = canonical(m.path, aliases)
            prev_ship = shipped_as.get(path)
            if prev_ship and prev_ship[1] != m.path and m.kind is not Kind.DIR:
                raise TreeError(f"/{prev_ship[1]} ({prev_ship[0]}) and /{m.path} ({pkg.name}) are the same file "
                                f"under merged /usr", hint="DEP-17 file loss: drop one of the packages")
            shipped_as.setdefault(path, (pkg.name, m.path))
            _put(tree, owner, replaces, pkg, m, path, aliases, multi_arch_same)
    for name, dest in sorted(aliases.items()):
        tree.symlink(name, dest, mtime=epoch)
    for name, dest in sorted(OPTIONAL_ALIASES.items()):
        if dest in tree:
            tree.symlink(name, dest, mtime=epoch)
    return tree


def _entry(pkg: DebPackage, m: Member, path: str, aliases: dict[str, str]) -> Entry:
    target = _retarget(m.path, path, m.target, aliases) if m.kind is Kind.SYMLINK else ""
    link = canonical(m.hardlink_to, aliases) if m.hardlink_to else None
    return Entry(kind=m.kind, mode=m.mode, user=m.user, group=m.group, mtime=m.mtime, data=m.data,
                 target=target, rdev=m.rdev, package=pkg.name, link=link)


def _put(tree: Tree, owner: dict[str, str], replaces: dict[str, set[str]], pkg: DebPackage, m: Member,
         path: str, aliases: dict[str, str], multi_arch_same: set[str]) -> None:
    new = _entry(pkg, m, path, aliases)
    old = tree.get(path)
    if old is None:
        tree.set(path, new, mtime=m.mtime)
        owner[path] = pkg.name
        if new.link is not None:
            first = tree.get(new.link)
            if first is not None and first.link is None:
                tree.replace(new.link, link=new.link)
        return
    if old.kind is Kind.DIR and new.kind is Kind.DIR:
        if (old.mode, old.user, old.group) != (new.mode, new.user, new.group):
            log.debug("/%s: %s ships the directory as %o %s:%s, keeping %o %s:%s from %s", path, pkg.name,
                      new.mode, new.user, new.group, old.mode, old.user, old.group, owner.get(path, "?"))
        return
    if (old.kind is Kind.DIR) != (new.kind is Kind.DIR):
        raise TreeError(f"/{path} is a {old.kind} in {owner.get(path, '?')} but a {new.kind} in {pkg.name}")
    same = (old.kind, old.mode, old.data, old.target) == (new.kind, new.mode, new.data, new.target)
    prev = owner.get(path, "?")
    if same and prev in multi_arch_same and pkg.name in multi_arch_same:
        return  # Multi-Arch: same packages may share identical files (dpkg's refcounting)
    if pkg.name in replaces.get(prev, set()):
        log.debug("/%s: %s replaces %s, so it keeps the file", path, prev, pkg.name)
        return
    if prev in replaces.get(pkg.name, set()):
        tree.set(path, new, mtime=m.mtime)
        owner[path] = pkg.name
        return
    raise TreeError(f"/{path} is shipped by both {prev} and {pkg.name}",
                    hint="pick one of the packages, or the one that should win must declare Replaces")
