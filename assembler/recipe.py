"""Recipes: TOML files describing an image, validated against one settings table.

A recipe may ``include`` fragments (paths relative to the including file), merged in order before
the recipe itself: tables merge key by key, lists append, scalars of later files win. Profiles
(``[profile.<name>]``, selected with ``--profile``) are merged last, in the order given. Every key
is declared once in :data:`SETTINGS` (TOML path, type, default, help); an unknown key or a value of
the wrong type is a :class:`RecipeError` naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import RecipeError

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_UNIT_RE = re.compile(
    r"^[A-Za-z0-9:_.@\\-]+\.(service|socket|target|timer|path|mount|automount|swap|slice|scope|device)$"
)
OUTPUT_FORMATS = ("uki", "raw", "gcp", "azure")
PLATFORMS = ("azure", "qemu-tdx", "gcp-tdx")
BASES = ("essential", "required", "minimal")


@dataclass(frozen=True, slots=True)
class Setting:
    path: str  # dotted TOML path
    kind: str  # "str", "int", "bool", "list[str]", "table[str]", "list[table]"
    default: object
    help: str
    check: Callable[[object], str | None] | None = None  # returns an error message or None


def _one_of(choices: Sequence[str]) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if v not in choices]
        return f"must be one of {', '.join(choices)} (got {', '.join(map(str, bad))})" if bad else None
    return check


def _units(value: object) -> str | None:
    bad = [v for v in value if not _UNIT_RE.match(str(v))] if isinstance(value, list) else []
    return f"not a unit name: {', '.join(map(str, bad))}" if bad else None


def _image_id(value: object) -> str | None:
    return None if isinstance(value, str) and _ID_RE.match(value) else "must match [a-z0-9][a-z0-9._-]*"


SETTINGS: tuple[Setting, ...] = (
    Setting("image.id", "str", None, "image name; outputs go to build/<id>/", _image_id),
    Setting("image.include", "list[str]", [], "recipe fragments merged before this file"),
    Setting("image.source_date_epoch", "int", 0, "timestamp every mtime is clamped to"),
    Setting("image.init", "str", "systemd",
            "'systemd' for /init -> usr/lib/systemd/systemd, or a script path relative to the recipe"),
    Setting("image.hostname", "str", "", "contents of /etc/hostname (empty: no file)"),
    Setting("debian.release", "str", "trixie", "Debian release (codename)"),
    Setting("debian.suites", "list[str]", [], "suites to resolve from (default: the release)"),
    Setting("debian.components", "list[str]", ["main"], "archive components"),
    Setting("debian.snapshot", "str", "", "snapshot.debian.org timestamp YYYYMMDDTHHMMSSZ (preferred source)"),
    Setting("debian.mirrors", "list[str]", [], "extra plain mirrors (after --mirror and ASSEMBLER_MIRROR)"),
    Setting("debian.base", "str", "essential", "implicit package set: essential, required or minimal",
            _one_of(BASES)),
    Setting("debian.packages", "list[str]", [], "packages to install (name, name=version or name/suite)"),
    Setting("debian.tie_breaks", "table[str]", {}, "virtual package -> provider to choose"),
    Setting("kernel.package", "str", "", "kernel package (its vmlinuz becomes the UKI's .linux)"),
    Setting("kernel.cmdline", "list[str]", [], "kernel command line words"),
    Setting("kernel.modules", "list[str]", [], "modules to keep (names, globs or 'all'); deps are added"),
    Setting("kernel.load", "list[str]", [], "modules loaded at boot (/etc/modules-load.d/<id>.conf)"),
    Setting("uki.stub", "str", "systemd-boot-efi", "package whose linuxx64.efi.stub is used"),
    Setting("systemd.default_target", "str", "", "default.target symlink", _units),
    Setting("systemd.package_defaults", "bool", True,
            "also enable what the packages' postinsts enable on a fresh install (deb-systemd-helper enable)"),
    Setting("systemd.enable", "list[str]", [], "units enabled through their [Install] section", _units),
    Setting("systemd.mask", "list[str]", [], "units masked (symlink to /dev/null)", _units),
    Setting("systemd.wants", "table[list]", {}, "target -> units added as its wants (systemctl add-wants)"),
    Setting("systemd.mask_unlisted", "list[str]", [],
            "packages whose units are all masked except the keep list and the units the recipe names"),
    Setting("systemd.keep", "list[str]", [], "unit names or globs never masked by mask_unlisted"),
    Setting("files.extra", "list[str]", [], "directories (relative to the recipe) copied over the packages"),
    Setting("files.modes", "table[str]", {},
            "glob -> octal mode for the extra trees (default 0644 files, 0755 directories)"),
    Setting("files.remove", "list[str]", [], "globs removed from the image"),
    Setting("users", "list[table]", [], "accounts: name, uid, gid, home, shell, groups, system"),
    Setting("groups", "list[table]", [], "groups: name, gid"),
    Setting("output.formats", "list[str]", ["uki"], "outputs: uki, raw, gcp, azure", _one_of(OUTPUT_FORMATS)),
    Setting("measure.platforms", "list[str]", [], "measurement platforms", _one_of(PLATFORMS)),
)
_BY_PATH = {s.path: s for s in SETTINGS}
_TABLES = {s.path.split(".")[0] for s in SETTINGS if "." in s.path}
_USER_KEYS = {"name": str, "uid": int, "gid": int, "home": str, "shell": str, "groups": list, "system": bool,
              "comment": str, "password": str}
_GROUP_KEYS = {"name": str, "gid": int}


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    uid: int | None = None
    gid: int | None = None
    home: str = ""
    shell: str = "/usr/sbin/nologin"
    groups: tuple[str, ...] = ()
    system: bool = False
    comment: str = ""
    password: str = "!"  # locked unless the recipe gives a hash


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    name: str
    gid: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    path: Path  # the recipe file
    folder: Path  # where relative paths of the recipe resolve
    id: str
    profiles: tuple[str, ...]
    source_date_epoch: int
    init: str
    hostname: str
    release: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    snapshot: str
    mirrors: tuple[str, ...]
    base: str
    packages: tuple[str, ...]
    tie_breaks: Mapping[str, str]
    kernel_package: str
    cmdline: tuple[str, ...]
    modules: tuple[str, ...]
    modules_load: tuple[str, ...]
    stub_package: str
    default_target: str
    package_defaults: bool
    enable: tuple[str, ...]
    mask: tuple[str, ...]
    wants: Mapping[str, tuple[str, ...]]
    mask_unlisted: tuple[str, ...]
    keep: tuple[str, ...]
    extra_trees: tuple[Path, ...]
    modes: Mapping[str, int]
    remove: tuple[str, ...]
    users: tuple[User, ...]
    groups: tuple[Group, ...]
    formats: tuple[str, ...]
    platforms: tuple[str, ...]
    files_read: tuple[Path, ...] = field(default=())  # every file that went into the recipe

    @property
    def lock_path(self) -> Path:
        """``<recipe>.lock.json``; with profiles ``<recipe>.<p1>.<p2>.lock.json`` (a profile may add packages,
        so each selection has its own lock)."""
        return self.path.with_name(".".join([self.path.stem, *self.profiles, "lock.json"]))

    @property
    def all_packages(self) -> tuple[str, ...]:
        """The packages to resolve: the recipe's list plus the kernel and the stub package."""
        names = list(self.packages)
        for extra in (self.kernel_package, self.stub_package):
            if extra and extra not in names:
                names.append(extra)
        return tuple(names)


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if key in out and isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value)
        elif key in out and isinstance(out[key], list) and isinstance(value, list):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise RecipeError("recipe file not found", where=str(path)) from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"not valid TOML: {e}", where=str(path)) from e
    except OSError as e:
        raise RecipeError(f"cannot read: {e.strerror}", where=str(path)) from e


