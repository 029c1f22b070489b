"""gpt.gpt: round trips, CRC checks, layout errors, UEFI_GPT_DATA, and byte equality with sfdisk."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from gpt.errors import LayoutError, PartitionTableError
from gpt.gpt import (
    ENTRY_SIZE,
    ESP_TYPE_GUID,
    HEADER_SIZE,
    LINUX_DATA_TYPE_GUID,
    SECTOR_SIZE,
    GptTable,
    Partition,
    plan_gpt,
    read_gpt,
    uefi_gpt_data,
    uefi_gpt_data_for,
    write_gpt,
    write_protective_mbr,
)

MIB = 1024 * 1024
ToolRunner = Callable[..., CompletedProcess[str]]
DISK_GUID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def two_partitions(size: int = 16 * MIB) -> GptTable:
    return plan_gpt(
        disk_guid=DISK_GUID,
        size_bytes=size,
        partitions=(
            Partition(
                type_guid=ESP_TYPE_GUID,
                unique_guid=uuid.UUID("87654321-4321-8765-4321-876543218765"),
                first_lba=2048,
                last_lba=2048 + 8 * 2048 - 1,
                name="esp",
            ),
            Partition(
                type_guid=LINUX_DATA_TYPE_GUID,
                unique_guid=uuid.UUID("11111111-2222-3333-4444-555555555555"),
                first_lba=2048 + 8 * 2048,
                last_lba=2048 + 12 * 2048 - 1,
                attributes=(1 << 60) | 1,
                name="data ü",
            ),
        ),
    )


def disk_bytes(table: GptTable) -> bytes:
    regions = write_gpt(table)
    out = bytearray(table.size_bytes)
    out[regions.primary_offset : regions.primary_offset + len(regions.primary)] = regions.primary
    out[regions.backup_offset : regions.backup_offset + len(regions.backup)] = regions.backup
    return bytes(out)


def test_round_trip_from_bytes_and_file() -> None:
    table = two_partitions()
    data = disk_bytes(table)
    assert read_gpt(data).table == table
    assert read_gpt(io.BytesIO(data)).table == table
    regions = write_gpt(read_gpt(data).table)
    assert regions.primary == data[: len(regions.primary)]
    assert regions.backup == data[regions.backup_offset :]


def test_header_fields_and_sizes() -> None:
    table = two_partitions()
    data = disk_bytes(table)
    sectors = len(data) // SECTOR_SIZE
    header = data[SECTOR_SIZE : SECTOR_SIZE + HEADER_SIZE]
    assert header[:8] == b"EFI PART"
    revision, size, _crc, _res, my_lba, alt, first, last = struct.unpack_from("<IIIIQQQQ", header, 8)
    assert (revision, size, my_lba, alt, first, last) == (0x10000, 92, 1, sectors - 1, 2048, sectors - 34)
    backup = data[(sectors - 1) * SECTOR_SIZE :][:HEADER_SIZE]
    assert struct.unpack_from("<QQ", backup, 24) == (sectors - 1, 1)
    assert struct.unpack_from("<Q", backup, 72) == (sectors - 33,)
    entries = data[2 * SECTOR_SIZE : 2 * SECTOR_SIZE + 128 * ENTRY_SIZE]
    assert struct.unpack_from("<I", header, 88) == (zlib.crc32(entries),)


def test_protective_mbr() -> None:
    mbr = write_protective_mbr(32768)
    assert mbr[510:] == b"\x55\xaa"
    assert mbr[446 + 4] == 0xEE
    assert struct.unpack_from("<II", mbr, 446 + 8) == (1, 32767)
    assert mbr[446 + 1 : 446 + 4] == b"\x00\x02\x00"
    huge = write_protective_mbr(1 << 33)
    assert struct.unpack_from("<I", huge, 446 + 12) == (0xFFFFFFFF,)
    assert huge[446 + 5 : 446 + 8] == b"\xfe\xff\xff"


@pytest.mark.parametrize("where", [SECTOR_SIZE + 40, 2 * SECTOR_SIZE + 33])
def test_corruption_is_detected(where: int) -> None:
    data = bytearray(disk_bytes(two_partitions()))
    data[where] ^= 0xFF
    with pytest.raises(PartitionTableError, match="CRC32"):
        read_gpt(bytes(data))


def test_backup_mismatch_is_detected() -> None:
    data = bytearray(disk_bytes(two_partitions()))
    data[-SECTOR_SIZE - 100] ^= 1  # inside the backup entry array, zero area
    with pytest.raises(PartitionTableError, match="backup"):
        read_gpt(bytes(data))


def test_layout_errors() -> None:
    esp = Partition(type_guid=ESP_TYPE_GUID, unique_guid=uuid.uuid5(DISK_GUID, "a"), first_lba=2048, last_lba=4095)
    with pytest.raises(LayoutError, match="overlap"):
        plan_gpt(
            disk_guid=DISK_GUID,
            size_bytes=4 * MIB,
            partitions=(
                esp,
                Partition(
                    type_guid=ESP_TYPE_GUID, unique_guid=uuid.uuid5(DISK_GUID, "b"), first_lba=4095, last_lba=5000
                ),
            ),
        )
    with pytest.raises(LayoutError, match="outside usable"):
        plan_gpt(
            disk_guid=DISK_GUID,
            size_bytes=2 * MIB,
            partitions=(
                Partition(type_guid=ESP_TYPE_GUID, unique_guid=esp.unique_guid, first_lba=2048, last_lba=4095),
            ),
        )
    with pytest.raises(PartitionTableError, match="36 UTF-16"):
        plan_gpt(
            disk_guid=DISK_GUID,
            size_bytes=4 * MIB,
            partitions=(
                Partition(
                    type_guid=ESP_TYPE_GUID, unique_guid=esp.unique_guid, first_lba=2048, last_lba=4095, name="x" * 37
                ),
            ),
        )
    with pytest.raises(PartitionTableError, match="used twice"):
        plan_gpt(
            disk_guid=DISK_GUID,
            size_bytes=4 * MIB,
            partitions=(
                esp,
                Partition(type_guid=ESP_TYPE_GUID, unique_guid=esp.unique_guid, first_lba=4096, last_lba=5000),
            ),
        )
    with pytest.raises(LayoutError, match="multiple of 512"):
        plan_gpt(disk_guid=DISK_GUID, size_bytes=4 * MIB + 1, partitions=())


def test_uefi_gpt_data_layout() -> None:
    table = two_partitions()
    data = disk_bytes(table)
    event = uefi_gpt_data(data)
    assert event == uefi_gpt_data_for(table) == uefi_gpt_data(table) == uefi_gpt_data(io.BytesIO(data))
    assert len(event) == HEADER_SIZE + 8 + 2 * ENTRY_SIZE
    assert event[:HEADER_SIZE] == data[SECTOR_SIZE : SECTOR_SIZE + HEADER_SIZE]
    assert struct.unpack_from("<Q", event, HEADER_SIZE) == (2,)
    assert event[HEADER_SIZE + 8 :] == data[2 * SECTOR_SIZE : 2 * SECTOR_SIZE + 2 * ENTRY_SIZE]


def test_uefi_gpt_data_skips_unused_entries() -> None:
    """Firmware counts entries with a non-zero type GUID wherever they sit in the array."""
    table = two_partitions()
    data = bytearray(disk_bytes(table))
    # Move entry 2 to slot 5 in both arrays and fix the CRCs by rebuilding through sfdisk-like edits.
    sectors = len(data) // SECTOR_SIZE
    for array_lba, header_lba in ((2, 1), (sectors - 33, sectors - 1)):
        base = array_lba * SECTOR_SIZE
        entry = bytes(data[base + ENTRY_SIZE : base + 2 * ENTRY_SIZE])
        data[base + ENTRY_SIZE : base + 2 * ENTRY_SIZE] = bytes(ENTRY_SIZE)
        data[base + 5 * ENTRY_SIZE : base + 6 * ENTRY_SIZE] = entry
        hdr = header_lba * SECTOR_SIZE
        struct.pack_into("<I", data, hdr + 88, zlib.crc32(data[base : base + 128 * ENTRY_SIZE]))
        struct.pack_into("<I", data, hdr + 16, 0)
        struct.pack_into("<I", data, hdr + 16, zlib.crc32(data[hdr : hdr + HEADER_SIZE]))
    event = uefi_gpt_data(bytes(data))
    assert struct.unpack_from("<Q", event, HEADER_SIZE) == (2,)
    assert event[HEADER_SIZE + 8 + ENTRY_SIZE :] == data[2 * SECTOR_SIZE + 5 * ENTRY_SIZE :][:ENTRY_SIZE]


def test_byte_identical_to_sfdisk(tmp_path: Path, run_tool: ToolRunner) -> None:
    """sfdisk (util-linux) writes the same headers and entry arrays from the same script."""
    table = two_partitions()
    ours = disk_bytes(table)
    ref = tmp_path / "ref.img"
    with ref.open("wb") as f:
        f.truncate(table.size_bytes)
    script = "\n".join(
        [
            "label: gpt",
            f"label-id: {DISK_GUID}",
            "first-lba: 2048",
            "table-length: 128",
            "sector-size: 512",
            "",
            *(
                f"start={p.first_lba}, size={p.last_lba - p.first_lba + 1}, type={p.type_guid}, "
                f'uuid={p.unique_guid}, name="{p.name}", attrs="{_attrs(p.attributes)}"'
                for p in table.partitions
            ),
        ]
    )
    run_tool(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(ref)], input=script)
    theirs = ref.read_bytes()
    span = 34 * SECTOR_SIZE
    assert ours[SECTOR_SIZE:span] == theirs[SECTOR_SIZE:span]
    assert ours[-33 * SECTOR_SIZE :] == theirs[-33 * SECTOR_SIZE :]
    assert read_gpt(theirs).table == table


def _attrs(value: int) -> str:
    names = {0: "RequiredPartition", 1: "NoBlockIOProtocol", 2: "LegacyBIOSBootable"}
    return " ".join(names.get(bit, f"GUID:{bit}") for bit in range(64) if value >> bit & 1)


def test_sfdisk_and_sgdisk_accept(tmp_path: Path, run_tool: ToolRunner) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(disk_bytes(two_partitions()))
    dump = run_tool(["sfdisk", "--dump", str(image)]).stdout
    assert f"label-id: {str(DISK_GUID).upper()}" in dump
    assert "start=        2048, size=       16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B" in dump
    assert 'name="data \\xc3\\xbc"' in dump  # sfdisk escapes non-ASCII bytes
    verify = run_tool(["sgdisk", "-v", str(image)]).stdout
    assert "No problems found" in verify
