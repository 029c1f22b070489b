"""A description of a UKI (or any PE image) for humans and for tests: ``python -m uki inspect``.

Section sizes and digests follow ``ukify inspect``: ``size = min(VirtualSize, SizeOfRawData)`` and
``sha256`` over those bytes, so the two tools can be compared. Text sections (``.cmdline``,
``.uname``, ``.osrel``, ``.sbat``, …) are decoded as UTF-8 with trailing NULs removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import pkcs7

from uki.authenticode import image_digest
from uki.pe import PeImage, Section, StubVersion, read_pe

WIN_CERTIFICATE_HEADER_SIZE = 8
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
TEXT_SECTIONS = (".cmdline", ".uname", ".osrel", ".sbat", ".pcrsig", ".pcrpkey", ".profile")

JsonValue = str | int | bool | None | list["JsonValue"] | Mapping[str, "JsonValue"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SectionInfo:
    name: str
    virtual_address: int
    virtual_size: int
    size_of_raw_data: int
    pointer_to_raw_data: int
    characteristics: int
    size: int
    """min(VirtualSize, SizeOfRawData), as ``ukify inspect``."""
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureInfo:
    certificate_type: int
    length: int
    certificates: tuple[str, ...]
    """Subjects (RFC 4514) of the certificates in a PKCS#7 signature."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UkiInfo:
    stub: StubVersion | None
    sections: tuple[SectionInfo, ...]
    texts: tuple[tuple[str, str], ...]
    """(section name, decoded text) for each text section present."""
    signatures: tuple[SignatureInfo, ...]
    authenticode_sha256: str
    authenticode_sha384: str
    image_base: int
    size_of_image: int
    dll_characteristics: int
    file_size: int
    problems: tuple[str, ...]
    """Layout problems that do not stop reading (sections overlapping in memory)."""

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "stub": None
            if self.stub is None
            else {"kind": self.stub.kind, "version": self.stub.version, "major": self.stub.major},
            "sections": [
                {
                    "name": s.name,
                    "virtual_address": s.virtual_address,
                    "virtual_size": s.virtual_size,
                    "size_of_raw_data": s.size_of_raw_data,
                    "pointer_to_raw_data": s.pointer_to_raw_data,
                    "characteristics": s.characteristics,
                    "size": s.size,
                    "sha256": s.sha256,
                }
                for s in self.sections
            ],
            "texts": {name: text for name, text in self.texts},
            "signed": bool(self.signatures),
            "signatures": [
                {"type": s.certificate_type, "length": s.length, "certificates": list(s.certificates)}
                for s in self.signatures
            ],
            "authenticode": {"sha256": self.authenticode_sha256, "sha384": self.authenticode_sha384},
            "image_base": self.image_base,
            "size_of_image": self.size_of_image,
            "dll_characteristics": self.dll_characteristics,
            "file_size": self.file_size,
            "problems": list(self.problems),
        }


def _section_info(pe: PeImage, section: Section) -> SectionInfo:
    size = min(section.virtual_size, section.size_of_raw_data)
    data = pe.raw_data(section)[:size]
    return SectionInfo(
        name=section.name,
        virtual_address=section.virtual_address,
        virtual_size=section.virtual_size,
        size_of_raw_data=section.size_of_raw_data,
        pointer_to_raw_data=section.pointer_to_raw_data,
        characteristics=section.characteristics,
        size=size,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _signatures(pe: PeImage) -> tuple[SignatureInfo, ...]:
    directory = pe.security_directory
    if not directory.virtual_address:
        return ()
    table = pe.data[directory.virtual_address : directory.virtual_address + directory.size]
    out = []
    offset = 0
    while offset + WIN_CERTIFICATE_HEADER_SIZE <= len(table):
        length = int.from_bytes(table[offset : offset + 4], "little")
        cert_type = int.from_bytes(table[offset + 6 : offset + 8], "little")
        if length < WIN_CERTIFICATE_HEADER_SIZE or offset + length > len(table):
            break
        subjects: tuple[str, ...] = ()
        if cert_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            try:
                certs = pkcs7.load_der_pkcs7_certificates(table[offset + WIN_CERTIFICATE_HEADER_SIZE : offset + length])
                subjects = tuple(c.subject.rfc4514_string() for c in certs)
            except ValueError:
                subjects = ()
        out.append(SignatureInfo(certificate_type=cert_type, length=length, certificates=subjects))
        offset += (length + 7) // 8 * 8  # entries are 8-byte aligned
    return tuple(out)


def inspect_pe(data: bytes, *, what: str = "PE image") -> UkiInfo:
    """Describe a PE image; raises :class:`uki.errors.PeFormatError` for malformed input."""
    pe = read_pe(data, what=what, allow_memory_overlap=True)
    texts = []
    for name in TEXT_SECTIONS:
        section = pe.find_section(name)
        if section is not None:
            size = min(section.virtual_size, section.size_of_raw_data)
            raw = pe.raw_data(section)[:size].rstrip(b"\0")
            texts.append((name, raw.decode("utf-8", "backslashreplace")))
    return UkiInfo(
        stub=pe.stub_version(),
        sections=tuple(_section_info(pe, s) for s in pe.sections),
        texts=tuple(texts),
        signatures=_signatures(pe),
        authenticode_sha256=image_digest(pe, "sha256").hex(),
        authenticode_sha384=image_digest(pe, "sha384").hex(),
        image_base=pe.image_base,
        size_of_image=pe.size_of_image,
        dll_characteristics=pe.dll_characteristics,
        file_size=len(pe.data),
        problems=pe.memory_overlaps,
    )


def format_text(info: UkiInfo) -> str:
    """The human-readable listing printed by ``python -m uki inspect``."""
    lines = []
    stub = "none" if info.stub is None else f"{info.stub.kind} {info.stub.version}"
    lines.append(f"stub: {stub}")
    lines.append(f"file size: {info.file_size}  ImageBase: {info.image_base:#x}  SizeOfImage: {info.size_of_image:#x}")
    lines.append(f"DllCharacteristics: {info.dll_characteristics:#06x}")
    lines.append("sections:")
    lines.append(f"  {'name':<9} {'VA':>10} {'VirtSize':>10} {'RawSize':>10} {'RawPtr':>10}  sha256")
    for s in info.sections:
        lines.append(
            f"  {s.name:<9} {s.virtual_address:#10x} {s.virtual_size:#10x} {s.size_of_raw_data:#10x} "
            f"{s.pointer_to_raw_data:#10x}  {s.sha256}"
        )
    for name, text in info.texts:
        lines.append(f"{name}:")
        lines.extend(f"    {line}" for line in text.rstrip("\n").split("\n"))
    if info.signatures:
        for sig in info.signatures:
            who = ", ".join(sig.certificates) or "?"
            lines.append(f"signature: type {sig.certificate_type:#06x}, {sig.length} bytes, certificates: {who}")
    else:
        lines.append("signature: none")
    lines.extend(f"problem: {p}" for p in info.problems)
    lines.append(f"authenticode sha256: {info.authenticode_sha256}")
    lines.append(f"authenticode sha384: {info.authenticode_sha384}")
    return "\n".join(lines) + "\n"
