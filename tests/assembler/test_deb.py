from __future__ import annotations

import pytest

from assembler.deb import read_deb
from assembler.errors import DebError
from assembler.tree import Kind

from .debmaker import make_deb

FILES = [
    {"name": "./usr/", "type": "dir"},
    {"name": "./usr/bin/", "type": "dir"},
    {"name": "./usr/bin/perl", "data": b"PERL", "mode": 0o755},
    {"name": "./usr/bin/perl5.40.1", "type": "hardlink", "target": "./usr/bin/perl"},
    {"name": "./usr/bin/chage", "data": b"x", "mode": 0o2755, "gname": "shadow"},
    {"name": "./bin/", "type": "dir"},
    {"name": "./bin/sh", "type": "symlink", "target": "dash"},
    {"name": "./usr/share/" + "d" * 120 + "/long", "data": b"long name"},
]


@pytest.mark.parametrize("comp", ["gz", "xz", "zst", ""])
def test_members_of_every_compression(comp: str) -> None:
    pkg = read_deb(make_deb("perl-base", files=FILES, comp=comp, control={"Essential": "yes"},
                            control_files={"postinst": b"#!/bin/sh\n"}))
    assert pkg.name == "perl-base" and pkg.essential and pkg.control_files["postinst"] == b"#!/bin/sh\n"
    by = {m.path: m for m in pkg.members}
    assert by["usr/bin/perl5.40.1"].hardlink_to == "usr/bin/perl"
    assert by["usr/bin/perl5.40.1"].data == b"PERL"
    assert by["usr/bin/chage"].mode == 0o2755 and by["usr/bin/chage"].group == "shadow"
    assert by["bin/sh"].kind is Kind.SYMLINK and by["bin/sh"].target == "dash"
    assert by["usr/share/" + "d" * 120 + "/long"].data == b"long name"


def test_flipped_byte_is_an_error() -> None:
    blob = bytearray(make_deb("x", files=FILES, comp="xz"))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(DebError, match=r"x\.deb"):
        read_deb(bytes(blob), where="x.deb")


def test_not_a_deb() -> None:
    with pytest.raises(DebError, match="ar archive"):
        read_deb(b"PK\3\4", where="y.deb")


def test_path_escape_is_refused() -> None:
    with pytest.raises(DebError, match="escapes"):
        read_deb(make_deb("evil", files=[{"name": "./../etc/passwd", "data": b"x"}]))
