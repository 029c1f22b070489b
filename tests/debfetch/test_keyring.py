from __future__ import annotations

import pytest
from pysequoia import Cert, Tsk

from debfetch.errors import SignatureError
from debfetch.keyring import ARCHIVE_KEY_NAMES, DEBIAN_KEYS, archive_keyring, key_file_bytes, verify_clearsigned

from .archive import clearsign, throwaway_keyring

TEXT = b"Origin: Test\nSuite: trixie\nSHA256:\n"


def test_vendored_key_files_match_pinned_primary_fingerprints() -> None:
    for key in DEBIAN_KEYS:
        assert Cert.from_bytes(key_file_bytes(key.name)).fingerprint == key.primary


def test_archive_keyrings() -> None:
    assert len(archive_keyring("debian").certs) == len(ARCHIVE_KEY_NAMES["debian"])
    with pytest.raises(SignatureError, match="no pinned keys for archive 'ubuntu'"):
        archive_keyring("ubuntu")


def test_valid_signature_returns_signed_text() -> None:
    keyring = throwaway_keyring()
    verified = verify_clearsigned(clearsign(TEXT), keyring, where="InRelease")
    assert verified.text == TEXT
    assert verified.signers == tuple(sorted(keyring.pinned))


def test_flipped_byte_is_rejected() -> None:
    signed = bytearray(clearsign(TEXT))
    signed[signed.index(b"trixie")] ^= 0x01
    with pytest.raises(SignatureError) as info:
        verify_clearsigned(bytes(signed), throwaway_keyring(), where="http://m/dists/trixie/InRelease")
    assert str(info.value).startswith("http://m/dists/trixie/InRelease: signature verification failed")
    assert "\n" not in str(info.value)


def test_signature_by_an_unpinned_key_is_rejected() -> None:
    other = Tsk.generate("someone else <x@example.invalid>")
    with pytest.raises(SignatureError):
        verify_clearsigned(clearsign(TEXT, other), throwaway_keyring(), where="InRelease")
    # The key is offered to the verifier but its signing key is not pinned.
    keyring = throwaway_keyring(other)
    unpinned = type(keyring)(certs=keyring.certs, pinned=frozenset({"00" * 20}))
    with pytest.raises(SignatureError, match="no valid signature from a pinned key"):
        verify_clearsigned(clearsign(TEXT, other), unpinned, where="InRelease")


def test_debian_keys_refuse_a_throwaway_signature() -> None:
    with pytest.raises(SignatureError):
        verify_clearsigned(clearsign(TEXT), archive_keyring("debian"), where="InRelease")


def test_unsigned_input() -> None:
    with pytest.raises(SignatureError, match="not a clearsigned"):
        verify_clearsigned(TEXT, throwaway_keyring(), where="InRelease")
