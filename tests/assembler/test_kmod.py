"""Tests for assembler/kmod.py: reading module files and selecting a module set.

Modules are tiny ELF relocatable files built here (``make_ko``) with just the sections libkmod reads;
test_depmod.py reuses the builder and checks the same files against real depmod runs.
"""

from __future__ import annotations

import lzma
import struct
from collections.abc import Sequence

import pytest
import zstandard

from assembler import kmod
from assembler.errors import KmodError, RecipeError

EM_X86_64 = 62
EM_SPARCV9 = 43


def make_ko(
    *,
    modinfo: Sequence[bytes] = (),
    exports: Sequence[bytes] = (),
    imports: Sequence[bytes] = (),
    versions: Sequence[bytes] = (),
    ksymtab_strings: bytes | None = None,
    crc_symbols: bool = True,
    elfclass: int = 64,
    little_endian: bool = True,
    machine: int = EM_X86_64,
    extra_symbols: Sequence[tuple[bytes, int, int]] = (),
) -> bytes:
    """A minimal ``ET_REL`` module: .modinfo, optional __ksymtab_strings and __versions, .symtab, .strtab.

    ``exports`` become ``__crc_NAME`` symbols (when ``crc_symbols``), ``imports`` undefined symbols,
    ``versions`` 64-byte modversion records (names longer than the field are written unterminated).
    ``extra_symbols`` are (name, st_info, st_shndx) rows appended to the table.
    """
    e = "<" if little_endian else ">"
    strtab = bytearray(b"\0")
    syms: list[tuple[int, int, int]] = [(0, 0, 0)]

    def add_sym(name: bytes, info: int, shndx: int) -> None:
        syms.append((len(strtab), info, shndx))
        strtab.extend(name + b"\0")

    for name in exports:
        add_sym(name, 0x12, 1)  # GLOBAL FUNC, defined in section 1
        if crc_symbols:
            add_sym(b"__crc_" + name, 0x10, 0xFFF1)  # GLOBAL NOTYPE ABS
    for name in imports:
        add_sym(name, 0x10, 0)
    for name, info, shndx in extra_symbols:
        add_sym(name, info, shndx)
    if elfclass == 64:
        symtab = b"".join(struct.pack(e + "IBBHQQ", n, i, 0, s, 0, 0) for n, i, s in syms)
    else:
        symtab = b"".join(struct.pack(e + "IIIBBH", n, 0, 0, i, 0, s) for n, i, s in syms)
    crc_size = 8 if elfclass == 64 else 4
    vers = b"".join(
        struct.pack(e + ("Q" if elfclass == 64 else "I"), 0x1234) + name[: 64 - crc_size].ljust(64 - crc_size, b"\0")
        for name in versions
    )
    sections: list[tuple[bytes, int, bytes]] = [(b".modinfo", 1, b"".join(m + b"\0" for m in modinfo))]
    if ksymtab_strings is not None:
        sections.append((b"__ksymtab_strings", 1, ksymtab_strings))
    if versions:
        sections.append((b"__versions", 1, vers))
    sections += [(b".symtab", 2, symtab), (b".strtab", 3, bytes(strtab))]
    shstrtab = bytearray(b"\0")
    name_offsets = []
    for name, _t, _d in [*sections, (b".shstrtab", 3, b"")]:
        name_offsets.append(len(shstrtab))
        shstrtab.extend(name + b"\0")
    sections.append((b".shstrtab", 3, bytes(shstrtab)))
    ehsize, shentsize = (64, 64) if elfclass == 64 else (52, 40)
    body = bytearray()
    placed = []
    for _n, _t, data in sections:
        placed.append((ehsize + len(body), len(data)))
        body.extend(data)
    shoff = ehsize + len(body)
    ident = b"\x7fELF" + bytes((2 if elfclass == 64 else 1, 1 if little_endian else 2, 1, 0)) + bytes(8)
    shnum = len(sections) + 1
    if elfclass == 64:
        header = ident + struct.pack(
            e + "HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, ehsize, 0, 0, 64, shnum, shnum - 1
        )
        shdr = e + "IIQQQQIIQQ"
    else:
        header = ident + struct.pack(
            e + "HHIIIIIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, ehsize, 0, 0, 40, shnum, shnum - 1
        )
        shdr = e + "IIIIIIIIII"
    headers = bytes(shentsize)
    for (_n, sh_type, _d), noff, (off, size) in zip(sections, name_offsets, placed, strict=True):
        link = len(sections) - 1 if sh_type == 2 else 0  # .symtab links to .strtab (second to last)
        entsize = (24 if elfclass == 64 else 16) if sh_type == 2 else 0
        headers += struct.pack(shdr, noff, sh_type, 0, 0, off, size, link, 0, 1, entsize)
    return header + bytes(body) + headers


def xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


# --- names and paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "is_module"),
    [
        ("kernel/fs/btrfs/btrfs.ko.xz", True),
        ("kernel/a.ko", True),
        ("kernel/a.ko.zst", True),
        ("kernel/a.ko.gz", False),
        (".ko", False),
        ("kernel/.ko.xz", False),
        ("build/a.ko", False),
        ("kernel/source/a.ko", False),
        ("kernel/a.ko.xz.orig", False),
        ("modules.dep", False),
    ],
)
def test_is_module_path(path: str, is_module: bool) -> None:
    assert kmod.is_module_path(path) is is_module


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("kernel/drivers/md/dm-crypt.ko.xz", b"dm_crypt"),
        ("kernel/a-b/x-y.ko", b"x_y"),
        ("updates/foo.bar.ko.zst", b"foo"),
        ("top.ko", b"top"),
    ],
)
def test_modname(path: str, name: bytes) -> None:
    assert kmod.modname(path) == name


def test_parse_modinfo_keeps_order_duplicates_and_missing_equals() -> None:
    section = b"\0\0alias=a-1\0softdep=pre: x\0\0alias=a-1\0license=GPL\0noequals\0weakdep=w\0tail=v=w"
    assert kmod.parse_modinfo(section) == (
        (b"alias", b"a-1"),
        (b"softdep", b"pre: x"),
        (b"alias", b"a-1"),
        (b"license", b"GPL"),
        (b"noequals", b""),
        (b"weakdep", b"w"),
        (b"tail", b"v=w"),
    )


def test_softdep_names() -> None:
    assert kmod.softdep_names(b"pre: crc32c  post: a b") == (b"crc32c", b"a", b"b")
    assert kmod.softdep_names(b"gcm") == (b"gcm",)


# --- reading modules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("elfclass", "little"), [(64, True), (64, False), (32, True), (32, False)])
def test_read_module_symbols_and_modinfo(elfclass: int, little: bool) -> None:
    data = make_ko(
        modinfo=[b"alias=pci:v*d*", b"depends=ignored", b"firmware=fw.bin", b"softdep=pre: b"],
        exports=[b"f1", b"f2"],
        imports=[b"g1", b".g2"],
        versions=[b"g1", b"module_layout", b"g1"],
        elfclass=elfclass,
        little_endian=little,
    )
    m = kmod.read_module("kernel/x/my-mod.ko", data)
    assert m.parsed and m.name == b"my_mod"
    assert m.aliases == (b"pci:v*d*",) and m.firmware == (b"fw.bin",) and m.softdeps == (b"pre: b",)
    assert m.exports == (b"f1", b"f2")
    # undefined symbols in table order, then __versions records no import claimed (the second g1 too)
    assert m.imports == (b"g1", b".g2", b"module_layout", b"g1")


def test_read_module_compressed_by_magic_not_name() -> None:
    raw = make_ko(modinfo=[b"alias=x"], exports=[b"s"])
    for data in (raw, xz(raw), zst(raw)):
        for path in ("a.ko", "a.ko.xz", "a.ko.zst"):
            m = kmod.read_module(path, data)
            assert m.parsed and m.aliases == (b"x",) and m.exports == (b"s",)


def test_exports_fall_back_to_ksymtab_strings() -> None:
    data = make_ko(exports=[b"a"], crc_symbols=False, ksymtab_strings=b"\0\0x1\0x2\0\0x3\0")
    assert kmod.read_module("m.ko", data).exports == (b"x1", b"x2", b"x3")


def test_unterminated_names_kmod30_vs_34() -> None:
    data = make_ko(imports=[b"g"], versions=[b"g", b"n" * 56, b"o"])
    assert kmod.read_module("m.ko", data).imports == ()
    # kmod 30 reads the name on into the next record: its 8-byte CRC 0x1234, little-endian
    assert kmod.read_module("m.ko", data, kmod_version=30).imports == (b"g", b"n" * 56 + b"\x34\x12", b"o")
    strings = make_ko(exports=[b"a"], crc_symbols=False, ksymtab_strings=b"x1\0x2")
    assert kmod.read_module("m.ko", strings).exports == ()
    assert kmod.read_module("m.ko", strings, kmod_version=30).exports == (b"x1", b"x2")


def test_sparc_register_symbols_are_not_imports() -> None:
    rows = [(b"%g7", 0x1D, 0)]  # GLOBAL, type 13 (STT_REGISTER), undefined
    sparc = make_ko(imports=[b"g"], extra_symbols=rows, machine=EM_SPARCV9, little_endian=False)
    x86 = make_ko(imports=[b"g"], extra_symbols=rows)
    assert kmod.read_module("m.ko", sparc).imports == (b"g",)
    assert kmod.read_module("m.ko", x86).imports == (b"g", b"%g7")


