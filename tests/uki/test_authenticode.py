"""uki.authenticode: image digest, deterministic PKCS#7 signing, PE checksum — checked by peer tools.

sbverify (sbsigntool) and osslsigncode are Debian packages listed in scripts/apt-packages.txt.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pefile
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.uki.pefixtures import make_cert, make_kernel, make_stub
from uki import authenticode_digest, build_uki, read_pe, sign_pe
from uki.authenticode import pe_checksum
from uki.errors import PeFormatError, SigningError


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> tuple[rsa.RSAPrivateKey, x509.Certificate, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_cert(key)
    path = tmp_path_factory.mktemp("signer") / "db.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


@pytest.fixture(scope="module")
def uki_image() -> bytes:
    return build_uki(stub=make_stub(), linux=make_kernel(), initrds=[b"initrd" * 999], cmdline=b"quiet")


def run(*args: str | Path) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args[0]} failed: {result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def osslsigncode_digests(path: Path, ca: Path) -> tuple[str, str]:
    out = run("osslsigncode", "verify", "-CAfile", ca, "-in", path)
    assert "Succeeded" in out
    current = re.search(r"Current message digest\s*:\s*([0-9A-F]+)", out)
    calculated = re.search(r"Calculated message digest\s*:\s*([0-9A-F]+)", out)
    assert current and calculated
    return current[1].lower(), calculated[1].lower()


@pytest.mark.parametrize("algorithm", ["sha256", "sha384"])
def test_signed_uki_verifies_with_osslsigncode(
    algorithm: str, uki_image: bytes, signer: tuple[rsa.RSAPrivateKey, x509.Certificate, Path], tmp_path: Path
) -> None:
    key, cert, cert_path = signer
    signed = sign_pe(uki_image, private_key=key, certificate=cert, algorithm=algorithm)  # type: ignore[arg-type]
    path = tmp_path / "signed.efi"
    path.write_bytes(signed)
    digest = authenticode_digest(uki_image, algorithm)  # type: ignore[arg-type]
    assert osslsigncode_digests(path, cert_path) == (digest.hex(), digest.hex())
    assert authenticode_digest(signed, algorithm) == digest  # type: ignore[arg-type]


def test_signed_uki_verifies_with_sbverify(
    uki_image: bytes, signer: tuple[rsa.RSAPrivateKey, x509.Certificate, Path], tmp_path: Path
) -> None:
    key, cert, cert_path = signer
    path = tmp_path / "signed.efi"
    path.write_bytes(sign_pe(uki_image, private_key=key, certificate=cert))
    assert "Signature verification OK" in run("sbverify", "--cert", cert_path, path)


def test_signing_is_deterministic_and_has_no_signing_time(
    uki_image: bytes, signer: tuple[rsa.RSAPrivateKey, x509.Certificate, Path]
) -> None:
    key, cert, _ = signer
    first = sign_pe(uki_image, private_key=key, certificate=cert)
    assert first == sign_pe(uki_image, private_key=key, certificate=cert)
    signing_time_oid = bytes.fromhex("06092a864886f70d010905")  # 1.2.840.113549.1.9.5
    assert signing_time_oid not in first


def test_signed_layout_and_checksum(uki_image: bytes, signer: tuple[rsa.RSAPrivateKey, x509.Certificate, Path]) -> None:
    key, cert, _ = signer
    signed = sign_pe(uki_image + b"odd", private_key=key, certificate=cert)
    pe = read_pe(signed)
    security = pe.security_directory
    assert security.virtual_address == len(uki_image) + 8  # padded to 8 bytes before the table
    assert security.virtual_address + security.size == len(signed)
    assert security.size % 8 == 0
    length = int.from_bytes(signed[security.virtual_address : security.virtual_address + 4], "little")
    assert signed[security.virtual_address + 4 : security.virtual_address + 8] == b"\x00\x02\x02\x00"
    assert length <= security.size < length + 8
    # pefile's checksum routine is an independent implementation of the same sum
    assert pe.checksum == pefile.PE(data=signed, fast_load=True).generate_checksum()
    assert pe.checksum == pe_checksum(signed, pe.checksum_offset)


def test_digest_equals_the_one_sbsign_embeds(
    uki_image: bytes, signer: tuple[rsa.RSAPrivateKey, x509.Certificate, Path], tmp_path: Path
) -> None:
    key, _, cert_path = signer
    key_path = tmp_path / "db.key"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    unsigned = tmp_path / "uki.efi"
    unsigned.write_bytes(uki_image)
    sbsigned = tmp_path / "uki.signed.efi"
    run("sbsign", "--key", key_path, "--cert", cert_path, "--output", sbsigned, unsigned)
    current, _ = osslsigncode_digests(sbsigned, cert_path)
    assert current == authenticode_digest(uki_image, "sha256").hex()
    assert authenticode_digest(sbsigned.read_bytes(), "sha256").hex() == current


def test_refusals(uki_image: bytes, signer: tuple[rsa.RSAPrivateKey, x509.Certificate, Path]) -> None:
    key, cert, _ = signer
    signed = sign_pe(uki_image, private_key=key, certificate=cert)
    with pytest.raises(SigningError, match="already signed"):
        sign_pe(signed, private_key=key, certificate=cert)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SigningError, match="does not match"):
        sign_pe(uki_image, private_key=other, certificate=cert)
    with pytest.raises(SigningError, match="only RSA"):
        sign_pe(uki_image, private_key=ec.generate_private_key(ec.SECP256R1()), certificate=cert)  # type: ignore[arg-type]
    with pytest.raises(PeFormatError):
        sign_pe(b"not a pe", private_key=key, certificate=cert)


def test_digest_covers_trailing_data_but_not_checksum(uki_image: bytes) -> None:
    base = authenticode_digest(uki_image, "sha256")
    pe = read_pe(uki_image)
    patched = bytearray(uki_image)
    patched[pe.checksum_offset] ^= 0xFF
    assert authenticode_digest(bytes(patched), "sha256") == base
    assert authenticode_digest(uki_image + b"\0" * 8, "sha256") != base


def _checksum_by_the_book(data: bytes, offset: int) -> int:
    """Spec §6.3 literally: 16-bit words, fold the carry after each add, add the length."""
    buf = bytearray(data)
    buf[offset : offset + 4] = bytes(len(buf[offset : offset + 4]))
    if len(buf) % 2:
        buf.append(0)
    total = 0
    for i in range(0, len(buf), 2):
        total += buf[i] | buf[i + 1] << 8
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def test_checksum_matches_the_word_by_word_algorithm() -> None:
    import random

    rng = random.Random(42)
    for size in (8, 9, 64, 1001, 4096):
        for pattern in ("random", "ones", "zeros", "field-only"):
            if pattern == "random":
                data = bytes(rng.randrange(256) for _ in range(size))
            elif pattern == "ones":
                data = b"\xff" * size
            elif pattern == "zeros":
                data = bytes(size)
            else:
                data = bytes(2) + b"\x07" + bytes(size - 3)
            offset = 1 if pattern == "field-only" else rng.randrange(0, size - 3)
            assert pe_checksum(data, offset) == _checksum_by_the_book(data, offset), (size, pattern, offset)
