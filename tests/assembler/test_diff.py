from __future__ import annotations

from assembler.cpio import CpioEntry, write_newc
from assembler.diff import diff_cpio
from assembler.initrd import compress


def test_diff_names_each_changed_file() -> None:
    a = write_newc([CpioEntry(name=b"etc", mode=0o40755), CpioEntry(name=b"etc/x", mode=0o100644, data=b"1"),
                    CpioEntry(name=b"etc/gone", mode=0o100644)])
    b = write_newc([CpioEntry(name=b"etc", mode=0o40755), CpioEntry(name=b"etc/x", mode=0o100600, data=b"1"),
                    CpioEntry(name=b"etc/new", mode=0o120777, data=b"x")])
    lines = diff_cpio(compress(a), b)
    assert [ln[:2] + ln.split(":")[0][2:] for ln in lines] == ["- /etc/gone", "+ /etc/new", "~ /etc/x"]
    assert "mode 644" in lines[2] and "mode 600" in lines[2]
    assert diff_cpio(a, compress(a)) == []
