"""Bad input stops the run with one line naming the culprit, and nothing appears in build/."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ROOT, run_assembler


def _recipe(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = folder / "t.toml"
    path.write_text(body)
    return path


def _check_failure(tmp_path: Path, args: list[str], code: int, *needles: str) -> None:
    out = tmp_path / "build"
    r = run_assembler([*args, "--out", str(out)], cwd=tmp_path)
    assert r.code == code, (r.code, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists(), "something was written to the output directory"


def test_malformed_recipe(tmp_path: Path) -> None:
    path = _recipe(tmp_path, '[image]\nid = "t"\n[debian]\npackages = "systemd"\n')
    _check_failure(tmp_path, ["build", str(path)], 2, "t.toml", "debian.packages")


def test_unknown_recipe_key(tmp_path: Path) -> None:
    path = _recipe(tmp_path, '[image]\nid = "t"\n[kernel]\ncmdlin = ["x"]\n')
    _check_failure(tmp_path, ["build", str(path)], 2, "t.toml", "kernel.cmdlin")


def test_not_toml(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "[image\nid = 't'\n")
    _check_failure(tmp_path, ["build", str(path)], 2, "t.toml")


@pytest.mark.network
def test_unknown_package(tmp_path: Path) -> None:
    path = _recipe(tmp_path, '[image]\nid = "t"\n[debian]\nbase = "minimal"\npackages = ["no-such-package-xyz"]\n'
                             '[kernel]\npackage = "linux-image-cloud-amd64"\n')
    _check_failure(tmp_path, ["build", str(path)], 2, "no-such-package-xyz")
    assert not (path.parent / "t.lock.json").exists()


@pytest.mark.network
def test_unsatisfiable_dependency(tmp_path: Path) -> None:
    path = _recipe(tmp_path, '[image]\nid = "t"\n[debian]\nbase = "minimal"\npackages = ["systemd=1.0-1"]\n'
                             '[kernel]\npackage = "linux-image-cloud-amd64"\n')
    _check_failure(tmp_path, ["build", str(path)], 2, "systemd")


@pytest.mark.network
def test_tampered_deb_in_cache(tmp_path: Path, bob_build: Path) -> None:
    """A flipped byte in a cached .deb is caught by its sha256 from the lock, naming the package."""
    import json
    import os

    from debfetch import default_cache_dir

    lock = json.loads((ROOT / "recipes" / "bob.lock.json").read_text())
    victim = next(p for p in lock["packages"] if p["name"] == "dropbear-bin")
    cache = tmp_path / "cache"
    (cache / "sha256").mkdir(parents=True)
    for p in lock["packages"]:  # link the good files; copy the victim so the shared cache stays intact
        source = default_cache_dir() / "sha256" / p["sha256"]
        (cache / "sha256" / p["sha256"]).symlink_to(source)
    blob_path = cache / "sha256" / victim["sha256"]
    blob_path.unlink()
    blob = bytearray((default_cache_dir() / "sha256" / victim["sha256"]).read_bytes())
    blob[len(blob) // 2] ^= 1
    blob_path.write_bytes(bytes(blob))
    os.environ["ASSEMBLER_CACHE"] = str(cache)
    try:
        _check_failure(tmp_path, ["build", str(ROOT / "recipes" / "bob.toml"), "--offline"], 1, victim["sha256"])
    finally:
        del os.environ["ASSEMBLER_CACHE"]
