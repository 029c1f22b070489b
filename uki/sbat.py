"""``.sbat`` merging, as ukify's ``merge_sbat`` does it (spec `uki.md` §2.4).

SBAT is CSV text, one component per line, led by the ``sbat,1,SBAT Version,…`` line. ukify takes
the lines after that header from the stub's and the kernel's ``.sbat`` sections and from each
``--sbat`` text (default :data:`STUB_SBAT`), without de-duplication, and writes one header line,
the collected lines joined by ``\\n``, then ``\\n\\0``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from uki.errors import PeFormatError, SbatError
from uki.pe import read_pe

log = logging.getLogger(__name__)

SBAT_HEADER = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
#: ukify's default ``--sbat`` for a UKI.
STUB_SBAT = (
    SBAT_HEADER + "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n"
).encode()
#: ukify's default ``--sbat`` for a PE addon.
ADDON_SBAT = (
    SBAT_HEADER
    + "uki-addon,1,UKI Addon,addon,1,https://www.freedesktop.org/software/systemd/man/latest/systemd-stub.html\n"
).encode()


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SbatError(f"{what}: SBAT text is not UTF-8 ({e})") from e


def pe_sbat_lines(pe_bytes: bytes, *, what: str) -> list[str]:
    """The component lines (after the ``sbat,`` header) of every ``.sbat`` section of a PE.

    A file that is not a PE, an empty ``.sbat`` and one that does not start with ``sbat,`` are
    skipped with a log message, as ukify does.
    """
    try:
        pe = read_pe(pe_bytes, what=what)
    except PeFormatError as e:
        log.warning("%s is not a valid PE file, not extracting SBAT section (%s)", what, e)
        return []
    lines: list[str] = []
    for section in pe.sections_named(".sbat"):
        # ukify reads SizeOfRawData bytes (pefile get_data) and strips trailing NULs.
        split = _decode(pe.raw_data(section).rstrip(b"\0"), what).splitlines()
        if not split or not split[0].startswith("sbat,"):
            log.warning("%s does not contain a valid SBAT section, skipping", what)
            continue
        lines += split[1:]
    return lines


def text_sbat_lines(text: bytes, *, what: str = "--sbat") -> list[str]:
    """The component lines of one SBAT text; a text without the ``sbat,`` header is skipped."""
    split = _decode(text, what).splitlines()
    if not split or not split[0].startswith("sbat,"):
        log.warning("%s does not contain a valid SBAT section, skipping", what)
        return []
    return split[1:]


def merge_sbat(pes: Sequence[tuple[str, bytes]], texts: Sequence[bytes]) -> bytes:
    """Merge the ``.sbat`` of each ``(name, PE bytes)`` and each text into ukify's section bytes."""
    lines: list[str] = []
    for what, pe_bytes in pes:
        lines += pe_sbat_lines(pe_bytes, what=what)
    for i, text in enumerate(texts):
        lines += text_sbat_lines(text, what=f"SBAT text #{i + 1}")
    return (SBAT_HEADER + "\n".join(lines) + "\n\0").encode()
