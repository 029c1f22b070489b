"""uki.sbat: ukify's merge_sbat rules."""

from __future__ import annotations

import logging

import pytest

from tests.uki.pefixtures import make_kernel, make_stub
from uki.errors import SbatError
from uki.sbat import SBAT_HEADER, STUB_SBAT, merge_sbat, text_sbat_lines

UKI_LINE = "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/"


def test_default_merge_of_stub_kernel_and_stub_sbat() -> None:
    kernel = make_kernel(sbat=b"sbat,1,SBAT Version,sbat,1,https://x\nlinux,1,Linux,linux,1,https://k\n\0\0")
    merged = merge_sbat([("stub", make_stub("257.1")), ("kernel", kernel)], [STUB_SBAT])
    assert (
        merged
        == (
            SBAT_HEADER
            + "systemd-stub,1,The systemd Developers,systemd,257,https://systemd.io/\n"
            + "systemd-stub.debian,1,Debian GNU/Linux,systemd,257.1,https://tracker.debian.org/pkg/systemd\n"
            + "linux,1,Linux,linux,1,https://k\n"
            + UKI_LINE
            + "\n\0"
        ).encode()
    )


def test_no_deduplication_and_texts_in_order() -> None:
    a = b"sbat,1,x\ncomp,1,A,a,1,u\n"
    assert merge_sbat([], [a, a]) == (SBAT_HEADER + "comp,1,A,a,1,u\ncomp,1,A,a,1,u\n\0").encode()


def test_text_without_header_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert text_sbat_lines(b"comp,1,A,a,1,u\n") == []
    assert "does not contain a valid SBAT section" in caplog.text
    assert text_sbat_lines(b"") == []


def test_non_pe_and_pe_without_sbat_are_skipped() -> None:
    assert merge_sbat([("junk", b"not a pe"), ("kernel", make_kernel())], []) == (SBAT_HEADER + "\n\0").encode()


def test_crlf_and_unicode_line_breaks_split_like_python_splitlines() -> None:
    assert text_sbat_lines("sbat,1\r\na,1\r\nb,1\u2028c,1".encode()) == ["a,1", "b,1", "c,1"]


def test_non_utf8_is_an_error() -> None:
    with pytest.raises(SbatError, match="not UTF-8"):
        text_sbat_lines(b"sbat,1\n\xff\n")
