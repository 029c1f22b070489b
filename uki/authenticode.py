"""Authenticode: the PE image hash, PKCS#7 signing and the PE checksum (spec `uki.md` §6).

The image hash (Microsoft "Windows Authenticode Portable Executable Signature Format") covers the
headers without the CheckSum field and the certificate-table directory entry, the sections' raw
data in file order, and trailing data before the certificate table. The same value is what UEFI
firmware extends into PCR 4 / RTMR1 for the image and what a ``db`` EFI_CERT_SHA256 entry holds.

Signing builds a PKCS#7 SignedData around SpcIndirectDataContent by hand (``uki.der``), with
authenticated attributes contentType, messageDigest and an empty SpcSpOpusInfo, and **no
signingTime**, so signing is deterministic with RSA PKCS#1 v1.5 keys. The result is embedded as a
WIN_CERTIFICATE (revision 2.0, PKCS_SIGNED_DATA) and the PE CheckSum is recomputed like sbsign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from uki import der
from uki.errors import SigningError
from uki.pe import DATA_DIRECTORY_SIZE, DIRECTORY_SECURITY, PeImage, read_pe, round_up

HashAlgorithm = Literal["sha256", "sha384"]

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
OID_SPC_PE_IMAGE_DATA = "1.3.6.1.4.1.311.2.1.15"
OID_SPC_SP_OPUS_INFO = "1.3.6.1.4.1.311.2.1.12"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_HASH = {"sha256": "2.16.840.1.101.3.4.2.1", "sha384": "2.16.840.1.101.3.4.2.2"}
OBSOLETE = "<<<Obsolete>>>"

WIN_CERT_REVISION_2_0 = 0x0200
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
WIN_CERTIFICATE_HEADER_SIZE = 8
CERTIFICATE_ALIGNMENT = 8
MIN_RSA_BITS = 2048


def _hasher(algorithm: HashAlgorithm) -> hashlib._Hash:
    if algorithm not in OID_HASH:
        raise SigningError(f"unsupported Authenticode hash {algorithm!r} (use sha256 or sha384)")
    return hashlib.new(algorithm)


def image_digest(pe: PeImage, algorithm: HashAlgorithm) -> bytes:
    """The Authenticode hash of a parsed PE (spec §6.1)."""
    h = _hasher(algorithm)
    f = memoryview(pe.data)  # slices without copies: UKIs can be hundreds of MiB
    checksum = pe.checksum_offset
    h.update(f[:checksum])
    if len(pe.data_directories) > DIRECTORY_SECURITY:
        security = pe.data_directory_offset(DIRECTORY_SECURITY)
        h.update(f[checksum + 4 : security])
        h.update(f[security + DATA_DIRECTORY_SIZE : pe.size_of_headers])
    else:
        h.update(f[checksum + 4 : pe.size_of_headers])
    hashed = pe.size_of_headers
    for section in sorted(pe.sections, key=lambda s: s.pointer_to_raw_data):
        if section.size_of_raw_data:
            h.update(f[section.pointer_to_raw_data : section.pointer_to_raw_data + section.size_of_raw_data])
            hashed += section.size_of_raw_data
    cert_size = pe.security_directory.size if pe.is_signed else 0
    if len(f) > hashed + cert_size:
        h.update(f[hashed : len(f) - cert_size])
    return h.digest()


def authenticode_digest(pe: bytes, algorithm: Literal["sha256", "sha384"]) -> bytes:
    """The Authenticode (PE image) hash of ``pe``; equal before and after signing."""
    return image_digest(read_pe(pe), algorithm)


def pe_checksum(data: bytes, checksum_offset: int) -> int:
    """The PE CheckSum as sbsign computes it: the end-around-carry sum of the file's 16-bit LE words
    (CheckSum field read as 0, an odd last byte zero-padded), plus the file length.

    The word sum with the carry folded back after each add is the one's-complement sum, which is
    the little-endian integer of the whole file modulo 0xFFFF (2**16 = 1 mod 0xFFFF), in 1..0xFFFF
    unless every word is zero. Byte i contributes ``b * 256**(i % 2)``, which lets us take the
    CheckSum field out without copying the file.
    """
    folded = int.from_bytes(data, "little") % 0xFFFF
    for i in range(checksum_offset, min(checksum_offset + 4, len(data))):
        folded -= data[i] << (8 * (i % 2))
    folded %= 0xFFFF
    if folded == 0 and (data[:checksum_offset].strip(b"\0") or data[checksum_offset + 4 :].strip(b"\0")):
        folded = 0xFFFF
    return (folded + len(data)) & 0xFFFFFFFF


def _algorithm_identifier(algorithm: HashAlgorithm) -> bytes:
    return der.sequence(der.oid(OID_HASH[algorithm]), der.null())


def spc_indirect_data(digest: bytes, algorithm: HashAlgorithm) -> bytes:
    """SpcIndirectDataContent for a PE image with this digest."""
    obsolete = der.implicit_primitive(0, OBSOLETE.encode("utf-16-be"))  # SpcString.unicode
    link = der.explicit(0, der.explicit(2, obsolete))  # SpcPeImageData.file = SpcLink.file
    pe_image_data = der.sequence(der.tlv(der.TAG_BIT_STRING, b"\x00"), link)
    return der.sequence(
        der.sequence(der.oid(OID_SPC_PE_IMAGE_DATA), pe_image_data),
        der.sequence(_algorithm_identifier(algorithm), der.octet_string(digest)),
    )


def _hash_object(algorithm: HashAlgorithm) -> hashes.HashAlgorithm:
    return hashes.SHA256() if algorithm == "sha256" else hashes.SHA384()


def build_pkcs7(
    digest: bytes,
    *,
    private_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    algorithm: HashAlgorithm = "sha256",
) -> bytes:
    """DER ContentInfo(SignedData) signing the Authenticode ``digest`` (spec §6.2)."""
    idc = spc_indirect_data(digest, algorithm)
    _, idc_content = der.split_tlv(idc)
    message_digest = hashlib.new(algorithm, idc_content).digest()  # PKCS#7: hash the content octets
    attributes = der.set_of(
        [
            der.sequence(der.oid(OID_CONTENT_TYPE), der.set_of([der.oid(OID_SPC_INDIRECT_DATA)])),
            der.sequence(der.oid(OID_MESSAGE_DIGEST), der.set_of([der.octet_string(message_digest)])),
            der.sequence(der.oid(OID_SPC_SP_OPUS_INFO), der.set_of([der.sequence()])),
        ]
    )
    signature = private_key.sign(attributes, padding.PKCS1v15(), _hash_object(algorithm))
    _, attribute_content = der.split_tlv(attributes)
    signer_info = der.sequence(
        der.integer(1),
        der.sequence(certificate.issuer.public_bytes(), der.integer(certificate.serial_number)),
        _algorithm_identifier(algorithm),
        der.implicit_constructed(0, attribute_content),
        der.sequence(der.oid(OID_RSA_ENCRYPTION), der.null()),
        der.octet_string(signature),
    )
    certificates = b"".join(c.public_bytes(serialization.Encoding.DER) for c in (certificate, *chain))
    signed_data = der.sequence(
        der.integer(1),
        der.set_of([_algorithm_identifier(algorithm)]),
        der.sequence(der.oid(OID_SPC_INDIRECT_DATA), der.explicit(0, idc)),
        der.implicit_constructed(0, certificates),
        der.set_of([signer_info]),
    )
    return der.sequence(der.oid(OID_SIGNED_DATA), der.explicit(0, signed_data))


def sign_pe(
    pe: bytes,
    *,
    private_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    algorithm: Literal["sha256", "sha384"] = "sha256",
) -> bytes:
    """Return ``pe`` with an embedded Authenticode signature and an updated PE CheckSum.

    Deterministic: signing the same bytes with the same RSA key and certificate gives the same output.
    """
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SigningError("only RSA keys are supported (PKCS#1 v1.5 signatures are deterministic)")
    if private_key.key_size < MIN_RSA_BITS:
        raise SigningError(f"RSA key has {private_key.key_size} bits; use at least {MIN_RSA_BITS}")
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SigningError("the certificate does not match the private key")
    image = read_pe(pe, what="image to sign")
    if image.is_signed:
        raise SigningError("image is already signed")
    if len(image.data_directories) <= DIRECTORY_SECURITY:
        raise SigningError("image has no certificate table directory entry (NumberOfRvaAndSizes <= 4)")
    # sbsign pads the image to 8 bytes first and hashes the padding as trailing data.
    unsigned = image.data + bytes(round_up(len(image.data), CERTIFICATE_ALIGNMENT) - len(image.data))
    image = read_pe(unsigned, what="image to sign")
    p7 = build_pkcs7(
        image_digest(image, algorithm),
        private_key=private_key,
        certificate=certificate,
        chain=chain,
        algorithm=algorithm,
    )
    length = WIN_CERTIFICATE_HEADER_SIZE + len(p7)
    entry = (
        length.to_bytes(4, "little")
        + WIN_CERT_REVISION_2_0.to_bytes(2, "little")
        + WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_bytes(2, "little")
        + p7
    )
    entry += bytes(round_up(len(entry), CERTIFICATE_ALIGNMENT) - len(entry))
    out = bytearray(unsigned + entry)
    directory = image.data_directory_offset(DIRECTORY_SECURITY)
    out[directory : directory + 8] = len(unsigned).to_bytes(4, "little") + len(entry).to_bytes(4, "little")
    checksum = pe_checksum(bytes(out), image.checksum_offset)
    out[image.checksum_offset : image.checksum_offset + 4] = checksum.to_bytes(4, "little")
    return bytes(out)
