"""``python -m jaxstyle <command> ...``: the ``jaxstyle`` command."""

import sys

from jaxstyle.cli import main

if __name__ == "__main__":
    sys.exit(main())
