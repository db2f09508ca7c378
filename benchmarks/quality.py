"""Quality of trained models on every content × style pair (spec baselines.md §6): content loss, style loss, SSIM.

    python benchmarks/quality.py --model adain --model gnn --model gnn=runs/new.npz [--size 256] [--k 1,5,20]

``--model`` is ``METHOD`` (its shipped model) or ``METHOD=FILE.npz``; ``--k`` adds one row per k for graph methods.
Pairs: ``../shared/data/content`` × ``../shared/data/style``, centre squares resized to ``--size``. Two reference
rows: the content photo itself and the style image as the "output".
Prints one row per model: mean content loss (↓), style loss (↓), SSIM with the content (↑), seconds per pair.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jaxstyle  # noqa: E402
from jaxstyle import evaluation  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _load(folder: pathlib.Path, size: int) -> dict[str, np.ndarray]:
    """Every image of ``folder``: centre square crop, resized to ``[size, size, 3]`` (one shape: one compile)."""
    out = {}
    for p in sorted(folder.iterdir()):
        img = jaxstyle.load_image(p)
        h, w = img.shape[:2]
        m = min(h, w)
        sq = jnp.asarray(img[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m])
        out[p.stem] = np.asarray(jax.image.resize(sq, (size, size, 3), "linear", antialias=True)).clip(0, 1)
    return out


def _scorer(vgg):
    """Jitted ``(outputs, contents, styles) [B, S, S, 3] → (content loss, style loss, SSIM)``, each a batch mean.

    All images share one size, so a batch mean equals the mean of the per-pair values of :mod:`jaxstyle.evaluation`.
    """
    graphdef, state = nnx.split(vgg)

    @jax.jit
    def score(state, o, c, s):
        v = nnx.merge(graphdef, state)
        return (evaluation.content_distance(v, o, c), evaluation.style_distance(v, o, s),
                evaluation.ssim(o, c).mean())

    return functools.partial(score, state)


def _row(name: str, score, pairs, outputs, seconds: float, batch: int) -> str:
    vals = []
    for i in range(0, len(pairs), batch):
        cs, ss = zip(*pairs[i:i + batch])
        vals.append([float(v) for v in score(np.stack(outputs[i:i + batch]), np.stack(cs), np.stack(ss))])
    cl, sl, ssim = np.mean(vals, axis=0)  # batches are equal-sized (len(pairs) is a multiple of batch)
    return f"{name:<40} {cl:>8.3f} {sl:>9.2f} {ssim:>6.3f} {seconds:>8.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", required=True, help="METHOD or METHOD=FILE.npz (repeatable)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--k", default="", help="comma-separated k values for graph methods (default: the model's)")
    p.add_argument("--content_dir", default=str(SHARED / "content"))
    p.add_argument("--style_dir", default=str(SHARED / "style"))
    a = p.parse_args(argv)
    contents, styles = _load(pathlib.Path(a.content_dir), a.size), _load(pathlib.Path(a.style_dir), a.size)
    pairs = [(c, s) for c in contents.values() for s in styles.values()]
    score, batch = _scorer(jaxstyle.load_vgg19()), len(styles)
    print(f"{len(contents)} contents × {len(styles)} styles at {a.size} px; content/style losses: baselines.md §6")
    print(f"{'model':<40} {'content↓':>8} {'style↓':>9} {'SSIM↑':>6} {'s/pair':>8}")
    print(_row("(the content photo itself)", score, pairs, [c for c, _ in pairs], 0.0, batch))
    print(_row("(the style image)", score, pairs, [s for _, s in pairs], 0.0, batch))
    for spec in a.model:
        method, _, ckpt = spec.partition("=")
        ks = [int(k) for k in a.k.split(",") if k] if method == "gnn" and a.k else [None]
        for k in ks:
            kw = {} if k is None else {"k": k}
            jaxstyle.stylize(*pairs[0], method=method, checkpoint=ckpt or None, **kw)  # compile outside the timing
            t0 = time.perf_counter()
            outs = [jaxstyle.stylize(c, s, method=method, checkpoint=ckpt or None, **kw) for c, s in pairs]
            dt = (time.perf_counter() - t0) / len(pairs)
            print(_row(spec + ("" if k is None else f" k={k}"), score, pairs, outs, dt, batch), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
