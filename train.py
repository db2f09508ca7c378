"""Train from a checkout: ``python train.py --config gnn:tiny --workdir runs/x``.

The same as the installed ``jaxstyle train`` command (``python train.py --help`` lists the flags).
"""

import sys

from jaxstyle.cli.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="train.py"))
