"""gpt.disk: the raw, GCP and Azure disks checked with sfdisk, sgdisk, fsck.fat, mtools, tar, qemu-img."""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from gpt.disk import (
    ESP_PATH,
    GCP_DISK_GUID,
    GCP_ESP_GUID,
    Layout,
    OutputFormat,
    default_identity,
    esp_disk,
    gcp_geometry,
    gpt_event_data,
    plan_disk_gpt,
    write_output,
    write_raw,
)
from gpt.errors import LayoutError
from gpt.gpt import ESP_TYPE_GUID, read_gpt, uefi_gpt_data
from gpt.sparse import make_image, write_sparse
from gpt.vhd import read_footer

ToolRunner = Callable[..., CompletedProcess[str]]
MIB = 1024 * 1024
GIB = 1024 * MIB


@pytest.mark.parametrize(
    ("efi_size", "esp", "disk"),
    [
        (1, 260 * MIB, GIB),
        (100 * MIB, 260 * MIB, GIB),
        (300 * MIB + 1, 332 * MIB + 4096, GIB),
        (990 * MIB, 1022 * MIB, GIB),
        (992 * MIB, 1024 * MIB, 2 * GIB),
    ],
)
def test_gcp_geometry(efi_size: int, esp: int, disk: int) -> None:
    """measurements.md §8.2: esp = max(260 MiB, ceil((uki + 32 MiB) / 4096) * 4096),
    disk = ceil((esp + 1 MiB) / 1 GiB) GiB."""
    geometry = gcp_geometry(efi_size)
    assert (geometry.esp_bytes, geometry.disk_bytes) == (esp, disk)


def test_gcp_geometry_without_room_for_the_backup_gpt() -> None:
    """ESP + 1 MiB exactly 1 GiB leaves no room for the backup table: refused, as repart would fail."""
    assert gcp_geometry(991 * MIB).disk_bytes == GIB
    with pytest.raises(LayoutError, match="outside usable"):
        plan_disk_gpt(991 * MIB, image_id="x", layout="gcp")


