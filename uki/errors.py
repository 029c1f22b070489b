"""Errors raised by the ``uki`` package.

Every error carries a one-line message that says what is wrong and where (which input, which
section, which offset) and an optional hint. The CLI prints ``str(error)`` and exits 2; library
code never prints.
"""

from __future__ import annotations


class UkiError(Exception):
    """Base class of every error the ``uki`` package raises for bad input."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class PeFormatError(UkiError):
    """A PE/COFF image is malformed, truncated or hostile (bad offsets, overlaps, sizes)."""


class StubError(UkiError):
    """The systemd-stub cannot be used: signed, unknown version, not a stub."""


class KernelError(UkiError):
    """The kernel image is unusable (not a PE, unreadable version string)."""


class SectionError(UkiError):
    """A payload section is invalid: bad name, duplicate, or it collides with the stub."""


class PlacementError(UkiError):
    """The sections do not fit: no header room, ``.sbat`` too large or overlapping in memory."""


class SbatError(UkiError):
    """An SBAT text is not valid CSV text in the ``sbat,`` format."""


class SigningError(UkiError):
    """Authenticode signing failed: unsupported key, certificate mismatch, already signed."""
