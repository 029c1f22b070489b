"""uki.inspection: the description of a UKI, including signatures and layout problems."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.uki.pefixtures import make_cert, make_kernel, make_stub
from uki import authenticode_digest, build_uki, sign_pe
from uki.inspection import format_text, inspect_pe


def test_signed_uki_lists_its_certificate_and_digests() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_cert(key, "inspect me", serial=3, days=30)
    uki = build_uki(stub=make_stub(), linux=make_kernel(), cmdline=b"x")
    info = inspect_pe(sign_pe(uki, private_key=key, certificate=cert))
    assert len(info.signatures) == 1
    assert info.signatures[0].certificates == ("CN=inspect me",)
    assert info.authenticode_sha256 == authenticode_digest(uki, "sha256").hex()
    assert "certificates: CN=inspect me" in format_text(info)


def test_sizes_follow_ukify_min_of_virtual_and_raw() -> None:
    info = inspect_pe(make_stub())
    data = next(s for s in info.sections if s.name == ".data")
    assert (data.virtual_size, data.size_of_raw_data, data.size) == (0x300, 0x200, 0x200)
    assert info.stub is not None and info.stub.major == 257
    assert info.problems == ()


def test_memory_overlap_is_a_problem_not_an_error() -> None:
    stub = make_stub("252.39-1~deb12u2", sbat_virtual_span=0x10)  # the stub's own .sbat runs into .sdmagic
    info = inspect_pe(stub)
    assert len(info.problems) == 1 and "overlap in memory" in info.problems[0]
    assert "problem: sections .sbat" in format_text(info)
