"""End-to-end fixtures: the main job run once per session, exactly as the README says."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def run_assembler(args: list[str], *, cwd: Path = ROOT, env: Mapping[str, str] | None = None,
                  umask: str | None = None, timeout: float = 1800) -> Run:
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "assembler", *args]
    if umask is not None:
        cmd = ["sh", "-c", f'umask {umask}; exec "$@"', "sh", *cmd]
    p = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def bob_build() -> Path:
    """``python -m assembler recipes/bob.toml`` from the project root; returns build/bob."""
    r = run_assembler(["recipes/bob.toml"])
    assert r.code == 0, r.stderr[-3000:]
    out = ROOT / "build" / "bob"
    assert (out / "bob.efi").is_file()
    return out
