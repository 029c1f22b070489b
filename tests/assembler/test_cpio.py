from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from assembler.cpio import CpioEntry, CpioError, read_newc, write_newc

ENTRIES = [
    CpioEntry(name=b".", mode=0o40755),
    CpioEntry(name=b"dev", mode=0o40755),
    CpioEntry(name=b"dev/console", mode=0o20600, rdevmajor=5, rdevminor=1),
    CpioEntry(name=b"usr", mode=0o40755, mtime=7),
    CpioEntry(name=b"usr/bin", mode=0o40755),
    CpioEntry(name=b"usr/bin/perl", mode=0o100755, data=b"#!perl\n", link_key="perl"),
    CpioEntry(name=b"usr/bin/perl5.40", mode=0o100755, data=b"#!perl\n", link_key="perl"),
    CpioEntry(name=b"usr/bin/sh", mode=0o120777, data=b"dash"),
    CpioEntry(name=b"usr/bin/x", mode=0o104755, uid=0, gid=42, data=b"abcde"),
]


def test_round_trip_and_hardlinks() -> None:
    raw = write_newc(ENTRIES)
    assert len(raw) % 4 == 0
    members = read_newc(raw)
    assert [m.name for m in members] == [e.name for e in ENTRIES]
    assert [m.ino for m in members] == [1, 2, 3, 4, 5, 6, 6, 7, 8]
    perl, perl5 = members[5], members[6]
    assert perl.nlink == perl5.nlink == 2
    assert perl.data == b"" and perl5.data == b"#!perl\n"  # data on the last member of the group
    assert members[7].data == b"dash" and members[8].mode == 0o104755 and members[8].gid == 42
    assert members[2].rdevmajor == 5 and members[2].rdevminor == 1
    assert raw.startswith(b"070701") and b"TRAILER!!!\0" in raw[-128:]


def test_rejects_bad_members() -> None:
    with pytest.raises(CpioError):
        write_newc([CpioEntry(name=b"a", mode=0o40755, data=b"x")])
    with pytest.raises(CpioError):
        write_newc([CpioEntry(name=b"a", mode=0o100644), CpioEntry(name=b"a", mode=0o100644)])
    with pytest.raises(CpioError):
        write_newc([CpioEntry(name=b"a", mode=0o100644, uid=1 << 33)])


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is installed by scripts/setup --test-tools")
def test_gnu_cpio_reads_it(tmp_path: Path) -> None:
    raw = write_newc([e for e in ENTRIES if e.name not in (b".", b"dev/console")])
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=True).stdout
    assert listing.split() == [b"dev", b"usr", b"usr/bin", b"usr/bin/perl", b"usr/bin/perl5.40", b"usr/bin/sh",
                               b"usr/bin/x"]
    subprocess.run(["cpio", "-i", "--quiet", "--no-absolute-filenames"], input=raw, cwd=tmp_path, check=True)
    perl, perl5 = tmp_path / "usr/bin/perl", tmp_path / "usr/bin/perl5.40"
    assert perl.read_bytes() == b"#!perl\n" and os.stat(perl).st_ino == os.stat(perl5).st_ino
    assert os.readlink(tmp_path / "usr/bin/sh") == "dash"
    assert (tmp_path / "usr/bin/x").read_bytes() == b"abcde"
    assert stat.S_IMODE(os.stat(tmp_path / "usr/bin/x").st_mode) & 0o4000
