"""Entry point of ``python -m uki``."""

import sys

from uki.cli import main

sys.exit(main())
