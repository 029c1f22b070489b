from __future__ import annotations

import random

import pytest

from debfetch.errors import UnknownPackage, Unsatisfiable
from debfetch.packages import BinaryPackage
from debfetch.resolver import Request, Resolution, Universe, parse_request, resolve

from .archive import binary_packages, stanza


def run(stanzas: list[dict[str, str]], requests: list[str], *, base: str = "minimal",
        tie_breaks: dict[str, str] | None = None, extra: list[BinaryPackage] | None = None,
        not_automatic: frozenset[str] = frozenset()) -> Resolution:
    reqs = [parse_request(r) for r in requests]
    pins = {r.name: r for r in reqs if r.version or r.suite}
    pkgs = binary_packages(stanzas) + (extra or [])
    universe = Universe(pkgs, arch="amd64", pins=pins, not_automatic=not_automatic)
    return resolve(universe, reqs, base=base, tie_breaks=tie_breaks)  # type: ignore[arg-type]


def names(res: Resolution) -> list[str]:
    return [s.package.name for s in res.packages]


def by_name(res: Resolution, name: str) -> tuple[str, str, tuple[str, ...]]:
    (sel,) = [s for s in res.packages if s.package.name == name]
    return sel.package.version, sel.reason, sel.depends_on


AWK_WORLD = [
    stanza("base-files", "13.8", pre_depends="awk", essential="yes", priority="required",
           provides="usr-is-merged (= 13.8)"),
    stanza("gawk", "1:5.2", provides="awk", priority="optional", depends="libmpfr6"),
    stanza("mawk", "1.3.4", provides="awk", priority="required"),
    stanza("original-awk", "2024", provides="awk", priority="optional"),
    stanza("libmpfr6", "4.2"),
]


def test_awk_resolves_to_mawk_by_priority_required() -> None:
    res = run(AWK_WORLD, [], base="essential")
    assert names(res) == ["base-files", "mawk"]
    assert by_name(res, "mawk")[1] == "dependency of base-files"
    assert by_name(res, "base-files") == ("13.8", "essential", ("mawk",))


def test_real_package_beats_provider() -> None:
    world = [
        stanza("app", depends="libavcodec61"),
        stanza("libavcodec-extra61", provides="libavcodec61 (= 7.1)"),
        stanza("libavcodec61", "7.1"),
    ]
    assert names(run(world, ["app"])) == ["app", "libavcodec61"]


def test_already_selected_provider_is_reused() -> None:
    world = [
        stanza("a", depends="mail-transport-agent"),
        stanza("postfix", provides="mail-transport-agent"),
        stanza("exim4", provides="mail-transport-agent"),
    ]
    assert names(run(world, ["exim4", "a"])) == ["a", "exim4"]


def test_several_providers_without_preference_fail_with_hint() -> None:
    world = [
        stanza("a", depends="mail-transport-agent"),
        stanza("postfix", provides="mail-transport-agent"),
        stanza("exim4", provides="mail-transport-agent"),
    ]
    with pytest.raises(Unsatisfiable) as info:
        run(world, ["a"])
    message = str(info.value)
    assert "several packages provide mail-transport-agent: exim4, postfix" in message
    assert "\n" not in message and "a depends" in message
    res = run(world, ["a"], tie_breaks={"mail-transport-agent": "postfix"})
    assert names(res) == ["a", "postfix"]


def test_important_beats_optional_provider() -> None:
    world = [
        stanza("a", depends="x"),
        stanza("p1", provides="x", priority="optional"),
        stanza("p2", provides="x", priority="important"),
    ]
    assert names(run(world, ["a"])) == ["a", "p2"]


def test_versioned_dependency_needs_versioned_provides() -> None:
    world = [
        stanza("a", depends="v (>= 2)"),
        stanza("p-unversioned", provides="v"),
        stanza("p-old", provides="v (= 1)"),
        stanza("p-new", provides="v (= 2)"),
    ]
    assert names(run(world, ["a"])) == ["a", "p-new"]


def test_alternatives_left_to_right_and_versioned() -> None:
    world = [
        stanza("a", depends="x (>= 2) | y"),
        stanza("x", "1.0"),
        stanza("y", "1.0"),
    ]
    assert names(run(world, ["a"])) == ["a", "y"]


def test_alternative_satisfied_by_a_seed() -> None:
    world = [stanza("a", depends="x | y"), stanza("x"), stanza("y")]
    # y is requested later in the list but is a seed, so "x | y" is already satisfied.
    assert names(run(world, ["a", "y"])) == ["a", "y"]


def test_pre_depends_followed_and_recommends_not() -> None:
    world = [stanza("a", pre_depends="b", recommends="c"), stanza("b"), stanza("c")]
    res = run(world, ["a"])
    assert names(res) == ["a", "b"]
    assert res.skipped_recommends == ("c",)


