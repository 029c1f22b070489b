"""``python -m assembler inspect FILE``: list a UKI, a .deb or an (optionally zstd-compressed) cpio."""

from __future__ import annotations

import hashlib
import stat
import sys
from pathlib import Path

import zstandard

from .deb import read_deb
from .errors import CpioError, InputError
from .initrd import read_initrd
from .output import dumps


def _cpio_rows(raw: bytes) -> list[dict[str, object]]:
    return [{"path": m.name.decode("utf-8", "surrogateescape"), "mode": f"{m.mode:o}", "uid": m.uid, "gid": m.gid,
             "size": len(m.data), "mtime": m.mtime,
             "sha256": hashlib.sha256(m.data).hexdigest() if stat.S_ISREG(m.mode) else None,
             "target": m.data.decode("utf-8", "surrogateescape") if stat.S_ISLNK(m.mode) else None}
            for m in read_initrd(raw)]


def inspect_file(path: Path, *, as_json: bool) -> int:
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", where=str(path)) from e
    if blob[:2] == b"MZ":
        from uki.cli import run_inspect

        sys.stdout.write(run_inspect(path, as_json=as_json))
        return 0
    if not blob.startswith((b"!<arch>\n", b"070701", b"070702", b"\x28\xb5\x2f\xfd")):
        raise InputError("not a UKI, .deb or (zstd) newc cpio", where=str(path))
    if blob.startswith(b"!<arch>\n"):
        pkg = read_deb(blob, where=str(path))
        rows: list[dict[str, object]] = [
            {"path": m.path, "kind": str(m.kind), "mode": f"{m.mode:o}", "owner": f"{m.user}:{m.group}",
             "size": len(m.data), "sha256": hashlib.sha256(m.data).hexdigest() if m.kind == "file" else None,
             "target": m.target or m.hardlink_to} for m in pkg.members]
        info: object = {"package": pkg.name, "version": pkg.version, "control": dict(pkg.control), "files": rows}
    else:
        try:
            info = {"files": _cpio_rows(blob)}
        except (CpioError, zstandard.ZstdError) as e:
            raise InputError(f"malformed archive: {e}", where=str(path)) from e
    if as_json:
        sys.stdout.buffer.write(dumps(info))
    else:
        assert isinstance(info, dict)
        for row in info["files"]:
            print(" ".join(str(v) for v in row.values() if v is not None))
    return 0
