from __future__ import annotations

import pytest

from debfetch.errors import FormatError
from debfetch.relations import Alternative, Constraint, Provided, format_group, parse_provides, parse_relations


def test_and_or_versions_and_qualifiers() -> None:
    groups = parse_relations("a (>= 1) | b, c:any, d (< 2), e (>>3)")
    assert groups == (
        (Alternative(name="a", constraint=Constraint(op=">=", version="1")), Alternative(name="b")),
        (Alternative(name="c", arch="any"),),
        (Alternative(name="d", constraint=Constraint(op="<=", version="2")),),  # obsolete '<' means '<='
        (Alternative(name="e", constraint=Constraint(op=">>", version="3")),),
    )


def test_source_only_syntax_is_dropped() -> None:
    assert parse_relations("d [amd64] <!nocheck>") == ((Alternative(name="d"),),)


def test_multiline_and_empty() -> None:
    assert parse_relations("") == ()
    assert len(parse_relations("libc6 (>= 2.38),\n libtinfo6 (>= 6)")) == 2


def test_format_group_round_trip() -> None:
    text = "default-dbus-system-bus | dbus-system-bus (>= 1.0)"
    (group,) = parse_relations(text)
    assert format_group(group) == text


@pytest.mark.parametrize("bad", ["a (>= 1", "A_B", "a (>= x.y)", "a (~= 1)"])
def test_malformed_relation_names_the_text(bad: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_relations(bad, where="pkg: Depends")
    assert "pkg: Depends" in str(info.value)


def test_provides() -> None:
    assert parse_provides("usr-is-merged (= 13.8), awk") == (
        Provided(name="usr-is-merged", version="13.8"),
        Provided(name="awk"),
    )
    with pytest.raises(FormatError):
        parse_provides("a | b")
    with pytest.raises(FormatError):
        parse_provides("a (>= 1)")
