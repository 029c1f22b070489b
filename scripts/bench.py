#!/usr/bin/env python3
"""Speed of the pipeline's hot stages, as ratios against a baseline measured in the same run.

    .venv/bin/python scripts/bench.py [recipes/bob.toml] [--repeat 3] [--json]

Stages and their baselines (the tools an mkosi-based build runs for the same work):
- initrd: our Tree → newc cpio → zstd -3 (one thread), against GNU ``cpio -o -H newc`` over the
  same tree extracted to disk, piped into ``zstd -3 -T1``;
- depmod: our module selection + kmod indexes for every module of the kernel, against the host's
  ``depmod -b`` on the same module tree;
- uki: our ``build_uki`` against ``objcopy --add-section`` building the same sections (binutils'
  classic way), when objcopy is installed.

A ratio below 1.0 means we are faster. Times are the best of ``--repeat`` runs (wall clock), so
the ratio is robust to a busy machine; absolute seconds are printed for context only. Nothing here
is asserted: speed is reported, never tested with a timed assertion.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assembler import build as pipeline  # noqa: E402
from assembler import depmod  # noqa: E402
from assembler.initrd import decompress, pack  # noqa: E402
from assembler.recipe import load  # noqa: E402
from assembler.tree import Kind  # noqa: E402


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sh(cmd: str, cwd: Path) -> None:
    subprocess.run(["sh", "-c", cmd], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", type=Path, default=ROOT / "recipes" / "bob.toml")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import debfetch

    recipe = load(args.recipe)
    mirrors = debfetch.default_mirrors(list(recipe.mirrors))
    lock, _ = pipeline.load_or_lock(recipe, mirrors=mirrors, offline=False)
    paths = debfetch.fetch(lock, mirrors=mirrors)
    packages = pipeline.read_packages([(pk.name, paths[pk.sha256]) for pk in lock.packages])
    image_pkgs = [pk for pk in packages if pk.name != recipe.stub_package or pk.name in recipe.packages]
    tree = pipeline.unpack(image_pkgs, epoch=recipe.source_date_epoch)
    kernel = pipeline.take_kernel(tree)
    base = f"usr/lib/modules/{kernel.version}"
    module_files = {q[len(base) + 1:]: e.data for q, e in tree.items()
                    if q.startswith(base + "/") and e.kind is Kind.FILE}
    pipeline.kernel_modules(tree, recipe, kernel.version, kmod_version=pipeline.kmod_major(image_pkgs))
    _, accounts = pipeline.configure_tree(tree, recipe, image_pkgs)
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        # initrd
        initrd = pack(tree, accounts, epoch=recipe.source_date_epoch)
        ours = best(lambda: pack(tree, accounts, epoch=recipe.source_date_epoch), args.repeat)
        if shutil.which("cpio") and shutil.which("zstd"):
            staged = work / "root"
            staged.mkdir()
            raw = decompress(initrd.compressed)
            subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=raw, cwd=staged,
                           check=True, stderr=subprocess.DEVNULL)
            baseline = best(lambda: sh("find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -3 -T1 > ../b.zst",
                                       staged), args.repeat)
            results["initrd"] = {"ours_s": ours, "baseline_s": baseline, "ratio": ours / baseline}
        # depmod over every module of the kernel
        ours = best(lambda: depmod.build_moddir(module_files, ["all"], kernel_version=kernel.version),
                    args.repeat)
        if shutil.which("depmod") or Path("/usr/sbin/depmod").exists():
            mroot = work / "mods"
            for rel, data in module_files.items():
                dest = mroot / "lib/modules" / kernel.version / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            dm = shutil.which("depmod") or "/usr/sbin/depmod"
            baseline = best(lambda: sh(f"{dm} -b {mroot} {kernel.version}", work), args.repeat)
            results["depmod"] = {"ours_s": ours, "baseline_s": baseline, "ratio": ours / baseline}
        # UKI assembly
        import uki

        stub = pipeline.stub_from(packages, recipe.stub_package)
        osrel = b"ID=debian\n"
        ours = best(lambda: uki.build_uki(stub=stub, linux=kernel.image, initrds=[initrd.compressed],
                                          cmdline=b"console=ttyS0", os_release=osrel, uname=kernel.version),
                    args.repeat)
        if shutil.which("objcopy"):
            for name, data in (("stub", stub), ("linux", kernel.image), ("initrd", initrd.compressed),
                               ("osrel", osrel), ("cmdline", b"console=ttyS0")):
                (work / name).write_bytes(data)
            pe = uki.read_pe(stub)
            top = max(s.virtual_address + s.virtual_size for s in pe.sections)
            align = 0x1000
            vma = pe.image_base + ((top + align - 1) // align) * align
            parts = []
            for name, size in (("osrel", len(osrel)), ("cmdline", 13), ("linux", len(kernel.image)),
                               ("initrd", len(initrd.compressed))):
                parts.append(f"--add-section .{name}={name} --change-section-vma .{name}={vma:#x}")
                vma += ((size + align - 1) // align) * align
            cmd = f"objcopy {' '.join(parts)} stub out.efi"
            baseline = best(lambda: sh(cmd, work), args.repeat)
            results["uki"] = {"ours_s": ours, "baseline_s": baseline, "ratio": ours / baseline}

    if args.json:
        print(json.dumps(results, sort_keys=True, indent=2))
    else:
        print(f"{'stage':8} {'ours (s)':>9} {'baseline (s)':>13} {'ratio':>6}")
        for stage, r in results.items():
            print(f"{stage:8} {r['ours_s']:9.2f} {r['baseline_s']:13.2f} {r['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
