"""uki.kernel: uname detection as ukify's Uname.scrape_x86 / scrape_generic."""

from __future__ import annotations

from tests.uki.pefixtures import make_kernel
from uki.kernel import detect_uname


def test_x86_setup_header_version() -> None:
    assert detect_uname(make_kernel()) == "6.1.0-test-amd64"
    kernel = make_kernel(version_string=b"6.12.117+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP")
    assert detect_uname(kernel) == "6.12.117+deb13-cloud-amd64"


def test_version_string_must_look_like_uname() -> None:
    assert detect_uname(make_kernel(version_string=b"no version here")) is None
    assert detect_uname(make_kernel(version_string=b"6.1 (a b) #1")) is None  # "([^ )]+)" is one word
    assert detect_uname(make_kernel(version_string=b"\xff\xfe (x) #1")) is None


def test_generic_text_fallback() -> None:
    blob = b"\0" * 100 + b"Linux version 6.6.0-arm64 (build@host) (gcc 13) #1 SMP" + b"\0" * 10
    assert detect_uname(blob) == "6.6.0-arm64"
    assert detect_uname(b"") is None
    assert detect_uname(b"Linux version x.y (") is None  # must start with a digit and a dot
