"""depmod in pure Python: the kmod index files of a module tree, byte-identical to kmod 34 or kmod 30.

Implements ``../shared/specs/kmod-depmod.md`` sections 2-7: module order (``modules.order`` then
kmod's "superfast" hash order), symbol-derived dependencies with kmod's topological numbering, the
text files (``modules.dep``, ``.alias``, ``.softdep``, ``.weakdep``, ``.symbols``, ``.devname``) and the
binary tries (``modules.dep.bin``, ``.alias.bin``, ``.symbols.bin``, ``.builtin.bin``,
``.builtin.alias.bin``). kmod 34 (Debian 13) is the default; ``kmod_version=30`` gives Debian 12's
layout (post-order .bin nodes, last modules.order line wins, no ``modules.weakdep``).

Not supported: depmod.d configuration (``search``/``override``/``external``/``exclude``; Debian ships
none), ``-F``/``-E`` symbol version checks (they change no byte), and index keys or values with bytes
>= 0x80 (depmod aborts on them; here they are a KmodError).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from assembler.errors import KmodError
from assembler.kmod import (
    PATH_MAX,
    Module,
    direct_dependencies,
    is_module_path,
    normalize_alias,
    read_modules,
    select,
    symbol_owners,
)

log = logging.getLogger(__name__)

KMOD_VERSIONS = (30, 34)
"""The depmod builds whose output is reproduced: Debian 12 (30+20221128) and Debian 13 (34.2)."""

MODULE_HASH_SIZE = 512
"""Buckets of depmod's module-by-name hash, whose iteration order is the fallback module order."""
SYMBOL_HASH_SIZE = 2048
"""Buckets of depmod's symbol hash, whose iteration order is the modules.symbols order."""


ALIAS_HEADER = b"# Aliases extracted from modules themselves.\n"
SOFTDEP_HEADER = b"# Soft dependencies extracted from modules themselves.\n"
WEAKDEP_HEADER = b"# Weak dependencies extracted from modules themselves.\n"
SYMBOLS_HEADER = b"# Aliases for symbols, used by symbol_request().\n"
DEVNAME_HEADER = b"# Device nodes to trigger on-demand module loading.\n"

INDEX_MAGIC = 0xB007F457
INDEX_VERSION = 0x00020001
"""Index format 2.1 (major 2, minor 1), spec §5."""
INDEX_HEADER = struct.Struct(">III")
"""magic, version, root node reference."""
INDEX_HEADER_SIZE = INDEX_HEADER.size
NODE_PREFIX = 0x80000000
NODE_VALUES = 0x40000000
NODE_CHILDS = 0x20000000
U32 = struct.Struct(">I")
INDEX_CHAR_LIMIT = 128
"""Index keys and values are 7-bit; depmod aborts on anything else (index__checkstring)."""


# --- kmod's hash and the module order ----------------------------------------------------------------------


def superfast_hash(key: bytes) -> int:
    """kmod's ``hash_superfast`` (Paul Hsieh's SuperFastHash) on x86: 32-bit, tail bytes signed."""
    mask = 0xFFFFFFFF
    n = len(key)
    h = n & mask
    end4 = n - (n & 3)
    for i in range(0, end4, 4):
        h = (h + (key[i] | key[i + 1] << 8)) & mask
        t = (((key[i + 2] | key[i + 3] << 8) << 11) ^ h) & mask
        h = ((h << 16) ^ t) & mask
        h = (h + (h >> 11)) & mask
    rem = n & 3
    if rem == 3:
        h = (h + (key[end4] | key[end4 + 1] << 8)) & mask
        h ^= (h << 16) & mask
        h ^= (_signed_byte(key[end4 + 2]) << 18) & mask
        h = (h + (h >> 11)) & mask
    elif rem == 2:
        h = (h + (key[end4] | key[end4 + 1] << 8)) & mask
        h ^= (h << 11) & mask
        h = (h + (h >> 17)) & mask
    elif rem == 1:
        h = (h + _signed_byte(key[end4])) & mask
        h ^= (h << 10) & mask
        h = (h + (h >> 1)) & mask
    h ^= (h << 3) & mask
    h = (h + (h >> 5)) & mask
    h ^= (h << 4) & mask
    h = (h + (h >> 17)) & mask
    h ^= (h << 25) & mask
    h = (h + (h >> 6)) & mask
    return h


