"""``python -m bayeslaw``: the same as the ``bayeslaw`` command."""

import sys

from .cli import main

sys.exit(main())
