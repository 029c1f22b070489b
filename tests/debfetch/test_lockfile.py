from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from debfetch.errors import LockfileError
from debfetch.lockfile import Lock, LockedPackage, LockedSource


def make_lock() -> Lock:
    def pkg(name: str, **kw: object) -> LockedPackage:
        base: dict[str, object] = dict(
            name=name, version="1.0", arch="amd64", archive="debian", suite="trixie",
            filename=f"pool/main/{name[0]}/{name}/{name}_1.0_amd64.deb", size=10, sha256="ab" * 32,
            source=name, depends_on=(), reason="requested",
        )
        base.update(kw)
        return LockedPackage(**base)  # type: ignore[arg-type]

    return Lock(
        arch="amd64", source_date_epoch=1755000000,
        sources=(LockedSource(archive="debian", suite="trixie", components=("main",), snapshot=None,
                              inrelease_sha256="cd" * 32,
                              packages_sha256=MappingProxyType({"main/binary-amd64/Packages.xz": "ef" * 32})),),
        packages=(pkg("zlib1g"), pkg("base-files", depends_on=("mawk",), reason="essential", sha1="12" * 20),
                  pkg("mawk", reason="dependency of base-files")),
    )


def test_round_trip_and_canonical_form() -> None:
    lock = make_lock()
    text = lock.to_json()
    again = Lock.from_json(text)
    assert again.to_json() == text
    assert again.package("mawk").reason == "dependency of base-files"
    data = json.loads(text)
    assert [p["name"] for p in data["packages"]] == ["base-files", "mawk", "zlib1g"]
    assert text.endswith("}\n") and "\t" not in text
    assert list(data) == sorted(data)
    assert "sha1" in data["packages"][0] and "sha1" not in data["packages"][1]
    assert data["sources"][0]["snapshot"] is None
    assert len(lock.sha256) == 64 and lock.sha256 == again.sha256


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("arch"), "lockfile: arch: missing"),
        (lambda d: d.__setitem__("format", 2), "lockfile: format"),
        (lambda d: d["packages"][1].__setitem__("sha256", "xyz"), "lockfile: packages[1].sha256"),
        (lambda d: d["packages"][0].__setitem__("size", -1), "lockfile: packages[0].size"),
        (lambda d: d["packages"][0].__setitem__("filename", "../../etc/passwd"), "packages[0].filename"),
        (lambda d: d["sources"][0].__setitem__("components", "main"), "lockfile: sources[0].components"),
        (lambda d: d["packages"].append(dict(d["packages"][0])), "lockfile: packages"),
    ],
)
def test_malformed_lock_names_the_key(edit: object, where: str) -> None:
    data = json.loads(make_lock().to_json())
    edit(data)  # type: ignore[operator]
    with pytest.raises(LockfileError) as info:
        Lock.from_json(json.dumps(data))
    assert where in str(info.value)


def test_not_json() -> None:
    with pytest.raises(LockfileError, match=r"recipes/bob\.lock\.json: not valid JSON"):
        Lock.from_json("{", where="recipes/bob.lock.json")
