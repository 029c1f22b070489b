"""Unified Kernel Images: PE reading, ukify-compatible assembly, Authenticode hashing and signing.

Public API: :func:`build_uki` (``uki.builder``), :func:`authenticode_digest` and :func:`sign_pe`
(``uki.authenticode``), :func:`read_pe` (``uki.pe``). The measurement engine lives in ``uki.measure``.
"""

from uki.authenticode import authenticode_digest, sign_pe
from uki.builder import build_uki
from uki.errors import UkiError
from uki.pe import PeImage, read_pe

__all__ = ["PeImage", "UkiError", "authenticode_digest", "build_uki", "read_pe", "sign_pe"]
