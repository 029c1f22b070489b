"""Tests for assembler/depmod.py: kmod's index files, byte for byte.

Offline: hand-computed index bytes, the facts of ../shared/specs/kmod-depmod.md §8 on tiny modules,
and a synthetic tree compared with the host's depmod (kmod 30, Debian 12; CI installs ``kmod``).
Network: trixie's cloud kernel package and trixie's own depmod (kmod 34, run in a chroot of trixie
.debs extracted with ``dpkg-deb -x``) on a synthetic tree, a five-module selection and every module of
the package; the same trees also go through the host's kmod 30.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from assembler import depmod, kmod
from assembler.errors import KmodError
from tests import archive
from tests.assembler.test_kmod import make_ko, xz, zst

log = logging.getLogger(__name__)

KVER = "0.0.0-test"
INPUT_FILES = ("modules.order", "modules.builtin", "modules.builtin.modinfo")


# --- an index reader, to check decoded content independently of the layout ---------------------------------


def read_index(data: bytes) -> dict[bytes, list[tuple[int, bytes]]]:
    """Decode a kmod index into key → [(priority, value)] (values in stored order)."""
    magic, version, root = struct.unpack_from(">III", data)
    assert (magic, version) == (0xB007F457, 0x00020001)
    out: dict[bytes, list[tuple[int, bytes]]] = {}
    stack = [(root, b"")]
    while stack:
        ref, key = stack.pop()
        pos = ref & 0x0FFFFFFF
        if ref & 0x80000000:
            end = data.index(b"\0", pos)
            key += data[pos:end]
            pos = end + 1
        if ref & 0x20000000:
            first, last = data[pos], data[pos + 1]
            pos += 2
            for c in range(first, last + 1):
                (child,) = struct.unpack_from(">I", data, pos)
                pos += 4
                if child:
                    stack.append((child, key + bytes((c,))))
        if ref & 0x40000000:
            (count,) = struct.unpack_from(">I", data, pos)
            pos += 4
            values = []
            for _ in range(count):
                (priority,) = struct.unpack_from(">I", data, pos)
                end = data.index(b"\0", pos + 4)
                values.append((priority, data[pos + 4 : end]))
                pos = end + 1
            out[key] = values
    return out


# --- index writer ------------------------------------------------------------------------------------------

EMPTY_INDEX = bytes.fromhex("b007f457 00020001 0000000c")


@pytest.mark.parametrize("version", [30, 34])
def test_empty_index(version: int) -> None:
    assert depmod.Index().write(kmod_version=version) == EMPTY_INDEX


def _two_key_index() -> depmod.Index:
    index = depmod.Index()
    index.insert(b"ab", b"x", 1)
    index.insert(b"ac", b"y", 0)
    return index


def test_index_known_bytes_kmod34() -> None:
    # root{a: N1{b: T[(1,x)], c: L[(0,y)]}}, pre-order: root@12 (6 B), N1@18 (10 B), T@28, L@38
    expected = bytes.fromhex(
        "b007f457 00020001 2000000c6161 200000126263 4000001c 4000002600000001 00000001 780000000001 00000000 7900"
    )
    assert _two_key_index().write(kmod_version=34) == expected


def test_index_known_bytes_kmod30() -> None:
    # post-order: T@12, L@22, N1@32, root@42; the header's root reference is patched last
    expected = bytes.fromhex(
        "b007f457 00020001 2000002a00000001 00000001 780000000001 00000000 79006263 4000000c 400000166161 20000020"
    )
    assert _two_key_index().write(kmod_version=30) == expected


def test_index_values_order_and_roundtrip() -> None:
    index = depmod.Index()
    keys = [b"pci:v0001", b"pci:v0002*", b"pci", b"", b"usb:x", b"pci:v0001", b"a" * 3000]
    for n, key in enumerate(keys):
        index.insert(key, b"v%d" % n, n % 3)
    index.insert(b"pci", b"late", 0)
    for version in (30, 34):
        data = index.write(kmod_version=version)
        decoded = read_index(data)
        assert decoded[b"pci:v0001"] == [(0, b"v0"), (2, b"v5")]
        # equal priorities: the newest value comes first
        assert decoded[b"pci"] == [(0, b"late"), (2, b"v2")]
        assert decoded[b""] == [(0, b"v3")]
        assert set(decoded) == set(keys)
    assert len(index.write(kmod_version=30)) == len(index.write(kmod_version=34))


def test_index_refuses_non_ascii() -> None:
    with pytest.raises(KmodError, match="0x80"):
        depmod.Index().insert(b"caf\xc3\xa9", b"m", 0)


@pytest.mark.parametrize(
    ("alias", "normalized"),
    [
        (b"fs-ext4", b"fs_ext4"),
        (b"pci:v[0-9]d-x*", b"pci:v[0-9]d_x*"),
        (b"foo[ab", None),
        (b"foo]x", None),
        (b"a" * 5000, b"a" * 4095),
    ],
)
def test_normalize_alias(alias: bytes, normalized: bytes | None) -> None:
    assert depmod.normalize_alias(alias) == normalized


def test_hash_order_is_bucket_then_name() -> None:
    names = [b"xor", b"libcrc32c", b"btrfs", b"a", b"ab", b"abc", b"abcd", b"abcde"]
    ordered = depmod.hash_order(names, 512)
    keys = [(depmod.superfast_hash(n) & 511, n) for n in ordered]
    assert keys == sorted(keys) and sorted(ordered) == sorted(names)
    # the tails of 1, 2 and 3 bytes and signed bytes take different paths
    assert len({depmod.superfast_hash(bytes([b])) for b in range(256)}) == 256
    assert depmod.superfast_hash(b"\xff\xff\xff") != depmod.superfast_hash(b"\xff\xff\x7f")


# --- spec facts on tiny trees ------------------------------------------------------------------------------


def _mods(tree: Mapping[str, bytes]) -> tuple[kmod.Module, ...]:
    return kmod.read_modules(tree)


def test_builtin_alias_bin_facts() -> None:
    modinfo = (
        b"ext4.alias=fs-ext4\0zzz.alias=fs-ext4\0aaa.alias=fs-ext4\0ext4.license=GPL\0"
        b"bad.alias=foo[ab\0bad.alias=foo]x\0br.alias=pci:v[0-9]d-x*\0empty.alias=\0"
    )
    decoded = read_index(depmod.write_builtin_alias_bin(modinfo, kmod_version=34))
    assert decoded == {
        b"fs_ext4": [(0, b"aaa"), (0, b"zzz"), (0, b"ext4")],
        b"pci:v[0-9]d_x*": [(0, b"br")],
    }
    assert depmod.write_builtin_alias_bin(None, kmod_version=34) == b""
    assert depmod.write_builtin_alias_bin(b"", kmod_version=34) == EMPTY_INDEX


def test_builtin_alias_bin_record_without_equals_eats_the_next() -> None:
    decoded = read_index(depmod.write_builtin_alias_bin(b"a.noequals\0b.alias=x\0c.alias=y\0", kmod_version=30))
    assert decoded == {b"y": [(0, b"c")]}


def test_builtin_bin_facts() -> None:
    builtin = b"kernel/a-b/x-y.ko\n/abs/z.ko\n\nkernel/fs/ext4.ko\nkernel/fs/ext4.ko\nnodot\n"
    decoded = read_index(depmod.write_builtin_bin(builtin, kmod_version=34))
    assert decoded == {b"x_y": [(0, b"")], b"ext4": [(0, b""), (0, b"")], b"nodot\n": [(0, b"")]}
    assert depmod.write_builtin_bin(None, kmod_version=34) == b""


def _order_tree() -> dict[str, bytes]:
    return {
        "kernel/crypto/xor.ko.xz": xz(make_ko(exports=[b"xor_blocks"])),
        "kernel/lib/libcrc32c.ko.xz": xz(make_ko(exports=[b"crc32c"])),
        "kernel/fs/btrfs/btrfs.ko.xz": xz(make_ko(imports=[b"xor_blocks", b"crc32c"])),
    }


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (30, [b"libcrc32c", b"xor", b"btrfs"]),
        (34, [b"xor", b"libcrc32c", b"btrfs"]),
    ],
)
def test_modules_order_duplicate_lines(version: int, expected: list[bytes]) -> None:
    order = (
        b"kernel/crypto/xor.ko\nkernel/lib/libcrc32c.ko\nkernel/missing.ko\n"
        b"kernel/crypto/xor.ko\nkernel/fs/btrfs/btrfs.ko\n"
    )
    ordered = depmod.order_modules(_mods(_order_tree()), order, kmod_version=version)
    assert [m.name for m in ordered] == expected


@pytest.mark.parametrize("order", [None, b"kernel/fs/btrfs/btrfs.ko\nkernel/crypto/xor.ko"])
def test_modules_order_missing_or_unterminated_gives_hash_order(order: bytes | None) -> None:
    ordered = depmod.order_modules(_mods(_order_tree()), order, kmod_version=34)
    assert [m.name for m in ordered] == depmod.hash_order([b"xor", b"libcrc32c", b"btrfs"], 512)


def test_dependencies_follow_symbols_not_depends() -> None:
    tree = _order_tree()
    tree["kernel/fs/btrfs/btrfs.ko.xz"] = xz(
        make_ko(modinfo=[b"depends=loop,cuse"], imports=[b"xor_blocks", b"crc32c", b"unknown_sym"])
    )
    order = b"kernel/crypto/xor.ko\nkernel/lib/libcrc32c.ko\nkernel/fs/btrfs/btrfs.ko\n"
    files = depmod.write_indexes(_mods(tree), builtin=None, builtin_modinfo=None, order=order)
    assert files["modules.dep"] == (
        b"kernel/crypto/xor.ko.xz:\n"
        b"kernel/lib/libcrc32c.ko.xz:\n"
        b"kernel/fs/btrfs/btrfs.ko.xz: kernel/lib/libcrc32c.ko.xz kernel/crypto/xor.ko.xz\n"
    )
    assert read_index(files["modules.dep.bin"])[b"xor"] == [(0, b"kernel/crypto/xor.ko.xz:")]
    assert read_index(files["modules.symbols.bin"])[b"symbol:crc32c"] == [(1, b"libcrc32c")]


def test_last_exporter_in_module_order_owns_the_symbol() -> None:
    tree = {
        "kernel/a.ko": make_ko(exports=[b"dup"]),
        "kernel/b.ko": make_ko(exports=[b"dup"]),
        "kernel/user.ko": make_ko(imports=[b"dup"]),
    }
    for order, owner in ((b"kernel/a.ko\nkernel/b.ko\n", b"b"), (b"kernel/b.ko\nkernel/a.ko\n", b"a")):
        files = depmod.write_indexes(_mods(tree), builtin=None, builtin_modinfo=None, order=order)
        assert files["modules.symbols"].endswith(b"alias symbol:dup %s\n" % owner)
        assert b"kernel/user.ko: kernel/%s.ko\n" % owner in files["modules.dep"]


def test_cycle_is_an_error() -> None:
    tree = {
        "kernel/a.ko": make_ko(exports=[b"fa"], imports=[b"fb"]),
        "kernel/b.ko": make_ko(exports=[b"fb"], imports=[b"fa"]),
    }
    with pytest.raises(KmodError, match="cycle"):
        depmod.depmod(tree, kernel_version=KVER, builtin=None, builtin_modinfo=None, order=None)


def test_empty_tree_sizes() -> None:
    files = depmod.depmod({}, kernel_version=KVER, builtin=None, builtin_modinfo=None, order=None)
    sizes = {name: len(data) for name, data in files.items()}
    assert list(files) == [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.alias.bin",
        "modules.softdep",
        "modules.weakdep",
        "modules.symbols",
        "modules.symbols.bin",
        "modules.builtin.bin",
        "modules.builtin.alias.bin",
        "modules.devname",
    ]
    assert sizes == {
        "modules.dep": 0,
        "modules.dep.bin": 12,
        "modules.alias": 45,
        "modules.alias.bin": 12,
        "modules.softdep": 55,
        "modules.weakdep": 55,
        "modules.symbols": 49,
        "modules.symbols.bin": 12,
        "modules.builtin.bin": 0,
        "modules.builtin.alias.bin": 0,
        "modules.devname": 0,
    }
    files30 = depmod.depmod({}, kernel_version=KVER, builtin=b"", builtin_modinfo=b"", order=None, kmod_version=30)
    assert "modules.weakdep" not in files30 and files30["modules.builtin.bin"] == EMPTY_INDEX


def test_devname() -> None:
    tree = {
        "kernel/fuse.ko": make_ko(modinfo=[b"alias=char-major-10-229", b"alias=devname:fuse"]),
        "kernel/loop.ko": make_ko(modinfo=[b"alias=devname:loop-control", b"alias=block-major-7-*"]),
        "kernel/half.ko": make_ko(modinfo=[b"alias=devname:half"]),
        "kernel/odd.ko": make_ko(modinfo=[b"alias=char-major- 1-+2x", b"alias=devname:odd"]),
    }
    files = depmod.depmod(tree, kernel_version=KVER, builtin=None, builtin_modinfo=None, order=None)
    lines = files["modules.devname"].splitlines()
    assert lines[0] == b"# Device nodes to trigger on-demand module loading."
    assert sorted(lines[1:]) == [b"fuse fuse c10:229", b"odd odd c1:2"]


# --- a synthetic tree exercising the spec, compared with real depmod runs ----------------------------------


def synthetic_tree() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(modules, other input files) covering the rules of spec §1-§6."""
    modules = {
        "kernel/crypto/xor.ko.xz": xz(make_ko(exports=[b"xor_blocks"], modinfo=[b"alias=xor-alias"])),
        "updates/xor.ko.zst": zst(make_ko(exports=[b"xor_blocks", b"xor_extra"])),
        "kernel/crypto/async_tx/async-xor.ko": make_ko(
            imports=[b"xor_blocks", b"async_tx_submit", b".dotted"],
            versions=[b"xor_blocks", b"module_layout"],
            modinfo=[b"alias=async-xor", b"alias=dup-x", b"alias=dup-x", b"weakdep=async_tx cryptd"],
        ),
        "kernel/crypto/async_tx/async_tx.ko.xz": xz(make_ko(exports=[b"async_tx_submit", b"dotted"])),
        "kernel/fs/fuse/fuse.ko.xz": xz(
            make_ko(modinfo=[b"alias=char-major-10-229", b"alias=devname:fuse", b"alias=fs-fuse", b"softdep=pre: xor"])
        ),
        "kernel/drivers/brk.ko": make_ko(modinfo=[b"alias=pci:v[0-9]d-x*", b"alias=bad[x", b"alias=bad]x"]),
        "kernel/drivers/fallback.ko": make_ko(exports=[b"ks1"], crc_symbols=False, ksymtab_strings=b"ks1\0ks2\0"),
        "kernel/drivers/user32.ko": make_ko(imports=[b"ks2"], elfclass=32),
        "kernel/drivers/userbe.ko": make_ko(imports=[b"ks1", b"xor_extra"], little_endian=False),
        "kernel/drivers/broken.ko.xz": b"\xfd7zXZ\x00not really xz",
        "kernel/drivers/unlisted-a.ko": make_ko(imports=[b"async_tx_submit"]),
        "extra/unlisted_b.ko": make_ko(),
        "kernel/drivers/gz.ko.gz": make_ko(exports=[b"gz_sym"]),
        "kernel/drivers/gz-user.ko": make_ko(imports=[b"gz_sym"]),
        "build/skipped.ko": make_ko(),
        # kmod 30 and 34 differ on unterminated names: an unterminated __versions name hides every
        # import from kmod 34; an unterminated last __ksymtab_strings string is an export for kmod 30 only
        "kernel/drivers/longver.ko": make_ko(imports=[b"xor_blocks"], versions=[b"n" * 56, b"xor_blocks"]),
        "kernel/drivers/unterm.ko": make_ko(exports=[b"u0"], crc_symbols=False, ksymtab_strings=b"u1\0u2"),
        "kernel/drivers/unterm-user.ko": make_ko(imports=[b"u2"]),
    }
    inputs = {
        "modules.order": (
            b"kernel/crypto/xor.ko\nkernel/crypto/async_tx/async_tx.ko\nkernel/missing.ko\n"
            b"kernel/crypto/async_tx/async-xor.ko\nkernel/fs/fuse/fuse.ko\nkernel/drivers/brk.ko\n"
            b"kernel/drivers/fallback.ko\nkernel/drivers/user32.ko\nkernel/drivers/userbe.ko\n"
            b"kernel/drivers/broken.ko\nkernel/drivers/gz-user.ko\nkernel/crypto/async_tx/async_tx.ko\n"
        ),
        "modules.builtin": b"kernel/fs/ext4/ext4.ko\nkernel/lib/a-b.ko\n/bad\nkernel/fs/ext4/ext4.ko\n",
        "modules.builtin.modinfo": (
            b"ext4.alias=fs-ext4\0zzz.alias=fs-ext4\0aaa.alias=fs-ext4\0ext4.license=GPL\0"
            b"x.alias=foo[ab\0y.alias=pci:v[0-9]d-x*\0z.alias=\0"
        ),
    }
    return modules, inputs


