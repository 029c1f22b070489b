"""Sparse byte images: a size plus sorted, non-overlapping data extents; everything else is zero.

Disk images are planned as such a value so that a multi-GiB disk never exists as one ``bytes``:
writers seek over the holes (the file system keeps them sparse) and the tar writer derives its
sparse map from the extents. Extents start on 512-byte boundaries so that a 512-byte block belongs
to at most one extent (GNU tar scans for holes in 512-byte blocks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from gpt.errors import LayoutError

BLOCK_SIZE = 512
_ZERO_BLOCK = bytes(BLOCK_SIZE)
_WRITE_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Extent:
    """``data`` placed at byte ``offset`` (a multiple of 512)."""

    offset: int
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True, slots=True, kw_only=True)
class SparseImage:
    """An image of ``size`` bytes: the extents' data, zeros elsewhere."""

    size: int
    extents: tuple[Extent, ...]


def make_image(size: int, extents: list[Extent] | tuple[Extent, ...]) -> SparseImage:
    """Sort the extents, drop empty ones and check that they are aligned, disjoint and inside ``size``."""
    ordered = sorted((e for e in extents if e.data), key=lambda e: e.offset)
    block_end = 0
    for extent in ordered:
        if extent.offset % BLOCK_SIZE:
            raise LayoutError(f"extent at {extent.offset} is not {BLOCK_SIZE}-byte aligned", where="image")
        if extent.offset < block_end:
            raise LayoutError(f"extent at {extent.offset} overlaps the previous one", where="image")
        if extent.end > size:
            raise LayoutError(f"extent {extent.offset}..{extent.end} exceeds image size {size}", where="image")
        block_end = -(-extent.end // BLOCK_SIZE) * BLOCK_SIZE
    return SparseImage(size=size, extents=tuple(ordered))


def shift(extents: tuple[Extent, ...], offset: int) -> list[Extent]:
    """The same extents moved by ``offset`` bytes (to place a partition's contents on a disk)."""
    return [Extent(offset=e.offset + offset, data=e.data) for e in extents]


def write_sparse(image: SparseImage, stream: BinaryIO) -> None:
    """Write the image to a seekable binary file from its start, leaving holes where it is zero."""
    stream.seek(0)
    stream.truncate(0)
    for extent in image.extents:
        stream.seek(extent.offset)
        view = memoryview(extent.data)
        for start in range(0, len(view), _WRITE_CHUNK):
            stream.write(view[start : start + _WRITE_CHUNK])
    stream.truncate(image.size)
    stream.seek(image.size)


def to_bytes(image: SparseImage) -> bytes:
    """The whole image in memory; for small images and tests only."""
    out = bytearray(image.size)
    for extent in image.extents:
        out[extent.offset : extent.end] = extent.data
    return bytes(out)


def data_segments(image: SparseImage) -> Iterator[tuple[int, int]]:
    """Maximal runs ``(offset, length)`` of 512-byte blocks that hold a non-zero byte.

    This is the content-defined sparse map GNU tar computes when it scans a file block by block
    (``sparse_scan_file_raw``), so the archive does not depend on how the host file system stored
    the holes. The last block of an extent counts as zero-padded.
    """
    run_start = -1
    run_end = -1
    for extent in image.extents:
        view = memoryview(extent.data)
        for rel in range(0, len(view), BLOCK_SIZE):
            block = view[rel : rel + BLOCK_SIZE]
            if block == _ZERO_BLOCK[: len(block)]:
                continue
            start = extent.offset + rel
            if start == run_end:
                run_end = start + BLOCK_SIZE
                continue
            if run_start >= 0:
                yield run_start, run_end - run_start
            run_start, run_end = start, start + BLOCK_SIZE
    if run_start >= 0:
        yield run_start, min(run_end, image.size) - run_start


def read_range(image: SparseImage, offset: int, length: int) -> Iterator[bytes]:
    """The image bytes ``offset .. offset+length`` as a series of chunks (zeros filled in)."""
    position = offset
    end = offset + length
    for extent in image.extents:
        if extent.end <= position or extent.offset >= end:
            continue
        if extent.offset > position:
            yield from _zeros(extent.offset - position)
            position = extent.offset
        stop = min(end, extent.end)
        view = memoryview(extent.data)
        for start in range(position, stop, _WRITE_CHUNK):
            yield bytes(view[start - extent.offset : min(stop, start + _WRITE_CHUNK) - extent.offset])
        position = stop
    if position < end:
        yield from _zeros(end - position)


def _zeros(count: int) -> Iterator[bytes]:
    while count > 0:
        step = min(count, _WRITE_CHUNK)
        yield bytes(step)
        count -= step
