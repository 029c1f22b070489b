"""A minimal DER (ITU-T X.690) encoder for the few ASN.1 types Authenticode needs.

``cryptography`` parses certificates and signs; it has no API to build a PKCS#7 SignedData with a
non-``data`` content type (SpcIndirectDataContent) and without signingTime, so the structure is
written here. Only definite lengths and low tag numbers are supported.
"""

from __future__ import annotations

from collections.abc import Iterable

TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_SEQUENCE = 0x30
TAG_SET = 0x31
CONSTRUCTED = 0x20
CONTEXT = 0x80


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag byte, DER length, content."""
    return bytes([tag]) + encode_length(len(content)) + content


def sequence(*elements: bytes) -> bytes:
    return tlv(TAG_SEQUENCE, b"".join(elements))


def set_of(elements: Iterable[bytes]) -> bytes:
    """SET OF, with the elements sorted by their encodings as DER requires."""
    return tlv(TAG_SET, b"".join(sorted(elements)))


def integer(value: int) -> bytes:
    length = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(TAG_INTEGER, value.to_bytes(length, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return tlv(TAG_OCTET_STRING, value)


def null() -> bytes:
    return tlv(TAG_NULL, b"")


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] >= 40):
        raise ValueError(f"invalid object identifier {dotted!r}")
    body = bytearray()
    for arc in [40 * parts[0] + parts[1], *parts[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(TAG_OID, bytes(body))


def explicit(number: int, content: bytes) -> bytes:
    """``[number] EXPLICIT`` around already encoded element(s)."""
    return tlv(CONTEXT | CONSTRUCTED | number, content)


def implicit_primitive(number: int, content: bytes) -> bytes:
    """``[number] IMPLICIT`` for a primitive type (content octets only)."""
    return tlv(CONTEXT | number, content)


def implicit_constructed(number: int, content: bytes) -> bytes:
    """``[number] IMPLICIT`` for a constructed type (SET OF, SEQUENCE) given its content octets."""
    return tlv(CONTEXT | CONSTRUCTED | number, content)


def split_tlv(element: bytes) -> tuple[int, bytes]:
    """The tag and the content octets of one DER element (definite length)."""
    if len(element) < 2:
        raise ValueError("truncated DER element")
    first = element[1]
    if first < 0x80:
        start, length = 2, first
    else:
        n = first & 0x7F
        start, length = 2 + n, int.from_bytes(element[2 : 2 + n], "big")
    if start + length != len(element):
        raise ValueError("DER element length does not match its size")
    return element[0], element[start:]
