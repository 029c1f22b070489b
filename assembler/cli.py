"""``python -m assembler``: the command line.

Results go to stdout, progress and diagnostics to stderr. A user error prints one line (what and
where) plus a hint and exits 2; a failed build exits 1; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import debfetch
from debfetch.errors import DebfetchError, FormatError, LockfileError, UnknownPackage, Unsatisfiable
from debfetch.mirrors import default_mirrors
from uki.errors import UkiError

from .errors import AssemblerError, RecipeError
from .recipe import load

log = logging.getLogger("assembler")

VERBS = ("build", "lock", "fetch", "measure", "replay", "inspect", "verify", "diff")


class _Formatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.start = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        elapsed = time.monotonic() - self.start
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"[{elapsed:6.1f}s] {prefix}{record.getMessage()}"


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def _progress_bar(done: int, total: int, what: str) -> None:
    if not sys.stderr.isatty():
        if done and (done == total or done % 50 == 0):
            print(f"  {done}/{total} packages", file=sys.stderr)
        return
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what[:40]:<40}", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug messages")


def _recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", type=Path, help="recipe TOML file")
    p.add_argument("--profile", action="append", default=[], help="profile to merge (repeatable)")
    p.add_argument("--mirror", action="append", default=[], help="Debian mirror base URL (repeatable)")
    _common(p)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assembler",
                                     description="Reproducible Debian UKI images and their measurements.")
    sub = parser.add_subparsers(dest="verb", required=True)
    b = sub.add_parser("build", help="build an image (locks first if there is no lockfile)")
    _recipe_args(b)
    b.add_argument("--out", type=Path, default=Path("build"), help="output directory (default: build)")
    b.add_argument("--offline", action="store_true", help="use only the lockfile and the cache")
    lk = sub.add_parser("lock", help="resolve the recipe's packages and write its lockfile")
    _recipe_args(lk)
    lk.add_argument("--update", action="store_true", help="replace an existing lockfile")
    f = sub.add_parser("fetch", help="download the locked packages into the cache")
    _recipe_args(f)
    for verb, what in (("measure", "predict the TDX MRTD/RTMRs or vTPM PCRs a UKI will produce"),
                       ("replay", "replay a TPM event log or TDX CCEL, optionally against a prediction")):
        m = sub.add_parser(verb, help=f"{what} (python -m assembler {verb} --help)", add_help=False)
        m.add_argument("rest", nargs=argparse.REMAINDER)
    i = sub.add_parser("inspect", help="list a UKI, .deb or cpio")
    i.add_argument("file", type=Path)
    i.add_argument("--json", action="store_true")
    _common(i)
    d = sub.add_parser("diff", help="what differs between two UKIs, initrds or build directories")
    d.add_argument("a", type=Path)
    d.add_argument("b", type=Path)
    _common(d)
    v = sub.add_parser("verify", help="rebuild a recipe and compare with a SHA256SUMS file")
    _recipe_args(v)
    v.add_argument("--expect", type=Path, required=True, help="SHA256SUMS of a published build")
    v.add_argument("--out", type=Path, default=Path("build/verify"))
    return parser


def _mirrors(args: argparse.Namespace, recipe_mirrors: Sequence[str]) -> list[str]:
    return default_mirrors([*args.mirror, *recipe_mirrors])


def cmd_build(args: argparse.Namespace) -> int:
    from .build import build_image, write_outputs

    recipe = load(args.recipe, profiles=args.profile)
    image = build_image(recipe, mirrors=_mirrors(args, recipe.mirrors), offline=args.offline,
                        progress=_progress_bar)
    final = write_outputs(image, args.out)
    for line in (final / "SHA256SUMS").read_text().splitlines():
        print(line)
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from .build import lock_recipe
    from .output import write_atomic

    recipe = load(args.recipe, profiles=args.profile)
    if recipe.lock_path.exists() and not args.update:
        raise RecipeError("lockfile exists", where=str(recipe.lock_path), hint="pass --update to re-resolve")
    lock = lock_recipe(recipe, mirrors=_mirrors(args, recipe.mirrors))
    write_atomic(recipe.lock_path, lock.to_json().encode())
    print(f"{recipe.lock_path}: {len(lock.packages)} packages")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from .build import load_or_lock

    recipe = load(args.recipe, profiles=args.profile)
    mirrors = _mirrors(args, recipe.mirrors)
    lock, _ = load_or_lock(recipe, mirrors=mirrors, offline=False)
    paths = debfetch.fetch(lock, mirrors=mirrors, progress=_progress_bar)
    print(f"{len(paths)} packages in the cache")
    return 0


def read_sha256sums(path: Path) -> dict[str, str]:
    """``sha256sum`` output (text ``name`` or binary ``*name`` form) as name -> digest."""
    sums: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line)
        if m is None:
            raise RecipeError(f"line {n} is not a sha256sum line", where=str(path))
        sums[m.group(2)] = m.group(1).lower()
    if not sums:
        raise RecipeError("no checksums in the file", where=str(path), hint="pass the SHA256SUMS of a published build")
    return sums


def cmd_verify(args: argparse.Namespace) -> int:
    from .build import build_image, write_outputs

    recipe = load(args.recipe, profiles=args.profile)
    expected = read_sha256sums(args.expect)
    image = build_image(recipe, mirrors=_mirrors(args, recipe.mirrors))
    final = write_outputs(image, args.out)
    ours = read_sha256sums(final / "SHA256SUMS")
    if not set(expected) & set(ours):
        raise RecipeError(f"none of the expected files is an output of {recipe.id}", where=str(args.expect))
    bad = 0
    for name in sorted(expected.keys() | ours.keys()):
        if name not in ours:
            status = "MISSING"  # expected, but this build does not produce it
        elif name not in expected:
            status = "EXTRA"  # produced here, not in the published list: reported, not a failure
        else:
            status = "OK" if ours[name] == expected[name] else "DIFFERS"
        bad += status in ("MISSING", "DIFFERS")
        print(f"{status:8} {name}")
    print(f"{'all expected outputs reproduced' if not bad else f'{bad} output(s) not reproduced'} "
          f"(rebuilt in {final})", file=sys.stderr)
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in VERBS and not args_list[0].startswith("-"):
        args_list.insert(0, "build")  # python -m assembler recipes/bob.toml
    if args_list[:1] in (["measure"], ["replay"]):
        from uki.measure import cli as measure_cli

        debug = "--debug" in args_list or os.environ.get("ASSEMBLER_DEBUG") == "1"
        rest = [a for a in args_list[1:] if a != "--debug"]
        entry = measure_cli.measure_main if args_list[0] == "measure" else measure_cli.replay_main
        return _guarded(lambda: entry(rest), debug)
    args = _parser().parse_args(args_list)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("ASSEMBLER_DEBUG") == "1"
    _setup_logging(debug)
    handlers = {"build": cmd_build, "lock": cmd_lock, "fetch": cmd_fetch, "verify": cmd_verify,
                "inspect": cmd_inspect, "diff": cmd_diff}
    return _guarded(lambda: handlers[args.verb](args), debug)


def _guarded(run: Callable[[], int], debug: bool) -> int:
    """Run a command; a user error becomes one line on stderr and an exit code, never a traceback."""
    try:
        return run()
    except (AssemblerError, DebfetchError, UkiError) as e:
        if debug:
            raise
        hint = getattr(e, "hint", None)
        msg = str(e)
        print(f"error: {msg}" + (f" (hint: {hint})" if hint and hint not in msg else ""), file=sys.stderr)
        return _exit_code(e)
    except BrokenPipeError:  # `... | head`: the reader went away; not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except OSError as e:
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 2 if isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError)) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _exit_code(e: Exception) -> int:
    """2 for bad input (recipe, package names, unsatisfiable relations, malformed files), 1 for a
    build that failed for another reason (network, integrity of downloads, disk)."""
    if isinstance(e, AssemblerError):
        return e.exit_code
    if isinstance(e, (UnknownPackage, Unsatisfiable, LockfileError, FormatError)):
        return 2
    if isinstance(e, UkiError):
        return 2  # a malformed PE, stub or kernel given by the user
    return 1


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import diff_paths

    lines = diff_paths(args.a, args.b)
    for line in lines:
        print(line)
    return 1 if lines else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect import inspect_file

    return inspect_file(args.file, as_json=args.json)
