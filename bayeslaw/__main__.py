"""``python -m bayeslaw``: the same as the ``bayeslaw`` command."""

from bayeslaw.cli.main import run

run()
