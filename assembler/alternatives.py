"""update-alternatives, done declaratively from the packages' postinst ``--install`` lines.

Semantics (spec debian-and-rootfs.md §4): for each alternative name the candidate with the highest
priority wins, ties broken by path bytes; the master link points to ``/etc/alternatives/<name>``,
which points to the chosen path, and likewise for each slave whose target exists (a slave with a
missing target is skipped, never left dangling). A candidate whose path is not in the image (for
example removed as documentation) does not take part. ``/var/lib/dpkg/alternatives/<name>`` is
written in update-alternatives' own format. Lines that use shell variables are skipped with a
warning: they cannot be evaluated without running the script.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass

from .rootfs import canonical
from .scripts import logical_lines
from .tree import Kind, Tree

log = logging.getLogger(__name__)

_CALL = re.compile(r"update-alternatives\s[^\n;|&]*--install\s[^\n;|&]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    name: str
    link: str
    path: str
    priority: int
    slaves: tuple[tuple[str, str, str], ...]  # (name, link, path)
    package: str


def parse_script(script: str, package: str) -> list[Candidate]:
    """Every ``update-alternatives --install`` call in a maintainer script."""
    out: list[Candidate] = []
    for match in _CALL.finditer(logical_lines(script)):
        text = match.group(0)
        if "$" in text or "`" in text:
            log.warning("%s: skipping an update-alternatives call that uses shell variables: %s", package, text)
            continue
        try:
            words = shlex.split(text)
        except ValueError:
            log.warning("%s: cannot parse %r", package, text)
            continue
        try:
            i = words.index("--install")
            link, name, path, prio = words[i + 1:i + 5]
            priority = int(prio)
        except (ValueError, IndexError):
            log.warning("%s: malformed update-alternatives call: %s", package, text)
            continue
        slaves = []
        rest = words[i + 5:]
        while rest:
            if rest[0] == "--slave" and len(rest) >= 4:
                slaves.append((rest[2], rest[1], rest[3]))
                rest = rest[4:]
            else:
                rest = rest[1:]
        out.append(Candidate(name=name, link=link, path=path, priority=priority, slaves=tuple(slaves),
                             package=package))
    return out


def _exists(tree: Tree, path: str) -> bool:
    resolved = tree.resolve(path)
    return resolved is not None and resolved in tree


def apply_alternatives(tree: Tree, candidates: list[Candidate], *, epoch: int) -> dict[str, str]:
    """Create the links; return name -> chosen path."""
    by_name: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_name.setdefault(c.name, []).append(c)
    chosen: dict[str, str] = {}
    for name in sorted(by_name, key=str.encode):
        present = [c for c in by_name[name] if _exists(tree, c.path)]
        if not present:
            log.info("alternative %s: no candidate is in the image", name)
            continue
        best = sorted(present, key=lambda c: (-c.priority, c.path.encode()))[0]
        master = canonical(best.link.lstrip("/"))
        existing = tree.get(master)
        if existing is not None and existing.kind is not Kind.SYMLINK:
            log.warning("alternative %s: /%s is a real file, leaving it alone", name, master)
            continue
        tree.symlink(master, f"/etc/alternatives/{name}", mtime=epoch)
        tree.symlink(f"etc/alternatives/{name}", best.path, mtime=epoch)
        chosen[name] = best.path
        for sname, slink, spath in best.slaves:
            slink_c = canonical(slink.lstrip("/"))
            if not _exists(tree, spath):
                continue
            ex = tree.get(slink_c)
            if ex is not None and ex.kind is not Kind.SYMLINK:
                continue
            tree.symlink(slink_c, f"/etc/alternatives/{sname}", mtime=epoch)
            tree.symlink(f"etc/alternatives/{sname}", spath, mtime=epoch)
        tree.write(f"var/lib/dpkg/alternatives/{name}", _state_file(best, by_name[name]).encode(), mtime=epoch)
    return chosen


def _state_file(best: Candidate, all_candidates: list[Candidate]) -> str:
    """update-alternatives' administrative file: mode, master link, slaves, then each candidate."""
    slave_names: list[tuple[str, str]] = []
    for c in sorted(all_candidates, key=lambda c: c.path.encode()):
        for sname, slink, _ in c.slaves:
            if sname not in [s for s, _ in slave_names]:
                slave_names.append((sname, slink))
    lines = ["auto", best.link]
    for sname, slink in slave_names:
        lines += [sname, slink]
    lines.append("")
    for c in sorted(all_candidates, key=lambda c: c.path.encode()):
        lines += [c.path, str(c.priority)]
        paths = {s: p for s, _, p in c.slaves}
        lines += [paths.get(sname, "") for sname, _ in slave_names]
    lines.append("")
    return "\n".join(lines) + "\n"
