"""gpt.fat: fsck.fat and mtools read what we write; geometry, names, timestamps, determinism, errors."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from gpt.errors import FatError
from gpt.fat import FatType, FatVolume, fat_timestamp, lfn_checksum, plan_geometry, write_fat
from gpt.sparse import make_image, to_bytes, write_sparse

ToolRunner = Callable[..., CompletedProcess[str]]
MIB = 1024 * 1024
SDE = 1700000000  # 2023-11-14 22:13:20 UTC


def build(size: int, files: Mapping[str, bytes], *, allow_small_fat: bool = False, **kw: object) -> FatVolume:
    return write_fat(
        size_bytes=size,
        files=files,
        volume_id=0x12345678,
        label="ESP",
        source_date_epoch=SDE,
        allow_small_fat=allow_small_fat,
        **kw,  # type: ignore[arg-type]
    )


def save(volume: FatVolume, path: Path) -> Path:
    with path.open("wb") as f:
        write_sparse(make_image(volume.size_bytes, volume.extents), f)
    return path


def sample_files(efi: bytes) -> dict[str, bytes]:
    return {
        "EFI/BOOT/BOOTX64.EFI": efi,
        "loader/entries/a rather long file name, with commas.conf": b"title x\n",
        "loader/loader.conf": b"timeout 0\n",
        "EFI/Linux/empty.efi": b"",
        "Mixed.Case.Name.txt": b"y" * 70000,
    }


@pytest.mark.parametrize(
    ("size", "small", "fat_type"),
    [(64 * MIB, False, FatType.FAT32), (300 * MIB, False, FatType.FAT32), (16 * MIB, True, FatType.FAT16)],
)
def test_fsck_and_mtools_read_back(
    tmp_path: Path, run_tool: ToolRunner, efi_payload: bytes, size: int, small: bool, fat_type: FatType
) -> None:
    files = sample_files(efi_payload)
    volume = build(size, files, allow_small_fat=small, directories=("EFI/empty dir",))
    assert volume.geometry.fat_type is fat_type
    image = save(volume, tmp_path / "fat.img")
    fsck = run_tool(["fsck.fat", "-n", "-v", str(image)])
    assert "FAT" in fsck.stdout
    assert "differences" not in fsck.stdout.lower() and "warning" not in fsck.stdout.lower()
    for path, data in files.items():
        out = tmp_path / "out.bin"
        run_tool(["mcopy", "-n", "-o", "-i", str(image), "::" + path, str(out)])
        assert out.read_bytes() == data, path
    listing = run_tool(["mdir", "-i", str(image), "-/", "::"]).stdout
    assert "Volume in drive : is ESP" in listing
    assert "Volume Serial Number is 1234-5678" in listing
    assert "a rather long file name, with commas.conf" in listing
    assert "empty dir" in listing
    assert "2023-11-14  22:13" in listing


def test_fat12_when_allowed(tmp_path: Path, run_tool: ToolRunner) -> None:
    files = {"EFI/BOOT/BOOTX64.EFI": b"MZ" + bytes(1000), "hello.txt": b"hi\n"}
    volume = build(1 * MIB, files, allow_small_fat=True)
    assert volume.geometry.fat_type is FatType.FAT12
    image = save(volume, tmp_path / "fat12.img")
    run_tool(["fsck.fat", "-n", str(image)])
    out = tmp_path / "hello"
    run_tool(["mcopy", "-n", "-i", str(image), "::hello.txt", str(out)])
    assert out.read_bytes() == b"hi\n"


def test_fat32_unless_small_allowed() -> None:
    with pytest.raises(FatError, match="too small for FAT32"):
        plan_geometry(16 * MIB)
    assert plan_geometry(16 * MIB, allow_small_fat=True).fat_type is FatType.FAT16
    # FAT32 is used whenever it can hold the volume, even if FAT16 could too.
    assert plan_geometry(40 * MIB, allow_small_fat=True).fat_type is FatType.FAT32


@pytest.mark.parametrize(
    ("size", "spc"),
    [(64 * MIB, 1), (260 * MIB, 1), (261 * MIB, 8), (1024 * MIB, 8), (9 * 1024 * MIB, 16)],
)
def test_fat32_cluster_size_table(size: int, spc: int) -> None:
    """fatgen103 p.20 cluster sizes, as mkfs.fat picks them."""
    geometry = plan_geometry(size)
    assert geometry.sectors_per_cluster == spc
    assert geometry.clusters >= 65525
    assert geometry.first_data_sector % spc == 0
    assert (geometry.clusters + 2) * 4 <= geometry.fat_sectors * 512


def test_boot_sector_fields() -> None:
    volume = build(64 * MIB, {"A.TXT": b"a"}, hidden_sectors=2048)
    boot = to_bytes(make_image(volume.size_bytes, volume.extents))[:4096]
    assert boot[510:512] == b"\x55\xaa"
    assert struct.unpack_from("<HBHBHHBH", boot, 11) == (512, 1, 32, 2, 0, 0, 0xF8, 0)
    assert struct.unpack_from("<II", boot, 28) == (2048, 64 * MIB // 512)
    assert struct.unpack_from("<I", boot, 67) == (0x12345678,)
    assert boot[71:90] == b"ESP        FAT32   "
    assert boot[6 * 512 : 7 * 512] == boot[:512]  # backup boot sector
    assert boot[512:516] == b"RRaA" and boot[512 + 484 : 512 + 488] == b"rrAa"


def test_entry_order_and_contiguous_allocation(efi_payload: bytes) -> None:
    volume = build(64 * MIB, sample_files(efi_payload))
    image = to_bytes(make_image(volume.size_bytes, volume.extents))
    g = volume.geometry
    root = image[g.cluster_offset(2) : g.cluster_offset(2) + 512]
    names = [root[i : i + 11] for i in range(0, 512, 32) if root[i + 11] not in (0x0F, 0) and root[i] != 0]
    # label, then children sorted by UTF-8 name: "EFI" < "Mixed..." < "loader"
    assert names[0] == b"ESP        "
    assert names[1] == b"EFI        "
    assert names[2].startswith(b"MIXED")
    assert names[3].startswith(b"LOADER")
    # The UKI's chain is one contiguous run.
    fat = image[g.reserved_sectors * 512 : (g.reserved_sectors + g.fat_sectors) * 512]
    entries = struct.unpack(f"<{len(fat) // 4}I", fat)
    first = next(
        c for c in range(2, len(entries)) if image[g.cluster_offset(c) : g.cluster_offset(c) + 64] == efi_payload[:64]
    )
    count = -(-len(efi_payload) // g.cluster_size)
    assert all(entries[c] == c + 1 for c in range(first, first + count - 1))
    assert entries[first + count - 1] == 0x0FFFFFFF


def test_deterministic(efi_payload: bytes) -> None:
    a = to_bytes(make_image(64 * MIB, build(64 * MIB, sample_files(efi_payload)).extents))
    b = to_bytes(make_image(64 * MIB, build(64 * MIB, dict(reversed(sample_files(efi_payload).items()))).extents))
    assert a == b


def test_timestamps() -> None:
    assert fat_timestamp(0) == fat_timestamp(315532800)  # clamped to 1980-01-01
    stamp = fat_timestamp(315532800)
    assert (stamp.date, stamp.time, stamp.tenths) == ((0 << 9) | (1 << 5) | 1, 0, 0)
    odd = fat_timestamp(SDE + 1)
    assert odd.time & 0x1F == (SDE % 60 + 1) // 2 and odd.tenths == 100


def test_lfn_checksum_matches_mtools(tmp_path: Path, run_tool: ToolRunner) -> None:
    """Entries mtools writes for a long name carry the checksum we compute from their short name."""
    volume = build(64 * MIB, {"x.txt": b"x"})
    image = save(volume, tmp_path / "m.img")
    src = tmp_path / "A long name.txt"
    src.write_bytes(b"z")
    run_tool(["mcopy", "-i", str(image), str(src), "::"])
    data = image.read_bytes()
    g = volume.geometry
    root = data[g.cluster_offset(2) : g.cluster_offset(2) + g.cluster_size]
    checked = 0
    for i in range(0, len(root) - 32, 32):
        if root[i + 11] == 0x0F and root[i] & 0x40:
            count = root[i] & 0x1F
            short = root[i + 32 * count : i + 32 * count + 11]
            assert root[i + 13] == lfn_checksum(short)
            checked += 1
    assert checked == 2  # ours for x.txt and mtools' for the long name


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a/b": b"", "A/c": b""}, "differ only in case"),
        ({"a:b": b""}, "invalid FAT file name"),
        ({"name.": b""}, "cannot end"),
        ({"a": b"", "a/b": b""}, "both as file and directory"),
        ({"big": bytes(70 * MIB)}, "clusters"),
    ],
)
def test_errors(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(FatError, match=message):
        build(64 * MIB, files)


def test_bad_label() -> None:
    with pytest.raises(FatError, match="label"):
        write_fat(size_bytes=64 * MIB, files={}, volume_id=1, label="esp", source_date_epoch=0)
