"""Maintainer-script effects, done declaratively (spec debian-and-rootfs.md §4).

No script ever runs. Two sources of effects:

1. **Literal calls** found in a package's preinst/postinst, for the few idioms whose effect is a
   pure function of their arguments: ``adduser --system`` / ``addgroup --system`` (Debian's
   adduser: ids allocated upward from FIRST_SYSTEM_UID=100), ``ucf --three-way SRC DST`` (a conffile
   copied from /usr/share), and ``dpkg-statoverride --add USER GROUP MODE PATH``. Calls whose
   arguments use shell variables cannot be evaluated and are skipped (logged at debug level).
2. **A table** (:data:`KNOWN_EFFECTS`) for effects that scripts express with variables, loops or
   conditions, written down from reading those scripts (trixie versions). Each entry names the
   script it replaces.

``update-alternatives`` has its own module; ``systemd-sysusers`` effects come from the
``sysusers.d`` files themselves (``assembler.accounts``); ``systemd-tmpfiles`` runs at boot;
``setcap`` cannot be represented in a newc cpio (no xattrs) and is reported.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .deb import DebPackage
from .rootfs import canonical
from .tree import Kind, Tree

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemUser:
    """``adduser --system [--group] NAME`` (or ``addgroup --system NAME`` with ``user=False``)."""

    name: str
    user: bool = True
    group: bool = False  # a same-named group (else the user's primary group is ``ingroup``)
    ingroup: str = "nogroup"
    home: str = "/nonexistent"
    shell: str = "/usr/sbin/nologin"
    comment: str = ""
    uid: int | None = None
    package: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy:
    src: str
    dst: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StatOverride:
    path: str
    user: str
    group: str
    mode: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Symlink:
    path: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Effects:
    users: tuple[SystemUser, ...] = ()
    copies: tuple[Copy, ...] = ()
    overrides: tuple[StatOverride, ...] = ()
    links: tuple[Symlink, ...] = ()
    enables: tuple[str, ...] = ()  # units the postinst enables on a fresh install
    unsupported: tuple[str, ...] = field(default=())  # what we saw and cannot reproduce


KNOWN_EFFECTS: Mapping[str, Effects] = {
    # chrony postinst: a loop over the directories with dpkg-statoverride (chronyd drops to _chrony).
    "chrony": Effects(overrides=(
        StatOverride(path="var/lib/chrony", user="_chrony", group="_chrony", mode=0o750),
        StatOverride(path="var/log/chrony", user="_chrony", group="_chrony", mode=0o750),
        StatOverride(path="etc/chrony/chrony.keys", user="root", group="_chrony", mode=0o640),
    )),
    # dbus postinst: dpkg-statoverride --add root "$MESSAGEUSER" 4754 "$LAUNCHER".
    "dbus": Effects(overrides=(StatOverride(path="usr/lib/dbus-1.0/dbus-daemon-launch-helper", user="root",
                                            group="messagebus", mode=0o4754),)),
    # systemd-resolved postinst (fresh install): /etc/resolv.conf becomes the stub resolver link.
    "systemd-resolved": Effects(links=(Symlink(path="etc/resolv.conf",
                                               target="../run/systemd/resolve/stub-resolv.conf"),)),
    # passwd postinst: groupadd -g 42 shadow (base-passwd's master already has it; kept for older masters).
    "passwd": Effects(users=(SystemUser(name="shadow", user=False, uid=42, package="passwd"),)),
    # openssh-server postinst: cp /usr/share/openssh/sshd_config "$new_config", then ucf installs it
    # as /etc/ssh/sshd_config (host keys come from sshd-keygen.service at boot, never the image).
    "openssh-server": Effects(copies=(Copy(src="usr/share/openssh/sshd_config", dst="etc/ssh/sshd_config"),)),
    # iproute2 postinst: setcap cap_net_admin=ep on ping-like helpers — not representable in newc.
    "iproute2": Effects(unsupported=("setcap on /usr/bin/ip helpers (no xattrs in cpio)",)),
}

_LINE = re.compile(r"^\s*(adduser|addgroup|ucf|dpkg-statoverride)\s[^\n;|&]*", re.M)
# debhelper's snippet ("was-enabled defaults to true, so new installations run enable") and
# plain `systemctl [--root=...] enable UNIT` calls, as in systemd's own postinst.
_ENABLE = re.compile(r"^\s*(?:deb-systemd-helper|systemctl)\s+(?:--\S+\s+)*enable\s+([^\n;|&>]*)", re.M)
_DPKG_ROOT = re.compile(r"\$\{DPKG_ROOT:\+[^}]*\}")


def logical_lines(script: str) -> str:
    """Join backslash-continued lines, as the shell reads them."""
    return re.sub(r"\\\n\s*", " ", script)


def _enabled_units(text: str) -> list[str]:
    """Units a fresh install enables. dh_installsystemd --no-enable wraps its enable call in
    ``if deb-systemd-helper debian-installed 'X'`` (true only on upgrades): those are left out."""
    upgrade_only = set(re.findall(r"deb-systemd-helper\s+debian-installed\s+'([^']+)'", text))
    units: list[str] = []
    for m in _ENABLE.finditer(_DPKG_ROOT.sub("", text)):
        args = m.group(1)
        if "$" in args or "`" in args:
            continue
        try:
            words = shlex.split(args)
        except ValueError:
            continue
        units += [w for w in words if not w.startswith("-") and re.fullmatch(r"[\w@.:\\-]+\.[a-z]+", w)
                  and w not in upgrade_only]
    return units


def _parse_adduser(words: list[str], package: str) -> SystemUser | None:
    cmd, args = words[0], words[1:]
    if "--system" not in args:
        return None
    opts: dict[str, str] = {}
    flags: set[str] = set()
    names: list[str] = []
    takes_value = {"--home", "--shell", "--comment", "--gecos", "--ingroup", "--uid", "--gid", "--group-name"}
    i = 0
    while i < len(args):
        a = args[i]
        if a in takes_value and i + 1 < len(args):
            opts[a] = args[i + 1]
            i += 2
            continue
        if a.startswith("--"):
            flags.add(a)
        else:
            names.append(a)
        i += 1
    if len(names) != 1:
        return None
    if cmd == "addgroup":
        return SystemUser(name=names[0], user=False, package=package)
    return SystemUser(name=names[0], group="--group" in flags, ingroup=opts.get("--ingroup", "nogroup"),
                      home=opts.get("--home", "/nonexistent"), shell=opts.get("--shell", "/usr/sbin/nologin"),
                      comment=opts.get("--comment", opts.get("--gecos", "")),
                      uid=int(opts["--uid"]) if opts.get("--uid", "").isdigit() else None, package=package)


def parse_package(pkg: DebPackage) -> Effects:
    """The literal effects of a package's preinst and postinst, plus its table entry."""
    users: list[SystemUser] = []
    copies: list[Copy] = []
    overrides: list[StatOverride] = []
    enables: list[str] = []
    for script_name in ("preinst", "postinst"):
        raw = pkg.control_files.get(script_name)
        if not raw:
            continue
        text = logical_lines(raw.decode("utf-8", "replace"))
        if script_name == "postinst":
            enables += _enabled_units(text)
        for m in _LINE.finditer(text):
            text = m.group(0).strip()
            if "$" in text or "`" in text:
                log.debug("%s %s: not evaluating %r (shell variables)", pkg.name, script_name, text)
                continue
            try:
                words = shlex.split(text)
            except ValueError:
                continue
            if words[0] in ("adduser", "addgroup"):
                u = _parse_adduser(words, pkg.name)
                if u is not None:
                    users.append(u)
            elif words[0] == "ucf" and "--three-way" in words:
                paths = [w for w in words[1:] if not w.startswith("-")]
                if len(paths) == 2:
                    copies.append(Copy(src=paths[0].lstrip("/"), dst=paths[1].lstrip("/")))
            elif words[0] == "dpkg-statoverride" and "--add" in words:
                rest = words[words.index("--add") + 1:]
                if len(rest) == 4 and re.fullmatch(r"[0-7]{3,4}", rest[2]):
                    overrides.append(StatOverride(path=rest[3].lstrip("/"), user=rest[0], group=rest[1],
                                                  mode=int(rest[2], 8)))
    table = KNOWN_EFFECTS.get(pkg.name, Effects())
    return Effects(users=(*users, *table.users), copies=(*copies, *table.copies),
                   overrides=(*overrides, *table.overrides), links=table.links,
                   enables=tuple(dict.fromkeys(enables)), unsupported=table.unsupported)


