"""The project's own checks as tests: ruff on everything, mypy --strict on the four packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str) -> None:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_ruff() -> None:
    run(str(BIN / "ruff"), "check", "debfetch", "uki", "gpt", "assembler", "tests", "scripts")


def test_mypy_strict() -> None:
    run(str(BIN / "mypy"), "--strict", "-p", "debfetch", "-p", "uki", "-p", "gpt", "-p", "assembler")
