"""Accounts: /etc/passwd, group, shadow and gshadow without running any maintainer script.

Sources, in this order (spec debian-and-rootfs.md §4):
1. base-passwd's masters (``usr/share/base-passwd/{passwd,group}.master``), what its preinst copies;
2. every ``sysusers.d`` file (``usr/lib/sysusers.d`` with same-named ``etc/sysusers.d`` overrides), in
   lexical order of file names, with systemd-sysusers' rules: an existing name is kept; ``g`` makes a
   group, ``u``/``u!`` a user with a same-named group, ``m`` adds a member; ``r`` ranges are ignored;
3. the recipe's groups, then its users.

Dynamic ids are allocated downward from SYS_UID_MAX (999) for system accounts, keeping gid = uid
when both are free, and upward from 1000 for regular users. They depend only on the file order, not
on any install order (Debian #963788). Output lines are sorted by id, as ``pwck --sort`` does.
Passwords: masters keep ``*``, sysusers accounts get ``!*``, recipe users the recipe's hash or ``!``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import RecipeError, TreeError
from .recipe import Group, User
from .scripts import SystemUser
from .tree import Tree

SYS_MAX = 999
ADDUSER_FIRST_SYSTEM_ID = 100  # Debian adduser.conf FIRST_SYSTEM_UID/GID
USER_MIN = 1000
NOLOGIN = "/usr/sbin/nologin"


@dataclass(slots=True)
class _User:
    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str
    password: str


@dataclass(slots=True)
class _Group:
    name: str
    gid: int
    members: list[str] = field(default_factory=list)
    password: str = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounts:
    """Name -> id maps, for resolving the owners of files."""

    uids: dict[str, int]
    gids: dict[str, int]

    def uid(self, name: str, where: str) -> int:
        if name in self.uids:
            return self.uids[name]
        if name.isdigit():
            return int(name)
        raise TreeError(f"owner '{name}' of /{where} is not in /etc/passwd")

    def gid(self, name: str, where: str) -> int:
        if name in self.gids:
            return self.gids[name]
        if name.isdigit():
            return int(name)
        raise TreeError(f"group '{name}' of /{where} is not in /etc/group")


class _Db:
    def __init__(self) -> None:
        self.users: dict[str, _User] = {}
        self.groups: dict[str, _Group] = {}

    def used_uids(self) -> set[int]:
        return {u.uid for u in self.users.values()}

    def used_gids(self) -> set[int]:
        return {g.gid for g in self.groups.values()}

    def free_system_id(self, *, want_both: bool) -> int:
        uids, gids = self.used_uids(), self.used_gids()
        for i in range(SYS_MAX, 0, -1):
            if i not in uids and (i not in gids or not want_both):
                return i
        raise TreeError("no free system id left below 1000")

    def free_system_gid(self) -> int:
        gids = self.used_gids()
        for i in range(SYS_MAX, 0, -1):
            if i not in gids:
                return i
        raise TreeError("no free system gid left below 1000")

    def add_group(self, name: str, gid: int | None) -> _Group:
        if name in self.groups:
            return self.groups[name]
        if gid is None or gid in self.used_gids():
            gid = self.free_system_gid()
        g = _Group(name=name, gid=gid)
        self.groups[name] = g
        return g


def _parse_master(text: str, fields: int, where: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(":")
        if len(parts) != fields:
            raise TreeError(f"malformed line {line!r}", where=where)
        rows.append(parts)
    return rows


def _sysusers_files(tree: Tree) -> list[tuple[str, str]]:
    """(name, path) of every sysusers.d file, /etc overriding /usr/lib, sorted by file name."""
    chosen: dict[str, str] = {}
    for d in ("usr/lib/sysusers.d", "etc/sysusers.d"):
        for name in tree.listdir(d):
            if name.endswith(".conf"):
                chosen[name] = f"{d}/{name}"
    return sorted(chosen.items(), key=lambda kv: kv[0].encode())


def _apply_sysusers(db: _Db, text: str, where: str) -> None:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise TreeError(f"cannot parse {line!r}: {e}", where=where) from e
        words += ["-"] * (6 - len(words))
        kind, name, ident, gecos, home, shell = words[:6]
        if kind == "g":
            if name in db.groups:
                continue
            gid = int(ident) if ident.isdigit() else None
            if gid is not None and gid in db.used_gids():
                gid = None
            db.add_group(name, gid).password = "!*"
        elif kind in ("u", "u!"):
            if name in db.users:
                continue
            uid: int | None = None
            gid_: int | None = None
            group_name = name
            if ident != "-":
                left, _, right = ident.partition(":")
                if left.isdigit():
                    uid = int(left)
                if right.isdigit():
                    gid_ = int(right)
                elif right:
                    group_name = right
            if uid is not None and uid in db.used_uids():
                uid = None
            if group_name in db.groups:
                group = db.groups[group_name]
            else:
                if gid_ is None and uid is not None and uid not in db.used_gids():
                    gid_ = uid
                if gid_ is None and uid is None:
                    both = db.free_system_id(want_both=True)
                    uid, gid_ = both, both
                group = db.add_group(group_name, gid_)
                group.password = "!*"
            if uid is None:
                uid = group.gid if group.gid not in db.used_uids() else db.free_system_id(want_both=False)
            db.users[name] = _User(name=name, uid=uid, gid=group.gid, gecos="" if gecos == "-" else gecos,
                                   home="/" if home == "-" else home, shell=NOLOGIN if shell == "-" else shell,
                                   password="!*")
        elif kind == "m":
            group_name = ident
            if name not in db.users:
                raise TreeError(f"'m {name} {group_name}': no such user", where=where)
            g = db.groups.get(group_name) or db.add_group(group_name, None)
            if name not in g.members:
                g.members.append(name)
        elif kind == "r":
            continue
        else:
            raise TreeError(f"unknown sysusers line type {kind!r}", where=where)


def _apply_adduser(db: _Db, su: SystemUser) -> None:
    """Debian adduser/addgroup --system: the lowest free id from 100 up (same id for --group)."""
    def lowest(free: Callable[[int], bool]) -> int:
        for i in range(ADDUSER_FIRST_SYSTEM_ID, SYS_MAX + 1):
            if free(i):
                return i
        raise TreeError(f"no free system id for {su.name} ({su.package})")

    uids, gids = db.used_uids(), db.used_gids()
    if not su.user:
        if su.name not in db.groups:
            gid = su.uid if su.uid is not None and su.uid not in gids else lowest(lambda i: i not in gids)
            db.groups[su.name] = _Group(name=su.name, gid=gid)
        return
    if su.name in db.users:
        return
    if su.group:
        if su.name in db.groups:
            group = db.groups[su.name]
            uid = group.gid if group.gid not in uids else lowest(lambda i: i not in uids)
        else:
            uid = su.uid if su.uid is not None and su.uid not in uids and su.uid not in gids else \
                lowest(lambda i: i not in uids and i not in gids)
            group = _Group(name=su.name, gid=uid)
            db.groups[su.name] = group
    else:
        group = db.groups.get(su.ingroup) or db.add_group(su.ingroup, None)
        uid = su.uid if su.uid is not None and su.uid not in uids else lowest(lambda i: i not in uids)
    db.users[su.name] = _User(name=su.name, uid=uid, gid=group.gid, gecos=su.comment, home=su.home,
                              shell=su.shell, password="*")


def configure_accounts(tree: Tree, *, users: Sequence[User], groups: Sequence[Group], epoch: int,
                       system_users: Sequence[SystemUser] = ()) -> Accounts:
    """Write the four account databases into the tree and return the name -> id maps."""
    db = _Db()
    master_p = tree.get("usr/share/base-passwd/passwd.master")
    master_g = tree.get("usr/share/base-passwd/group.master")
    if master_p is None or master_g is None:
        raise TreeError("base-passwd's passwd.master/group.master are missing",
                        hint="add base-passwd to the packages (it is Essential)")
    for row in _parse_master(master_g.data.decode(), 4, "group.master"):
        db.groups[row[0]] = _Group(name=row[0], gid=int(row[2]), password=row[1])
    for row in _parse_master(master_p.data.decode(), 7, "passwd.master"):
        db.users[row[0]] = _User(name=row[0], uid=int(row[2]), gid=int(row[3]), gecos=row[4], home=row[5],
                                 shell=row[6], password=row[1])
    for _, path in _sysusers_files(tree):
        _apply_sysusers(db, tree[path].data.decode(), path)
    for su in system_users:
        _apply_adduser(db, su)
    for grp in groups:
        if grp.name in db.groups:
            if grp.gid is not None and db.groups[grp.name].gid != grp.gid:
                raise RecipeError(f"group {grp.name} already exists with gid {db.groups[grp.name].gid}")
            continue
        if grp.gid is not None and grp.gid in db.used_gids():
            raise RecipeError(f"gid {grp.gid} of group {grp.name} is taken")
        db.add_group(grp.name, grp.gid)
    next_regular = USER_MIN
    for user in users:
        if user.name in db.users:
            raise RecipeError(f"user {user.name} already exists (uid {db.users[user.name].uid})")
        uid = user.uid
        if uid is not None and uid in db.used_uids():
            raise RecipeError(f"uid {uid} of user {user.name} is taken")
        if uid is None:
            if user.system:
                uid = db.free_system_id(want_both=True)
            else:
                while next_regular in db.used_uids() or next_regular in db.used_gids():
                    next_regular += 1
                uid = next_regular
        if user.gid is not None:
            primary = next((g for g in db.groups.values() if g.gid == user.gid), None)
            if primary is None:
                primary = db.add_group(user.name, user.gid)
        elif user.name in db.groups:
            primary = db.groups[user.name]
        else:
            primary = db.add_group(user.name, uid if uid not in db.used_gids() else None)
        home = user.home or ("/" if user.system else f"/home/{user.name}")
        db.users[user.name] = _User(name=user.name, uid=uid, gid=primary.gid, gecos=user.comment, home=home,
                                    shell=user.shell, password=user.password)
        for gname in user.groups:
            if gname not in db.groups:
                raise RecipeError(f"user {user.name} wants group {gname}, which does not exist",
                                  hint="declare it under [[groups]]")
            if user.name not in db.groups[gname].members:
                db.groups[gname].members.append(user.name)
        if home != "/" and not user.system:
            tree.mkdirs(home.lstrip("/"), mtime=epoch)
            tree.replace(home.lstrip("/"), user=user.name, group=primary.name, mode=0o700)

    _write(tree, db, epoch)
    return Accounts(uids={u.name: u.uid for u in db.users.values()},
                    gids={g.name: g.gid for g in db.groups.values()})


def _write(tree: Tree, db: _Db, epoch: int) -> None:
    users = sorted(db.users.values(), key=lambda u: (u.uid, u.name))
    groups = sorted(db.groups.values(), key=lambda g: (g.gid, g.name))
    lastchg = str(epoch // 86400) if epoch >= 86400 else ""
    passwd = "".join(f"{u.name}:x:{u.uid}:{u.gid}:{u.gecos}:{u.home}:{u.shell}\n" for u in users)
    # pwconv's defaults (login.defs) for the master and recipe accounts; systemd-sysusers leaves
    # the aging fields empty for the accounts it creates (their password is "!*").
    shadow = "".join(f"{u.name}:{u.password}:{lastchg}::::::\n" if u.password == "!*" else
                     f"{u.name}:{u.password}:{lastchg}:0:99999:7:::\n" for u in users)
    group = "".join(f"{g.name}:x:{g.gid}:{','.join(g.members)}\n" for g in groups)
    gshadow = "".join(f"{g.name}:{g.password}::{','.join(g.members)}\n" for g in groups)
    tree.write("etc/passwd", passwd.encode(), mtime=epoch)
    tree.write("etc/group", group.encode(), mtime=epoch)
    shadow_group = "shadow" if "shadow" in db.groups else "root"
    tree.write("etc/shadow", shadow.encode(), mode=0o640, group=shadow_group, mtime=epoch)
    tree.write("etc/gshadow", gshadow.encode(), mode=0o640, group=shadow_group, mtime=epoch)
