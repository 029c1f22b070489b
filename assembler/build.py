"""The build pipeline: recipe → lock → .debs → tree → initrd → UKI (→ disks, measurements).

``build_image`` reads like a checklist of named steps; each step is a function of values, and only
the fetcher (network, cache) and the final output stage touch the host.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import debfetch
import uki
from debfetch.lockfile import Lock
from gpt import disk as gpt_disk
from uki.measure.predict import predict as predict_measurements

from . import __version__, depmod, kmod, scripts
from . import configure as cfg
from .accounts import Accounts, configure_accounts
from .alternatives import Candidate, apply_alternatives, parse_script
from .deb import DebPackage, read_deb
from .errors import BuildError, RecipeError
from .initrd import library_versions, pack
from .output import dumps, sha256sums, staged_directory, write_atomic
from .pam import pam_auth_update
from .recipe import Recipe
from .rootfs import install_order, unpack
from .tree import Kind, Tree
from .units import add_wants, enable, find_unit, mask, mask_unlisted, set_default_target

log = logging.getLogger(__name__)

STUB_PATH = "usr/lib/systemd/boot/efi/linuxx64.efi.stub"

Progress = Callable[[str], None]


@contextmanager
def step(name: str) -> Iterator[None]:
    """Log a step on entry and its duration on exit (mkosi's complete_step)."""
    log.info("%s", name)
    start = time.monotonic()
    yield
    log.debug("%s: done in %.1fs", name, time.monotonic() - start)


@dataclass(frozen=True, slots=True, kw_only=True)
class Kernel:
    version: str  # uname -r
    image: bytes  # the bzImage (EFI stub kernel)
    package: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """Everything the output stage writes, in memory."""

    recipe: Recipe
    lock: Lock
    lock_bytes: bytes
    uki: bytes
    initrd_sha256: str
    cpio_sha256: str
    cpio_size: int
    min_ram_mib: int
    files: int
    kernel_version: str
    os_release: bytes
    cmdline: str
    packages: tuple[DebPackage, ...]
    extra_outputs: dict[str, bytes] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# locking and fetching


def sources_of(recipe: Recipe) -> list[debfetch.Source]:
    return [debfetch.Source(archive="debian-security" if s.endswith("-security") else "debian", suite=s,
                            components=recipe.components, snapshot=recipe.snapshot or None)
            for s in recipe.suites]


def lock_recipe(recipe: Recipe, *, mirrors: Sequence[str]) -> Lock:
    with step(f"Resolving {len(recipe.all_packages)} packages from {', '.join(recipe.suites)}"):
        base = cast(debfetch.Base, recipe.base)
        return debfetch.lock(sources=sources_of(recipe), packages=recipe.all_packages, base=base,
                             mirrors=mirrors, tie_breaks=dict(recipe.tie_breaks),
                             source_date_epoch=recipe.source_date_epoch)


def load_or_lock(recipe: Recipe, *, mirrors: Sequence[str], offline: bool) -> tuple[Lock, bytes]:
    """The committed lock when it exists and matches the recipe, else a fresh one written next to it."""
    path = recipe.lock_path
    if path.exists():
        data = path.read_bytes()
        lock = Lock.from_json(data, where=str(path))
        stale = stale_lock_reasons(recipe, lock)
        if stale:
            raise RecipeError(f"the lock does not match the recipe: {'; '.join(stale)}", where=str(path),
                              hint=f"run: python -m assembler lock {recipe.path} --update")
        return lock, data
    if offline:
        raise RecipeError("no lockfile and --offline given", where=str(path))
    lock = lock_recipe(recipe, mirrors=mirrors)
    data = lock.to_json().encode()
    write_atomic(path, data)
    log.info("wrote %s (%d packages)", path, len(lock.packages))
    return lock, data


def stale_lock_reasons(recipe: Recipe, lock: Lock) -> list[str]:
    """Why ``lock`` was not resolved from this recipe's inputs (empty when it was)."""
    reasons = []
    requested = {p.name for p in lock.packages if p.reason == "requested"}
    wanted = {p.split("=")[0].split("/")[0] for p in recipe.all_packages}
    if wanted - requested:
        reasons.append(f"not locked: {', '.join(sorted(wanted - requested))}")
    if requested - wanted:
        reasons.append(f"no longer in the recipe: {', '.join(sorted(requested - wanted))}")
    suites = [s.suite for s in lock.sources]
    if suites != list(recipe.suites):
        reasons.append(f"suites {suites} != {list(recipe.suites)}")
    snapshots = {s.snapshot or "" for s in lock.sources}
    if snapshots != {recipe.snapshot}:
        reasons.append(f"snapshot {', '.join(sorted(snapshots))} != {recipe.snapshot or 'none'}")
    has_essential = any(p.reason == "essential" for p in lock.packages)
    if has_essential != (recipe.base in ("essential", "required")):
        reasons.append(f"base {recipe.base} does not match the locked seed set")
    if lock.source_date_epoch != recipe.source_date_epoch:
        reasons.append(f"source_date_epoch {lock.source_date_epoch} != {recipe.source_date_epoch}")
    return reasons


def read_packages(paths: Sequence[tuple[str, Path]]) -> list[DebPackage]:
    """Parse the .debs in parallel (decompression releases the GIL); the order is the input order."""
    def one(item: tuple[str, Path]) -> DebPackage:
        name, path = item
        return read_deb(path.read_bytes(), where=f"{name} ({path})")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, paths))


