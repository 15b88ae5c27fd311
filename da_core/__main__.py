"""``python -m da_core``: see :mod:`da_core.cli`."""

import sys

from da_core.cli import main

sys.exit(main())
