"""How far the Stylizer's bucketed output is from ``jaxstyle.stylize``'s exact-shape output, in /255.

    python benchmarks/bucketing.py [--methods adain,lst,adaattn] [--size 512] [--bucket 64] [--contents 4]

Contents and styles: the shared photos and paintings (``../shared/data``), longer side ``--size``. Per method it
prints the mean and max absolute difference over all pixels, over the border band (the last ``--band`` rows and
columns, next to the padding) and inside it, and how much padding the contents got. The Stylizer masks the
statistics and pads every convolution at the image's own edge, so what remains is float rounding.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="adain,lst,adaattn")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--bucket", type=int, default=64)
    p.add_argument("--contents", type=int, default=4)
    p.add_argument("--styles", type=int, default=2)
    p.add_argument("--band", type=int, default=32, help="border band width in px")
    args = p.parse_args()

    import jaxstyle

    jaxstyle.enable_compilation_cache()
    contents = [jaxstyle.load_image(f, max_side=args.size)
                for f in sorted((SHARED / "content").iterdir())[: args.contents]]
    styles = [jaxstyle.load_image(f, max_side=args.size) for f in sorted((SHARED / "style").iterdir())[: args.styles]]
    print(f"| method | pairs | padded rows+cols (mean) | mean all | max all | mean border band ({args.band} px) | "
          "mean inside | max inside |")
    print("|---|---|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        s = jaxstyle.Stylizer(method, bucket=args.bucket)
        keys = [s.add_style(img) for img in styles]
        rows = []
        for c in contents:
            hb, wb = s.bucket_shape(*c.shape[:2])
            for key, style in zip(keys, styles):
                d = np.abs(s(c, key) - jaxstyle.stylize(c, style, method=method)) * 255
                inside = d[: -args.band, : -args.band]
                band = np.concatenate([d[-args.band:].ravel(), d[: -args.band, -args.band:].ravel()])
                rows.append((hb - c.shape[0] + wb - c.shape[1], d.mean(), d.max(), band.mean(), inside.mean(),
                             inside.max()))
        r = np.array(rows)
        print(f"| {method} | {len(rows)} | {r[:, 0].mean():.0f} | {r[:, 1].mean():.5f} | {r[:, 2].max():.4f} | "
              f"{r[:, 3].mean():.5f} | {r[:, 4].mean():.5f} | {r[:, 5].max():.4f} |", flush=True)


if __name__ == "__main__":
    main()
