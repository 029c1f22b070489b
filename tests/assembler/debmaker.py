"""Build tiny .deb files in memory for tests (ar + control.tar + data.tar, gz/xz/zst)."""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
from collections.abc import Mapping

import zstandard


def _compress(raw: bytes, comp: str) -> bytes:
    if comp == "gz":
        return gzip.compress(raw, mtime=0)
    if comp == "xz":
        return lzma.compress(raw)
    if comp == "zst":
        return zstandard.ZstdCompressor().compress(raw)
    assert comp == ""
    return raw


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, body in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode()
        out += body
        if len(body) % 2:
            out += b"\n"
    return bytes(out)


def make_tar(entries: list[dict[str, object]]) -> bytes:
    """entries: dicts with name, type ('file','dir','symlink','hardlink'), data, mode, uname, gname, target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(str(e["name"]))
            kind = e.get("type", "file")
            ti.mode = int(e.get("mode", 0o755 if kind == "dir" else 0o644))  # type: ignore[call-overload]
            ti.uname = str(e.get("uname", "root"))
            ti.gname = str(e.get("gname", "root"))
            ti.mtime = int(e.get("mtime", 1700000000))  # type: ignore[call-overload]
            data = bytes(e.get("data", b""))  # type: ignore[call-overload]
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = str(e["target"])
                tf.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = str(e["target"])
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_deb(name: str, *, version: str = "1.0", arch: str = "amd64", files: list[dict[str, object]] | None = None,
             control: Mapping[str, str] | None = None, control_files: Mapping[str, bytes] | None = None,
             comp: str = "xz") -> bytes:
    fields = {"Package": name, "Version": version, "Architecture": arch, "Maintainer": "t <t@example.org>",
              "Description": "test package"}
    fields.update(control or {})
    ctl = "".join(f"{k}: {v}\n" for k, v in fields.items()).encode()
    cfiles = [{"name": "./", "type": "dir"}, {"name": "./control", "data": ctl}]
    cfiles += [{"name": f"./{n}", "data": d, "mode": 0o755} for n, d in (control_files or {}).items()]
    data_entries = [{"name": "./", "type": "dir"}, *(files or [])]
    suffix = f".{comp}" if comp else ""
    return _ar([("debian-binary", b"2.0\n"),
                (f"control.tar{suffix}", _compress(make_tar(cfiles), comp)),
                (f"data.tar{suffix}", _compress(make_tar(data_entries), comp))])
