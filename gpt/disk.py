"""Bootable disks holding one UKI at ``EFI/BOOT/BOOTX64.EFI``: raw, GCP tar.gz and Azure VHD.

Each layout is a GPT disk with a single FAT32 EFI System Partition starting at LBA 2048:

- ``gcp``: exactly the geometry of flashbots-images' ``mkosi.profiles/gcp/mkosi.postoutput`` as
  dstack-mr-gcp (GCPMR) models it, because the GPT is measured into RTMR1 (EV_EFI_GPT_EVENT):
  ESP = max(260 MiB, round_up(uki + 32 MiB, 4096)), disk = ceil((ESP + 1 MiB) / 1 GiB) GiB,
  disk GUID 12345678-1234-5678-1234-567812345678, ESP GUID 87654321-4321-8765-4321-876543218765,
  name "esp", attributes 0, FAT serial 0x12345678. Packaged as ``disk.raw`` in a sparse oldgnu tar.gz.
- ``azure``: flashbots' azure profile: 500 MiB ESP (larger if the UKI needs it) named "ESP" on a
  502 MiB disk, written as a fixed VHD (Azure measures only the UKI, so GUIDs do not matter; ours
  are derived from the image id so that the VHD is reproducible).
- ``raw``: the compact disk for QEMU: ESP = max(64 MiB, round_up(uki + 32 MiB, 1 MiB)) plus 1 MiB
  on each side, GUIDs derived from the image id.

Everything is planned as a :class:`~gpt.sparse.SparseImage`, so writing a 1 GiB GCP disk touches only
the few MiB that hold data and never builds the disk in memory.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from gpt.errors import LayoutError
from gpt.fat import FatVolume, write_fat
from gpt.gpt import (
    ALIGNMENT_SECTORS,
    ESP_TYPE_GUID,
    SECTOR_SIZE,
    GptTable,
    Partition,
    align_up,
    plan_gpt,
    uefi_gpt_data_for,
    write_gpt,
)
from gpt.sparse import Extent, SparseImage, make_image, shift, write_sparse
from gpt.tar import write_sparse_tar_gz
from gpt.vhd import FOOTER_SIZE, VhdFooter, vhd_timestamp, write_footer

MIB = 1024 * 1024
GIB = 1024 * MIB
ESP_PATH = "EFI/BOOT/BOOTX64.EFI"
ESP_HEADROOM = 32 * MIB
GCP_MIN_ESP = 260 * MIB
GCP_ESP_ALIGNMENT = 4096
AZURE_MIN_ESP = 500 * MIB
RAW_MIN_ESP = 64 * MIB
FAT_LABEL = "ESP"
GCP_TAR_MEMBER = "disk.raw"

GCP_DISK_GUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
GCP_ESP_GUID = uuid.UUID("87654321-4321-8765-4321-876543218765")
GCP_FAT_SERIAL = 0x12345678
# Namespace for the GUIDs, FAT serial and VHD id derived from an image id (uuid5 of "<id>/<role>").
IDENTITY_NAMESPACE = uuid.UUID("6f1b7b1e-2c55-5d0e-9a49-64ad2a1d7c3e")


class Layout(enum.StrEnum):
    RAW = "raw"
    AZURE = "azure"
    GCP = "gcp"

    @property
    def partition_name(self) -> str:
        return "ESP" if self is Layout.AZURE else "esp"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskIdentity:
    """The identifiers written into a disk: GPT disk and ESP GUIDs, FAT serial, VHD unique id."""

    disk_guid: uuid.UUID
    esp_guid: uuid.UUID
    fat_serial: int
    vhd_id: uuid.UUID


def default_identity(image_id: str, layout: Layout) -> DiskIdentity:
    """GCP's fixed identifiers (GCPMR rebuilds its GPT from them); for the rest uuid5 of the image id."""

    def derived(role: str) -> uuid.UUID:
        return uuid.uuid5(IDENTITY_NAMESPACE, f"{image_id}/{role}")

    vhd_id = derived("vhd")
    if layout is Layout.GCP:
        return DiskIdentity(disk_guid=GCP_DISK_GUID, esp_guid=GCP_ESP_GUID, fat_serial=GCP_FAT_SERIAL, vhd_id=vhd_id)
    return DiskIdentity(
        disk_guid=derived("disk"),
        esp_guid=derived("esp"),
        fat_serial=int.from_bytes(derived("fat-serial").bytes[:4], "big"),
        vhd_id=vhd_id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskGeometry:
    """ESP size and disk size in bytes; the ESP always starts at LBA 2048 (1 MiB)."""

    esp_bytes: int
    disk_bytes: int

    @property
    def esp_first_lba(self) -> int:
        return ALIGNMENT_SECTORS

    @property
    def esp_last_lba(self) -> int:
        return ALIGNMENT_SECTORS + self.esp_bytes // SECTOR_SIZE - 1


def gcp_geometry(efi_size: int) -> DiskGeometry:
    """flashbots ``ESP_BYTES = efi + 32 MiB`` as GCPMR models it (4096-aligned, >= 260 MiB);
    disk = whole GiB covering ESP + 1 MiB."""
    esp = max(GCP_MIN_ESP, align_up(efi_size + ESP_HEADROOM, GCP_ESP_ALIGNMENT))
    return DiskGeometry(esp_bytes=esp, disk_bytes=align_up(esp + MIB, GIB))


def azure_geometry(efi_size: int) -> DiskGeometry:
    """flashbots azure: 500 MiB ESP at 1 MiB on a 502 MiB disk; grown in whole MiB for a larger UKI."""
    esp = max(AZURE_MIN_ESP, align_up(efi_size + ESP_HEADROOM, MIB))
    return DiskGeometry(esp_bytes=esp, disk_bytes=esp + 2 * MIB)


def raw_geometry(efi_size: int) -> DiskGeometry:
    esp = max(RAW_MIN_ESP, align_up(efi_size + ESP_HEADROOM, MIB))
    return DiskGeometry(esp_bytes=esp, disk_bytes=esp + 2 * MIB)


def plan_geometry(efi_size: int, layout: Layout) -> DiskGeometry:
    if efi_size <= 0:
        raise LayoutError(f"UKI size {efi_size} is not positive", where=f"{layout} disk")
    planner: dict[Layout, Callable[[int], DiskGeometry]] = {
        Layout.GCP: gcp_geometry,
        Layout.AZURE: azure_geometry,
        Layout.RAW: raw_geometry,
    }
    return planner[layout](efi_size)


def plan_disk_gpt(
    efi_size: int, *, image_id: str, layout: Layout | str, identity: DiskIdentity | None = None
) -> GptTable:
    """The GPT of the disk that :func:`esp_disk` builds for a UKI of ``efi_size`` bytes (no FAT work)."""
    kind = Layout(layout)
    ident = identity or default_identity(image_id, kind)
    geometry = plan_geometry(efi_size, kind)
    esp = Partition(
        type_guid=ESP_TYPE_GUID,
        unique_guid=ident.esp_guid,
        first_lba=geometry.esp_first_lba,
        last_lba=geometry.esp_last_lba,
        attributes=0,
        name=kind.partition_name,
    )
    return plan_gpt(disk_guid=ident.disk_guid, size_bytes=geometry.disk_bytes, partitions=(esp,))


def gpt_event_data(
    efi_size: int, *, image_id: str, layout: Layout | str, identity: DiskIdentity | None = None
) -> bytes:
    """``UEFI_GPT_DATA`` (the EV_EFI_GPT_EVENT payload) of that disk, for the measurement engine."""
    return uefi_gpt_data_for(plan_disk_gpt(efi_size, image_id=image_id, layout=layout, identity=identity))


@dataclass(frozen=True, slots=True, kw_only=True)
class EspDisk:
    """A planned disk: its table, its ESP file system and the sparse image of the whole disk."""

    layout: Layout
    identity: DiskIdentity
    source_date_epoch: int
    table: GptTable
    fat: FatVolume
    image: SparseImage

    @property
    def size_bytes(self) -> int:
        return self.image.size

    @property
    def uefi_gpt_data(self) -> bytes:
        return uefi_gpt_data_for(self.table)


def esp_disk(
    efi: bytes,
    *,
    image_id: str,
    layout: Layout | str,
    source_date_epoch: int,
    identity: DiskIdentity | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> EspDisk:
    """Plan the disk for ``layout`` with ``efi`` at ``EFI/BOOT/BOOTX64.EFI`` (and any ``extra_files``).

    Pure: the result holds references to ``efi``, not copies; write it with :func:`write_raw`,
    :func:`write_gcp_tarball` or :func:`write_azure_vhd`.
    """
    kind = Layout(layout)
    ident = identity or default_identity(image_id, kind)
    table = plan_disk_gpt(len(efi), image_id=image_id, layout=kind, identity=ident)
    esp = table.partitions[0]
    extra = dict(extra_files or {})
    if any(path.strip("/").upper() == ESP_PATH.upper() for path in extra):
        raise LayoutError(f"extra_files may not replace {ESP_PATH}", where=f"{kind} disk")
    files = {ESP_PATH: efi, **extra}
    fat = write_fat(
        size_bytes=esp.size_bytes,
        files=files,
        volume_id=ident.fat_serial,
        label=FAT_LABEL,
        source_date_epoch=source_date_epoch,
        hidden_sectors=esp.first_lba,
    )
    regions = write_gpt(table)
    extents: list[Extent] = [
        Extent(offset=regions.primary_offset, data=regions.primary),
        *shift(fat.extents, esp.offset_bytes),
        Extent(offset=regions.backup_offset, data=regions.backup),
    ]
    image = make_image(table.size_bytes, extents)
    return EspDisk(
        layout=kind,
        identity=ident,
        source_date_epoch=source_date_epoch,
        table=table,
        fat=fat,
        image=image,
    )


def write_raw(disk: EspDisk, stream: BinaryIO) -> None:
    """The disk as a sparse raw file (``<id>.raw``); ``stream`` must be seekable."""
    write_sparse(disk.image, stream)


def write_gcp_tarball(disk: EspDisk, stream: BinaryIO) -> None:
    """``<id>.tar.gz`` holding the disk as ``disk.raw`` (oldgnu sparse, mtime SOURCE_DATE_EPOCH)."""
    if disk.layout is not Layout.GCP:
        raise LayoutError(f"a GCP tarball needs the gcp layout, not {disk.layout}", where="gcp output")
    write_sparse_tar_gz(disk.image, stream, name=GCP_TAR_MEMBER, mtime=disk.source_date_epoch)


def vhd_footer(disk: EspDisk) -> bytes:
    return write_footer(
        VhdFooter(
            size=disk.size_bytes,
            timestamp=vhd_timestamp(disk.source_date_epoch),
            unique_id=disk.identity.vhd_id,
        )
    )


def write_azure_vhd(disk: EspDisk, stream: BinaryIO) -> None:
    """``<id>.vhd``: the raw disk (a whole number of MiB) followed by the fixed VHD footer."""
    if disk.size_bytes % MIB:
        raise LayoutError(f"disk size {disk.size_bytes} is not a multiple of 1 MiB", where="azure output")
    write_sparse(disk.image, stream)
    stream.write(vhd_footer(disk))
    assert stream.tell() == disk.size_bytes + FOOTER_SIZE


class OutputFormat(enum.StrEnum):
    """Disk outputs a recipe can list, with their layout, file suffix and writer."""

    RAW = "raw"
    GCP = "gcp"
    AZURE = "azure"

    @property
    def layout(self) -> Layout:
        return Layout(self.value)

    @property
    def suffix(self) -> str:
        return {OutputFormat.RAW: ".raw", OutputFormat.GCP: ".tar.gz", OutputFormat.AZURE: ".vhd"}[self]

    def file_name(self, image_id: str) -> str:
        return f"{image_id}{self.suffix}"


_WRITERS: dict[OutputFormat, Callable[[EspDisk, BinaryIO], None]] = {
    OutputFormat.RAW: write_raw,
    OutputFormat.GCP: write_gcp_tarball,
    OutputFormat.AZURE: write_azure_vhd,
}


def write_output(
    output: OutputFormat | str, efi: bytes, *, image_id: str, source_date_epoch: int, stream: BinaryIO
) -> EspDisk:
    """Build the disk for ``output`` and write it to ``stream`` (seekable, opened ``wb``/``w+b``).

    Returns the planned disk (its ``uefi_gpt_data`` and ``table`` are what the firmware will see).
    """
    fmt = OutputFormat(output)
    disk = esp_disk(efi, image_id=image_id, layout=fmt.layout, source_date_epoch=source_date_epoch)
    _WRITERS[fmt](disk, stream)
    return disk


def gcp_tarball(efi: bytes, *, image_id: str, source_date_epoch: int, stream: BinaryIO) -> EspDisk:
    """Shorthand for ``write_output("gcp", ...)``."""
    return write_output(OutputFormat.GCP, efi, image_id=image_id, source_date_epoch=source_date_epoch, stream=stream)


def azure_vhd(efi: bytes, *, image_id: str, source_date_epoch: int, stream: BinaryIO) -> EspDisk:
    """Shorthand for ``write_output("azure", ...)``."""
    return write_output(OutputFormat.AZURE, efi, image_id=image_id, source_date_epoch=source_date_epoch, stream=stream)


def raw_disk(efi: bytes, *, image_id: str, source_date_epoch: int, stream: BinaryIO) -> EspDisk:
    """Shorthand for ``write_output("raw", ...)``: the disk the QEMU boot tests use."""
    return write_output(OutputFormat.RAW, efi, image_id=image_id, source_date_epoch=source_date_epoch, stream=stream)
