"""ruff and mypy --strict on the uki package's own modules and tests (uki/measure has its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("uki/*.py"), *ROOT.glob("tests/uki/*.py")])
BIN = Path(sys.executable).parent


def run(*args: str) -> None:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff() -> None:
    run(str(BIN / "ruff"), "check", *FILES)
    run(str(BIN / "ruff"), "format", "--check", *FILES)


def test_mypy_strict() -> None:
    run(str(BIN / "mypy"), "--strict", *FILES)
