from __future__ import annotations

from pathlib import Path

import pytest

from assembler.errors import RecipeError
from assembler.recipe import load

ROOT = Path(__file__).resolve().parents[2]


def test_bob_recipe_and_profile() -> None:
    bob = load(ROOT / "recipes" / "bob.toml")
    assert bob.id == "bob" and bob.lock_path.name == "bob.lock.json"
    assert "linux-image-cloud-amd64" in bob.all_packages and "systemd-boot-efi" in bob.all_packages
    dev = load(ROOT / "recipes" / "bob.toml", profiles=["devtools"])
    assert dev.lock_path.name == "bob.devtools.lock.json" and dev.id == "bob-dev"
    assert set(bob.packages) < set(dev.packages) and "strace" in dev.packages


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_includes_merge_and_anchor_paths(tmp_path: Path) -> None:
    (tmp_path / "shared" / "tree").mkdir(parents=True)
    _write(tmp_path, "shared/base.toml", '[debian]\npackages = ["a"]\n[files]\nextra = ["tree"]\n'
                                          '[kernel]\ncmdline = ["console=ttyS0"]\n')
    top = _write(tmp_path, "img.toml", '[image]\nid = "img"\ninclude = ["shared/base.toml"]\n'
                                        '[debian]\npackages = ["b"]\n[kernel]\npackage = "k"\n')
    r = load(top)
    assert r.packages == ("a", "b")  # lists append, fragment first
    assert r.extra_trees == ((tmp_path / "shared" / "tree").resolve(),)  # relative to the fragment


@pytest.mark.parametrize(("body", "needle"), [
    ('[image]\nid = "x"\n[files]\nextra = ["/etc"]\n', "outside the recipe folder"),
    ('[image]\nid = "x"\n[image.nope]\n', "image.nope"),
    ('[image]\nid = "Bad Id"\n', "image.id"),
    ('[image]\nid = "x"\nsource_date_epoch = -1\n', "source_date_epoch"),
    ('[image]\nid = "x"\n[systemd]\nenable = ["not a unit"]\n', "systemd.enable"),
    ('[image]\nid = "x"\n[output]\nformats = ["iso"]\n', "output.formats"),
    ('[image]\nid = "x"\n[kernel]\npackage = "k"\n[[users]]\nname = "u"\nuid = 70000\n', "users.uid"),
    ('[image]\nid = "x"\n', "kernel.package"),
    ('[image]\nid = "x"\ninclude = ["x.toml"]\n', "include cycle"),
])
def test_bad_recipes(tmp_path: Path, body: str, needle: str) -> None:
    path = _write(tmp_path, "x.toml", body)
    with pytest.raises(RecipeError, match=needle.replace(".", r"\.")):
        load(path)
