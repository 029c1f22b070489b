"""Kernel modules: read ``.ko``/``.ko.xz``/``.ko.zst`` files and pick a module set with its dependencies.

Follows ``../shared/specs/kmod-depmod.md`` sections 1 and 3 (what depmod of kmod 30 and 34 reads from a
module): the module name comes from the file name, compression is chosen by magic bytes, ``.modinfo``
gives ``alias``/``softdep``/``weakdep``/``firmware`` (``depends=`` is informational only), exports are
the ``__crc_`` symbols (falling back to ``__ksymtab_strings``) and imports are the undefined symbols plus
unmatched ``__versions`` records. Dependencies are derived from symbols, as depmod does.

pyelftools parses the ELF header (its ``Elf_Ehdr`` declaration). The section headers and symbol entries
are decoded with ``struct`` straight from the image: a kernel has ~57k section headers and ~1M symbols,
which pyelftools' per-entry parsing reads about 3x slower, and libkmod's own rules (names read as C
strings from the file image, sections out of the file ignored, the first of a name wins) are easier to
follow byte for byte. Paths are canonical relative paths (no ``./``, no empty components).

Not supported: ``.ko.gz`` (neither Debian build of kmod reads it, so it is not a module here either),
``external`` search directories and depmod.d configuration (Debian ships none).
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import functools
import logging
import lzma
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import zstandard
from elftools.construct import ConstructError
from elftools.elf.structs import ELFStructs

from assembler.errors import KmodError, RecipeError

log = logging.getLogger(__name__)

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst")
"""File name endings depmod treats as modules (spec §1; ``.ko.gz`` is not one in Debian's builds)."""

SKIPPED_NAMES = frozenset({".", "..", "build", "source"})
"""Directory entries depmod never descends into or reads, at any depth (spec §1)."""

UPDATES_DIR = "updates"
"""The default depmod search list: modules under ``updates/`` beat any other copy (spec §1)."""

XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

CRC_PREFIX = b"__crc_"
SHN_UNDEF = 0
STT_REGISTER = 13
MODVERSION_CRC_SIZE = {32: 4, 64: 8}
"""``struct modversion_info``: a CRC of the ELF word size then a NUL-padded name, 64 bytes in all."""
MODVERSION_SIZE = 64

PATH_MAX = 4096
"""libkmod's buffer size: aliases are cut at PATH_MAX - 1 bytes; fgets reads lines of at most that."""

ALL = "all"
"""The ``kernel.modules`` entry that keeps every module of the kernel package."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """What depmod reads from one module file; byte strings are raw, as libkmod sees them.

    ``parsed`` is False when the file is not a readable ELF (depmod still lists it in modules.dep, with
    no dependencies, aliases or exports).
    """

    relpath: str
    name: bytes
    modinfo: tuple[tuple[bytes, bytes], ...]
    exports: tuple[bytes, ...]
    imports: tuple[bytes, ...]
    parsed: bool = True

    def info(self, key: bytes) -> tuple[bytes, ...]:
        """All values of one ``.modinfo`` key, in section order, duplicates kept."""
        return tuple(v for k, v in self.modinfo if k == key)

    @property
    def aliases(self) -> tuple[bytes, ...]:
        return self.info(b"alias")

    @property
    def softdeps(self) -> tuple[bytes, ...]:
        return self.info(b"softdep")

    @property
    def weakdeps(self) -> tuple[bytes, ...]:
        return self.info(b"weakdep")

    @property
    def firmware(self) -> tuple[bytes, ...]:
        return self.info(b"firmware")

    @property
    def in_updates(self) -> bool:
        return self.relpath.startswith(UPDATES_DIR + "/")


# --- names and paths -------------------------------------------------------------------------------------


def is_module_path(relpath: str) -> bool:
    """Whether depmod's directory walk would load ``relpath`` as a module (spec §1, Discovery)."""
    parts = relpath.split("/")
    if any(p in SKIPPED_NAMES or p == "" for p in parts):
        return False
    base = parts[-1]
    return any(len(base) > len(s) and base.endswith(s) for s in MODULE_SUFFIXES)


def modname(relpath: str) -> bytes:
    """The module name depmod derives from a path: basename up to the first ``.``, ``-`` → ``_``."""
    return normalize_name(relpath.rsplit("/", 1)[-1].split(".", 1)[0]).encode("utf-8", "surrogateescape")


def normalize_name(name: str) -> str:
    """libkmod's modname normalization, applied to names given in a recipe (``dm-crypt`` → ``dm_crypt``)."""
    return name.replace("-", "_")


def strip_suffix(relpath: str) -> str:
    """``kernel/fs/btrfs/btrfs.ko.xz`` → ``kernel/fs/btrfs/btrfs``."""
    for suffix in sorted(MODULE_SUFFIXES, key=len, reverse=True):
        if relpath.endswith(suffix):
            return relpath[: -len(suffix)]
    return relpath


# --- reading one module ----------------------------------------------------------------------------------


def decompress(data: bytes) -> bytes:
    """Undo xz or zstd compression, chosen by magic bytes as libkmod does; anything else is returned as is."""
    if data.startswith(XZ_MAGIC):
        return lzma.decompress(data, format=lzma.FORMAT_XZ)
    if data.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def parse_modinfo(section: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """Split a ``.modinfo`` section into (key, value) pairs: NUL-separated, empty pieces dropped."""
    pairs: list[tuple[bytes, bytes]] = []
    for piece in section.split(b"\0"):
        if piece:
            key, _, value = piece.partition(b"=")
            pairs.append((key, value))
    return tuple(pairs)


def _cstr(image: bytes, offset: int) -> bytes:
    """A NUL-terminated string read from the file image, as libkmod's ``elf_get_mem`` does."""
    end = image.find(b"\0", offset)
    return image[offset:] if end < 0 else image[offset:end]


@dataclass(frozen=True, slots=True)
class _Section:
    offset: int
    size: int


_SHDR = {
    (64, True): struct.Struct("<IIQQQQIIQQ"),
    (64, False): struct.Struct(">IIQQQQIIQQ"),
    (32, True): struct.Struct("<IIIIIIIIII"),
    (32, False): struct.Struct(">IIIIIIIIII"),
}
"""ElfN_Shdr: sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign,
sh_entsize (64 bytes for ELF64, 40 for ELF32). Decoded with struct: ~57k headers per kernel, and
pyelftools' per-header parsing would triple the time to read a kernel's modules."""
_SHDR_NAME, _SHDR_OFFSET, _SHDR_SIZE = 0, 4, 5

_SYM = {
    (64, True): struct.Struct("<IBBHQQ"),
    (64, False): struct.Struct(">IBBHQQ"),
    (32, True): struct.Struct("<IIIBBH"),
    (32, False): struct.Struct(">IIIBBH"),
}
"""Elf64_Sym: st_name, st_info, st_other, st_shndx, st_value, st_size (24 bytes);
Elf32_Sym: st_name, st_value, st_size, st_info, st_other, st_shndx (16 bytes)."""

_EI_CLASS = {1: 32, 2: 64}
_EI_DATA = {1: True, 2: False}


@functools.cache
def _elf_structs(elfclass: int, little_endian: bool) -> ELFStructs:
    structs = ELFStructs(little_endian=little_endian, elfclass=elfclass)
    structs.create_basic_structs()
    return structs


def _symbols(
    image: bytes, elfclass: int, little_endian: bool, sections: Mapping[str, _Section]
) -> list[tuple[int, int, int]] | None:
    symtab = sections.get(".symtab")
    fmt = _SYM[elfclass, little_endian]
    if symtab is None or symtab.size % fmt.size:
        return None
    table = memoryview(image)[symtab.offset : symtab.offset + symtab.size]
    if elfclass == 64:
        return [(n, i, s) for n, i, _o, s, _v, _z in fmt.iter_unpack(table)][1:]
    return [(n, i, s) for n, _v, _z, i, _o, s in fmt.iter_unpack(table)][1:]


_CRC_NAME = re.compile(b"(?=" + re.escape(CRC_PREFIX) + b")")
"""Where ``__crc_`` starts in a string table, overlapping matches included."""


@dataclass(frozen=True, slots=True)
class _Elf:
    """An ELF image opened the way libkmod's ``kmod_elf_new`` does: header, then sections by name."""

    image: bytes
    elfclass: int
    little_endian: bool
    machine: str
    sections: Mapping[str, _Section]
    symbols: Sequence[tuple[int, int, int]] | None
    """(st_name, st_info, st_shndx) of .symtab entries 1..n-1; None without a well-formed .symtab."""

    @classmethod
    def open(cls, image: bytes) -> _Elf:
        if image[:4] != b"\x7fELF" or len(image) < 6:
            raise ValueError("not an ELF file")
        elfclass, little = _EI_CLASS.get(image[4]), _EI_DATA.get(image[5])
        if elfclass is None or little is None:
            raise ValueError("unknown ELF class or byte order")
        structs = _elf_structs(elfclass, little)
        header = structs.Elf_Ehdr.parse(image[: structs.Elf_Ehdr.sizeof()])
        shdr = _SHDR[elfclass, little]
        shoff, shnum = int(header["e_shoff"]), int(header["e_shnum"])
        if int(header["e_shentsize"]) != shdr.size or shoff + shnum * shdr.size > len(image):
            raise ValueError("bad section header table")
        rows = list(shdr.iter_unpack(image[shoff : shoff + shnum * shdr.size]))
        in_file = [r for r in rows if r[_SHDR_OFFSET] + r[_SHDR_SIZE] <= len(image)]
        shstrndx = int(header["e_shstrndx"])
        if shstrndx >= shnum or rows[shstrndx] not in in_file:
            raise ValueError("bad section name table")
        names = rows[shstrndx]
        names_end = names[_SHDR_OFFSET] + names[_SHDR_SIZE]
        if names[_SHDR_SIZE] == 0 or image[names_end - 1] != 0:
            raise ValueError("section name table not terminated")
        sections: dict[str, _Section] = {}
        for row in in_file:
            if row[_SHDR_NAME] >= names[_SHDR_SIZE] or row[_SHDR_OFFSET] == 0:
                continue
            name = _cstr(image, names[_SHDR_OFFSET] + row[_SHDR_NAME]).decode("latin-1")
            sections.setdefault(name, _Section(row[_SHDR_OFFSET], row[_SHDR_SIZE]))  # first wins
        return cls(
            image, elfclass, little, str(header["e_machine"]), sections, _symbols(image, elfclass, little, sections)
        )

    def data(self, name: str) -> bytes | None:
        section = self.sections.get(name)
        return None if section is None else self.image[section.offset : section.offset + section.size]

    def exports(self, kmod_version: int) -> tuple[bytes, ...]:
        """``__crc_`` symbol names without the prefix, or else the strings of ``__ksymtab_strings``.

        An unterminated last string counts in kmod 30; kmod 34 rejects the whole section then.
        """
        strtab, symbols = self.sections.get(".strtab"), self.symbols
        if strtab is not None and symbols is not None and all(n < strtab.size for n, _i, _s in symbols):
            # a name is a CRC symbol when "__crc_" starts at its offset (names may run past .strtab)
            start = strtab.offset
            crc_at = {m.start() for m in _CRC_NAME.finditer(self.image, start, start + strtab.size + len(CRC_PREFIX))}
            crcs = tuple(
                _cstr(self.image, start + n)[len(CRC_PREFIX) :] for n, _i, _s in symbols if start + n in crc_at
            )
            if crcs:
                return crcs
        strings = (self.data("__ksymtab_strings") or b"").lstrip(b"\0")
        if len(strings) <= 1 or (kmod_version >= 34 and not strings.endswith(b"\0")):
            return ()
        return tuple(s for s in strings.split(b"\0") if s)

    def imports(self, kmod_version: int) -> tuple[bytes, ...]:
        """Undefined symbol names in table order, then the ``__versions`` names no import matched.

        A record name that fills its field with no NUL: kmod 30 reads on past the record (a C string in
        the file image), kmod 34 drops the whole import list.
        """
        strtab, symbols = self.sections.get(".strtab"), self.symbols
        if strtab is None or symbols is None:
            return ()
        sparc = self.machine in ("EM_SPARC", "EM_SPARCV9")
        names: list[bytes] = []
        for st_name, st_info, st_shndx in symbols:
            if st_shndx != SHN_UNDEF or (sparc and st_info & 0xF == STT_REGISTER):
                continue
            if st_name >= strtab.size:
                return ()
            name = _cstr(self.image, strtab.offset + st_name)
            if name:
                names.append(name)
        versions = self.sections.get("__versions")
        if versions is None or versions.size % MODVERSION_SIZE:
            return tuple(names)
        crc_size = MODVERSION_CRC_SIZE[self.elfclass]
        records: list[bytes | None] = []  # None: unterminated, for kmod 34
        for off in range(versions.offset, versions.offset + versions.size, MODVERSION_SIZE):
            raw = self.image[off + crc_size : off + MODVERSION_SIZE]
            if b"\0" in raw:
                records.append(raw.split(b"\0", 1)[0])
            else:
                records.append(_cstr(self.image, off + crc_size) if kmod_version < 34 else None)
        first_record: dict[bytes, int] = {}
        for i, rec in enumerate(records):
            if rec is not None:
                first_record.setdefault(rec, i)
        visited = {first_record[n] for n in names if n in first_record}
        extra: list[bytes] = []
        for i, rec in enumerate(records):
            if i not in visited:
                if rec is None:
                    return ()
                extra.append(rec)
        return (*names, *extra)


def read_module(relpath: str, data: bytes, *, kmod_version: int = 34) -> Module:
    """Read one module file (compressed or not) as that kmod's depmod does.

    An unreadable file gives an unparsed, empty Module. kmod 30 and 34 read well-formed modules alike;
    they differ only on unterminated ``__ksymtab_strings`` and ``__versions`` names.
    """
    name = modname(relpath)
    try:
        elf = _Elf.open(decompress(data))
        modinfo_data = elf.data(".modinfo")
        return Module(
            relpath=relpath,
            name=name,
            modinfo=parse_modinfo(modinfo_data) if modinfo_data is not None else (),
            exports=elf.exports(kmod_version),
            imports=elf.imports(kmod_version),
        )
    except (lzma.LZMAError, zstandard.ZstdError, ConstructError, struct.error, ValueError) as e:
        log.warning("%s: not a readable module: %s", relpath, e)
        return Module(relpath=relpath, name=name, modinfo=(), exports=(), imports=(), parsed=False)


def read_modules(modules: Mapping[str, bytes], *, kmod_version: int = 34) -> tuple[Module, ...]:
    """Read every module file of a modules tree, one Module per module name, sorted by name.

    Entries that are not modules to depmod (other files, ``build/``, ``.ko.gz``) are ignored. When two
    files give one name, a copy under ``updates/`` wins; any other clash depends on readdir order in
    depmod and is refused here.
    """
    chosen: dict[bytes, Module] = {}
    paths = [p for p in sorted(modules, key=lambda p: p.encode("utf-8", "surrogateescape")) if is_module_path(p)]
    # Decompression (xz/zstd) releases the GIL: read in threads, consume in sorted order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        read = list(pool.map(lambda p: read_module(p, modules[p], kmod_version=kmod_version), paths))
    for relpath, module in zip(paths, read, strict=True):
        other = chosen.get(module.name)
        if other is None or (module.in_updates and not other.in_updates):
            chosen[module.name] = module
        elif module.in_updates == other.in_updates:
            raise KmodError(
                f"two files give module {module.name.decode(errors='replace')!r}: {other.relpath} and {module.relpath}",
                where=relpath,
                hint="depmod would keep whichever its directory walk finds first; remove one copy",
            )
    return tuple(chosen[n] for n in sorted(chosen))


# --- dependencies ----------------------------------------------------------------------------------------


def symbol_owners(modules: Sequence[Module]) -> dict[bytes, Module]:
    """depmod's export table: symbol → exporting module; later modules in the sequence overwrite."""
    owners: dict[bytes, Module] = {}
    for module in modules:
        for symbol in module.exports:
            owners[symbol] = module
    return owners


def import_key(symbol: bytes) -> bytes:
    """The lookup key of an imported symbol: one leading ``.`` is dropped (PPC64 function descriptors)."""
    return symbol[1:] if symbol.startswith(b".") else symbol


def direct_dependencies(module: Module, owners: Mapping[bytes, Module]) -> tuple[Module, ...]:
    """Exporters of the module's imports, in first-use order; unresolved imports are ignored."""
    deps: dict[bytes, Module] = {}
    for symbol in module.imports:
        owner = owners.get(import_key(symbol))
        if owner is not None and owner.name not in deps:
            deps[owner.name] = owner
    return tuple(deps.values())


def softdep_names(value: bytes) -> tuple[bytes, ...]:
    """Module names or aliases named by a ``softdep``/``weakdep`` value (``pre:``/``post:`` markers dropped).

    Names before any marker (e.g. cifs's ``softdep=gcm``) are kept: modprobe ignores them, but they
    state what the module needs, so a selection includes them.
    """
    return tuple(t for t in value.split() if t not in (b"pre:", b"post:"))


def parse_builtin(builtin: bytes) -> frozenset[bytes]:
    """Module names listed in ``modules.builtin`` (one path per line)."""
    return frozenset(modname(line) for line in builtin.decode("utf-8", "surrogateescape").splitlines() if line)


def normalize_alias(alias: bytes) -> bytes | None:
    """libkmod's ``alias_normalize``: ``-`` → ``_`` outside brackets; None for an unmatched bracket."""
    out = bytearray()
    i = 0
    while i < len(alias) and len(out) < PATH_MAX - 1:
        c = alias[i]
        if c == ord("]"):
            return None
        if c == ord("["):
            close = alias.find(b"]", i)
            if close < 0:
                return None
            out += alias[i : close + 1]
            i = close + 1
            continue
        out.append(ord("_") if c == ord("-") else c)
        i += 1
    return bytes(out[: PATH_MAX - 1])


@dataclass(frozen=True, slots=True)
class _AliasMatcher:
    """modprobe's modules.alias lookup: fnmatch of the normalized name against normalized patterns.

    Each pattern is tried only when the name starts with its literal prefix (the text before its first
    wildcard), which rules out nearly all of a kernel's ~12k aliases without compiling them.
    """

    patterns: Sequence[tuple[str, str, Module]]

    @classmethod
    def of(cls, modules: Sequence[Module]) -> _AliasMatcher:
        patterns = []
        for module in modules:
            for alias in module.aliases:
                normalized = normalize_alias(alias)
                if normalized is not None:
                    text = normalized.decode("latin-1")
                    patterns.append((re.split(r"[*?\[]", text, maxsplit=1)[0], text, module))
        return cls(patterns)

    def match(self, target: bytes) -> tuple[Module, ...]:
        text = (normalize_alias(target) or target).decode("latin-1")
        hits: dict[bytes, Module] = {}
        for prefix, pattern, module in self.patterns:
            if text.startswith(prefix) and fnmatch.fnmatchcase(text, pattern):
                hits.setdefault(module.name, module)
        return tuple(hits.values())


def resolve_wanted(modules: Sequence[Module], builtin: frozenset[bytes], wanted: Iterable[str]) -> tuple[Module, ...]:
    """The modules a recipe's ``kernel.modules`` entries name: names, globs or ``"all"``.

    A name is normalized (``-`` → ``_``). A glob (``*?[``) without ``/`` matches module names; one with
    ``/`` matches paths without their suffix (``kernel/drivers/net/*``). A built-in module is satisfied
    without a file. An entry that names nothing is a RecipeError.
    """
    by_name = {m.name: m for m in modules}
    picked: dict[bytes, Module] = {}
    for entry in wanted:
        if entry == ALL:
            picked.update(by_name)
            continue
        if any(c in entry for c in "*?["):
            if "/" in entry:
                hits = [m for m in modules if fnmatch.fnmatchcase(strip_suffix(m.relpath), entry)]
                matched_builtin = False
            else:
                pattern = normalize_name(entry)
                hits = [m for m in modules if fnmatch.fnmatchcase(m.name.decode("latin-1"), pattern)]
                matched_builtin = any(fnmatch.fnmatchcase(b.decode("latin-1"), pattern) for b in builtin)
            if not hits and not matched_builtin:
                raise RecipeError(
                    f"module glob {entry!r} matches no module of the kernel package",
                    where="kernel.modules",
                    hint="check the pattern; names use '_' and paths look like kernel/drivers/net/*",
                )
            picked.update((m.name, m) for m in hits)
            continue
        name = normalize_name(entry).encode("utf-8", "surrogateescape")
        module = by_name.get(name)
        if module is not None:
            picked[name] = module
        elif name in builtin:
            log.debug("module %s is built into the kernel", entry)
        else:
            raise RecipeError(
                f"no kernel module named {entry!r} in the kernel package (neither a module file nor built in)",
                where="kernel.modules",
                hint="module names are file names without .ko; see modules.order in the kernel package",
            )
    return tuple(picked.values())


def closure(modules: Sequence[Module], builtin: frozenset[bytes], roots: Iterable[Module]) -> tuple[Module, ...]:
    """``roots`` plus everything they need: symbol dependencies, softdeps and weakdeps, transitively.

    Every exporter of a needed symbol is kept, so the set is closed whichever exporter depmod picks.
    A softdep names a module or an alias; one that is built in or matches nothing is skipped.
    """
    by_name = {m.name: m for m in modules}
    exporters: dict[bytes, list[Module]] = {}
    for module in modules:
        for symbol in module.exports:
            exporters.setdefault(symbol, []).append(module)
    seen: dict[bytes, Module] = {}
    matcher: _AliasMatcher | None = None  # built on first use: most selections never need it
    stack = list(roots)
    while stack:
        module = stack.pop()
        if module.name in seen:
            continue
        seen[module.name] = module
        for symbol in module.imports:
            stack.extend(exporters.get(import_key(symbol), ()))
        for value in (*module.softdeps, *module.weakdeps):
            for target in softdep_names(value):
                name = normalize_name(target.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
                if name in by_name:
                    stack.append(by_name[name])
                elif name not in builtin:
                    if matcher is None:
                        matcher = _AliasMatcher.of(modules)
                    hits = matcher.match(target)
                    if not hits:
                        log.debug("%s: soft dependency %r is not available", module.relpath, target)
                    stack.extend(hits)
    return tuple(seen[n] for n in sorted(seen))


def select_modules(modules: Mapping[str, bytes], builtin: bytes, wanted: Sequence[str]) -> tuple[str, ...]:
    """The module files to keep for a recipe's ``kernel.modules`` list, sorted by path bytes.

    ``modules`` maps paths relative to ``lib/modules/<kver>/`` to file bytes; ``builtin`` is the kernel
    package's ``modules.builtin``. The result is closed over symbol dependencies and soft/weak
    dependencies. An empty ``wanted`` selects nothing.
    """
    if not wanted:
        return ()
    return select(read_modules(modules), builtin, wanted)


def select(modules: Sequence[Module], builtin: bytes, wanted: Sequence[str]) -> tuple[str, ...]:
    """``select_modules`` on already-read modules (read them once with ``read_modules`` and reuse)."""
    builtin_names = parse_builtin(builtin)
    roots = resolve_wanted(modules, builtin_names, wanted)
    chosen = modules if ALL in wanted else closure(modules, builtin_names, roots)
    return tuple(sorted((m.relpath for m in chosen), key=lambda p: p.encode("utf-8", "surrogateescape")))


def modules_load_conf(load: Sequence[str], modules: Sequence[Module], builtin: bytes, selected: Sequence[str]) -> bytes:
    """``/etc/modules-load.d/<id>.conf`` for a recipe's ``kernel.load`` list: one module name a line.

    Each name must be a selected module or built in (loading anything else would fail at boot), else
    RecipeError. Names are written as given, in recipe order, duplicates dropped.
    """
    builtin_names = parse_builtin(builtin)
    selected_paths = set(selected)
    kept = {m.name for m in modules if m.relpath in selected_paths}
    lines: dict[str, None] = {}
    for entry in load:
        name = normalize_name(entry).encode("utf-8", "surrogateescape")
        if name not in kept and name not in builtin_names:
            raise RecipeError(
                f"module {entry!r} is to be loaded at boot but is not among the kept modules",
                where="kernel.load",
                hint="add it (or a glob matching it) to kernel.modules",
            )
        lines[entry] = None
    return "".join(f"{line}\n" for line in lines).encode()
