"""``python -m netstack``: the same as the ``netstack`` console script."""

from __future__ import annotations

import sys

from netstack.cli import main

sys.exit(main())
