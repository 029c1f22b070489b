"""Shared test configuration.

Markers: ``network`` (needs the Debian archive through the configured mirror) and ``boot``
(QEMU + OVMF). Both run by default, as in CI; deselect locally with ``-m "not boot"``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT
