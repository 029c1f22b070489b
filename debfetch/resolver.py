"""Dependency resolution (spec §2.2), deterministic and without backtracking.

1. **Universe**: every stanza whose arch is the target or ``all``; a name's *candidate* is its
   highest version across the enabled suites (suites marked ``NotAutomatic`` only when no other
   suite has the name), unless a request pins ``name=version`` or ``name/suite``. Providers are
   indexed from every candidate's ``Provides``.
2. **Seeds**: the requested packages, plus every ``Essential: yes`` package (base ``essential``),
   plus every ``Priority: required`` one (base ``required``); base ``minimal`` adds nothing.
3. **Closure**: a FIFO queue, seeds first, then each package's Pre-Depends and Depends in field
   order. For each AND group: (a) done if an alternative is already selected (seeds are selected
   up front) and meets its constraint; (b) else the first alternative that is a real package
   meeting the constraint — a real package beats a provider; (c) else providers: one is taken
   directly, among several prefer an already selected one, then ``Priority: required``, then
   ``important``, then the caller's tie-break table — never alphabetical; (d) else fail naming the
   chain of packages that led there.
4. **One version per name**: only candidates are ever selected; a constraint the selected version
   does not meet is an error, not a second copy.
5. **Post-checks**: no ``Conflicts``/``Breaks`` between selected packages (a package never
   conflicts with itself). Recommends and Suggests are not followed; skipped Recommends are
   reported in :attr:`Resolution.skipped_recommends`.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from .errors import DebfetchError, UnknownPackage, Unsatisfiable
from .packages import BinaryPackage
from .relations import Alternative, Group, Provided, format_group, parse_provides, parse_relations
from .version import check_version, compare_versions

log = logging.getLogger(__name__)

Base = Literal["essential", "required", "minimal"]
BASES: Final[tuple[str, ...]] = ("essential", "required", "minimal")
_REQUEST_RE: Final = re.compile(r"^([a-z0-9][a-z0-9+.-]*)(?:=([^/=\s]+)|/([A-Za-z0-9._-]+))?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A requested package: ``name``, ``name=version`` or ``name/suite``."""

    name: str
    version: str | None = None
    suite: str | None = None

    def __str__(self) -> str:
        if self.version:
            return f"{self.name}={self.version}"
        return f"{self.name}/{self.suite}" if self.suite else self.name


def parse_request(text: str) -> Request:
    match = _REQUEST_RE.match(text.strip())
    if not match:
        raise UnknownPackage(f"malformed package request {text!r}", where="packages",
                             hint="use name, name=version or name/suite")
    name, version, suite = match.groups()
    if version is not None:
        check_version(version, where=f"packages: {text}")
    return Request(name=name, version=version, suite=suite)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selected:
    """A package in the resolved set, why it is there and what it depends on."""

    package: BinaryPackage
    reason: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    packages: tuple[Selected, ...]
    """Sorted by name (one arch, one version per name)."""
    skipped_recommends: tuple[str, ...]


class Universe:
    """Candidates and providers of the enabled suites (spec §2.2 step 1)."""

    def __init__(self, packages: Iterable[BinaryPackage], *, arch: str,
                 not_automatic: frozenset[str] = frozenset(),
                 pins: Mapping[str, Request] | None = None) -> None:
        self.arch = arch
        pins = pins or {}
        by_name: dict[str, list[BinaryPackage]] = {}
        for pkg in packages:
            if pkg.arch in (arch, "all"):
                by_name.setdefault(pkg.name, []).append(pkg)
        for name, pin in pins.items():
            if name not in by_name:
                raise UnknownPackage(f"no package {name!r} in the enabled suites", where=f"packages: {pin}")
        self.candidates: dict[str, BinaryPackage] = {}
        for name, versions in by_name.items():
            self.candidates[name] = self._candidate(versions, pins.get(name), not_automatic)
        # Every candidate's Provides is indexed by name with a cheap split; the full parse (and its
        # validation) happens for the few names the resolver actually asks about.
        self._maybe_providers: dict[str, list[BinaryPackage]] = {}
        for name in sorted(self.candidates, key=str.encode):
            pkg = self.candidates[name]
            if pkg.provides:
                for item in pkg.provides.split(","):
                    token = item.split("(", 1)[0].split(":", 1)[0].strip()
                    self._maybe_providers.setdefault(token, []).append(pkg)
        self._providers: dict[str, tuple[tuple[BinaryPackage, Provided], ...]] = {}
        self._relations: dict[tuple[str, str], tuple[Group, ...]] = {}

    def providers_of(self, name: str) -> tuple[tuple[BinaryPackage, Provided], ...]:
        """Candidates that provide ``name``, with the provided version, sorted by package name."""
        if name not in self._providers:
            found: list[tuple[BinaryPackage, Provided]] = []
            for pkg in self._maybe_providers.get(name, ()):
                for provided in parse_provides(pkg.provides, where=f"{pkg}: Provides"):
                    if provided.name == name:
                        found.append((pkg, provided))
            self._providers[name] = tuple(found)
        return self._providers[name]

    @staticmethod
    def _candidate(versions: list[BinaryPackage], pin: Request | None,
                   not_automatic: frozenset[str]) -> BinaryPackage:
        pool = versions
        if pin is not None and pin.version is not None:
            pool = [p for p in versions if compare_versions(p.version, pin.version) == 0]
            if not pool:
                have = ", ".join(sorted({p.version for p in versions}))
                raise UnknownPackage(f"version {pin.version} of {pin.name} is not available (have {have})",
                                     where=f"packages: {pin}")
        elif pin is not None and pin.suite is not None:
            pool = [p for p in versions if p.suite == pin.suite]
            if not pool:
                raise UnknownPackage(f"{pin.name} is not in suite {pin.suite}", where=f"packages: {pin}")
        else:
            automatic = [p for p in versions if p.suite not in not_automatic]
            pool = automatic or versions
        best = pool[0]
        for pkg in pool[1:]:
            # Strictly higher wins, so on equal versions the earlier suite (source order) stays.
            if compare_versions(pkg.version, best.version) > 0:
                best = pkg
        return best

    def relations(self, pkg: BinaryPackage, field: str) -> tuple[Group, ...]:
        key = (pkg.name, field)
        if key not in self._relations:
            text = {"pre-depends": pkg.pre_depends, "depends": pkg.depends, "conflicts": pkg.conflicts,
                    "breaks": pkg.breaks, "recommends": pkg.recommends}[field]
            self._relations[key] = parse_relations(text, where=f"{pkg}: {field}")
        return self._relations[key]


