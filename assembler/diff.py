"""``python -m assembler diff A B``: what differs between two builds, from sections down to files.

A and B are UKIs, (zstd) cpio archives, or build directories (``build/<id>/``, compared through
their SHA256SUMS first). For two UKIs the PE sections are compared by sha256; when ``.initrd``
differs, both initrds are unpacked in memory and compared file by file (type, mode, owner, size,
sha256 or link target). The answer is a list of lines, empty when the inputs are identical.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from uki.pe import read_pe

from .errors import InputError
from .initrd import read_initrd


def _cpio_listing(blob: bytes) -> dict[str, str]:
    out = {}
    for m in read_initrd(blob):
        kind = stat.S_IFMT(m.mode)
        if kind == stat.S_IFREG:
            what = f"file {len(m.data)} bytes sha256:{hashlib.sha256(m.data).hexdigest()[:16]}"
        elif kind == stat.S_IFLNK:
            what = f"symlink -> {m.data.decode('utf-8', 'surrogateescape')}"
        else:
            what = f"type {kind:o} rdev {m.rdevmajor}:{m.rdevminor}"
        out[m.name.decode("utf-8", "surrogateescape")] = f"{what} mode {stat.S_IMODE(m.mode):o} {m.uid}:{m.gid}"
    return out


def diff_cpio(a: bytes, b: bytes) -> list[str]:
    la, lb = _cpio_listing(a), _cpio_listing(b)
    lines = []
    for path in sorted(la.keys() | lb.keys(), key=lambda p: p.encode("utf-8", "surrogateescape")):
        if path not in lb:
            lines.append(f"- /{path}: {la[path]}")
        elif path not in la:
            lines.append(f"+ /{path}: {lb[path]}")
        elif la[path] != lb[path]:
            lines.append(f"~ /{path}: {la[path]}  =>  {lb[path]}")
    return lines


def diff_uki(a: bytes, b: bytes) -> list[str]:
    pa, pb = read_pe(a, what="A"), read_pe(b, what="B")
    sa = {s.name: pa.section_data(s.name) or b"" for s in pa.sections}
    sb = {s.name: pb.section_data(s.name) or b"" for s in pb.sections}
    lines = []
    for name in sorted(sa.keys() | sb.keys()):
        if name not in sb:
            lines.append(f"- section {name}")
        elif name not in sa:
            lines.append(f"+ section {name}")
        elif sa[name] != sb[name]:
            lines.append(f"~ section {name}: {len(sa[name])} bytes sha256:{hashlib.sha256(sa[name]).hexdigest()[:16]}"
                         f"  =>  {len(sb[name])} bytes sha256:{hashlib.sha256(sb[name]).hexdigest()[:16]}")
            if name == ".initrd":
                lines += ["  " + ln for ln in diff_cpio(sa[name], sb[name])]
            elif name in (".cmdline", ".osrel", ".uname"):
                lines.append(f"  {sa[name].decode(errors='replace')!r}  =>  {sb[name].decode(errors='replace')!r}")
    if not lines and a != b:
        lines.append("~ PE headers differ (same section contents)")
    return lines


def _sums(directory: Path) -> dict[str, str]:
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        raise InputError("not a build directory (no SHA256SUMS)", where=str(directory))
    return {name: digest for digest, name in (ln.split("  ", 1) for ln in sums.read_text().splitlines())}


def diff_paths(a: Path, b: Path) -> list[str]:
    if a.is_dir() and b.is_dir():
        sa, sb = _sums(a), _sums(b)
        lines = []
        for name in sorted(sa.keys() | sb.keys()):
            if sa.get(name) != sb.get(name):
                lines.append(f"~ {name}: {sa.get(name, 'missing')[:16]}  =>  {sb.get(name, 'missing')[:16]}")
                if name.endswith(".efi") and (a / name).is_file() and (b / name).is_file():
                    lines += ["  " + ln for ln in diff_uki((a / name).read_bytes(), (b / name).read_bytes())]
        return lines
    try:
        da, db = a.read_bytes(), b.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", where=str(e.filename)) from e
    if da[:2] == b"MZ" and db[:2] == b"MZ":
        return diff_uki(da, db)
    return diff_cpio(da, db)