def _signed_byte(b: int) -> int:
    return b - 256 if b >= 128 else b


def hash_order(names: Sequence[bytes], buckets: int) -> list[bytes]:
    """The order kmod's hash table iterates: by bucket, then by name within a bucket."""
    return sorted(names, key=lambda n: (superfast_hash(n) & (buckets - 1), n))


def order_key(relpath: str) -> bytes:
    """The modules.order line depmod matches a module against (spec §2): ``dir/stem.ko``, dashes kept."""
    raw = relpath.encode("utf-8", "surrogateescape")
    slash = raw.rfind(b"/") + 1
    base = raw[slash:]
    stem = base.split(b".", 1)[0]
    return raw[:slash] + base[: len(stem) + 3]


def _fgets_lines(data: bytes) -> Iterator[bytes]:
    """Lines as C ``fgets`` with a PATH_MAX buffer returns them: newline kept, long lines split."""
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos, pos + PATH_MAX - 1)
        stop = pos + PATH_MAX - 1 if end < 0 else end + 1
        yield data[pos:stop]
        pos = stop


def order_modules(modules: Sequence[Module], order: bytes | None, *, kmod_version: int) -> tuple[Module, ...]:
    """depmod's module order (spec §2): modules.order positions first, the rest in hash order."""
    by_name = {m.name: m for m in modules}
    hashed = [by_name[n] for n in hash_order(list(by_name), MODULE_HASH_SIZE)]
    if order is None:
        return tuple(hashed)
    lines = list(_fgets_lines(order))
    if any(not line.endswith(b"\n") for line in lines):
        log.warning("modules.order: a line misses its newline; depmod ignores the file")
        return tuple(hashed)
    by_key = {order_key(m.relpath): m for m in modules}
    position: dict[bytes, int] = {}
    for number, line in enumerate(lines):
        module = by_key.get(line[:-1])
        if module is None:
            continue
        if kmod_version >= 34:
            position.setdefault(module.name, number)  # kmod 34: the first line wins
        else:
            position[module.name] = number  # kmod 30: the last line wins
    unlisted = len(lines)
    return tuple(sorted(hashed, key=lambda m: position.get(m.name, unlisted)))


# --- dependencies ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependencies:
    """Modules in depmod order, each one's full dependency list and the export table."""

    modules: tuple[Module, ...]
    deps: tuple[tuple[int, ...], ...]
    """For module idx, the idx of every module it needs, directly or not, dependents first."""
    owners: Mapping[bytes, int]
    """Exported symbol → idx of the module that owns it (the last exporter in module order)."""


def resolve_dependencies(modules: Sequence[Module]) -> Dependencies:
    """Symbol dependencies and kmod's topological numbering (spec §3). A cycle is a KmodError."""
    index = {m.name: i for i, m in enumerate(modules)}
    owners = {sym: index[m.name] for sym, m in symbol_owners(modules).items()}
    module_owners = {sym: modules[i] for sym, i in owners.items()}
    direct = [tuple(index[d.name] for d in direct_dependencies(m, module_owners)) for m in modules]
    users = [0] * len(modules)
    for ds in direct:
        for d in ds:
            users[d] += 1
    stack = [i for i, u in enumerate(users) if u == 0]
    topo = [-1] * len(modules)
    count = 0
    while stack:
        i = stack.pop()
        topo[i] = count
        count += 1
        for d in direct[i]:
            users[d] -= 1
            if users[d] == 0:
                stack.append(d)
    if count < len(modules):
        cyclic = sorted(modules[i].name.decode("utf-8", "replace") for i in range(len(modules)) if topo[i] < 0)
        raise KmodError(
            f"dependency cycle among modules: {', '.join(cyclic)}",
            hint="depmod refuses such a tree and writes no files; drop one of the modules",
        )
    closures: list[tuple[int, ...]] = []
    for i in range(len(modules)):
        seen: set[int] = set()
        todo = list(direct[i])
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(direct[d])
        closures.append(tuple(sorted(seen, key=topo.__getitem__)))
    return Dependencies(modules=tuple(modules), deps=tuple(closures), owners=owners)


