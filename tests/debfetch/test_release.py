from __future__ import annotations

import pytest

from debfetch.errors import FormatError
from debfetch.release import IndexEntry, parse_release

SHA = "be3d7d96a040eda0505c1808cccc67f183bbc05dff0842c50f88e6c396557412"
RELEASE = f"""Origin: Debian
Suite: stable
Codename: trixie
Version: 13.8
Date: Sat, 21 Nov 2026 09:15:44 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: main contrib
MD5Sum:
 203e1451a4c2e0edf3646a5da3cec2d8  9679304 main/binary-amd64/Packages.xz
SHA256:
 {SHA}  9679304 main/binary-amd64/Packages.xz
 {"0" * 64} 12 contrib/binary-amd64/Packages.xz
""".encode()


def test_parse_release() -> None:
    rel = parse_release(RELEASE, where="InRelease")
    assert rel.names() == ("stable", "trixie")
    assert rel.acquire_by_hash and not rel.not_automatic
    assert rel.components == ("main", "contrib")
    assert rel.sha256["main/binary-amd64/Packages.xz"] == IndexEntry(
        path="main/binary-amd64/Packages.xz", size=9679304, sha256=SHA)
    assert list(rel.sha256) == sorted(rel.sha256)


def test_not_automatic() -> None:
    rel = parse_release(RELEASE.replace(b"Origin: Debian\n", b"NotAutomatic: yes\n"), where="x")
    assert rel.not_automatic


@pytest.mark.parametrize(
    "broken",
    [RELEASE.replace(b"SHA256:", b"SHA1:"), RELEASE.replace(b" 9679304 main", b" 96x main")],
)
def test_malformed_release(broken: bytes) -> None:
    with pytest.raises(FormatError) as info:
        parse_release(broken, where="http://m/dists/trixie/InRelease")
    assert "http://m/dists/trixie/InRelease" in str(info.value)