def test_gcp_gpt_event_fields() -> None:
    """The fields GCPMR rebuilds for RTMR1, decoded from our UEFI_GPT_DATA."""
    efi_size = 200 * MIB + 12345
    event = gpt_event_data(efi_size, image_id="anything", layout="gcp")
    assert len(event) == 92 + 8 + 128
    header = event[:92]
    sectors = GIB // 512
    assert header[:8] == b"EFI PART"
    assert struct.unpack_from("<IIIIQQQQ", header, 8)[4:] == (1, sectors - 1, 2048, sectors - 34)
    assert uuid.UUID(bytes_le=header[56:72]) == GCP_DISK_GUID
    assert struct.unpack_from("<QIII", header, 72)[:3] == (2, 128, 128)
    assert struct.unpack_from("<Q", event, 92) == (1,)
    entry = event[100:]
    assert uuid.UUID(bytes_le=entry[:16]) == ESP_TYPE_GUID
    assert uuid.UUID(bytes_le=entry[16:32]) == GCP_ESP_GUID
    assert struct.unpack_from("<QQQ", entry, 32) == (2048, 2048 + 260 * MIB // 512 - 1, 0)
    assert entry[56:] == "esp".encode("utf-16-le").ljust(72, b"\0")
    # The image id does not enter the GCP disk.
    assert event == gpt_event_data(efi_size, image_id="other", layout=Layout.GCP)


def test_identities() -> None:
    bob = default_identity("bob", Layout.RAW)
    assert bob == default_identity("bob", Layout.AZURE)
    assert bob.disk_guid != default_identity("alice", Layout.RAW).disk_guid
    assert len({bob.disk_guid, bob.esp_guid, bob.vhd_id}) == 3
    assert default_identity("bob", Layout.GCP).fat_serial == 0x12345678


def test_empty_efi_is_refused() -> None:
    with pytest.raises(LayoutError):
        plan_disk_gpt(0, image_id="x", layout="raw")


def write(fmt: str, efi: bytes, path: Path, image_id: str = "bob", sde: int = 0) -> Path:
    with path.open("w+b") as f:
        disk = write_output(fmt, efi, image_id=image_id, source_date_epoch=sde, stream=f)
    assert disk.layout is OutputFormat(fmt).layout
    return path


def check_disk(path: Path, efi: bytes, run_tool: ToolRunner, tmp_path: Path, *, partition_name: str) -> None:
    dump = run_tool(["sfdisk", "--dump", str(path)]).stdout
    assert "first-lba: 2048" in dump
    assert "start=        2048" in dump and f'name="{partition_name}"' in dump
    assert "No problems found" in run_tool(["sgdisk", "-v", str(path)]).stdout
    # mtools reads the UKI back through the partition offset.
    out = tmp_path / "BOOTX64.EFI"
    run_tool(["mcopy", "-n", "-o", "-i", f"{path}@@{2048 * 512}", "::" + ESP_PATH, str(out)])
    assert out.read_bytes() == efi


def test_raw_disk(tmp_path: Path, run_tool: ToolRunner, efi_payload: bytes) -> None:
    path = tmp_path / "bob.raw"
    write("raw", efi_payload, path)
    assert path.stat().st_size == 2 * MIB + 64 * MIB
    check_disk(path, efi_payload, run_tool, tmp_path, partition_name="esp")
    # fsck.fat on the partition's own bytes.
    disk = esp_disk(efi_payload, image_id="bob", layout="raw", source_date_epoch=0)
    esp = tmp_path / "esp.img"
    with esp.open("wb") as f:
        write_sparse(make_image(disk.fat.size_bytes, disk.fat.extents), f)
    assert esp.read_bytes() == path.read_bytes()[MIB : MIB + disk.fat.size_bytes]
    run_tool(["fsck.fat", "-n", str(esp)])
    # UEFI_GPT_DATA from the file equals the planned one and the one from the UKI size alone.
    with path.open("rb") as f:
        from_file = uefi_gpt_data(f)
    assert from_file == disk.uefi_gpt_data == gpt_event_data(len(efi_payload), image_id="bob", layout="raw")
    assert read_gpt(path.read_bytes()).table == disk.table
    # Reproducible, and sensitive to its inputs.
    assert path.read_bytes() == write("raw", efi_payload, tmp_path / "again.raw").read_bytes()
    assert path.read_bytes() != write("raw", efi_payload, tmp_path / "other.raw", image_id="alice").read_bytes()
    assert path.read_bytes() != write("raw", efi_payload, tmp_path / "later.raw", sde=1700000000).read_bytes()


def test_azure_vhd(
    tmp_path: Path, run_tool: ToolRunner, efi_payload: bytes, compare_sparse: Callable[..., bool]
) -> None:
    path = tmp_path / "bob.vhd"
    write("azure", efi_payload, path)
    size = 502 * MIB
    assert path.stat().st_size == size + 512
    info = run_tool(["qemu-img", "info", "-f", "vpc", "--output=json", str(path)]).stdout
    assert '"format": "vpc"' in info and f'"virtual-size": {size}' in info
    with path.open("rb") as f:
        f.seek(size)
        footer = read_footer(f.read())
    assert footer.size == size and footer.unique_id == default_identity("bob", Layout.AZURE).vhd_id
    raw = tmp_path / "azure.raw"
    with raw.open("wb") as f:
        write_raw(esp_disk(efi_payload, image_id="bob", layout="azure", source_date_epoch=0), f)
    assert compare_sparse(str(path), str(raw), length=size)
    check_disk(raw, efi_payload, run_tool, tmp_path, partition_name="ESP")
    assert compare_sparse(str(path), str(write("azure", efi_payload, tmp_path / "again.vhd")))


def test_gcp_tarball(
    tmp_path: Path, run_tool: ToolRunner, efi_payload: bytes, compare_sparse: Callable[..., bool]
) -> None:
    path = tmp_path / "bob.tar.gz"
    write("gcp", efi_payload, path)
    assert path.stat().st_size < 8 * MIB  # only the data blocks are stored
    listing = run_tool(["tar", "-tvzf", str(path)]).stdout
    assert "disk.raw" in listing and "1073741824" in listing and "1970-01-01" in listing
    out = tmp_path / "x"
    out.mkdir()
    run_tool(["tar", "-xSzf", str(path), "-C", str(out)])
    extracted = out / "disk.raw"
    disk = esp_disk(efi_payload, image_id="bob", layout="gcp", source_date_epoch=0)
    direct = tmp_path / "direct.raw"
    with direct.open("wb") as f:
        write_raw(disk, f)
    assert compare_sparse(str(extracted), str(direct))
    check_disk(extracted, efi_payload, run_tool, tmp_path, partition_name="esp")
    dump = run_tool(["sfdisk", "--dump", str(extracted)]).stdout
    assert "label-id: 12345678-1234-5678-1234-567812345678" in dump
    assert "size=      532480" in dump and "uuid=87654321-4321-8765-4321-876543218765" in dump
    with extracted.open("rb") as f:
        assert uefi_gpt_data(f) == gpt_event_data(len(efi_payload), image_id="bob", layout="gcp")
    listing = run_tool(["mdir", "-i", f"{extracted}@@{2048 * 512}", "::"]).stdout
    assert "Volume Serial Number is 1234-5678" in listing
    assert path.read_bytes() == write("gcp", efi_payload, tmp_path / "again.tar.gz").read_bytes()


def test_gcp_tarball_needs_gcp_layout(efi_payload: bytes) -> None:
    from gpt.disk import write_gcp_tarball

    disk = esp_disk(efi_payload, image_id="bob", layout="raw", source_date_epoch=0)
    with pytest.raises(LayoutError, match="gcp layout"):
        write_gcp_tarball(disk, io.BytesIO())


def test_extra_files_and_no_uki_override(tmp_path: Path, run_tool: ToolRunner, efi_payload: bytes) -> None:
    disk = esp_disk(
        efi_payload,
        image_id="bob",
        layout="raw",
        source_date_epoch=0,
        extra_files={"loader/loader.conf": b"timeout 0\n"},
    )
    path = tmp_path / "x.raw"
    with path.open("wb") as f:
        write_raw(disk, f)
    out = tmp_path / "loader.conf"
    run_tool(["mcopy", "-n", "-i", f"{path}@@{2048 * 512}", "::loader/loader.conf", str(out)])
    assert out.read_bytes() == b"timeout 0\n"
    with pytest.raises(LayoutError, match="may not replace"):
        esp_disk(
            efi_payload, image_id="bob", layout="raw", source_date_epoch=0, extra_files={"efi/boot/bootx64.efi": b""}
        )
