"""Errors raised by the ``gpt`` package (one base class, specific subclasses)."""

from __future__ import annotations


class GptError(Exception):
    """Base class of every error raised by ``gpt``.

    ``where`` names the structure or offset concerned, ``hint`` says what to change.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = self.message if self.where is None else f"{self.where}: {self.message}"
        return text if self.hint is None else f"{text} (hint: {self.hint})"


class PartitionTableError(GptError):
    """A GPT or protective MBR that cannot be built or does not parse/verify."""


class LayoutError(GptError):
    """Partitions or extents that overlap, fall outside the disk, or break alignment."""


class FatError(GptError):
    """A FAT file system that cannot hold its files or has an invalid name or parameter."""


class VhdError(GptError):
    """A VHD footer that cannot be built or does not parse/verify."""


class TarError(GptError):
    """A sparse tar archive that cannot be written."""