def _type_ok(kind: str, value: object) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "table[str]":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "table[list]":
        return isinstance(value, dict) and all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values())
    if kind == "list[table]":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    raise AssertionError(kind)


def _validate(data: Mapping[str, Any], where: Path) -> None:
    for key, value in data.items():
        if key == "profile":
            continue
        if key in _BY_PATH:  # top-level arrays of tables
            _check(_BY_PATH[key], value, where)
            continue
        if key not in _TABLES or not isinstance(value, dict):
            raise RecipeError(f"unknown key '{key}'", where=str(where),
                              hint=f"known sections: {', '.join(sorted(_TABLES | {'users', 'groups', 'profile'}))}")
        for sub, subvalue in value.items():
            setting = _BY_PATH.get(f"{key}.{sub}")
            if setting is None:
                known = ", ".join(s.path for s in SETTINGS if s.path.startswith(key + "."))
                raise RecipeError(f"unknown key '{key}.{sub}'", where=str(where), hint=f"known: {known}")
            _check(setting, subvalue, where)


def _check(setting: Setting, value: object, where: Path) -> None:
    if not _type_ok(setting.kind, value):
        raise RecipeError(f"'{setting.path}' must be {setting.kind}, got {type(value).__name__}",
                          where=str(where), hint=setting.help)
    if setting.check is not None:
        problem = setting.check(value)
        if problem:
            raise RecipeError(f"'{setting.path}' {problem}", where=str(where))


