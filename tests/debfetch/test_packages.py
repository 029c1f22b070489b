from __future__ import annotations

import hashlib
import lzma

import pytest

from debfetch.errors import FormatError, IntegrityError
from debfetch.packages import parse_packages, read_packages_index
from debfetch.release import IndexEntry

from .archive import packages_text, stanza

STANZAS = [
    stanza("bash", "5.2.37-2+b10", essential="yes", priority="required", source="bash (5.2.37-2)",
           pre_depends="libc6 (>= 2.38), libtinfo6 (>= 6)", depends="base-files (>= 2.1.12)",
           multi_arch="foreign"),
    stanza("mawk", "1.3.4.20250131-1", provides="awk", priority="required"),
    stanza("tzdata", "2026f-0+deb13u1", arch="all", depends="debconf (>= 0.5) | debconf-2.0"),
]


def parse(text: str) -> list[object]:
    return list(parse_packages(text, archive="debian", suite="trixie", component="main", where="Packages"))


def test_fields() -> None:
    bash, mawk, tzdata = parse_packages(packages_text(STANZAS), archive="debian", suite="trixie",
                                        component="main", where="Packages")
    assert (bash.name, bash.version, bash.arch) == ("bash", "5.2.37-2+b10", "amd64")
    assert (bash.source, bash.source_version) == ("bash", "5.2.37-2")
    assert bash.essential and bash.priority == "required" and bash.multi_arch == "foreign"
    assert bash.pre_depends == "libc6 (>= 2.38), libtinfo6 (>= 6)"
    assert (mawk.source, mawk.provides, mawk.essential) == ("mawk", "awk", False)
    assert tzdata.arch == "all" and tzdata.filename.startswith("pool/main/t/tzdata/")
    assert len(tzdata.sha256) == 64 and tzdata.size > 0


def test_keys_are_case_insensitive_and_continuations_fold() -> None:
    text = packages_text([stanza("a")]).replace("Package:", "package:")
    text = text.replace("Version: 1.0\n", "Version: 1.0\nDepends: b,\n c (>= 1)\n")
    (pkg,) = parse_packages(text, archive="debian", suite="s", component="main", where="P")
    assert pkg.name == "a" and pkg.depends == "b, c (>= 1)"


def test_missing_field_names_package() -> None:
    text = packages_text([stanza("a")])
    text = "\n".join(line for line in text.splitlines() if not line.startswith("SHA256"))
    with pytest.raises(FormatError, match=r"^Packages: a: stanza lacks 'sha256'"):
        parse(text)


def test_integrity_is_checked_before_parsing() -> None:
    text = packages_text(STANZAS).encode()
    xz = lzma.compress(text)
    entry = IndexEntry(path="main/binary-amd64/Packages.xz", size=len(xz), sha256=hashlib.sha256(xz).hexdigest())
    pkgs = read_packages_index(xz, entry, archive="debian", suite="trixie", component="main", where="P.xz")
    assert [p.name for p in pkgs] == ["bash", "mawk", "tzdata"]
    tampered = bytearray(xz)
    tampered[len(xz) // 2] ^= 1
    with pytest.raises(IntegrityError, match=r"^http://m/P.xz: sha256 [0-9a-f]{64} differs"):
        read_packages_index(bytes(tampered), entry, archive="debian", suite="trixie", component="main",
                            where="http://m/P.xz")
    with pytest.raises(IntegrityError, match="size"):
        read_packages_index(xz + b"\0", entry, archive="debian", suite="trixie", component="main", where="P")


def test_corrupt_compression_is_a_format_error() -> None:
    junk = b"not xz at all"
    entry = IndexEntry(path="main/binary-amd64/Packages.xz", size=len(junk), sha256=hashlib.sha256(junk).hexdigest())
    with pytest.raises(FormatError, match="cannot decompress"):
        read_packages_index(junk, entry, archive="debian", suite="trixie", component="main", where="P")
