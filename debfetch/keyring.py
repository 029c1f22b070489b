"""Debian archive keys and InRelease signature verification (spec §1.2).

The public key blocks of the bookworm and trixie archive keys are vendored under ``keys/``
(exported from the ``debian-archive-keyring`` package; public data), so the tool runs where no
Debian keyring is installed. Verification is pysequoia (the Sequoia engine behind apt's ``sqv``):
an InRelease is accepted when at least one signature made by a *pinned* signing key verifies, as
apt and chisel do. Only the text covered by that signature is returned; callers never parse the
unsigned envelope.

Known limitation: Sequoia checks key validity at the current time, not at the signature's creation
time, so a snapshot signed only by a key that has since expired would be refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

from pysequoia import Cert, verify

from .errors import SignatureError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveKey:
    """A vendored archive key: its file under ``keys/``, primary and signing fingerprints."""

    name: str
    primary: str
    signing: str


# Fingerprints from spec §1.2 (checked against the exported key files by the tests).
DEBIAN_KEYS: Final[tuple[ArchiveKey, ...]] = (
    ArchiveKey(name="debian-archive-bookworm-automatic",
               primary="b8b80b5b623eab6ad8775c45b7c5d7d6350947f8",
               signing="4cb50190207b4758a3f73a796ed0e7b82643e131"),
    ArchiveKey(name="debian-archive-bookworm-security-automatic",
               primary="05ab90340c0c5e797f44a8c8254cf3b5aec0a8f0",
               signing="b0cab9266e8c3929798b3eeebde6d2b9216ec7a8"),
    ArchiveKey(name="debian-archive-bookworm-stable",
               primary="4d64fec119c2029067d6e791f8d2585b8783d481",
               signing="4d64fec119c2029067d6e791f8d2585b8783d481"),
    ArchiveKey(name="debian-archive-trixie-automatic",
               primary="04b54c3cdca79751b16bc6b5225629df75b188bd",
               signing="b8e5f13176d2a7a75220028078dba3bc47ef2265"),
    ArchiveKey(name="debian-archive-trixie-security-automatic",
               primary="5e04a1e3223a19a20706e20f9904613d4cce68c6",
               signing="89c87acea5dd6b8e6a7068808e9f831205b4ba95"),
    ArchiveKey(name="debian-archive-trixie-stable",
               primary="41587f7db8c774bccf131416762f67a0b2c39de4",
               signing="41587f7db8c774bccf131416762f67a0b2c39de4"),
)

# Which keys may sign which archive ("observed signers" in spec §1.2).
ARCHIVE_KEY_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "debian": (
        "debian-archive-bookworm-automatic",
        "debian-archive-bookworm-stable",
        "debian-archive-trixie-automatic",
        "debian-archive-trixie-stable",
    ),
    "debian-security": (
        "debian-archive-bookworm-security-automatic",
        "debian-archive-trixie-security-automatic",
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyring:
    """Certificates offered to the verifier and the signing fingerprints we accept."""

    certs: tuple[Cert, ...]
    pinned: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedText:
    """The signed text of a clearsigned file and the pinned keys whose signatures verified."""

    text: bytes
    signers: tuple[str, ...]


def key_file_bytes(name: str) -> bytes:
    """The armored public key block vendored as ``keys/<name>.asc``."""
    try:
        return resources.files(__package__).joinpath("keys", f"{name}.asc").read_bytes()
    except OSError as e:
        raise SignatureError(f"vendored archive key is missing: {e}", where=f"debfetch/keys/{name}.asc",
                             hint="the installation lacks debfetch's package data (keys/*.asc)") from None


def make_keyring(keys: Sequence[ArchiveKey]) -> Keyring:
    certs = tuple(Cert.from_bytes(key_file_bytes(key.name)) for key in keys)
    return Keyring(certs=certs, pinned=frozenset(key.signing for key in keys))


def archive_keyring(archive: str) -> Keyring:
    """The pinned keyring for ``archive`` (``debian`` or ``debian-security``)."""
    try:
        names = ARCHIVE_KEY_NAMES[archive]
    except KeyError:
        raise SignatureError(
            f"no pinned keys for archive {archive!r}", where="archive",
            hint=f"known archives: {', '.join(sorted(ARCHIVE_KEY_NAMES))}",
        ) from None
    by_name = {key.name: key for key in DEBIAN_KEYS}
    return make_keyring([by_name[name] for name in names])


def verify_clearsigned(data: bytes, keyring: Keyring, *, where: str) -> VerifiedText:
    """Verify a clearsigned file; return its signed text or raise :class:`SignatureError`."""
    if not data.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
        raise SignatureError("not a clearsigned OpenPGP message", where=where)
    certs = list(keyring.certs)
    try:
        result = verify(bytes=data, store=lambda _keyids: certs)
    except RuntimeError as e:
        # pysequoia's message may carry a Rust backtrace after the first line.
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        first = first.removeprefix("Signature verification failed: ").rstrip(".")
        raise SignatureError(f"signature verification failed: {first}", where=where,
                             hint="the file was altered or is not signed by a pinned Debian key") from None
    signers = sorted({str(sig.signing_key).lower() for sig in result.valid_sigs} & keyring.pinned)
    if not signers:
        raise SignatureError("no valid signature from a pinned key", where=where)
    text = result.bytes
    if text is None:
        raise SignatureError("verifier returned no signed text", where=where)
    log.debug("%s: signed by %s", where, ", ".join(signers))
    return VerifiedText(text=text, signers=tuple(signers))
