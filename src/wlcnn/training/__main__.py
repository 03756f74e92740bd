"""``python -m wlcnn.training``: train one network, or ``plot`` loss curves (see ``--help``)."""

import sys

from wlcnn.training.cli import main

sys.exit(main())
