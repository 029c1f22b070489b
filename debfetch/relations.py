"""Package relation fields (``Depends``, ``Pre-Depends``, ``Provides``, ``Conflicts``, ``Breaks``).

Syntax (Debian Policy §7.1, spec §2.1): ``a (>= 1) | b, c:any`` — ``,`` is AND, ``|`` is OR, an
optional ``:arch`` qualifier (``any``, ``native`` or an architecture) and an optional version
constraint with ``<< <= = >= >>`` (the obsolete ``<``/``>`` mean ``<=``/``>=``). Architecture lists
``[...]`` and build profiles ``<...>`` only occur in source relations and are dropped. Parsing is
python-debian's ``PkgRelation``; this module converts its dictionaries into our frozen types and
rejects what it could not parse (it returns such text raw as a "name").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from debian.deb822 import PkgRelation

from .errors import FormatError
from .version import Operator, check_version, normalize_operator, satisfies

_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    """A version constraint such as ``>= 2.36``."""

    op: Operator
    version: str

    def accepts(self, version: str) -> bool:
        return satisfies(version, self.op, self.version)

    def __str__(self) -> str:
        return f"{self.op} {self.version}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternative:
    """One alternative of an OR group: a package name, an arch qualifier and a constraint."""

    name: str
    arch: str | None = None
    constraint: Constraint | None = None

    def __str__(self) -> str:
        text = self.name if self.arch is None else f"{self.name}:{self.arch}"
        return text if self.constraint is None else f"{text} ({self.constraint})"


Group = tuple[Alternative, ...]
"""An OR group; a relation field is a tuple of groups that must all hold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Provided:
    """One entry of ``Provides``; only ``(= v)`` may carry a version (Policy §7.5)."""

    name: str
    version: str | None = None


def format_group(group: Group) -> str:
    return " | ".join(str(alt) for alt in group)


def _alternative(raw: Mapping[str, object], *, text: str, where: str) -> Alternative:
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise FormatError(f"cannot parse relation {text!r}", where=where)
    archqual = raw.get("archqual")
    arch = archqual if isinstance(archqual, str) else None
    constraint = None
    version = raw.get("version")
    if version is not None:
        if not (isinstance(version, tuple) and len(version) == 2):
            raise FormatError(f"cannot parse relation {text!r}", where=where)
        op, ver = version
        try:
            norm_op = normalize_operator(str(op))
        except FormatError as e:
            raise FormatError(e.what + f" in {text!r}", where=where) from None
        constraint = Constraint(op=norm_op, version=check_version(str(ver), where=where))
    return Alternative(name=name, arch=arch, constraint=constraint)


def parse_relations(text: str, *, where: str = "relation") -> tuple[Group, ...]:
    """Parse a relation field into AND-ed OR groups; an empty field gives ``()``."""
    if not text.strip():
        return ()
    groups: list[Group] = []
    for raw_group in PkgRelation.parse_relations(text):
        groups.append(tuple(_alternative(raw, text=text, where=where) for raw in raw_group))
    return tuple(groups)


def parse_provides(text: str, *, where: str = "Provides") -> tuple[Provided, ...]:
    """Parse a ``Provides`` field; alternatives and operators other than ``=`` are errors."""
    result: list[Provided] = []
    for group in parse_relations(text, where=where):
        if len(group) != 1:
            raise FormatError(f"alternatives are not allowed in Provides: {text!r}", where=where)
        alt = group[0]
        if alt.constraint is not None and alt.constraint.op != "=":
            raise FormatError(f"Provides may only use '=': {text!r}", where=where)
        result.append(Provided(name=alt.name, version=alt.constraint.version if alt.constraint else None))
    return tuple(result)
