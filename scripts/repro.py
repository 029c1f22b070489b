#!/usr/bin/env python3
"""Reproducibility matrix: build a recipe under several host environments and compare every output.

    .venv/bin/python scripts/repro.py [recipes/bob.toml] [--keep DIR]

Each build runs in a fresh working directory with its own TZ, umask, locale, PYTHONHASHSEED and
thread environment, from the same lockfile and download cache (``--offline`` after the first).
Prints one line per output with the sha256 of each build, and exits 1 if any output differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MATRIX = (
    {"TZ": "UTC", "umask": "022", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"},
    {"TZ": "Pacific/Kiritimati", "umask": "077", "LC_ALL": "C", "PYTHONHASHSEED": "1234"},
    {"TZ": "America/St_Johns", "umask": "002", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "random",
     "OMP_NUM_THREADS": "1"},
)


def build(recipe: Path, out: Path, env_spec: dict[str, str], *, offline: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: v for k, v in env_spec.items() if k != "umask"})
    env["PYTHONPATH"] = str(ROOT)
    cwd = out / "cwd"
    cwd.mkdir(parents=True)
    cmd = [sys.executable, "-m", "assembler", "build", str(recipe), "--out", str(out / "build")]
    if offline:
        cmd.append("--offline")
    subprocess.run(["sh", "-c", f'umask {env_spec["umask"]}; exec "$@"', "sh", *cmd], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    sums = (out / "build" / recipe.stem / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in sums)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", type=Path, default=ROOT / "recipes" / "bob.toml")
    p.add_argument("--keep", type=Path, help="keep the builds in this directory")
    args = p.parse_args()
    recipe = args.recipe.resolve()
    with tempfile.TemporaryDirectory(prefix="repro-") as tmp:
        base = args.keep or Path(tmp)
        results = []
        for i, spec in enumerate(MATRIX):
            label = ", ".join(f"{k}={v}" for k, v in spec.items())
            print(f"build {i + 1}/{len(MATRIX)}: {label}", file=sys.stderr)
            results.append(build(recipe, base / f"b{i}", spec, offline=i > 0))
    names = sorted(set().union(*results))
    bad = 0
    for name in names:
        digests = [r.get(name, "-") for r in results]
        same = len(set(digests)) == 1
        bad += not same
        print(f"{'same' if same else 'DIFF':4} {name:28} {'  '.join(d[:16] for d in digests)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