def _arch_ok(alt: Alternative, pkg: BinaryPackage, arch: str) -> bool:
    if alt.arch is None or alt.arch in ("any", "native"):
        return True
    return alt.arch == pkg.arch or (pkg.arch == "all" and alt.arch == arch)


def _real_matches(alt: Alternative, pkg: BinaryPackage, arch: str) -> bool:
    if not _arch_ok(alt, pkg, arch):
        return False
    return alt.constraint is None or alt.constraint.accepts(pkg.version)


def _provide_matches(alt: Alternative, provided: Provided) -> bool:
    if alt.constraint is None:
        return True
    return provided.version is not None and alt.constraint.accepts(provided.version)


class _Resolver:
    def __init__(self, universe: Universe, tie_breaks: Mapping[str, str]) -> None:
        self.u = universe
        self.tie_breaks = tie_breaks
        self.selected: dict[str, BinaryPackage] = {}
        self.reason: dict[str, str] = {}
        self.parent: dict[str, str | None] = {}
        self.depends_on: dict[str, set[str]] = {}
        self.queue: deque[str] = deque()

    def chain(self, name: str | None) -> str:
        names: list[str] = []
        while name is not None and name not in names:
            names.append(name)
            name = self.parent.get(name)
        return " -> ".join(reversed(names))

    def select(self, pkg: BinaryPackage, *, reason: str, parent: str | None) -> None:
        if pkg.name in self.selected:
            return
        self.selected[pkg.name] = pkg
        self.reason[pkg.name] = reason
        self.parent[pkg.name] = parent
        self.depends_on[pkg.name] = set()
        self.queue.append(pkg.name)

    def _selected_providers(self, alt: Alternative) -> list[BinaryPackage]:
        return [pkg for pkg, provided in self.u.providers_of(alt.name)
                if pkg.name in self.selected and _provide_matches(alt, provided)]

    def satisfy(self, group: Group, *, parent: str | None, reason: str, field: str) -> str:
        """Return the name of the package that satisfies ``group``, selecting it if needed."""
        arch = self.u.arch
        # (a) already selected (seeds included).
        for alt in group:
            pkg = self.selected.get(alt.name)
            if pkg is not None and _real_matches(alt, pkg, arch):
                return pkg.name
            providers = self._selected_providers(alt)
            if providers:
                return providers[0].name
        # (b) a real package, left to right.
        for alt in group:
            cand = self.u.candidates.get(alt.name)
            if cand is not None and _real_matches(alt, cand, arch) and alt.name not in self.selected:
                self.select(cand, reason=reason, parent=parent)
                return cand.name
        # (c) providers, left to right.
        for alt in group:
            matching: dict[str, BinaryPackage] = {}
            for pkg, provided in self.u.providers_of(alt.name):
                if _provide_matches(alt, provided) and _arch_ok(alt, pkg, arch):
                    matching.setdefault(pkg.name, pkg)
            if not matching:
                continue
            choice = self._choose_provider(alt, matching, parent=parent, field=field)
            self.select(choice, reason=reason, parent=parent)
            return choice.name
        # (d) nothing fits.
        raise self._unsatisfiable(group, parent=parent, field=field)

    def _choose_provider(self, alt: Alternative, matching: Mapping[str, BinaryPackage], *,
                         parent: str | None, field: str) -> BinaryPackage:
        pool = sorted(matching.values(), key=lambda p: p.name.encode())
        if len(pool) == 1:
            return pool[0]
        for priority in ("required", "important"):
            tier = [p for p in pool if p.priority == priority]
            if len(tier) == 1:
                return tier[0]
            if tier:
                pool = tier
                break
        wanted = self.tie_breaks.get(alt.name)
        for pkg in pool:
            if pkg.name == wanted:
                return pkg
        names = ", ".join(p.name for p in pool)
        where = f"{self.chain(parent)} {field}" if parent else "packages"
        raise Unsatisfiable(f"several packages provide {alt.name}: {names}", where=where,
                            hint=f"add a tie-break, e.g. {alt.name} = \"{pool[0].name}\"")

    def _unsatisfiable(self, group: Group, *, parent: str | None, field: str) -> Unsatisfiable:
        details: list[str] = []
        for alt in group:
            pkg = self.selected.get(alt.name)
            cand = self.u.candidates.get(alt.name)
            if pkg is not None:
                details.append(f"{pkg} is already selected ({self.reason[pkg.name]}, via "
                               f"{self.chain(pkg.name)}) and only one version per name is allowed")
            elif cand is not None:
                details.append(f"only {cand} ({cand.suite}) is available")
            elif self.u.providers_of(alt.name):
                details.append(f"no provider of {alt.name} matches")
            else:
                details.append(f"no package {alt.name}")
        where = f"{self.chain(parent)} {field}" if parent else "packages"
        return Unsatisfiable(f"cannot satisfy {format_group(group)}: {'; '.join(details)}", where=where)

    def run(self) -> None:
        while self.queue:
            name = self.queue.popleft()
            pkg = self.selected[name]
            for field in ("pre-depends", "depends"):
                for group in self.u.relations(pkg, field):
                    chosen = self.satisfy(group, parent=name, reason=f"dependency of {name}", field=field)
                    if chosen != name:
                        self.depends_on[name].add(chosen)

    def check_conflicts(self) -> None:
        problems: list[str] = []
        for name in sorted(self.selected, key=str.encode):
            pkg = self.selected[name]
            for field in ("conflicts", "breaks"):
                for group in self.u.relations(pkg, field):
                    for alt in group:
                        other = self.selected.get(alt.name)
                        if other is not None and other.name != name and _real_matches(alt, other, self.u.arch):
                            problems.append(f"{pkg} {field.capitalize()} {alt} (selected {other})")
                        for prov in self._selected_providers(alt):
                            if prov.name != name and prov.name != alt.name:
                                problems.append(f"{pkg} {field.capitalize()} {alt} (provided by {prov})")
        if problems:
            more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
            raise Unsatisfiable(f"conflicting packages selected: {problems[0]}{more}", where="resolution",
                                hint="pin a version or add a tie-break that avoids the conflict")

    def skipped_recommends(self) -> tuple[str, ...]:
        skipped: set[str] = set()
        for name in self.selected:
            for group in self.u.relations(self.selected[name], "recommends"):
                if not any(alt.name in self.selected or self._selected_providers(alt) for alt in group):
                    skipped.add(format_group(group))
        return tuple(sorted(skipped, key=str.encode))


