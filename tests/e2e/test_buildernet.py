"""A second recipe with a different shape: /init -> systemd, multi-user.target, openssh, haproxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ROOT, run_assembler


@pytest.fixture(scope="module")
def buildernet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("buildernet")
    r = run_assembler(["build", str(ROOT / "recipes" / "buildernet.toml"), "--out", str(out)])
    assert r.code == 0, r.stderr[-3000:]
    return out / "buildernet"


@pytest.mark.boot
@pytest.mark.network
def test_buildernet_boots_with_its_services(buildernet: Path, tmp_path: Path) -> None:
    from boot import boot  # scripts/boot.py

    result = boot(buildernet / "buildernet.efi", marker="BUILDERNET-DONE", timeout=600,
                  log_path=tmp_path / "console.log")
    assert result.found, result.console[-4000:]
    assert result.lines("BUILDERNET-READY")
    # ssh (host keys made at boot), haproxy and the node exporter all active; nothing failed
    assert result.lines("BUILDERNET-UNITS active active active"), result.lines("BUILDERNET-")
    assert result.lines("BUILDERNET-FAILED") == [], result.lines("BUILDERNET-LOG")
