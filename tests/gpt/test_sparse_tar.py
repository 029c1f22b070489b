"""gpt.sparse and gpt.tar: extents, content-defined sparse maps, and GNU tar byte equality."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from gpt.errors import LayoutError, TarError
from gpt.sparse import Extent, SparseImage, data_segments, make_image, read_range, to_bytes, write_sparse
from gpt.tar import TarMember, iter_sparse_tar, write_sparse_tar_gz

ToolRunner = Callable[..., CompletedProcess[str]]
MIB = 1024 * 1024


def many_segments() -> SparseImage:
    """30 separate data runs (more than header + one extension block hold) with zero blocks inside."""
    extents = []
    for i in range(30):
        data = bytes([i + 1]) * 700 + bytes(1024) + bytes([0xAA]) * (100 + i)
        extents.append(Extent(offset=i * 64 * 1024 + 512, data=data))
    return make_image(4 * MIB, extents)


def test_make_image_checks() -> None:
    with pytest.raises(LayoutError, match="aligned"):
        make_image(4096, [Extent(offset=100, data=b"x")])
    with pytest.raises(LayoutError, match="overlaps"):
        make_image(4096, [Extent(offset=0, data=b"x" * 600), Extent(offset=512, data=b"y")])
    with pytest.raises(LayoutError, match="exceeds"):
        make_image(1024, [Extent(offset=512, data=b"x" * 600)])
    assert make_image(1024, [Extent(offset=512, data=b""), Extent(offset=0, data=b"a")]).extents == (
        Extent(offset=0, data=b"a"),
    )


def test_segments_are_content_defined() -> None:
    image = make_image(
        8192, [Extent(offset=0, data=bytes(512) + b"a" + bytes(600) + b"b"), Extent(offset=4096, data=b"c")]
    )
    assert list(data_segments(image)) == [(512, 1024), (4096, 512)]
    # The segment ends where the image ends, even when the last extent fills it.
    full = make_image(1024, [Extent(offset=0, data=b"\1" * 1024)])
    assert list(data_segments(full)) == [(0, 1024)]


def test_write_sparse_and_read_range(tmp_path: Path) -> None:
    image = many_segments()
    path = tmp_path / "img"
    with path.open("w+b") as f:
        f.write(b"junk" * 5000000)  # must be replaced, not overwritten in place
        write_sparse(image, f)
    data = path.read_bytes()
    assert data == to_bytes(image)
    assert os.stat(path).st_blocks * 512 < image.size  # holes stayed holes
    assert b"".join(read_range(image, 1000, 300000)) == data[1000:301000]


@pytest.mark.parametrize(
    "image_factory", [many_segments, lambda: make_image(3 * MIB, [Extent(offset=MIB, data=b"\7" * 5000)])]
)
def test_byte_identical_to_gnu_tar(
    tmp_path: Path, run_tool: ToolRunner, image_factory: Callable[[], SparseImage]
) -> None:
    """GNU tar --format=oldgnu -S with raw hole detection (the host file system cannot matter)."""
    image = image_factory()
    raw = tmp_path / "disk.raw"
    with raw.open("wb") as f:
        write_sparse(image, f)
    raw.chmod(0o644)
    ref = tmp_path / "ref.tar"
    run_tool(
        [
            "tar",
            "--format=oldgnu",
            "--hole-detection=raw",
            "-S",
            "--mtime=@0",
            "--owner=root:0",
            "--group=root:0",
            "-C",
            str(tmp_path),
            "-cf",
            str(ref),
            "disk.raw",
        ]
    )
    ours = b"".join(iter_sparse_tar(image, TarMember(name="disk.raw", mtime=0)))
    assert ours == ref.read_bytes()


def test_tar_gz_extracts_and_is_fixed(tmp_path: Path, run_tool: ToolRunner) -> None:
    image = many_segments()
    buf = io.BytesIO()
    write_sparse_tar_gz(image, buf, name="disk.raw", mtime=0)
    blob = buf.getvalue()
    flags, mtime, os_byte = struct.unpack_from("<BIxB", blob, 3)
    assert (blob[:3], flags, mtime) == (b"\x1f\x8b\x08", 0, 0)  # no FNAME, no mtime
    assert os_byte == 255
    again = io.BytesIO()
    write_sparse_tar_gz(image, again, name="disk.raw", mtime=0)
    assert again.getvalue() == blob
    # Python's tarfile and GNU tar both read it back.
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as archive:
        member = archive.getmember("disk.raw")
        assert member.size == image.size and member.mtime == 0 and member.mode == 0o644
        extracted = archive.extractfile(member)
        assert extracted is not None and extracted.read() == to_bytes(image)
    (tmp_path / "a.tar.gz").write_bytes(blob)
    out = tmp_path / "out"
    out.mkdir()
    run_tool(["tar", "-xSzf", str(tmp_path / "a.tar.gz"), "-C", str(out)])
    assert (out / "disk.raw").read_bytes() == to_bytes(image)


def test_too_long_name() -> None:
    with pytest.raises(TarError, match="longer than 100"):
        b"".join(iter_sparse_tar(many_segments(), TarMember(name="x" * 101, mtime=0)))