def test_highest_version_wins_across_stanzas() -> None:
    world = [
        stanza("linux-image-cloud-amd64", "6.12.48-1", depends="linux-image-6.12.48-cloud-amd64"),
        stanza("linux-image-cloud-amd64", "6.12.117-1", depends="linux-image-6.12.117-cloud-amd64"),
        stanza("linux-image-6.12.48-cloud-amd64", "6.12.48-1"),
        stanza("linux-image-6.12.117-cloud-amd64", "6.12.117-1"),
    ]
    res = run(world, ["linux-image-cloud-amd64"])
    assert names(res) == ["linux-image-6.12.117-cloud-amd64", "linux-image-cloud-amd64"]


def test_pins_name_version_and_name_suite() -> None:
    trixie = [stanza("k", "1.0"), stanza("k", "2.0")]
    backports = binary_packages([stanza("k", "3.0")], suite="trixie-backports")
    assert by_name(run(trixie, ["k"], extra=backports, not_automatic=frozenset({"trixie-backports"})),
                   "k")[0] == "2.0"
    assert by_name(run(trixie, ["k=1.0"], extra=backports), "k")[0] == "1.0"
    assert by_name(run(trixie, ["k/trixie-backports"], extra=backports), "k")[0] == "3.0"
    with pytest.raises(UnknownPackage, match=r"version 9\.9 of k"):
        run(trixie, ["k=9.9"])


def test_one_version_per_name_fails_naming_the_chain() -> None:
    world = [
        stanza("top", depends="mid"),
        stanza("mid", depends="lib (>= 2)"),
        stanza("lib", "1.0"),
        stanza("other", depends="lib"),
    ]
    with pytest.raises(Unsatisfiable) as info:
        run(world, ["other", "top"])
    message = str(info.value)
    assert message.startswith("top -> mid depends: cannot satisfy lib (>= 2)")
    assert "lib 1.0 is already selected" in message


def test_missing_dependency_names_chain() -> None:
    world = [stanza("top", depends="mid"), stanza("mid", depends="ghost")]
    with pytest.raises(Unsatisfiable, match=r"^top -> mid depends: cannot satisfy ghost: no package ghost$"):
        run(world, ["top"])


def test_unknown_package() -> None:
    with pytest.raises(UnknownPackage, match="no package 'nope'"):
        run([stanza("a")], ["nope"])


def test_virtual_request_uses_provider_rules() -> None:
    assert names(run(AWK_WORLD, ["awk"])) == ["mawk"]


def test_base_required_and_essential() -> None:
    world = [
        stanza("ess", essential="yes", priority="required"),
        stanza("req", priority="required"),
        stanza("opt", priority="optional"),
    ]
    assert names(run(world, [], base="essential")) == ["ess"]
    res = run(world, [], base="required")
    assert names(res) == ["ess", "req"]
    assert by_name(res, "req")[1] == "required"
    assert names(run(world, ["opt"], base="minimal")) == ["opt"]


def test_foreign_architectures_are_ignored() -> None:
    world = [stanza("a", depends="b"), stanza("b", arch="arm64"), stanza("b", "0.9", arch="all")]
    assert by_name(run(world, ["a"]), "b")[0] == "0.9"


def test_conflicts_and_breaks_are_reported() -> None:
    world = [stanza("a", conflicts="b"), stanza("b")]
    with pytest.raises(Unsatisfiable, match=r"a 1\.0 Conflicts b"):
        run(world, ["a", "b"])
    world = [stanza("a", breaks="b (<< 2)"), stanza("b", "1.0")]
    with pytest.raises(Unsatisfiable, match="Breaks"):
        run(world, ["a", "b"])
    # A package that provides and conflicts with the same virtual name is fine on its own.
    world = [stanza("a", provides="mta", conflicts="mta")]
    assert names(run(world, ["a"])) == ["a"]


def test_result_does_not_depend_on_index_order() -> None:
    stanzas = [*AWK_WORLD, stanza("x", depends="awk, y | z"), stanza("y"), stanza("z")]
    expected = run(stanzas, ["x"], base="essential")
    rng = random.Random(7)
    for _ in range(5):
        shuffled = list(stanzas)
        rng.shuffle(shuffled)
        assert run(shuffled, ["x"], base="essential") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a", Request(name="a")), ("a=1:2.0-1", Request(name="a", version="1:2.0-1")),
     ("lib+x/trixie-backports", Request(name="lib+x", suite="trixie-backports"))],
)
def test_parse_request(text: str, expected: Request) -> None:
    assert parse_request(text) == expected


@pytest.mark.parametrize("bad", ["", "A", "a=", "a==1", "a b"])
def test_parse_request_rejects(bad: str) -> None:
    with pytest.raises(UnknownPackage):
        parse_request(bad)