# --- the binary index --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    prefix: bytes
    values: list[tuple[int, bytes]] = field(default_factory=list)
    children: dict[int, _Node] = field(default_factory=dict)


def _check_index_string(s: bytes, what: str) -> None:
    if any(b >= INDEX_CHAR_LIMIT for b in s):
        raise KmodError(f"index {what} {s!r} has a byte >= 0x80", hint="depmod aborts on such module data")


class Index:
    """kmod's index trie (libkmod-index format 2.1), built by the same insertions depmod makes."""

    def __init__(self) -> None:
        self._root = _Node(b"")

    def insert(self, key: bytes, value: bytes, priority: int) -> None:
        """Add a value; values stay sorted by priority, a new one before existing equal priorities."""
        _check_index_string(key, "key")
        _check_index_string(value, "value")
        node = self._root
        i = 0
        while True:
            prefix = node.prefix
            j = 0
            limit = min(len(prefix), len(key) - i)
            while j < limit and prefix[j] == key[i + j]:
                j += 1
            if j < len(prefix):
                tail = _Node(prefix[j + 1 :], node.values, node.children)
                node.prefix, node.values, node.children = prefix[:j], [], {prefix[j]: tail}
            i += j
            if i == len(key):
                _add_value(node.values, priority, value)
                return
            c = key[i]
            child = node.children.get(c)
            if child is None:
                node.children[c] = _Node(key[i + 1 :], [(priority, value)])
                return
            node = child
            i += 1

    def write(self, *, kmod_version: int) -> bytes:
        """The index file: post-order with the root last (kmod 30) or pre-order from offset 12 (kmod 34)."""
        if kmod_version >= 34:
            return _write_preorder(self._root)
        return _write_postorder(self._root)


def _add_value(values: list[tuple[int, bytes]], priority: int, value: bytes) -> None:
    at = next((k for k, (p, _v) in enumerate(values) if p >= priority), len(values))
    values.insert(at, (priority, value))


def _node_size(node: _Node) -> int:
    size = len(node.prefix) + 1 if node.prefix else 0
    if node.children:
        size += 2 + 4 * (max(node.children) - min(node.children) + 1)
    if node.values:
        size += 4 + sum(5 + len(v) for _p, v in node.values)
    return size


def _node_flags(node: _Node) -> int:
    return (
        (NODE_PREFIX if node.prefix else 0)
        | (NODE_CHILDS if node.children else 0)
        | (NODE_VALUES if node.values else 0)
    )


def _encode_node(node: _Node, child_refs: Mapping[int, int]) -> bytes:
    parts: list[bytes] = []
    if node.prefix:
        parts.append(node.prefix + b"\0")
    if node.children:
        first, last = min(node.children), max(node.children)
        parts.append(bytes((first, last)))
        parts.extend(U32.pack(child_refs.get(c, 0)) for c in range(first, last + 1))
    if node.values:
        parts.append(U32.pack(len(node.values)))
        for priority, value in node.values:
            parts.append(U32.pack(priority) + value + b"\0")
    return b"".join(parts)