def _anchor_paths(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Make ``files.extra`` and ``image.init`` paths absolute, relative to the file that names them
    (so a shared fragment's extra tree works from any including recipe). Also inside profiles."""
    def fix(table: Any) -> None:
        if not isinstance(table, dict):
            return
        files, image = table.get("files"), table.get("image")
        if isinstance(files, dict) and isinstance(files.get("extra"), list):
            files["extra"] = [str((folder / p).resolve()) if isinstance(p, str) else p for p in files["extra"]]
        if isinstance(image, dict) and isinstance(image.get("init"), str) and image["init"] != "systemd":
            image["init"] = str((folder / image["init"]).resolve())

    fix(data)
    profiles = data.get("profile")
    if isinstance(profiles, dict):
        for prof in profiles.values():
            fix(prof)
    return data


def _inside(path: Path, root: Path, key: str, where: Path) -> Path:
    """Recipe inputs come from the recipe's folder only (ARCHITECTURE: nothing else of the host)."""
    if not path.is_relative_to(root):
        raise RecipeError(f"'{key}' points outside the recipe folder {root}: {path}", where=str(where))
    return path


def _load_merged(path: Path, seen: tuple[Path, ...]) -> tuple[dict[str, Any], list[Path]]:
    path = path.resolve()
    if path in seen:
        raise RecipeError("include cycle", where=" -> ".join(str(p) for p in (*seen, path)))
    data = _anchor_paths(_read_toml(path), path.parent)
    _validate(data, path)
    merged: dict[str, Any] = {}
    files = [path]
    for inc in data.get("image", {}).get("include", []):
        sub, sub_files = _load_merged(path.parent / inc, (*seen, path))
        merged = _merge(merged, sub)
        files += sub_files
    merged = _merge(merged, data)
    return merged, files


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            setting = _BY_PATH[dotted]
            return setting.default
        cur = cur[part]
    return cur


def _users(items: list[dict[str, Any]], where: Path) -> tuple[User, ...]:
    out = []
    for item in items:
        for k, v in item.items():
            if k not in _USER_KEYS:
                raise RecipeError(f"unknown key 'users.{k}'", where=str(where), hint=f"known: {', '.join(_USER_KEYS)}")
            if not isinstance(v, _USER_KEYS[k]) or (_USER_KEYS[k] is int and isinstance(v, bool)):
                raise RecipeError(f"'users.{k}' must be {_USER_KEYS[k].__name__}", where=str(where))
        if "name" not in item:
            raise RecipeError("every [[users]] entry needs a name", where=str(where))
        for key in ("uid", "gid"):
            if key in item and not 0 <= item[key] < 65534:
                raise RecipeError(f"'users.{key}' of {item['name']} must be between 0 and 65533", where=str(where))
        groups = tuple(item.get("groups", ()))
        home = item.get("home", "" if item.get("system") else f"/home/{item['name']}")
        out.append(User(name=item["name"], uid=item.get("uid"), gid=item.get("gid"), home=home,
                        shell=item.get("shell", "/usr/sbin/nologin"), groups=groups,
                        system=item.get("system", False), comment=item.get("comment", ""),
                        password=item.get("password", "!")))
    return tuple(out)


def _groups(items: list[dict[str, Any]], where: Path) -> tuple[Group, ...]:
    out = []
    for item in items:
        for k, v in item.items():
            if k not in _GROUP_KEYS or not isinstance(v, _GROUP_KEYS[k]):
                raise RecipeError(f"bad key or value 'groups.{k}'", where=str(where))
        if "name" not in item:
            raise RecipeError("every [[groups]] entry needs a name", where=str(where))
        out.append(Group(name=item["name"], gid=item.get("gid")))
    return tuple(out)


def load(path: Path, *, profiles: Sequence[str] = ()) -> Recipe:
    """Read, merge and validate a recipe. Raises :class:`RecipeError` naming the file and key."""
    path = Path(path)
    merged, files = _load_merged(path, ())
    available = merged.get("profile", {})
    if not isinstance(available, dict) or not all(isinstance(v, dict) for v in available.values()):
        raise RecipeError("'profile' must hold tables: [profile.NAME]", where=str(path))
    for name in profiles:
        if name not in available:
            raise RecipeError(f"unknown profile '{name}'", where=str(path),
                              hint=f"profiles: {', '.join(sorted(available)) or 'none'}")
        prof = available[name]
        _validate(prof, path)
        merged = _merge(merged, prof)
    where = path.resolve()
    image_id = _get(merged, "image.id")
    if image_id is None:
        raise RecipeError("missing 'image.id'", where=str(path))
    folder = where.parent
    modes: dict[str, int] = {}
    for glob, text in _get(merged, "files.modes").items():
        try:
            modes[glob] = int(text, 8)
        except ValueError:
            raise RecipeError(f"'files.modes.{glob}' must be an octal string like \"0755\"", where=str(path)) from None
        if not 0 <= modes[glob] <= 0o7777:
            raise RecipeError(f"'files.modes.{glob}' is out of range", where=str(path))
    extra = tuple(_inside(Path(p), folder, "files.extra", path) for p in _get(merged, "files.extra"))
    for d in extra:
        if not d.is_dir():
            raise RecipeError(f"extra tree {d} is not a directory", where=f"{path}: files.extra")
    init = _get(merged, "image.init")
    if init != "systemd":
        _inside(Path(init), folder, "image.init", path)
        if not Path(init).is_file():
            raise RecipeError(f"init script {init} not found", where=f"{path}: image.init")
    sde = _get(merged, "image.source_date_epoch")
    if not 0 <= sde < 2**32:
        raise RecipeError("'image.source_date_epoch' must be between 0 and 2^32-1 (cpio stores u32)",
                          where=str(path))
    release = _get(merged, "debian.release")
    suites = tuple(_get(merged, "debian.suites")) or (release,)
    if _get(merged, "kernel.package") == "":
        raise RecipeError("missing 'kernel.package' (the kernel whose vmlinuz becomes the UKI's .linux)",
                          where=str(path), hint='e.g. package = "linux-image-cloud-amd64" under [kernel]')
    wants = {t: tuple(u) for t, u in sorted(_get(merged, "systemd.wants").items())}
    for target, units in wants.items():
        for name in (target, *units):
            if _units([name]):
                raise RecipeError(f"'systemd.wants' has a bad unit name {name!r}", where=str(path))
    return Recipe(
        path=where, folder=folder, id=image_id, profiles=tuple(profiles),
        source_date_epoch=sde, init=init,
        hostname=_get(merged, "image.hostname"),
        release=release, suites=suites, components=tuple(_get(merged, "debian.components")),
        snapshot=_get(merged, "debian.snapshot"), mirrors=tuple(_get(merged, "debian.mirrors")),
        base=_get(merged, "debian.base"), packages=tuple(dict.fromkeys(_get(merged, "debian.packages"))),
        tie_breaks=MappingProxyType(dict(_get(merged, "debian.tie_breaks"))),
        kernel_package=_get(merged, "kernel.package"), cmdline=tuple(_get(merged, "kernel.cmdline")),
        modules=tuple(_get(merged, "kernel.modules")), modules_load=tuple(_get(merged, "kernel.load")),
        stub_package=_get(merged, "uki.stub"), default_target=_get(merged, "systemd.default_target"),
        package_defaults=_get(merged, "systemd.package_defaults"),
        enable=tuple(dict.fromkeys(_get(merged, "systemd.enable"))),
        mask=tuple(dict.fromkeys(_get(merged, "systemd.mask"))),
        wants=MappingProxyType(wants), mask_unlisted=tuple(_get(merged, "systemd.mask_unlisted")),
        keep=tuple(_get(merged, "systemd.keep")), extra_trees=extra, modes=MappingProxyType(modes),
        remove=tuple(_get(merged, "files.remove")),
        users=_users(_get(merged, "users"), where), groups=_groups(_get(merged, "groups"), where),
        formats=tuple(dict.fromkeys(_get(merged, "output.formats"))),
        platforms=tuple(dict.fromkeys(_get(merged, "measure.platforms"))),
        files_read=tuple(files),
    )
