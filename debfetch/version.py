"""Debian version comparison (Debian Policy §5.6.12, apt ``debversion.cc``).

The comparison itself is python-debian's pure-Python ``version_compare`` (epoch, then upstream and
revision with ``verrevcmp``: ``~`` sorts before everything, letters before other characters); the
tests check it against the vectors of ``specs/debian-and-rootfs.md`` §2.1, which were taken from
``dpkg --compare-versions``. This module adds the relation operators and a sort key.
"""

from __future__ import annotations

import functools
import re
from typing import Final, Literal

from debian.debian_support import version_compare as _version_compare

from .errors import FormatError

Operator = Literal["<<", "<=", "=", ">=", ">>"]

OPERATORS: Final[frozenset[str]] = frozenset({"<<", "<=", "=", ">=", ">>"})

# Policy §5.6.12: [epoch:]upstream[-revision]; upstream starts with a digit and may only
# contain ':' when there is an epoch.
_VERSION_RE: Final = re.compile(r"^(?:[0-9]+:[0-9][A-Za-z0-9.+~:-]*|[0-9][A-Za-z0-9.+~-]*)$")


def check_version(version: str, *, where: str) -> str:
    """Return ``version`` if it is syntactically a Debian version, else raise :class:`FormatError`."""
    if not _VERSION_RE.match(version):
        raise FormatError(f"malformed Debian version {version!r}", where=where)
    return version


def compare_versions(a: str, b: str) -> int:
    """Return a negative number, zero or a positive number as ``a`` is lower, equal or higher."""
    result: int = _version_compare(a, b)
    return (result > 0) - (result < 0)


version_key = functools.cmp_to_key(compare_versions)
"""Sort key: ``sorted(versions, key=version_key)`` orders from lowest to highest."""


def normalize_operator(op: str) -> Operator:
    """Map a relation operator to its canonical form; the obsolete ``<`` and ``>`` mean ``<=``/``>=``."""
    mapping: dict[str, Operator] = {
        "<<": "<<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">>", "<": "<=", ">": ">=",
    }
    try:
        return mapping[op]
    except KeyError:
        raise FormatError(f"unknown version operator {op!r}") from None


def satisfies(version: str, op: Operator, target: str) -> bool:
    """Whether ``version op target`` holds, e.g. ``satisfies("1.2", ">=", "1.0")``."""
    cmp = compare_versions(version, target)
    if op == "<<":
        return cmp < 0
    if op == "<=":
        return cmp <= 0
    if op == "=":
        return cmp == 0
    if op == ">=":
        return cmp >= 0
    return cmp > 0
