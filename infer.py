"""Stylize images from a checkout: ``python infer.py --content photo.jpg --style painting.jpg --out out/``.

The same as the installed ``jaxstyle stylize`` command (``python infer.py --help`` lists the flags).
"""

import sys

from jaxstyle.cli.stylize import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="infer.py"))