def _postorder(root: _Node) -> Iterator[_Node]:
    """Children (ascending byte) before their parent; iterative, as keys can be thousands of bytes."""
    stack: list[tuple[_Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            yield node
            continue
        stack.append((node, True))
        stack.extend((node.children[c], False) for c in sorted(node.children, reverse=True))


def _write_postorder(root: _Node) -> bytes:
    """kmod 30: each node written after its subtrees; the root reference is patched in at the end."""
    out = bytearray(INDEX_HEADER.pack(INDEX_MAGIC, INDEX_VERSION, 0))
    refs: dict[int, int] = {}
    for node in _postorder(root):
        child_refs = {c: refs.pop(id(child)) for c, child in node.children.items()}
        refs[id(node)] = len(out) | _node_flags(node)
        out += _encode_node(node, child_refs)
    out[8:12] = U32.pack(refs[id(root)])
    return bytes(out)


def _write_preorder(root: _Node) -> bytes:
    """kmod 34: each node followed at once by its subtrees in ascending byte order, root at offset 12."""
    subtree: dict[int, int] = {}
    for node in _postorder(root):
        subtree[id(node)] = _node_size(node) + sum(subtree[id(c)] for c in node.children.values())
    offsets = {id(root): INDEX_HEADER_SIZE}
    parts = [INDEX_HEADER.pack(INDEX_MAGIC, INDEX_VERSION, INDEX_HEADER_SIZE | _node_flags(root))]
    stack = [root]
    while stack:
        node = stack.pop()
        offset = offsets[id(node)] + _node_size(node)
        child_refs: dict[int, int] = {}
        for c in sorted(node.children):
            child = node.children[c]
            offsets[id(child)] = offset
            child_refs[c] = offset | _node_flags(child)
            offset += subtree[id(child)]
        parts.append(_encode_node(node, child_refs))
        stack.extend(node.children[c] for c in sorted(node.children, reverse=True))
    return b"".join(parts)


# --- text normalizations libkmod applies -------------------------------------------------------------------


def _scan_major_minor(value: bytes, prefix: bytes) -> tuple[int, int] | None:
    """``sscanf(value, "<prefix>%u-%u")``: whitespace and a sign allowed before each number."""
    if not value.startswith(prefix):
        return None
    pos = len(prefix)
    numbers: list[int] = []
    for k in range(2):
        if k == 1:
            if value[pos : pos + 1] != b"-":
                return None
            pos += 1
        while pos < len(value) and value[pos] in b" \t\n\v\f\r":
            pos += 1
        sign = 1
        if value[pos : pos + 1] in (b"+", b"-"):
            sign = -1 if value[pos] == ord("-") else 1
            pos += 1
        start = pos
        while pos < len(value) and 0x30 <= value[pos] <= 0x39:
            pos += 1
        if pos == start:
            return None
        number = min(int(value[start:pos]), 2**64 - 1)
        numbers.append((sign * number) % 2**64 % 2**32)
    return numbers[0], numbers[1]


# --- the files ---------------------------------------------------------------------------------------------


def _relpath_bytes(module: Module) -> bytes:
    return module.relpath.encode("utf-8", "surrogateescape")


def write_dep(deps: Dependencies) -> list[bytes]:
    """modules.dep lines without their newline, in module order."""
    lines = []
    for module, dep_list in zip(deps.modules, deps.deps, strict=True):
        line = _relpath_bytes(module) + b":"
        if dep_list:
            line += b" " + b" ".join(_relpath_bytes(deps.modules[d]) for d in dep_list)
        lines.append(line)
    return lines


def _modinfo_lines(modules: Sequence[Module], key: bytes, *, name_first: bool) -> bytes:
    """One ``<key> NAME VALUE`` (softdep, weakdep) or ``<key> VALUE NAME`` (alias) line per value."""
    out = []
    for module in modules:
        for value in module.info(key):
            first, second = (module.name, value) if name_first else (value, module.name)
            out.append(b"%s %s %s\n" % (key, first, second))
    return b"".join(out)


def write_devname(modules: Sequence[Module]) -> bytes:
    """modules.devname: ``name devname TMAJ:MIN`` for modules with a devname and a device number alias."""
    out: list[bytes] = []
    for module in modules:
        devname: bytes | None = None
        kind = b""
        numbers = (0, 0)
        for value in module.aliases:
            if value.startswith(b"devname:"):
                devname = value[len(b"devname:") :]
            elif (found := _scan_major_minor(value, b"char-major-")) is not None:
                kind, numbers = b"c", found
            elif (found := _scan_major_minor(value, b"block-major-")) is not None:
                kind, numbers = b"b", found
            if kind and devname is not None:
                break
        if devname is not None and kind:
            if not out:
                out.append(DEVNAME_HEADER)
            out.append(b"%s %s %s%d:%d\n" % (module.name, devname, kind, numbers[0], numbers[1]))
        elif devname is not None:
            log.warning("module %s has devname %r but no major/minor alias", module.name.decode(), devname)
    return b"".join(out)


def write_builtin_bin(builtin: bytes | None, *, kmod_version: int) -> bytes:
    """modules.builtin.bin from modules.builtin: key = module name, value "", priority 0."""
    if builtin is None:
        return b""
    index = Index()
    for line in _fgets_lines(builtin):
        if not (0x41 <= line[0] <= 0x5A or 0x61 <= line[0] <= 0x7A):
            log.warning("invalid modules.builtin line %r", line)
            continue
        base = line[line.rfind(b"/") + 1 :]
        if not base:
            raise KmodError(f"modules.builtin line {line!r} has no file name", where="modules.builtin")
        index.insert(base.split(b".", 1)[0].replace(b"-", b"_")[: PATH_MAX - 1], b"", 0)
    return index.write(kmod_version=kmod_version)


class _Stream:
    """A byte stream read as C ``fgetc`` does, for depmod's modules.builtin.modinfo parser."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.eof = False

    def getc(self) -> int:
        if self.pos >= len(self.data):
            self.eof = True
            return -1
        self.pos += 1
        return self.data[self.pos - 1]

    def read_to(self, end: int) -> bytes | None:
        """``flush_stream_to``: bytes up to ``end``; None when NUL or EOF came first (or it is empty)."""
        out = bytearray()
        c = self.getc()
        while c not in (-1, end, 0) and len(out) < PATH_MAX:
            out.append(c)
            c = self.getc()
        if len(out) == PATH_MAX:
            del out[-1]
        return bytes(out) if c == end and out else None

    def skip_to(self, end: int) -> None:
        c = self.getc()
        while c not in (-1, end, 0):
            c = self.getc()


def write_builtin_alias_bin(builtin_modinfo: bytes | None, *, kmod_version: int) -> bytes:
    """modules.builtin.alias.bin from ``MOD.KEY=VALUE\\0`` records (spec §5), priority 0."""
    if builtin_modinfo is None:
        return b""
    index = Index()
    stream = _Stream(builtin_modinfo)
    while not stream.eof:
        module = stream.read_to(ord("."))
        if module is None:
            continue
        key = stream.read_to(ord("="))
        if key != b"alias":
            stream.skip_to(0)
            continue
        value = stream.read_to(0)
        if value is None:
            continue
        alias = normalize_alias(value)
        if alias is None:
            log.warning("unmatched bracket in built-in alias %r", value)
            continue
        index.insert(alias, module, 0)
    return index.write(kmod_version=kmod_version)


def write_indexes(
    modules: Sequence[Module],
    *,
    builtin: bytes | None,
    builtin_modinfo: bytes | None,
    order: bytes | None,
    kmod_version: int = 34,
) -> dict[str, bytes]:
    """Every file depmod writes for these modules, in its write order, as name → bytes."""
    if kmod_version not in KMOD_VERSIONS:
        raise KmodError(f"unsupported kmod version {kmod_version}", hint=f"use one of {KMOD_VERSIONS}")
    deps = resolve_dependencies(order_modules(modules, order, kmod_version=kmod_version))
    mods = deps.modules
    files: dict[str, bytes] = {}

    dep_lines = write_dep(deps)
    files["modules.dep"] = b"".join(line + b"\n" for line in dep_lines)
    dep_index = Index()
    for idx, (module, line) in enumerate(zip(mods, dep_lines, strict=True)):
        dep_index.insert(module.name, line, idx)
    files["modules.dep.bin"] = dep_index.write(kmod_version=kmod_version)

    files["modules.alias"] = ALIAS_HEADER + _modinfo_lines(mods, b"alias", name_first=False)
    alias_index = Index()
    for idx, module in enumerate(mods):
        for alias in module.aliases:
            key = normalize_alias(alias)
            if key is None:
                log.warning("unmatched bracket in alias %r of %s", alias, module.relpath)
                continue
            alias_index.insert(key, module.name, idx)
    files["modules.alias.bin"] = alias_index.write(kmod_version=kmod_version)

    files["modules.softdep"] = SOFTDEP_HEADER + _modinfo_lines(mods, b"softdep", name_first=True)
    if kmod_version >= 34:
        files["modules.weakdep"] = WEAKDEP_HEADER + _modinfo_lines(mods, b"weakdep", name_first=True)

    symbols = hash_order(list(deps.owners), SYMBOL_HASH_SIZE)
    files["modules.symbols"] = SYMBOLS_HEADER + b"".join(
        b"alias symbol:%s %s\n" % (sym, mods[deps.owners[sym]].name) for sym in symbols
    )
    symbol_index = Index()
    for sym in symbols:
        owner = deps.owners[sym]
        symbol_index.insert(b"symbol:" + sym, mods[owner].name, owner)
    files["modules.symbols.bin"] = symbol_index.write(kmod_version=kmod_version)

    files["modules.builtin.bin"] = write_builtin_bin(builtin, kmod_version=kmod_version)
    files["modules.builtin.alias.bin"] = write_builtin_alias_bin(builtin_modinfo, kmod_version=kmod_version)
    files["modules.devname"] = write_devname(mods)
    return files


def depmod(
    modules: Mapping[str, bytes],
    *,
    kernel_version: str,
    builtin: bytes | None,
    builtin_modinfo: bytes | None,
    order: bytes | None,
    kmod_version: int = 34,
) -> dict[str, bytes]:
    """What ``depmod <kernel_version>`` of kmod ``kmod_version`` writes into ``lib/modules/<kver>/``.

    ``modules`` maps paths relative to that directory to file bytes (files that are not modules to
    depmod are ignored). ``builtin``, ``builtin_modinfo`` and ``order`` are the contents of
    ``modules.builtin``, ``modules.builtin.modinfo`` and ``modules.order``, or None when the kernel
    package lacks the file. The result maps file names to contents, in depmod's write order.
    """
    if kmod_version not in KMOD_VERSIONS:
        raise KmodError(f"unsupported kmod version {kmod_version}", hint=f"use one of {KMOD_VERSIONS}")
    log.debug("depmod %s (kmod %d): %d files", kernel_version, kmod_version, len(modules))
    return write_indexes(
        read_modules(modules, kmod_version=kmod_version),
        builtin=builtin,
        builtin_modinfo=builtin_modinfo,
        order=order,
        kmod_version=kmod_version,
    )


OUTPUT_FILES = (
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
)
"""Every file depmod writes (kmod 30 writes all but modules.weakdep)."""


def build_moddir(
    files: Mapping[str, bytes],
    wanted: Sequence[str],
    *,
    kernel_version: str,
    kmod_version: int = 34,
) -> dict[str, bytes]:
    """The new contents of ``lib/modules/<kernel_version>/`` for a recipe's ``kernel.modules`` list.

    ``files`` holds every regular file of that directory from the kernel package, by relative path.
    With nothing wanted the result is empty: the whole directory goes. Otherwise it keeps the selected
    module files (the closure of ``wanted``) and, outside ``kernel/``, every file that is not a module
    (``modules.order``, ``modules.builtin``, ``modules.builtin.modinfo``), and adds depmod's output for
    that selection, reading each module once.
    """
    if kmod_version not in KMOD_VERSIONS:
        raise KmodError(f"unsupported kmod version {kmod_version}", hint=f"use one of {KMOD_VERSIONS}")
    if not wanted:
        return {}
    builtin = files.get("modules.builtin")
    modules = read_modules(files, kmod_version=kmod_version)
    keep = set(select(modules, builtin or b"", wanted))
    log.info("kernel %s: keeping %d of %d modules", kernel_version, len(keep), len(modules))
    result = {
        path: data
        for path, data in files.items()
        if path in keep or not (is_module_path(path) or path.startswith("kernel/") or path in OUTPUT_FILES)
    }
    result.update(
        write_indexes(
            [m for m in modules if m.relpath in keep],
            builtin=builtin,
            builtin_modinfo=files.get("modules.builtin.modinfo"),
            order=files.get("modules.order"),
            kmod_version=kmod_version,
        )
    )
    return result


__all__ = [
    "KMOD_VERSIONS",
    "OUTPUT_FILES",
    "Dependencies",
    "Index",
    "build_moddir",
    "depmod",
    "hash_order",
    "normalize_alias",
    "order_modules",
    "resolve_dependencies",
    "superfast_hash",
    "write_indexes",
]
