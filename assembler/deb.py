"""Reading a Debian binary package (.deb) into memory.

A .deb is an ar archive (``!<arch>\\n`` then 60-byte member headers: name[16] mtime[12] uid[6]
gid[6] mode[8] size[10] and the terminator backtick-newline; bodies padded to an even length) with
``debian-binary`` (``2.0\\n``), ``control.tar[.gz|.xz|.zst]`` and ``data.tar[.gz|.xz|.zst]`` in
that order (spec debian-and-rootfs.md §3). Members whose names start with ``_`` are skipped, and
anything after data.tar is ignored. The tars are GNU or pax tars, read with :mod:`tarfile` (names
kept byte-exact through ``surrogateescape``).
"""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import zstandard
from debian.deb822 import Deb822

from .errors import DebError, TreeError
from .tree import Kind, normalize

AR_MAGIC = b"!<arch>\n"
AR_HEADER_SIZE = 60
# Decompressed size limit per tar member: a guard against decompression bombs, far above any real
# Debian package (the largest data.tar in trixie main is a few GiB only for debug packages).
MAX_TAR_SIZE = 8 << 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One data.tar entry, as shipped (the path is normalized but not yet merged-/usr)."""

    path: str
    kind: Kind
    mode: int
    user: str
    group: str
    uid: int
    gid: int
    mtime: int
    data: bytes = b""
    target: str = ""  # symlink target
    hardlink_to: str | None = None  # normalized path of the earlier entry this one links to
    rdev: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DebPackage:
    name: str
    version: str
    architecture: str
    control: Mapping[str, str]  # the control stanza, field order kept
    control_files: Mapping[str, bytes]  # control.tar members: control, md5sums, conffiles, postinst, ...
    members: tuple[Member, ...]

    @property
    def essential(self) -> bool:
        return self.control.get("Essential", "").strip() == "yes"


def _ar_members(blob: bytes, where: str) -> list[tuple[str, bytes]]:
    if not blob.startswith(AR_MAGIC):
        raise DebError("not an ar archive (bad magic)", where=where)
    pos = len(AR_MAGIC)
    out: list[tuple[str, bytes]] = []
    while pos < len(blob):
        header = blob[pos:pos + AR_HEADER_SIZE]
        if len(header) < AR_HEADER_SIZE or header[58:60] != b"`\n":
            raise DebError(f"bad ar member header at offset {pos}", where=where)
        name = header[:16].decode("ascii", "replace").rstrip(" ").rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError as e:
            raise DebError(f"bad ar member size at offset {pos}", where=where) from e
        start = pos + AR_HEADER_SIZE
        body = blob[start:start + size]
        if len(body) != size:
            raise DebError(f"ar member {name} is truncated", where=where)
        out.append((name, body))
        pos = start + size + (size & 1)
    return out


def _decompress(name: str, body: bytes, where: str) -> bytes:
    try:
        if name.endswith(".gz"):
            return gzip.decompress(body)
        if name.endswith(".xz") or name.endswith(".lzma"):
            return lzma.decompress(body)
        if name.endswith(".zst"):
            dctx = zstandard.ZstdDecompressor()
            with dctx.stream_reader(io.BytesIO(body)) as reader:
                out = reader.read(MAX_TAR_SIZE + 1)
            if len(out) > MAX_TAR_SIZE:
                raise DebError(f"{name} decompresses to more than {MAX_TAR_SIZE} bytes", where=where)
            return out
        if name.endswith(".tar"):
            return body
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as e:
        raise DebError(f"{name}: cannot decompress: {e}", where=where) from e
    raise DebError(f"unsupported compression of member {name}", where=where)


def _tar(raw: bytes, member: str, where: str) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:", encoding="utf-8", errors="surrogateescape")
    except tarfile.TarError as e:
        raise DebError(f"{member} is not a tar archive: {e}", where=where) from e


_KINDS = {
    tarfile.REGTYPE: Kind.FILE, tarfile.AREGTYPE: Kind.FILE, tarfile.CONTTYPE: Kind.FILE,
    tarfile.DIRTYPE: Kind.DIR, tarfile.SYMTYPE: Kind.SYMLINK, tarfile.CHRTYPE: Kind.CHAR,
    tarfile.BLKTYPE: Kind.BLOCK, tarfile.FIFOTYPE: Kind.FIFO,
}


def _data_members(tf: tarfile.TarFile, where: str) -> tuple[Member, ...]:
    out: list[Member] = []
    seen: dict[str, Member] = {}
    try:
        infos = tf.getmembers()
    except tarfile.TarError as e:
        raise DebError(f"data.tar is corrupt: {e}", where=where) from e
    for ti in infos:
        try:
            path = normalize(ti.name)
        except TreeError as e:
            raise DebError(f"data.tar member {ti.name!r}: {e.message}", where=where) from e
        if not path:
            continue  # "./" — the root, which we never take from a package
        common = {"path": path, "mode": ti.mode & 0o7777, "user": ti.uname or str(ti.uid),
                  "group": ti.gname or str(ti.gid), "uid": ti.uid, "gid": ti.gid, "mtime": int(ti.mtime)}
        if ti.type == tarfile.LNKTYPE:
            target = normalize(ti.linkname)
            first = seen.get(target)
            if first is None or first.kind is not Kind.FILE:
                raise DebError(f"hardlink {path} points at {target}, which is not an earlier file", where=where)
            m = Member(kind=Kind.FILE, data=first.data, hardlink_to=target, **common)  # type: ignore[arg-type]
        elif ti.type in _KINDS:
            kind = _KINDS[ti.type]
            data = b""
            if kind is Kind.FILE:
                f = tf.extractfile(ti)
                if f is None:
                    raise DebError(f"cannot read {path}", where=where)
                data = f.read()
            m = Member(kind=kind, data=data, target=ti.linkname if kind is Kind.SYMLINK else "",
                       rdev=(ti.devmajor, ti.devminor) if kind in (Kind.CHAR, Kind.BLOCK) else (0, 0),
                       **common)  # type: ignore[arg-type]
        else:
            raise DebError(f"unsupported tar entry type {ti.type!r} for {path}", where=where)
        seen[path] = m
        out.append(m)
    return tuple(out)


def read_deb(blob: bytes, *, where: str = "<deb>") -> DebPackage:
    """Parse a whole .deb held in memory."""
    members = [(n, b) for n, b in _ar_members(blob, where) if not n.startswith("_")]
    if not members or members[0][0] != "debian-binary":
        raise DebError("first member is not debian-binary", where=where)
    if not members[0][1].startswith(b"2."):
        raise DebError(f"unsupported .deb format version {members[0][1]!r}", where=where)
    control_raw = data_raw = None
    control_name = data_name = ""
    for name, body in members[1:]:
        if name.startswith("control.tar") and control_raw is None:
            control_name, control_raw = name, _decompress(name, body, where)
        elif name.startswith("data.tar") and control_raw is not None:
            data_name, data_raw = name, _decompress(name, body, where)
            break
    if control_raw is None or data_raw is None:
        raise DebError("missing control.tar or data.tar member", where=where)

    control_files: dict[str, bytes] = {}
    try:
        with _tar(control_raw, control_name, where) as tf:
            for ti in tf.getmembers():
                if ti.isfile():
                    f = tf.extractfile(ti)
                    if f is not None:
                        control_files[normalize(ti.name)] = f.read()
    except (tarfile.TarError, TreeError) as e:
        raise DebError(f"{control_name} is corrupt: {e}", where=where) from e
    if "control" not in control_files:
        raise DebError("control.tar has no control file", where=where)
    try:
        stanza = Deb822(control_files["control"].decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DebError(f"the control file is not UTF-8: {e}", where=where) from e
    control = {k: str(v) for k, v in stanza.items()}
    for field in ("Package", "Version", "Architecture"):
        if field not in control:
            raise DebError(f"control file lacks {field}", where=where)
    with _tar(data_raw, data_name, where) as tf:
        data_members = _data_members(tf, where)
    return DebPackage(
        name=control["Package"], version=control["Version"], architecture=control["Architecture"],
        control=MappingProxyType(control), control_files=MappingProxyType(control_files),
        members=data_members,
    )