def base_seeds(universe: Universe, base: Base) -> list[tuple[BinaryPackage, str]]:
    """The implicit seeds of ``base`` with their reasons, sorted by name."""
    if base not in BASES:
        raise DebfetchError(f"unknown base {base!r}", where="base", hint=f"one of {', '.join(BASES)}")
    seeds: list[tuple[BinaryPackage, str]] = []
    if base == "minimal":
        return seeds
    for name in sorted(universe.candidates, key=str.encode):
        pkg = universe.candidates[name]
        if pkg.essential:
            seeds.append((pkg, "essential"))
        elif base == "required" and pkg.priority == "required":
            seeds.append((pkg, "required"))
    return seeds


def resolve(universe: Universe, requests: Sequence[Request], *, base: Base = "essential",
            tie_breaks: Mapping[str, str] | None = None) -> Resolution:
    """Resolve the closure of ``requests`` plus the ``base`` seeds over ``universe``."""
    r = _Resolver(universe, tie_breaks or {})
    virtual_requests: list[Request] = []
    for req in requests:
        cand = universe.candidates.get(req.name)
        if cand is not None:
            r.select(cand, reason="requested", parent=None)
        elif universe.providers_of(req.name) and req.version is None and req.suite is None:
            virtual_requests.append(req)
        else:
            raise UnknownPackage(f"no package {req.name!r} in the enabled suites", where=f"packages: {req}",
                                 hint="check the spelling and the recipe's suites and components")
    for pkg, reason in base_seeds(universe, base):
        r.select(pkg, reason=reason, parent=None)
    for req in virtual_requests:
        r.satisfy((Alternative(name=req.name),), parent=None, reason="requested", field="packages")
    r.run()
    r.check_conflicts()
    packages = tuple(
        Selected(package=r.selected[name], reason=r.reason[name],
                 depends_on=tuple(sorted(r.depends_on[name], key=str.encode)))
        for name in sorted(r.selected, key=str.encode)
    )
    log.info("resolved %d packages", len(packages))
    return Resolution(packages=packages, skipped_recommends=r.skipped_recommends())
