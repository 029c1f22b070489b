"""Errors raised by debfetch.

One base class, :class:`DebfetchError`, carrying *what* went wrong, *where* (file, URL, package,
key) and an optional *hint*. ``str(err)`` is a single line, which the CLI prints as is.
"""

from __future__ import annotations


class DebfetchError(Exception):
    """Base class of every error debfetch raises for bad input or a failed download."""

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self._line())

    def _line(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text += f" (hint: {self.hint})"
        # The CLI prints one line; never let a newline from a server or file slip in.
        return " ".join(text.split())


class SignatureError(DebfetchError):
    """An InRelease file carries no valid signature from a pinned archive key."""


class IntegrityError(DebfetchError):
    """A downloaded or cached file does not match its expected size or sha256."""


class FormatError(DebfetchError):
    """A Release, Packages or relation text (or a lockfile field) cannot be parsed."""


class UnknownPackage(DebfetchError):
    """A requested package (or pinned version/suite) is in none of the enabled indexes."""


class Unsatisfiable(DebfetchError):
    """A dependency cannot be met; the message names the chain of packages that led to it."""


class DownloadError(DebfetchError):
    """No mirror could deliver a file."""


class LockfileError(DebfetchError):
    """A lockfile is malformed or does not match what is asked of it."""
