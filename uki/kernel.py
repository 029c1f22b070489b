"""Reading the kernel version (``uname -r``) from a Linux kernel image, as ukify's ``Uname.scrape``.

x86 bzImage (Linux boot protocol, Documentation/arch/x86/boot.rst): the setup header carries
``HdrS`` at 0x202 and, at 0x20E, a u16 ``kernel_version`` pointer; the NUL-terminated string lives
at 0x200 + pointer and looks like ``6.12.117+deb13-cloud-amd64 (debian-kernel@…) #1 SMP …``.
Other images fall back to a search for ``Linux version X (`` in the uncompressed bytes (ukify's
``scrape_generic`` without its decompressors).
"""

from __future__ import annotations

import re

SETUP_HEADER_MAGIC = b"HdrS"
SETUP_HEADER_MAGIC_OFFSET = 0x202
KERNEL_VERSION_POINTER_OFFSET = 0x20E
KERNEL_VERSION_BASE = 0x200
KERNEL_VERSION_MAX = 128  # ukify reads at most 128 bytes

_VERSION_RE = re.compile(r"(?P<version>[a-z0-9._+-]+) \([^ )]+\) (?:#.*)")
_TEXT_RE = re.compile(rb"Linux version (?P<version>\d\.\S+) \(")


def _scrape_x86(kernel: bytes) -> str | None:
    magic_end = SETUP_HEADER_MAGIC_OFFSET + len(SETUP_HEADER_MAGIC)
    if kernel[SETUP_HEADER_MAGIC_OFFSET:magic_end] != SETUP_HEADER_MAGIC:
        return None
    pointer = int.from_bytes(kernel[KERNEL_VERSION_POINTER_OFFSET : KERNEL_VERSION_POINTER_OFFSET + 2], "little")
    start = KERNEL_VERSION_BASE + pointer
    text = kernel[start : start + KERNEL_VERSION_MAX].split(b"\0", 1)[0]
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    match = _VERSION_RE.match(decoded)
    return match["version"] if match else None


def _scrape_text(kernel: bytes) -> str | None:
    match = _TEXT_RE.search(kernel)
    if match is None:
        return None
    try:
        return match["version"].decode("utf-8")
    except UnicodeDecodeError:
        return None


def detect_uname(kernel: bytes) -> str | None:
    """The kernel's ``uname -r`` string, or None when it cannot be found (ukify then omits ``.uname``)."""
    return _scrape_x86(kernel) or _scrape_text(kernel)