def write_tree(moddir: Path, modules: Mapping[str, bytes], inputs: Mapping[str, bytes]) -> None:
    if moddir.exists():
        shutil.rmtree(moddir)
    for rel, data in {**modules, **inputs}.items():
        path = moddir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_outputs(moddir: Path, modules: Mapping[str, bytes], inputs: Mapping[str, bytes]) -> dict[str, bytes]:
    """Every file depmod left in MODDIR that was not an input."""
    return {
        p.name: p.read_bytes()
        for p in sorted(moddir.iterdir())
        if p.is_file() and p.name not in inputs and p.name not in modules
    }


def host_depmod() -> str:
    for candidate in ("/usr/sbin/depmod", "/sbin/depmod"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("depmod")
    assert found, "the host's depmod (Debian package kmod) is needed; see scripts/apt-packages.txt"
    return found


def run_host_depmod(
    base: Path, kver: str, modules: Mapping[str, bytes], inputs: Mapping[str, bytes]
) -> dict[str, bytes]:
    """Debian 12's depmod (kmod 30) with ``-b base``: MODDIR is base/lib/modules/kver."""
    moddir = base / "lib" / "modules" / kver
    write_tree(moddir, modules, inputs)
    version = subprocess.run([host_depmod(), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("kmod version 30"), version
    subprocess.run([host_depmod(), "-b", str(base), kver], check=True, capture_output=True)
    return read_outputs(moddir, modules, inputs)


def assert_same_files(ours: Mapping[str, bytes], theirs: Mapping[str, bytes]) -> None:
    assert list(ours) == sorted(theirs, key=list(ours).index) and set(ours) == set(theirs)
    differing = [name for name in ours if ours[name] != theirs[name]]
    assert not differing, f"files differ from depmod: {differing}"


def test_synthetic_tree_matches_host_depmod_30(tmp_path: Path) -> None:
    modules, inputs = synthetic_tree()
    ours = depmod.depmod(
        modules,
        kernel_version=KVER,
        builtin=inputs["modules.builtin"],
        builtin_modinfo=inputs["modules.builtin.modinfo"],
        order=inputs["modules.order"],
        kmod_version=30,
    )
    assert_same_files(ours, run_host_depmod(tmp_path, KVER, modules, inputs))


# --- trixie: the cloud kernel and trixie's depmod (network) ------------------------------------------------

CHROOT_PACKAGES = ("kmod", "libkmod2", "libc6", "libgcc-s1", "libzstd1", "liblzma5", "libssl3t64", "zlib1g")
"""Enough of trixie to run its depmod (kmod 34.2): the binary, libkmod and their shared libraries."""


@dataclass(frozen=True)
class Trixie:
    kver: str
    kernel_moddir: Path
    chroot: Path
    modules: Mapping[str, bytes]
    """Every module file of the kernel package, by path relative to its MODDIR."""

    @property
    def inputs(self) -> dict[str, bytes]:
        return {name: (self.kernel_moddir / name).read_bytes() for name in INPUT_FILES}

    def depmod34(self, kver: str, modules: Mapping[str, bytes], inputs: Mapping[str, bytes]) -> dict[str, bytes]:
        """trixie's depmod in a chroot of trixie's own libraries, on usr/lib/modules/<kver>."""
        moddir = self.chroot / "usr" / "lib" / "modules" / kver
        write_tree(moddir, modules, inputs)
        version = subprocess.run(
            ["chroot", str(self.chroot), "/usr/sbin/depmod", "--version"], capture_output=True, text=True, check=True
        ).stdout
        assert version.startswith("kmod version 34"), version
        subprocess.run(["chroot", str(self.chroot), "/usr/sbin/depmod", kver], check=True, capture_output=True)
        return read_outputs(moddir, modules, inputs)


@pytest.fixture(scope="session")
def trixie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trixie]:
    _, kernel_deb = archive.cloud_kernel("trixie")
    kernel = tmp_path_factory.mktemp("kernel")
    subprocess.run(["dpkg-deb", "-x", str(kernel_deb), str(kernel)], check=True)
    (moddir,) = (kernel / "usr" / "lib" / "modules").iterdir()
    modules = {
        p.relative_to(moddir).as_posix(): p.read_bytes()
        for p in sorted(moddir.rglob("*"))
        if p.is_file() and kmod.is_module_path(p.relative_to(moddir).as_posix())
    }
    chroot = tmp_path_factory.mktemp("chroot")
    for name in CHROOT_PACKAGES:
        _, deb = archive.package(name, "trixie")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(chroot)], check=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if not (chroot / link).exists():
            (chroot / link).symlink_to(f"usr/{link}")
    yield Trixie(kver=moddir.name, kernel_moddir=moddir, chroot=chroot, modules=modules)


@pytest.mark.network
def test_synthetic_tree_matches_trixie_depmod_34(trixie: Trixie) -> None:
    modules, inputs = synthetic_tree()
    ours = depmod.depmod(
        modules,
        kernel_version=KVER,
        builtin=inputs["modules.builtin"],
        builtin_modinfo=inputs["modules.builtin.modinfo"],
        order=inputs["modules.order"],
    )
    assert_same_files(ours, trixie.depmod34(KVER, modules, inputs))


FIVE = ["virtio_net", "tdx_guest", "overlay", "dm-crypt", "nf_tables"]


@pytest.mark.network
def test_five_module_selection_matches_depmod(trixie: Trixie, tmp_path: Path) -> None:
    everything = trixie.modules
    builtin = trixie.inputs["modules.builtin"]
    selected = kmod.select_modules(everything, builtin, FIVE)
    for path in (
        "kernel/drivers/net/virtio_net.ko.xz",
        "kernel/drivers/net/net_failover.ko.xz",
        "kernel/net/core/failover.ko.xz",
        "kernel/drivers/virt/coco/tdx-guest/tdx-guest.ko.xz",
        "kernel/drivers/virt/coco/tsm.ko.xz",
        "kernel/drivers/md/dm-mod.ko.xz",
        "kernel/net/netfilter/nfnetlink.ko.xz",
    ):
        assert path in selected
    modules = {path: everything[path] for path in selected}
    kver = trixie.kver + "-five"
    for version, reference in ((34, trixie.depmod34), (30, lambda *a: run_host_depmod(tmp_path, *a))):
        ours = depmod.depmod(
            modules,
            kernel_version=kver,
            builtin=builtin,
            builtin_modinfo=trixie.inputs["modules.builtin.modinfo"],
            order=trixie.inputs["modules.order"],
            kmod_version=version,
        )
        assert ours["modules.dep"].count(b"\n") == len(selected)
        assert_same_files(ours, reference(kver, modules, trixie.inputs))
        # every dependency depmod found is inside the selection
        dep_paths = {p.rstrip(b":").decode() for line in ours["modules.dep"].splitlines() for p in line.split()}
        assert dep_paths == set(selected)


@pytest.mark.network
def test_every_module_of_the_kernel_matches_depmod(trixie: Trixie, tmp_path: Path) -> None:
    everything = trixie.modules
    inputs = trixie.inputs
    assert len(everything) > 1000
    start = time.monotonic()
    read = kmod.read_modules(everything)
    selected = kmod.select(read, inputs["modules.builtin"], ["all"])
    ours = {
        version: depmod.write_indexes(
            read,
            builtin=inputs["modules.builtin"],
            builtin_modinfo=inputs["modules.builtin.modinfo"],
            order=inputs["modules.order"],
            kmod_version=version,
        )
        for version in (34, 30)
    }
    python_seconds = time.monotonic() - start
    assert selected == tuple(sorted(everything))
    start = time.monotonic()
    theirs34 = trixie.depmod34(trixie.kver, everything, inputs)
    depmod_seconds = time.monotonic() - start
    log.info(
        "all %d modules: python select+depmod(34,30) %.1fs, depmod 34 %.1fs",
        len(everything),
        python_seconds,
        depmod_seconds,
    )
    assert_same_files(ours[34], theirs34)
    assert_same_files(ours[30], run_host_depmod(tmp_path, trixie.kver, everything, inputs))
    # kmod 30 and 34 differ only in node placement: same decoded indexes, same text files
    for name, data in ours[34].items():
        if name.endswith(".bin"):
            assert read_index(data) == read_index(ours[30][name]) and len(data) == len(ours[30][name])
        elif name != "modules.weakdep":
            assert data == ours[30][name]


def test_build_moddir() -> None:
    modules, inputs = synthetic_tree()
    files = {**modules, **inputs, "modules.dep": b"stale", "kernel/drivers/README": b"gone", "extra/x.txt": b"kept"}
    assert depmod.build_moddir(files, [], kernel_version=KVER) == {}
    result = depmod.build_moddir(files, ["userbe"], kernel_version=KVER)
    kept = ["kernel/drivers/fallback.ko", "kernel/drivers/userbe.ko", "updates/xor.ko.zst"]
    expected = {path: modules[path] for path in kept}
    expected.update(inputs)
    expected.update({"extra/x.txt": b"kept", "build/skipped.ko": modules["build/skipped.ko"]})
    expected.update(
        depmod.depmod(
            expected,
            kernel_version=KVER,
            builtin=inputs["modules.builtin"],
            builtin_modinfo=inputs["modules.builtin.modinfo"],
            order=inputs["modules.order"],
        )
    )
    assert result == expected
    assert result["modules.dep"].startswith(b"kernel/drivers/fallback.ko:\nkernel/drivers/userbe.ko: ")
    with pytest.raises(KmodError, match="unsupported kmod version"):
        depmod.build_moddir(files, ["userbe"], kernel_version=KVER, kmod_version=31)
