"""Tiny PE32+ images built in code: fake systemd-stubs and fake EFI-stub kernels for offline tests.

The layout follows the PE format directly (no pefile), so the tests do not share code with the
reader under test.
"""

from __future__ import annotations

import datetime
import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SCN_CODE = 0x60000020
SCN_DATA = 0x40000040
SCN_RW_DATA = 0xC0000040


def round_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def filler(n: int, seed: bytes = b"x") -> bytes:
    """Deterministic, incompressible-looking bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:n])


@dataclass(frozen=True)
class FakeSection:
    name: bytes
    data: bytes
    virtual_size: int | None = None
    characteristics: int = SCN_DATA
    raw_size: int | None = None


@dataclass(frozen=True)
class PeSpec:
    sections: Sequence[FakeSection]
    section_alignment: int = 0x1000
    file_alignment: int = 0x200
    size_of_headers: int | None = None
    dll_characteristics: int = 0x160
    image_base: int = 0x14DF90000
    e_lfanew: int = 0x40
    number_of_rva: int = 16
    header_patches: Mapping[int, bytes] = field(default_factory=dict)
    trailer: bytes = b""
    symbol_table: bytes = b""
    number_of_symbols: int = 0


def make_pe(spec: PeSpec) -> bytes:
    opt_size = 112 + 8 * spec.number_of_rva
    table = spec.e_lfanew + 4 + 20 + opt_size
    table_end = table + 40 * len(spec.sections)
    soh = spec.size_of_headers or round_up(table_end, spec.file_alignment)
    headers = bytearray(soh)
    headers[0:2] = b"MZ"
    struct.pack_into("<I", headers, 0x3C, spec.e_lfanew)
    raw_pos = soh
    va = round_up(soh, spec.section_alignment)
    body = bytearray()
    section_headers = bytearray()
    image_end = va
    for s in spec.sections:
        raw_size = s.raw_size if s.raw_size is not None else round_up(len(s.data), spec.file_alignment)
        vsize = s.virtual_size if s.virtual_size is not None else len(s.data)
        pointer = raw_pos if raw_size else 0
        section_headers += struct.pack(
            "<8sIIIIIIHHI", s.name, vsize, va, raw_size, pointer, 0, 0, 0, 0, s.characteristics
        )
        body += s.data[:raw_size] + bytes(max(0, raw_size - len(s.data)))
        raw_pos += raw_size
        image_end = va + max(vsize, 1)
        va = round_up(image_end, spec.section_alignment)
    size_of_image = round_up(image_end, spec.section_alignment)
    sym_ptr = soh + len(body) if spec.symbol_table else 0
    fh = spec.e_lfanew + 4
    headers[spec.e_lfanew : fh] = b"PE\0\0"
    struct.pack_into(
        "<HHIIIHH", headers, fh, 0x8664, len(spec.sections), 0, sym_ptr, spec.number_of_symbols, opt_size, 0x206
    )
    opt = fh + 20
    struct.pack_into("<HBBIII", headers, opt, 0x20B, 2, 38, 0, 0, 0)
    struct.pack_into("<II", headers, opt + 16, round_up(soh, spec.section_alignment), 0x1000)
    struct.pack_into("<Q", headers, opt + 24, spec.image_base)
    struct.pack_into("<II", headers, opt + 32, spec.section_alignment, spec.file_alignment)
    struct.pack_into("<II", headers, opt + 56, size_of_image, soh)
    struct.pack_into("<IHH", headers, opt + 64, 0, 10, spec.dll_characteristics)  # CheckSum Subsystem DllChars
    struct.pack_into("<I", headers, opt + 108, spec.number_of_rva)
    headers[table:table_end] = section_headers
    for offset, patch in spec.header_patches.items():
        assert offset >= table_end or offset + len(patch) <= table, "patch would clobber the headers"
        headers[offset : offset + len(patch)] = patch
    return bytes(headers + body + spec.symbol_table + spec.trailer)


def stub_sbat(version: str) -> bytes:
    major = version.split(".")[0]
    return (
        "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
        f"systemd-stub,1,The systemd Developers,systemd,{major},https://systemd.io/\n"
        f"systemd-stub.debian,1,Debian GNU/Linux,systemd,{version},https://tracker.debian.org/pkg/systemd\n"
    ).encode()


def make_stub(
    version: str = "257.13-1~deb13u1",
    *,
    size_of_headers: int | None = None,
    sbat: bytes | None = None,
    sbat_virtual_span: int | None = None,
    section_alignment: int = 0x1000,
    extra_sections: Sequence[FakeSection] = (),
    signed: bool = False,
) -> bytes:
    """A fake systemd-stub with the section layout of Debian's 257 stub."""
    sbat_data = stub_sbat(version) if sbat is None else sbat
    sections = [
        FakeSection(b".text", filler(0x1234, b"text"), characteristics=SCN_CODE),
        FakeSection(b".data", filler(0x80, b"data"), virtual_size=0x300, characteristics=SCN_RW_DATA),
        *extra_sections,
        FakeSection(b".sbat", sbat_data, raw_size=0x200),
        FakeSection(b".sdmagic", f"#### LoaderInfo: systemd-stub {version} ####".encode()),
        FakeSection(b".reloc", filler(0x10, b"reloc"), characteristics=0x42000040),
    ]
    data = make_pe(PeSpec(sections, size_of_headers=size_of_headers, section_alignment=section_alignment))
    if sbat_virtual_span is not None:
        data = _squeeze_after_sbat(data, sbat_virtual_span)
    if signed:
        data = _fake_signature(data)
    return data


