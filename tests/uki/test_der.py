"""uki.der: DER encodings against known answers (X.690 examples and real OIDs)."""

from __future__ import annotations

import pytest

from uki import der


def test_lengths() -> None:
    assert der.encode_length(0) == b"\x00"
    assert der.encode_length(127) == b"\x7f"
    assert der.encode_length(128) == b"\x81\x80"
    assert der.encode_length(256) == b"\x82\x01\x00"


def test_integers() -> None:
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.integer(127) == b"\x02\x01\x7f"
    assert der.integer(128) == b"\x02\x02\x00\x80"  # leading zero keeps it positive
    assert der.integer(0x1234567890ABCDEF) == b"\x02\x08\x12\x34\x56\x78\x90\xab\xcd\xef"


def test_oids() -> None:
    assert der.oid("2.16.840.1.101.3.4.2.1") == bytes.fromhex("0609608648016503040201")  # sha256
    assert der.oid("1.3.6.1.4.1.311.2.1.4") == bytes.fromhex("060a2b060104018237020104")  # SPC_INDIRECT_DATA
    assert der.oid("1.2.840.113549.1.7.2") == bytes.fromhex("06092a864886f70d010702")  # signedData
    with pytest.raises(ValueError):
        der.oid("3.1")


def test_set_of_is_sorted_and_tags() -> None:
    assert der.set_of([b"\x04\x01\x02", b"\x04\x01\x01"]) == b"\x31\x06\x04\x01\x01\x04\x01\x02"
    assert der.explicit(0, b"\x05\x00") == b"\xa0\x02\x05\x00"
    assert der.implicit_primitive(0, b"ab") == b"\x80\x02ab"
    assert der.implicit_constructed(0, b"\x05\x00") == b"\xa0\x02\x05\x00"


def test_split_tlv() -> None:
    element = der.octet_string(bytes(300))
    assert der.split_tlv(element) == (0x04, bytes(300))
    with pytest.raises(ValueError):
        der.split_tlv(element[:-1])