def collect(packages: Iterable[DebPackage]) -> Effects:
    """All packages' effects, in the given (install) order, duplicates dropped."""
    parts = [parse_package(p) for p in packages]

    def uniq(items: Sequence[object]) -> tuple[object, ...]:
        return tuple(dict.fromkeys(items))

    return Effects(users=uniq([u for p in parts for u in p.users]),  # type: ignore[arg-type]
                   copies=uniq([c for p in parts for c in p.copies]),  # type: ignore[arg-type]
                   overrides=uniq([o for p in parts for o in p.overrides]),  # type: ignore[arg-type]
                   links=uniq([s for p in parts for s in p.links]),  # type: ignore[arg-type]
                   enables=uniq([u for p in parts for u in p.enables]),  # type: ignore[arg-type]
                   unsupported=uniq([u for p in parts for u in p.unsupported]))  # type: ignore[arg-type]


def apply_files(tree: Tree, effects: Effects, *, epoch: int) -> None:
    """Copies and links (before accounts: they do not depend on ids)."""
    for c in effects.copies:
        src = tree.get(c.src)
        if src is None or src.kind is not Kind.FILE:
            log.warning("ucf source /%s is not in the image; /%s not created", c.src, c.dst)
            continue
        if canonical(c.dst) not in tree:
            tree.write(canonical(c.dst), src.data, mode=src.mode, mtime=epoch)
    for s in effects.links:
        tree.symlink(canonical(s.path), s.target, mtime=epoch)
    for what in effects.unsupported:
        log.info("not reproduced: %s", what)


def apply_overrides(tree: Tree, effects: Effects, *, epoch: int) -> list[str]:
    """dpkg-statoverride: owner and mode of existing paths; returns the statoverride file lines."""
    lines = []
    for o in effects.overrides:
        path = canonical(o.path)
        if path not in tree:
            log.debug("statoverride for /%s: not in the image", path)
            continue
        tree.replace(path, user=o.user, group=o.group, mode=o.mode)
        lines.append(f"{o.user} {o.group} {o.mode:o} /{o.path}")
    tree.write("var/lib/dpkg/statoverride", "".join(f"{ln}\n" for ln in sorted(lines)).encode(), mtime=epoch)
    return lines
