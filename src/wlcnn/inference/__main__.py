"""Entry point of ``python -m wlcnn.inference`` (see :mod:`wlcnn.inference.cli`)."""

from __future__ import annotations

import sys

from wlcnn.inference.cli import main

sys.exit(main())
