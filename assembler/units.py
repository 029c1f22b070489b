"""systemd unit enablement without systemctl: [Install] sections, masks, add-wants, default target.

What ``systemctl enable`` / ``deb-systemd-helper`` do (spec debian-and-rootfs.md §4):
``WantedBy=t`` → ``/etc/systemd/system/t.wants/<unit>``, ``RequiredBy=t`` → ``t.requires/``,
``UpheldBy=t`` → ``t.upholds/``, each a symlink to the unit file's absolute path; ``Alias=a`` →
``/etc/systemd/system/a``; ``Also=u`` enables ``u`` too. Template units (``x@.service``) are enabled
as the named instance, or as ``DefaultInstance=`` when no instance is given. A mask is a symlink to
``/dev/null``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence

from .errors import RecipeError
from .tree import Tree

log = logging.getLogger(__name__)

UNIT_DIRS = ("etc/systemd/system", "usr/lib/systemd/system")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values (repeated keys accumulate; an empty assignment resets)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if value == "":
            current[key] = []
        else:
            current.setdefault(key, []).extend(value.split())
    return sections


def find_unit(tree: Tree, unit: str) -> str | None:
    """The path of the unit file (template file for an instance), or None."""
    names = [unit]
    if "@" in unit:
        prefix, _, rest = unit.partition("@")
        template = f"{prefix}@{rest[rest.index('.'):]}" if "." in rest else unit
        if template != unit:
            names.append(template)
    for name in names:
        for d in UNIT_DIRS:
            path = f"{d}/{name}"
            if tree.get(path) is not None:
                return path
    return None


def _link_target(path: str) -> str:
    return "/" + path


def enable(tree: Tree, units: Sequence[str], *, epoch: int) -> list[str]:
    """Enable units from their [Install] sections; return the symlinks made (paths)."""
    made: list[str] = []
    seen: set[str] = set()
    queue = list(units)
    while queue:
        unit = queue.pop(0)
        if unit in seen:
            continue
        seen.add(unit)
        path = find_unit(tree, unit)
        if path is None:
            raise RecipeError(f"unit {unit} is not in the image", where="systemd.enable",
                              hint="is the package that ships it in the package list?")
        entry = tree.resolve(path)
        if entry is None:
            raise RecipeError(f"unit {unit} is a dangling link", where="systemd.enable")
        if tree[entry].target == "/dev/null" or tree[entry].data == b"":
            log.warning("unit %s is empty or masked; not enabling it", unit)
            continue
        install = parse_unit(tree[entry].data.decode("utf-8", "replace")).get("Install", {})
        instance_name = unit
        if "@." in unit:  # a bare template: enable its DefaultInstance
            default = install.get("DefaultInstance", [])
            if not default:
                log.warning("template %s has no DefaultInstance; nothing to enable", unit)
                continue
            instance_name = unit.replace("@.", f"@{default[0]}.")
        target = _link_target(path)
        if not any(install.get(k) for k in ("WantedBy", "RequiredBy", "UpheldBy", "Alias", "Also")):
            log.warning("unit %s has no [Install] section; enable does nothing (use systemd.wants)", unit)
        for key, suffix in (("WantedBy", "wants"), ("RequiredBy", "requires"), ("UpheldBy", "upholds")):
            for t in install.get(key, []):
                link = f"etc/systemd/system/{t}.{suffix}/{instance_name}"
                tree.symlink(link, target, mtime=epoch)
                made.append(link)
        for alias in install.get("Alias", []):
            link = f"etc/systemd/system/{alias}"
            tree.symlink(link, target, mtime=epoch)
            made.append(link)
        queue.extend(install.get("Also", []))
    return made


def add_wants(tree: Tree, target: str, units: Sequence[str], *, epoch: int) -> None:
    """``systemctl add-wants target units...``."""
    for unit in units:
        path = find_unit(tree, unit)
        if path is None:
            raise RecipeError(f"unit {unit} is not in the image", where=f"systemd.wants.{target}")
        tree.symlink(f"etc/systemd/system/{target}.wants/{unit}", _link_target(path), mtime=epoch)


def mask(tree: Tree, units: Sequence[str], *, epoch: int) -> None:
    for unit in units:
        tree.symlink(f"etc/systemd/system/{unit}", "/dev/null", mtime=epoch)


MASKABLE = (".service", ".socket", ".timer", ".target", ".mount", ".automount", ".path", ".swap")


def mask_unlisted(tree: Tree, packages: Sequence[str], keep: Sequence[str], *, epoch: int) -> list[str]:
    """Mask every unit the named packages ship in /usr/lib/systemd/system unless ``keep`` names it
    (flashbots-images' 90-debloat-systemd). Templates are masked as templates. Returns the masked units."""
    masked = []
    wanted = set(packages)
    for name in tree.listdir("usr/lib/systemd/system"):
        entry = tree.get(f"usr/lib/systemd/system/{name}")
        if entry is None or entry.package not in wanted or not name.endswith(MASKABLE):
            continue
        if any(fnmatch.fnmatchcase(name, k) for k in keep) or f"etc/systemd/system/{name}" in tree:
            continue
        tree.symlink(f"etc/systemd/system/{name}", "/dev/null", mtime=epoch)
        masked.append(name)
    return masked


def set_default_target(tree: Tree, target: str, *, epoch: int) -> None:
    path = find_unit(tree, target)
    if path is None:
        raise RecipeError(f"default target {target} is not in the image", where="systemd.default_target")
    tree.symlink("etc/systemd/system/default.target", _link_target(path), mtime=epoch)
