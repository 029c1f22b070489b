"""gpt.vhd: footer fields, checksum, and agreement with qemu-img's fixed VHD."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from gpt.errors import VhdError
from gpt.vhd import FOOTER_SIZE, VhdFooter, read_footer, vhd_timestamp, write_footer

ToolRunner = Callable[..., CompletedProcess[str]]
MIB = 1024 * 1024
VHD_ID = uuid.UUID("0b1d6a0e-5a4e-4c59-8a38-7f8d7a3f2c11")


def test_round_trip_and_checksum() -> None:
    footer = VhdFooter(size=5 * MIB, timestamp=vhd_timestamp(1700000000), unique_id=VHD_ID)
    raw = write_footer(footer)
    assert len(raw) == FOOTER_SIZE
    assert read_footer(raw) == footer
    bad = bytearray(raw)
    bad[50] ^= 1
    with pytest.raises(VhdError, match="checksum"):
        read_footer(bytes(bad))


def test_timestamp_epoch() -> None:
    assert vhd_timestamp(0) == 0
    assert vhd_timestamp(946684800 + 42) == 42


def test_size_must_be_whole_mib() -> None:
    with pytest.raises(VhdError, match="1 MiB"):
        write_footer(VhdFooter(size=5 * MIB + 512, timestamp=0, unique_id=VHD_ID))


def test_matches_qemu_img_force_size(tmp_path: Path, run_tool: ToolRunner) -> None:
    """Same footer as ``qemu-img convert -O vpc -o subformat=fixed,force_size`` (the reference
    toolchain) except for the fields it takes from the host: time stamp, unique id, checksum."""
    raw = tmp_path / "d.raw"
    raw.write_bytes(b"\1" * (5 * MIB))
    ref = tmp_path / "ref.vhd"
    run_tool(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size", str(raw), str(ref)])
    theirs = ref.read_bytes()[-FOOTER_SIZE:]
    ours = write_footer(VhdFooter(size=5 * MIB, timestamp=0, unique_id=VHD_ID))
    masked = [range(24, 28), range(64, 84)]

    def mask(b: bytes) -> bytes:
        out = bytearray(b)
        for span in masked:
            for i in span:
                out[i] = 0
        return bytes(out)

    assert mask(ours) == mask(theirs)
    vhd = tmp_path / "ours.vhd"
    vhd.write_bytes(raw.read_bytes() + ours)
    info = run_tool(["qemu-img", "info", "-f", "vpc", "--output=json", str(vhd)]).stdout
    assert '"virtual-size": 5242880' in info and '"format": "vpc"' in info
