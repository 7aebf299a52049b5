"""``python -m bayeslaw``: the same as the ``bayeslaw`` command."""

import sys

from bayeslaw.cli.main import main

sys.exit(main())
