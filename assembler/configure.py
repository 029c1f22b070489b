"""The declarative replacements for what maintainer scripts and image tools would do.

Each function edits the tree in place and depends only on the tree, the recipe and the epoch
(spec debian-and-rootfs.md §4 and §5, ramroot-boot.md "Recommendations"). ``assembler.build``
calls them in a fixed order.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .deb import DebPackage
from .errors import RecipeError
from .recipe import Recipe
from .rootfs import canonical
from .tree import Entry, Kind, Tree, glob_to_regex, normalize

log = logging.getLogger(__name__)

# Paths that always vary between builds or only matter to a package manager (spec §5).
ALWAYS_REMOVE = (
    "var/lib/dbus/machine-id", "var/lib/systemd/random-seed", "var/lib/systemd/credential.secret",
    "var/cache/ldconfig/aux-cache", "var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
    "var/log/apt/**", "var/cache/debconf/**", "var/cache/man/**", "var/lib/systemd/catalog/database",
    "etc/*-", "var/lib/dpkg/*-old", "var/backups/**", "**/__pycache__", "**/*.pyc", "run/*", "tmp/*",
    "etc/initrd-release", "etc/ssh/ssh_host_*", "etc/dropbear/dropbear_*_host_key",
)


def base_files_defaults(tree: Tree, *, epoch: int) -> None:
    """What base-files' and libc-bin's postinsts copy or create."""
    copies = {
        "usr/share/base-files/profile": "etc/profile",
        "usr/share/base-files/dot.profile": "root/.profile",
        "usr/share/base-files/dot.bashrc": "root/.bashrc",
        "usr/share/base-files/motd": "etc/motd",
        "usr/share/base-files/info.dir": "usr/share/info/dir",
        "usr/share/libc-bin/nsswitch.conf": "etc/nsswitch.conf",
    }
    for src, dst in copies.items():
        entry = tree.get(src)
        if entry is not None and entry.kind is Kind.FILE and dst not in tree:
            tree.write(dst, entry.data, mode=entry.mode, mtime=epoch)
    for d in ("mnt", "srv", "opt", "etc/opt", "var/opt", "media", "root", "home", "tmp", "run", "proc", "sys",
              "dev", "var/tmp", "usr/local/bin", "usr/local/sbin", "usr/local/lib", "usr/local/share",
              "usr/local/share/man", "usr/local/include", "usr/local/src", "usr/local/etc", "usr/local/games",
              "usr/local/libexec", "var/log", "var/lib", "var/cache", "var/spool"):
        tree.mkdirs(d, mtime=epoch)
    if "usr/local/man" not in tree:
        tree.symlink("usr/local/man", "share/man", mtime=epoch)
    # base-files migrate_directory: /var/run and /var/lock become links into the /run tmpfs
    for path, target in (("var/run", "/run"), ("var/lock", "/run/lock")):
        existing = tree.get(path)
        if existing is None or existing.kind is Kind.DIR:
            tree.remove(path)
            tree.symlink(path, target, mtime=epoch)
    if "etc/dpkg/origins/debian" in tree and "etc/dpkg/origins/default" not in tree:
        tree.symlink("etc/dpkg/origins/default", "debian", mtime=epoch)
    # base-passwd: empty subordinate id files (rootless container runtimes read them)
    for name in ("etc/subuid", "etc/subgid"):
        if name not in tree:
            tree.write(name, b"", mtime=epoch)
    # libpam-modules: /etc/environment and /etc/security/opasswd (0600); kmod: an empty /etc/modules
    if "usr/lib/x86_64-linux-gnu/security/pam_env.so" in tree and "etc/environment" not in tree:
        tree.write("etc/environment", b"", mtime=epoch)
    if "etc/security" in tree and "etc/security/opasswd" not in tree:
        tree.write("etc/security/opasswd", b"", mode=0o600, mtime=epoch)
    if "usr/bin/kmod" in tree and "etc/modules" not in tree:
        tree.write("etc/modules", b"", mtime=epoch)
    tree.replace("tmp", mode=0o1777)
    tree.replace("var/tmp", mode=0o1777)
    tree.replace("root", mode=0o700)
    if "var/mail" not in tree:
        tree.mkdirs("var/mail", mtime=epoch)
        tree.replace("var/mail", mode=0o2775, group="mail")
    if "var/spool/mail" not in tree:
        tree.symlink("var/spool/mail", "../mail", mtime=epoch)
    for name, mode in (("wtmp", 0o664), ("lastlog", 0o664), ("btmp", 0o660)):
        if f"var/log/{name}" not in tree:
            tree.write(f"var/log/{name}", b"", mode=mode, group="utmp", mtime=epoch)
    if "etc/localtime" not in tree and "usr/share/zoneinfo/Etc/UTC" in tree:
        tree.symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC", mtime=epoch)
        tree.write("etc/timezone", b"Etc/UTC\n", mtime=epoch)
    if "etc/locale.conf" not in tree:
        tree.write("etc/locale.conf", b"LANG=C.UTF-8\n", mtime=epoch)


NOT_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false")


def shells(tree: Tree, extra: Iterable[str], *, epoch: int) -> None:
    """debianutils' update-shells: its list plus shells.d, each also under its real directory.

    update-shells adds ``dpkg-realpath(dirname)/basename`` for every entry, so ``/bin/sh`` brings
    ``/usr/bin/sh`` on a merged-/usr system. ``extra`` are the recipe users' login shells (as
    flashbots' postinst appends searchersh); nologin and false are never login shells.
    """
    base = tree.get("usr/share/debianutils/shells")
    lines: list[str] = []
    if base is not None:
        lines += [ln for ln in base.data.decode().splitlines() if ln and not ln.startswith("#")]
    for name in tree.listdir("usr/share/debianutils/shells.d"):
        lines += [ln for ln in tree[f"usr/share/debianutils/shells.d/{name}"].data.decode().splitlines()
                  if ln and not ln.startswith("#")]
    lines += [s for s in extra if s not in NOT_SHELLS]
    present: list[str] = []
    for shell in dict.fromkeys(lines):
        if tree.resolve(shell) is None:
            continue
        present.append(shell)
        real_dir = tree.resolve(posixpath.dirname(shell))
        if real_dir is not None:
            present.append("/" + posixpath.join(real_dir, posixpath.basename(shell)))
    present = list(dict.fromkeys(present))
    header = "# /etc/shells: valid login shells\n"
    tree.write("etc/shells", (header + "".join(f"{s}\n" for s in sorted(present, key=str.encode))).encode(),
               mtime=epoch)


def identity(tree: Tree, recipe: Recipe, *, epoch: int) -> bytes:
    """Empty machine-id, os-release with IMAGE_ID, hostname; returns the os-release bytes."""
    tree.write("etc/machine-id", b"", mode=0o444, mtime=epoch)
    src = tree.resolve("etc/os-release") or "usr/lib/os-release"
    osrel = tree.get(src)
    if osrel is None:
        raise RecipeError("the image has no os-release (is base-files in the package list?)")
    lines = [ln for ln in osrel.data.decode().splitlines()
             if not ln.startswith(("IMAGE_ID=", "IMAGE_VERSION="))]
    lines.append(f'IMAGE_ID="{recipe.id}"')
    text = ("\n".join(lines) + "\n").encode()
    tree.write(src, text, mode=osrel.mode, mtime=epoch)
    if recipe.hostname:
        tree.write("etc/hostname", recipe.hostname.encode() + b"\n", mtime=epoch)
    return text


def devices(tree: Tree, *, epoch: int) -> None:
    """/dev/console and /dev/null: the kernel opens the console before devtmpfs exists."""
    tree.mkdirs("dev", mtime=epoch)
    tree.set("dev/console", Entry(kind=Kind.CHAR, mode=0o600, rdev=(5, 1), mtime=epoch))
    tree.set("dev/null", Entry(kind=Kind.CHAR, mode=0o666, rdev=(1, 3), mtime=epoch))


def init(tree: Tree, recipe: Recipe, *, epoch: int) -> None:
    if recipe.init == "systemd":
        if tree.get("usr/lib/systemd/systemd") is None:
            raise RecipeError("image.init is 'systemd' but systemd is not in the image")
        tree.symlink("init", "usr/lib/systemd/systemd", mtime=epoch)
        return
    script = (recipe.folder / recipe.init).read_bytes()
    tree.write("init", script, mode=0o755, mtime=epoch)
    first = script.split(b"\n", 1)[0]
    if first.startswith(b"#!"):
        interp = first[2:].strip().split()[0].decode()
        if tree.resolve(interp) is None:
            raise RecipeError(f"/init needs {interp}, which is not in the image",
                              where=str(recipe.folder / recipe.init))


def _mode_for(rel: str, is_dir: bool, modes: Mapping[str, int]) -> int:
    mode = 0o755 if is_dir else 0o644
    for glob, m in modes.items():  # later globs win; the recipe's order is kept
        if glob_to_regex(glob).match(rel):
            mode = m
    return mode


def extra_trees(tree: Tree, roots: Iterable[Path], modes: Mapping[str, int], *, epoch: int) -> int:
    """Copy each extra tree over the packages, modes from the recipe (never from the host)."""
    count = 0
    for root in roots:
        for path in sorted(root.rglob("*"), key=lambda p: str(p.relative_to(root)).encode()):
            rel = normalize(str(path.relative_to(root)))
            rel = canonical(rel)
            if path.is_symlink():
                tree.symlink(rel, str(path.readlink()), mtime=epoch)
            elif path.is_dir():
                existing = tree.get(rel)
                if existing is None or existing.kind is not Kind.DIR:
                    tree.set(rel, Entry(kind=Kind.DIR, mode=_mode_for(rel, True, modes), mtime=epoch), mtime=epoch)
                elif any(glob_to_regex(g).match(rel) for g in modes):
                    tree.replace(rel, mode=_mode_for(rel, True, modes))
            elif path.is_file():
                tree.write(rel, path.read_bytes(), mode=_mode_for(rel, False, modes), mtime=epoch)
            else:
                raise RecipeError(f"{path}: only files, directories and symlinks can be in an extra tree")
            count += 1
    return count


def remove(tree: Tree, globs: Iterable[str]) -> int:
    return tree.remove_globs(globs)


def updated_stamps(tree: Tree, *, epoch: int) -> None:
    """ConditionNeedsUpdate= work was done at build time: /etc/.updated and /var/.updated."""
    text = (b"# This file was created by the image assembler. Its only purpose is to hold a timestamp\n"
            b"# of the time this directory was updated. See man:systemd-update-done.service(8).\n")
    tree.write("etc/.updated", text, mtime=epoch)
    tree.write("var/.updated", text, mtime=epoch)


def ca_certificates(tree: Tree, *, epoch: int) -> None:
    """update-ca-certificates: conf (byte order), <name>.pem links and the bundle."""
    base = "usr/share/ca-certificates"
    if base not in tree:
        return
    certs = sorted((p[len(base) + 1:] for p in tree.paths()
                    if p.startswith(base + "/") and p.endswith(".crt") and tree[p].kind is Kind.FILE),
                   key=str.encode)
    conf = ("# This file lists certificates that you wish to use or to ignore to be installed in /etc/ssl/certs.\n"
            "# update-ca-certificates(8) will update /etc/ssl/certs by reading this file.\n#\n"
            "# This is autogenerated by the image assembler.\n" + "".join(f"{c}\n" for c in certs))
    tree.write("etc/ca-certificates.conf", conf.encode(), mtime=epoch)
    bundle = bytearray()
    for c in certs:
        data = tree[f"{base}/{c}"].data
        bundle += data if data.endswith(b"\n") else data + b"\n"
        leaf = c.rsplit("/", 1)[-1][:-4]
        pem = re.sub(r"[ ]", "_", leaf).replace("(", "=").replace(")", "=").replace(",", "_") + ".pem"
        tree.symlink(f"etc/ssl/certs/{pem}", f"/{base}/{c}", mtime=epoch)
    tree.write("etc/ssl/certs/ca-certificates.crt", bytes(bundle), mtime=epoch)


_STATUS_ORDER = ("Package", "Essential", "Status", "Priority", "Section", "Installed-Size", "Maintainer",
                 "Architecture", "Multi-Arch", "Source", "Version", "Replaces", "Provides", "Depends",
                 "Pre-Depends", "Recommends", "Suggests", "Breaks", "Conflicts", "Enhances", "Conffiles",
                 "Description", "Homepage", "Built-Using")


def _stanza(control: Mapping[str, str], extra: Mapping[str, str]) -> str:
    fields = dict(control)
    fields.update(extra)
    ordered = [k for k in _STATUS_ORDER if k in fields] + [k for k in fields if k not in _STATUS_ORDER]
    out = []
    for k in ordered:
        v = fields[k]
        out.append(f"{k}:{'' if v.startswith(chr(10)) else ' '}{v}")
    return "\n".join(out) + "\n"


def dpkg_database(tree: Tree, packages: Iterable[DebPackage], *, epoch: int) -> None:
    """/var/lib/dpkg/status and info/<pkg>.{list,md5sums,conffiles} for auditors and scanners."""
    stanzas = []
    for pkg in sorted(packages, key=lambda p: (p.name, p.architecture)):
        qual = f"{pkg.name}:{pkg.architecture}" if pkg.control.get("Multi-Arch") == "same" else pkg.name
        conffiles = [c.split()[-1] for c in pkg.control_files.get("conffiles", b"").decode().splitlines()
                     if c.strip() and not c.startswith("remove-on-upgrade")]
        extra = {"Status": "install ok installed"}
        if conffiles:
            lines = []
            for c in conffiles:
                e = tree.get(c)
                md5 = hashlib.md5(e.data).hexdigest() if e is not None and e.kind is Kind.FILE else "newconffile"
                lines.append(f" {c} {md5}")
            extra["Conffiles"] = "\n" + "\n".join(lines)
        stanzas.append(_stanza(pkg.control, extra))
        listing = ["/."] + ["/" + m.path for m in pkg.members]
        tree.write(f"var/lib/dpkg/info/{qual}.list", ("\n".join(listing) + "\n").encode(), mtime=epoch)
        for name in ("md5sums", "conffiles", "triggers", "shlibs", "symbols", "templates"):
            if name in pkg.control_files:
                tree.write(f"var/lib/dpkg/info/{qual}.{name}", pkg.control_files[name], mtime=epoch)
    tree.write("var/lib/dpkg/status", "\n".join(stanzas).encode(), mtime=epoch)
    tree.write("var/lib/dpkg/available", b"", mtime=epoch)
    tree.write("var/lib/dpkg/arch", b"amd64\n", mtime=epoch)
    tree.write("var/lib/dpkg/diversions", b"", mtime=epoch)