@pytest.mark.parametrize("data", [b"", b"not an elf", b"\x7fELF\x03\x01", xz(b"garbage"), b"\xfd7zXZ\x00broken"])
def test_unreadable_module_is_unparsed(data: bytes) -> None:
    m = kmod.read_module("kernel/bad.ko", data)
    assert not m.parsed and m.name == b"bad" and m.modinfo == () and m.exports == m.imports == ()


def test_read_modules_filters_and_prefers_updates() -> None:
    ko = make_ko()
    mods = kmod.read_modules(
        {
            "kernel/crypto/xor.ko.xz": xz(ko),
            "updates/xor.ko": ko,
            "kernel/a.ko.gz": ko,
            "build/b.ko": ko,
            "modules.order": b"",
            "kernel/c-d.ko.zst": zst(ko),
        }
    )
    assert [(m.name, m.relpath) for m in mods] == [(b"c_d", "kernel/c-d.ko.zst"), (b"xor", "updates/xor.ko")]


def test_read_modules_refuses_ambiguous_duplicates() -> None:
    with pytest.raises(KmodError, match="two files give module"):
        kmod.read_modules({"kernel/a/x.ko": make_ko(), "kernel/b/x.ko.xz": xz(make_ko())})


# --- selection -------------------------------------------------------------------------------------------


def _tree() -> dict[str, bytes]:
    """net_a needs core (symbol) and has a softdep on an alias of crc; core needs base; loner is alone."""
    return {
        "kernel/net/net-a.ko.xz": xz(
            make_ko(modinfo=[b"alias=virtio:d1", b"softdep=pre: crypto-crc"], imports=[b"core_fn", b"printk"])
        ),
        "kernel/net/core.ko": make_ko(exports=[b"core_fn"], imports=[b"base_fn"]),
        "kernel/lib/base.ko": make_ko(exports=[b"base_fn"]),
        "kernel/lib/crc-impl.ko": make_ko(modinfo=[b"alias=crypto-crc*"]),
        "kernel/lib/weak.ko": make_ko(),
        "kernel/misc/loner.ko": make_ko(modinfo=[b"weakdep=weak"]),
        "kernel/misc/other.ko": make_ko(modinfo=[b"softdep=post: builtin_thing missing_thing"]),
    }


BUILTIN = b"kernel/fs/ext4/ext4.ko\nkernel/lib/builtin-thing.ko\n"


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ([], []),
        (["core"], ["kernel/lib/base.ko", "kernel/net/core.ko"]),
        (
            ["net-a"],
            ["kernel/lib/base.ko", "kernel/lib/crc-impl.ko", "kernel/net/core.ko", "kernel/net/net-a.ko.xz"],
        ),
        (["loner"], ["kernel/lib/weak.ko", "kernel/misc/loner.ko"]),
        (["other", "ext4"], ["kernel/misc/other.ko"]),
        (["b*"], ["kernel/lib/base.ko"]),
        (["kernel/lib/*"], ["kernel/lib/base.ko", "kernel/lib/crc-impl.ko", "kernel/lib/weak.ko"]),
        (["ext*"], []),
        (["all"], sorted(_tree())),
    ],
)
def test_select_modules(wanted: list[str], expected: list[str]) -> None:
    assert kmod.select_modules(_tree(), BUILTIN, wanted) == tuple(expected)


@pytest.mark.parametrize("wanted", [["nope"], ["virtio_net"], ["zz*"], ["kernel/fs/*"]])
def test_select_unknown_module_is_a_recipe_error(wanted: list[str]) -> None:
    with pytest.raises(RecipeError, match=r"no kernel module named|matches no module") as info:
        kmod.select_modules(_tree(), BUILTIN, wanted)
    assert info.value.where == "kernel.modules"


def test_select_keeps_every_exporter_of_a_needed_symbol() -> None:
    tree = {
        "kernel/user.ko": make_ko(imports=[b"dup"]),
        "kernel/one.ko": make_ko(exports=[b"dup"]),
        "kernel/two.ko": make_ko(exports=[b"dup"]),
    }
    assert kmod.select_modules(tree, b"", ["user"]) == ("kernel/one.ko", "kernel/two.ko", "kernel/user.ko")


def test_modules_load_conf() -> None:
    tree = _tree()
    modules = kmod.read_modules(tree)
    selected = kmod.select(modules, BUILTIN, ["core"])
    conf = kmod.modules_load_conf(["core", "ext4", "base", "core"], modules, BUILTIN, selected)
    assert conf == b"core\next4\nbase\n"
    with pytest.raises(RecipeError, match="loaded at boot") as info:
        kmod.modules_load_conf(["loner"], modules, BUILTIN, selected)
    assert info.value.where == "kernel.load"