# ----------------------------------------------------------------------------------------------
# kernel and stub


def min_ram_mib(unpacked: int, compressed: int) -> int:
    """RAM a boot needs (spec ramroot-boot.md "Memory floor"): the kernel caps the initramfs tmpfs at
    half of its memory, and the compressed image is in RAM too while it unpacks. Rounded up to
    256 MiB, with a 512 MiB floor (the stub cannot decompress the kernel below that)."""
    need = 2 * (unpacked + (160 << 20)) + compressed  # observed: the cap is ~RAM/2 minus ~130 MiB
    return max(512, -(-need // (256 << 20)) * 256)


def take_kernel(tree: Tree) -> Kernel:
    """Take the bzImage out of /boot and drop the rest of the /boot payload (spec ramroot §3)."""
    images = [p for p in tree.listdir("boot") if p.startswith("vmlinuz-")]
    if len(images) != 1:
        raise RecipeError(f"expected one kernel in /boot, found {len(images)}: {', '.join(images) or 'none'}",
                          where="kernel.package")
    entry = tree[f"boot/{images[0]}"]
    version = images[0][len("vmlinuz-"):]
    for name in tree.listdir("boot"):
        if name.startswith(("vmlinuz-", "System.map-", "initrd.img-", "config-")):
            tree.remove(f"boot/{name}")
    for name in tree.listdir(""):
        if name.startswith(("vmlinuz", "initrd.img")) and tree[name].kind is Kind.SYMLINK:
            tree.remove(name)
    return Kernel(version=version, image=entry.data, package=entry.package or "?")


def kmod_major(packages: Sequence[DebPackage]) -> int:
    """The image's kmod major version, which decides the index layout (kmod 30 vs 34)."""
    for pkg in packages:
        if pkg.name == "kmod":
            upstream = pkg.version.split(":")[-1].split("-")[0]
            major = int(upstream.split(".")[0]) if upstream.split(".")[0].isdigit() else 34
            return 30 if major < 34 else 34
    return 34


def kernel_modules(tree: Tree, recipe: Recipe, kernel_version: str, *, kmod_version: int) -> None:
    """Keep the recipe's modules (with their dependencies) and write depmod's indexes for them."""
    base = f"usr/lib/modules/{kernel_version}"
    files = {p[len(base) + 1:]: e.data for p, e in tree.items() if p.startswith(base + "/") and e.kind is Kind.FILE}
    with step(f"Selecting kernel modules ({len(recipe.modules)} wanted)"):
        new = depmod.build_moddir(files, recipe.modules, kernel_version=kernel_version, kmod_version=kmod_version)
    tree.remove(base)
    for rel, data in sorted(new.items()):
        tree.write(f"{base}/{rel}", data, mtime=recipe.source_date_epoch)
    if recipe.modules_load:
        kept = {rel: data for rel, data in new.items() if kmod.is_module_path(rel)}
        conf = kmod.modules_load_conf(recipe.modules_load, kmod.read_modules(kept, kmod_version=kmod_version),
                                      new.get("modules.builtin", b""), sorted(kept))
        tree.write(f"etc/modules-load.d/{recipe.id}.conf", conf, mtime=recipe.source_date_epoch)


def stub_from(packages: Sequence[DebPackage], stub_package: str) -> bytes:
    for pkg in packages:
        if pkg.name == stub_package:
            for m in pkg.members:
                if m.path in (STUB_PATH, "lib/systemd/boot/efi/linuxx64.efi.stub"):
                    return m.data
            raise RecipeError(f"{stub_package} has no {STUB_PATH}", where="uki.stub")
    raise RecipeError(f"stub package {stub_package} is not in the lock", where="uki.stub")


# ----------------------------------------------------------------------------------------------
# the image


def alternatives_of(packages: Sequence[DebPackage]) -> list[Candidate]:
    out: list[Candidate] = []
    for pkg in packages:
        script = pkg.control_files.get("postinst")
        if script:
            out += parse_script(script.decode("utf-8", "replace"), pkg.name)
    return out


def configure_tree(tree: Tree, recipe: Recipe, packages: Sequence[DebPackage]) -> tuple[bytes, Accounts]:
    """All declarative configuration, in a fixed order. Returns (os-release bytes, accounts).

    Removal comes before the steps that create links (alternatives, shells, certificates), so that
    nothing they make can point at a removed file.
    """
    epoch = recipe.source_date_epoch
    with step("Configuring the tree"):
        effects = scripts.collect(install_order(packages))
        scripts.apply_files(tree, effects, epoch=epoch)
        cfg.base_files_defaults(tree, epoch=epoch)
        cfg.extra_trees(tree, recipe.extra_trees, recipe.modes, epoch=epoch)
        with step("Removing documentation and volatile files"):
            log.debug("removed %d paths", cfg.remove(tree, (*cfg.ALWAYS_REMOVE, *recipe.remove)))
        accounts = configure_accounts(tree, users=recipe.users, groups=recipe.groups, epoch=epoch,
                                      system_users=effects.users)
        apply_alternatives(tree, alternatives_of(packages), epoch=epoch)
        pam_auth_update(tree, epoch=epoch)
        cfg.shells(tree, [u.shell for u in recipe.users], epoch=epoch)
        os_release = cfg.identity(tree, recipe, epoch=epoch)
        cfg.devices(tree, epoch=epoch)
        cfg.init(tree, recipe, epoch=epoch)
        if recipe.package_defaults:
            enable(tree, [u for u in effects.enables if find_unit(tree, u) is not None], epoch=epoch)
        enable(tree, recipe.enable, epoch=epoch)
        for target, units in recipe.wants.items():
            add_wants(tree, target, units, epoch=epoch)
        mask(tree, recipe.mask, epoch=epoch)
        if recipe.mask_unlisted:
            named = [*recipe.keep, *recipe.enable, *(u for us in recipe.wants.values() for u in us),
                     *recipe.wants, recipe.default_target]
            masked = mask_unlisted(tree, recipe.mask_unlisted, [n for n in named if n], epoch=epoch)
            log.info("masked %d units of %s not on the keep list", len(masked), ", ".join(recipe.mask_unlisted))
        if recipe.default_target:
            set_default_target(tree, recipe.default_target, epoch=epoch)
        cfg.ca_certificates(tree, epoch=epoch)
        cfg.dpkg_database(tree, packages, epoch=epoch)
        scripts.apply_overrides(tree, effects, epoch=epoch)
        cfg.updated_stamps(tree, epoch=epoch)
    tree.clamp_mtimes(epoch)
    return os_release, accounts


def build_image(recipe: Recipe, *, mirrors: Sequence[str], offline: bool = False,
                cache_dir: Path | None = None,
                progress: Callable[[int, int, str], None] | None = None) -> Image:
    lock, lock_bytes = load_or_lock(recipe, mirrors=mirrors, offline=offline)
    with step(f"Fetching {len(lock.packages)} packages"):
        paths = debfetch.fetch(lock, mirrors=[] if offline else mirrors, cache_dir=cache_dir, progress=progress)
    with step("Reading packages"):
        all_pkgs = read_packages([(p.name, paths[p.sha256]) for p in lock.packages])
    stub = stub_from(all_pkgs, recipe.stub_package)
    image_pkgs = [p for p in all_pkgs if p.name != recipe.stub_package or p.name in recipe.packages]
    with step(f"Unpacking {len(image_pkgs)} packages"):
        tree = unpack(image_pkgs, epoch=recipe.source_date_epoch)
    kernel = take_kernel(tree)
    kernel_modules(tree, recipe, kernel.version, kmod_version=kmod_major(image_pkgs))
    os_release, accounts = configure_tree(tree, recipe, image_pkgs)
    with step(f"Packing {len(tree)} entries into the initrd"):
        initrd = pack(tree, accounts, epoch=recipe.source_date_epoch)
    min_ram = min_ram_mib(initrd.cpio_size, len(initrd.compressed))
    log.info("initrd: %d entries, %.1f MiB unpacked, %.1f MiB compressed; the rootfs tmpfs holds at most half "
             "of RAM, so boot with at least %d MiB", initrd.entries, initrd.cpio_size / 2**20,
             len(initrd.compressed) / 2**20, min_ram)
    cmdline = " ".join(recipe.cmdline)
    with step("Assembling the UKI"):
        try:
            efi = uki.build_uki(stub=stub, linux=kernel.image, initrds=[initrd.compressed],
                                cmdline=cmdline.encode() if cmdline else None, os_release=os_release,
                                uname=kernel.version)
        except uki.errors.UkiError as e:
            raise BuildError(f"UKI assembly failed: {e}") from e
    extra: dict[str, bytes] = {}
    if recipe.platforms:
        with step(f"Predicting measurements for {', '.join(recipe.platforms)}"):
            try:
                measurements, eventlog = predict_measurements(efi, recipe.platforms, image_id=recipe.id)
            except uki.errors.UkiError as e:
                raise BuildError(f"measurement prediction failed: {e}") from e
        extra[f"{recipe.id}.measurements.json"] = measurements
        extra[f"{recipe.id}.eventlog.json"] = eventlog
    return Image(recipe=recipe, lock=lock, lock_bytes=lock_bytes, uki=efi, extra_outputs=extra,
                 initrd_sha256=hashlib.sha256(initrd.compressed).hexdigest(), cpio_sha256=initrd.cpio_sha256,
                 cpio_size=initrd.cpio_size, min_ram_mib=min_ram, files=initrd.entries,
                 kernel_version=kernel.version,
                 os_release=os_release, cmdline=cmdline, packages=tuple(all_pkgs))


def manifest(image: Image, outputs: dict[str, str]) -> dict[str, object]:
    r = image.recipe
    return {
        "format": 1,
        "tool": {"name": "assembler", "version": __version__},
        "image": {"id": r.id, "profiles": list(r.profiles), "source_date_epoch": r.source_date_epoch},
        "lock": {"path": r.lock_path.name, "sha256": hashlib.sha256(image.lock_bytes).hexdigest()},
        "packages": [{"name": p.name, "version": p.version, "arch": p.arch, "sha256": p.sha256}
                     for p in image.lock.packages],
        "kernel": {"version": image.kernel_version, "cmdline": image.cmdline},
        "initrd": {"files": image.files, "cpio_sha256": image.cpio_sha256, "cpio_size": image.cpio_size,
                   "zstd_sha256": image.initrd_sha256,
                   "min_ram_mib": image.min_ram_mib},
        "uki": {"sha256": hashlib.sha256(image.uki).hexdigest(), "size": len(image.uki)},
        "outputs": outputs,
        "compressors": library_versions(),
    }


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_outputs(image: Image, out_dir: Path) -> Path:
    """Write build/<id>/ all at once: the directory appears complete or not at all.

    Disk images (raw, GCP tar.gz, Azure VHD) are streamed by ``gpt`` straight into the staging
    directory; everything is hashed from the written files.
    """
    rid = image.recipe.id
    final = out_dir / rid
    files: dict[str, bytes] = {f"{rid}.efi": image.uki, **image.extra_outputs}
    with step(f"Writing {final}"), staged_directory(final) as tmp:
        for name, data in sorted(files.items()):
            (tmp / name).write_bytes(data)
        for fmt in image.recipe.formats:
            if fmt == "uki":
                continue
            name = gpt_disk.OutputFormat(fmt).file_name(rid)
            with step(f"Writing the {fmt} disk image {name}"), (tmp / name).open("w+b") as stream:
                gpt_disk.write_output(fmt, image.uki, image_id=rid, source_date_epoch=image.recipe.source_date_epoch,
                                      stream=stream)
        digests = {p.name: _file_sha256(p) for p in sorted(tmp.iterdir())}
        manifest_bytes = dumps(manifest(image, digests))
        (tmp / f"{rid}.manifest.json").write_bytes(manifest_bytes)
        digests[f"{rid}.manifest.json"] = hashlib.sha256(manifest_bytes).hexdigest()
        (tmp / "SHA256SUMS").write_bytes(sha256sums(digests))
    return final
