"""Errors of the measurement engine.

Every error raised by ``uki.measure`` derives from :class:`MeasureError`, which derives from the
``uki`` package's base error so that callers can catch one hierarchy for the whole package.
"""

from __future__ import annotations

from uki.errors import UkiError


class MeasureError(UkiError):
    """Base class of every measurement error."""


class EventLogError(MeasureError):
    """A TCG / CCEL event log is malformed (offset says where)."""

    def __init__(self, message: str, *, offset: int | None = None, source: str | None = None) -> None:
        where = []
        if source is not None:
            where.append(source)
        if offset is not None:
            where.append(f"offset 0x{offset:x}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.offset = offset
        self.source = source


class FirmwareError(MeasureError):
    """An OVMF/TDVF firmware file lacks or has invalid TDX metadata."""


class UnsupportedStubError(MeasureError):
    """The UKI's systemd-stub version is unknown, so its measurements cannot be predicted."""


class ProfileError(MeasureError):
    """A platform profile file is missing, malformed or does not fit the request."""


class ExpectationError(MeasureError):
    """An expected-measurements file given to ``replay --expect`` is malformed."""