def _squeeze_after_sbat(data: bytes, span: int) -> bytes:
    """Move every section after ``.sbat`` down in memory so the next one starts ``span`` bytes after it."""
    buf = bytearray(data)
    table = 0x40 + 4 + 20 + 240
    n = struct.unpack_from("<H", buf, 0x40 + 6)[0]
    sbat_va = None
    delta = 0
    for i in range(n):
        off = table + 40 * i
        name = bytes(buf[off : off + 8]).rstrip(b"\0")
        va = struct.unpack_from("<I", buf, off + 12)[0]
        if sbat_va is not None:
            if not delta:
                delta = va - (sbat_va + span)
            struct.pack_into("<I", buf, off + 12, va - delta)
        if name == b".sbat":
            sbat_va = va
    return bytes(buf)


def _fake_signature(data: bytes) -> bytes:
    """Point the certificate table at 8 trailing bytes (enough for 'is signed')."""
    buf = bytearray(data)
    security = 0x40 + 4 + 20 + 112 + 8 * 4
    struct.pack_into("<II", buf, security, len(buf), 8)
    return bytes(buf) + struct.pack("<IHH", 8, 0x200, 2)


def make_kernel(
    *,
    nx: bool = True,
    version_string: bytes = b"6.1.0-test-amd64 (builder@example) #1 SMP PREEMPT_DYNAMIC Debian 6.1.0-1",
    size: int = 0x3000,
    sbat: bytes | None = None,
) -> bytes:
    """A fake x86 EFI-stub kernel: a PE with the Linux boot protocol's ``HdrS`` and version pointer."""
    sections = [FakeSection(b".text", filler(size, b"kernel"), characteristics=SCN_CODE)]
    if sbat is not None:
        sections.append(FakeSection(b".sbat", sbat))
    version_offset = 0x300
    patches = {
        0x202: b"HdrS",
        0x20E: struct.pack("<H", version_offset - 0x200),
        version_offset: version_string + b"\0",
    }
    return make_pe(
        PeSpec(
            sections,
            size_of_headers=0x400,
            dll_characteristics=0x100 if nx else 0,
            image_base=0x100000,
            header_patches=patches,
        )
    )


def make_cert(key: rsa.RSAPrivateKey, name: str = "uki test db", *, serial: int = 0x1234567890ABCDEF,
              days: int = 3650) -> x509.Certificate:
    """A self-signed certificate with fixed dates, for signing tests."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
