"""Render the README gallery: content × style with every method that ships a model, and the GNN at k ∈ {1, 5, 20}.

    python tools/make_gallery.py --out docs/gallery.jpg [--overwrite] [--model lst=FILE.npz ...] [--size 384]
    python tools/make_gallery.py --diversity --out docs/diversity.jpg [--size 384]

Contents are scikit-image's bundled photos (``pip install scikit-image``; public domain / CC0), styles are
public-domain paintings from ``../shared/data/style``. Rows: content | style | AdaIN | AdaAttN | LST | Style Kernel |
GNN | GNN diverse k=1 | k=5 | k=20 (the peers whose model is shipped or given with ``--model``; "diverse" is
``DIVERSE``: the one-tap fold and sampled style edges of issue 15). A tool for the docs, not part of
the library (scikit-image is not a dependency).

``--diversity`` renders the first content × first style with the GNN at k = 1 and k = 20, once with the defaults
and once with ``DIVERSE``, a row each: k = 1 | k = 20 | their centre quarters enlarged 2× | |k = 1 − k = 20| × 4.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jaxstyle  # noqa: E402
from jaxstyle.metrics import image_grid  # noqa: E402

CONTENTS = ("astronaut", "chelsea")
STYLES = ("starry_night", "great_wave", "the_scream")
KS = (1, 5, 20)
DIVERSE = {"fold_size": 1, "sample_tau": 0.1}
PEERS = ("adain", "adaattn", "lst", "style_kernel")


def square(img: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop of ``[H, W, 3]``, resized (antialiased) to ``[size, size, 3]``."""
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.asarray(jax.image.resize(img[y:y + s, x:x + s], (size, size, 3), "linear", antialias=True)).clip(0, 1)


def diversity_rows(c: np.ndarray, s: np.ndarray, checkpoint: str | None) -> list[list[np.ndarray]]:
    """One row per GNN setting (defaults, ``DIVERSE``): k=1 | k=20 | both centre quarters ×2 | 4·|difference|."""
    h, w = c.shape[:2]

    def zoom(img):
        crop = img[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2]
        return crop.repeat(2, axis=0).repeat(2, axis=1)

    rows = []
    for extra in ({}, DIVERSE):
        lo, hi = (np.asarray(jaxstyle.stylize(c, s, method="gnn", checkpoint=checkpoint, k=k, **extra))
                  for k in (KS[0], KS[-1]))
        rows.append([lo, hi, zoom(lo), zoom(hi), np.clip(4 * np.abs(hi - lo), 0, 1)])
        print(f"GNN {extra or 'defaults'}: mean |k={KS[0]} - k={KS[-1]}| = {255 * np.abs(hi - lo).mean():.1f}/255")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "gallery.jpg"))
    p.add_argument("--model", action="append", default=[], help="METHOD=FILE.npz instead of the shipped model")
    p.add_argument("--size", type=int, default=320, help="content side (px)")
    p.add_argument("--style_dir", default=str(ROOT.parent / "shared" / "data" / "style"))
    p.add_argument("--contents", default=",".join(CONTENTS), help="scikit-image data names")
    p.add_argument("--styles", default=",".join(STYLES), help="file stems in --style_dir")
    p.add_argument("--diversity", action="store_true", help="the k = 1 vs k = 20 figure instead (see above)")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if pathlib.Path(a.out).exists() and not a.overwrite:
        print(f"error: {a.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    try:
        import skimage.data
    except ImportError:
        print("error: the gallery uses scikit-image's photos: pip install scikit-image", file=sys.stderr)
        return 1
    contents = {n: square(getattr(skimage.data, n)().astype(np.float32) / 255.0, a.size)
                for n in a.contents.split(",")}
    styles = {n: jaxstyle.load_image(pathlib.Path(a.style_dir) / f"{n}.jpg", max_side=a.size)
              for n in a.styles.split(",")}
    from jaxstyle.registry import has_pretrained

    given = dict(m.split("=", 1) for m in a.model)
    if a.diversity:
        c, s = next(iter(contents.values())), next(iter(styles.values()))
        path = jaxstyle.save_image(a.out, image_grid(diversity_rows(c, s, given.get("gnn")), pad=4),
                                   overwrite=a.overwrite, quality=90)
        print(f"wrote {path}: rows GNN defaults / {DIVERSE}; columns k={KS[0]} | k={KS[-1]} | centre ×2 (both) "
              "| 4·|difference|")
        return 0
    peers = [m for m in PEERS if m in given or has_pretrained(m)]
    rows, t0 = [], time.perf_counter()
    for cn, c in contents.items():
        for sn, s in styles.items():
            row = [c, square(s, a.size)] + [jaxstyle.stylize(c, s, method=m, checkpoint=given.get(m)) for m in peers]
            gnn = dict(method="gnn", checkpoint=given.get("gnn"))
            row += [jaxstyle.stylize(c, s, **gnn)] + [jaxstyle.stylize(c, s, k=k, **gnn, **DIVERSE) for k in KS]
            rows.append(row)
            print(f"{cn} × {sn}: {time.perf_counter() - t0:.0f} s", flush=True)
    path = jaxstyle.save_image(a.out, image_grid(rows, pad=4), overwrite=a.overwrite, quality=90)
    print(f"wrote {path}: rows content × style, columns content | style | {' | '.join(peers)} | GNN "
          f"| GNN {DIVERSE} k={', '.join(map(str, KS))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
