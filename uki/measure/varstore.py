"""UEFI variable stores (EDK2 ``VARIABLE_STORE_HEADER`` inside a firmware volume) and UEFI_VARIABLE_DATA.

Reads the variables an OVMF CFV / VARS image carries, so the Secure Boot variables TDVF measures into
RTMR0 (PK, KEK, db, dbx) can be computed from the firmware file. Layout (EDK2
MdeModulePkg/Include/Guid/VariableFormat.h):

* firmware volume header (``_FVH`` at 40, u16 HeaderLength at 48), then the store header: GUID
  (authenticated ``aaf32c78-…`` or plain ``ddcf3616-…``), u32 Size, u8 Format (0x5A), u8 State (0xFE),
  6 reserved bytes;
* variables at 4-byte alignment, each ``u16 StartId=0x55AA, u8 State, u8 rsvd, u32 Attributes``, then
  (authenticated) ``u64 MonotonicCount, EFI_TIME(16), u32 PubKeyIndex`` and ``u32 NameSize,
  u32 DataSize, GUID VendorGuid``, name (UTF-16 with NUL) and data. Only State VAR_ADDED (0x3F) counts.

``UEFI_VARIABLE_DATA`` (TCG PC Client PFP §10.2.6): GUID, u64 name length in chars, u64 data length,
UTF-16LE name without NUL, data.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from uki.measure.errors import FirmwareError

EFI_GLOBAL_VARIABLE = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
EFI_IMAGE_SECURITY_DATABASE = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
AUTHENTICATED_VARIABLE_STORE = uuid.UUID("aaf32c78-947b-439a-a180-2e144ec37792")
VARIABLE_STORE = uuid.UUID("ddcf3616-3275-4164-98b6-fe85707ffe7d")

_STORE_HEADER = struct.Struct("<16sIBBHI")
_AUTH_VAR_HEADER = struct.Struct("<HBBIQ16sIII16s")
_VAR_HEADER = struct.Struct("<HBBIII16s")
_START_ID = 0x55AA
VAR_ADDED = 0x3F
_FORMATTED = 0x5A


@dataclass(frozen=True, slots=True, kw_only=True)
class Variable:
    vendor: uuid.UUID
    name: str
    attributes: int
    data: bytes


def variable_data(vendor: uuid.UUID, name: str, data: bytes) -> bytes:
    """UEFI_VARIABLE_DATA as measured for EV_EFI_VARIABLE_DRIVER_CONFIG / _BOOT event data."""
    return vendor.bytes_le + struct.pack("<QQ", len(name), len(data)) + name.encode("utf-16-le") + data


def read_variable_store(volume: bytes) -> Mapping[tuple[uuid.UUID, str], Variable]:
    """Live variables of an EDK2 variable-store firmware volume (e.g. OVMF CFV or VARS.fd)."""
    if len(volume) < 56 or volume[40:44] != b"_FVH":
        raise FirmwareError("variable store: no firmware volume header ('_FVH' at offset 40)")
    (header_len,) = struct.unpack_from("<H", volume, 48)
    off = header_len
    if off + _STORE_HEADER.size > len(volume):
        raise FirmwareError("variable store: header runs past the volume")
    guid, size, fmt, _state, _r1, _r2 = _STORE_HEADER.unpack_from(volume, off)
    kind = uuid.UUID(bytes_le=guid)
    if kind not in (AUTHENTICATED_VARIABLE_STORE, VARIABLE_STORE) or fmt != _FORMATTED:
        raise FirmwareError(f"variable store: unknown store {kind} / format 0x{fmt:02x}")
    end = min(len(volume), off + size)
    pos = off + _STORE_HEADER.size
    authenticated = kind == AUTHENTICATED_VARIABLE_STORE
    header = _AUTH_VAR_HEADER if authenticated else _VAR_HEADER
    out: dict[tuple[uuid.UUID, str], Variable] = {}
    while pos + header.size <= end:
        fields = header.unpack_from(volume, pos)
        if fields[0] != _START_ID:
            break
        state, attributes = fields[1], fields[3]
        name_size, data_size, vendor = fields[-3], fields[-2], fields[-1]
        name_off = pos + header.size
        data_off = name_off + name_size
        if data_off + data_size > end:
            raise FirmwareError(f"variable store: variable at 0x{pos:x} runs past the store")
        if state == VAR_ADDED:
            name = volume[name_off:data_off].decode("utf-16-le", "replace").split("\x00", 1)[0]
            var = Variable(
                vendor=uuid.UUID(bytes_le=vendor),
                name=name,
                attributes=attributes,
                data=volume[data_off : data_off + data_size],
            )
            out[(var.vendor, var.name)] = var
        pos = data_off + data_size
        pos += -pos % 4
    return out
