from __future__ import annotations

import itertools

import pytest

from debfetch.errors import FormatError
from debfetch.version import check_version, compare_versions, normalize_operator, satisfies, version_key

# Spec §2.1 vectors (checked there with dpkg --compare-versions).
ORDERED = ["1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0+b1"]


@pytest.mark.parametrize(("low", "high"), list(itertools.pairwise(ORDERED)))
def test_chain_is_strictly_increasing(low: str, high: str) -> None:
    assert compare_versions(low, high) == -1
    assert compare_versions(high, low) == 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0-0", 0),
        ("1:0.1", "9.9", 1),
        ("1.0a", "1.0", 1),
        ("1.0~~", "1.0~", -1),
        ("2.41-12+deb13u5", "2.41-12", 1),
        ("0:1.0", "1.0", 0),
        ("1.0-1~bpo13+1", "1.0-1", -1),
        ("6.12.117-1", "6.12.48-1", 1),
    ],
)
def test_vectors(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected


def test_sort_key() -> None:
    shuffled = [ORDERED[i] for i in (3, 0, 4, 2, 1)]
    assert sorted(shuffled, key=version_key) == ORDERED


@pytest.mark.parametrize(
    ("version", "op", "target", "ok"),
    [
        ("1.0", "<<", "1.1", True), ("1.1", "<<", "1.1", False), ("1.1", "<=", "1.1", True),
        ("1.1", "=", "1.1-0", True), ("1.2", ">=", "1.1", True), ("1.1", ">>", "1.1", False),
    ],
)
def test_satisfies(version: str, op: str, target: str, ok: bool) -> None:
    assert satisfies(version, normalize_operator(op), target) is ok


def test_obsolete_operators() -> None:
    assert normalize_operator("<") == "<="
    assert normalize_operator(">") == ">="
    with pytest.raises(FormatError):
        normalize_operator("!=")


@pytest.mark.parametrize("bad", ["", "a1.0", "1.0 2", ":1", "-1", "1:a"])
def test_malformed_versions(bad: str) -> None:
    with pytest.raises(FormatError):
        check_version(bad, where="test")
