"""Errors of the assembler: one hierarchy; the CLI turns each into one line plus a hint.

``RecipeError`` and the other input errors map to exit code 2, a failed build to exit code 1.
"""

from __future__ import annotations


class AssemblerError(Exception):
    """Base class. ``where`` names the file, key, package or path; ``hint`` says what to do."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class RecipeError(AssemblerError):
    """The recipe (or a file it names) is malformed or asks for something that does not exist."""

    exit_code = 2


class DebError(AssemblerError):
    """A .deb is malformed (ar container, control or data tar)."""

    exit_code = 2


class TreeError(AssemblerError):
    """Two packages disagree about a path, or a path escapes the root."""


class KmodError(AssemblerError):
    """Kernel module selection or index writing failed."""

    exit_code = 2


class BuildError(AssemblerError):
    """A build step failed for a reason other than bad input."""


class CpioError(AssemblerError):
    """A member cannot be represented in newc, or an archive is malformed."""


class InputError(AssemblerError):
    """A file given on the command line is not what the command reads."""

    exit_code = 2
