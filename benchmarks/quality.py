"""Quality of trained models on every content × style pair (spec baselines.md §6): content loss, style loss, SSIM.

    python benchmarks/quality.py --model adain --model gnn --model gnn=runs/new.npz [--size 256] [--k 1,5,20]
                                 [--diversity]

``--model`` is ``METHOD`` (its shipped model) or ``METHOD=FILE.npz``; ``--k`` adds one row per k for graph methods.
Pairs: ``../shared/data/content`` × ``../shared/data/style``, centre squares resized to ``--size``. Two reference
rows: the content photo itself and the style image as the "output".
Prints one row per model: mean content loss (↓), style loss (↓), SSIM with the content (↑), grid artifact (↓,
``evaluation.grid_artifact``: the checker texture), seconds per pair.
``--diversity`` adds ``evaluation.output_distance`` (relu3_1/4_1 feature, pixel) between the outputs at the smallest
and the largest k of a graph method, beside the distance between two different styles on the same content (each
pair's style against the next style), and their ratio.
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
    """Jitted ``(outputs, contents, styles) [B, S, S, 3] → (content loss, style loss, SSIM, grid artifact)``, each a
    batch mean.

    All images share one size, so a batch mean equals the mean of the per-pair values of :mod:`jaxstyle.evaluation`.
    """
    graphdef, state = nnx.split(vgg)

    @jax.jit
    def score(state, o, c, s):
        v = nnx.merge(graphdef, state)
        return (evaluation.content_distance(v, o, c), evaluation.style_distance(v, o, s),
                evaluation.ssim(o, c).mean(), evaluation.grid_artifact(o).mean())

    return functools.partial(score, state)


def _row(name: str, score, pairs, outputs, seconds: float, batch: int) -> str:
    vals = []
    for i in range(0, len(pairs), batch):
        cs, ss = zip(*pairs[i:i + batch])
        vals.append([float(v) for v in score(np.stack(outputs[i:i + batch]), np.stack(cs), np.stack(ss))])
    cl, sl, ssim, grid = np.mean(vals, axis=0)  # batches are equal-sized (len(pairs) is a multiple of batch)
    return f"{name:<40} {cl:>8.3f} {sl:>9.2f} {ssim:>6.3f} {grid:>6.3f} {seconds:>8.2f}"


def _distances(vgg):
    """Jitted ``(a, b) [B, S, S, 3] → (feature, pixel)`` of :func:`jaxstyle.evaluation.output_distance`."""
    graphdef, state = nnx.split(vgg)
    fn = jax.jit(lambda st, a, b: evaluation.output_distance(nnx.merge(graphdef, st), a, b))
    return lambda a, b, batch: np.mean([[float(v) for v in fn(state, np.stack(a[i:i + batch]),
                                                               np.stack(b[i:i + batch]))]
                                        for i in range(0, len(a), batch)], axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", required=True, help="METHOD or METHOD=FILE.npz (repeatable)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--k", default="", help="comma-separated k values for graph methods (default: the model's)")
    p.add_argument("--content_dir", default=str(SHARED / "content"))
    p.add_argument("--style_dir", default=str(SHARED / "style"))
    p.add_argument("--diversity", action="store_true", help="k diversity against two styles' distance")
    p.add_argument("--sample_tau", type=float, default=None, help="graph methods: stylize(sample_tau=...)")
    p.add_argument("--fold_size", type=int, default=None, help="graph methods: stylize(fold_size=...)")
    a = p.parse_args(argv)
    contents, styles = _load(pathlib.Path(a.content_dir), a.size), _load(pathlib.Path(a.style_dir), a.size)
    pairs = [(c, s) for c in contents.values() for s in styles.values()]
    score, batch = _scorer(jaxstyle.load_vgg19()), len(styles)
    print(f"{len(contents)} contents × {len(styles)} styles at {a.size} px; content/style losses: baselines.md §6")
    print(f"{'model':<40} {'content↓':>8} {'style↓':>9} {'SSIM↑':>6} {'grid↓':>6} {'s/pair':>8}")
    print(_row("(the content photo itself)", score, pairs, [c for c, _ in pairs], 0.0, batch))
    print(_row("(the style image)", score, pairs, [s for _, s in pairs], 0.0, batch))
    diversity = []
    for spec in a.model:
        method, _, ckpt = spec.partition("=")
        ks = [int(k) for k in a.k.split(",") if k] if method == "gnn" and a.k else [None]
        by_k = {}
        for k in ks:
            graph = {n: v for n, v in (("sample_tau", a.sample_tau), ("fold_size", a.fold_size)) if v is not None}
            kw = ({} if k is None else {"k": k}) | (graph if method == "gnn" else {})
            jaxstyle.stylize(*pairs[0], method=method, checkpoint=ckpt or None, **kw)  # compile outside the timing
            t0 = time.perf_counter()
            by_k[k] = outs = [jaxstyle.stylize(c, s, method=method, checkpoint=ckpt or None, **kw) for c, s in pairs]
            dt = (time.perf_counter() - t0) / len(pairs)
            name = " ".join([spec] + [f"{n}={v}" for n, v in kw.items()])
            print(_row(name, score, pairs, outs, dt, batch), flush=True)
        if a.diversity:
            diversity.append((spec, by_k))
    if diversity:
        dist, n_s = _distances(jaxstyle.load_vgg19()), len(styles)
        print(f"\ndiversity (evaluation.output_distance: relu3_1/4_1 feature, pixel |a-b|; ↑ = more different)")
        print(f"{'model':<40} {'k_min vs k_max':>16} {'two styles':>16} {'ratio (feature)':>16}")
        for spec, by_k in diversity:
            ks = sorted(by_k, key=lambda k: -1 if k is None else k)
            outs = by_k[ks[0]]
            other = [outs[i - i % n_s + (i + 1) % n_s] for i in range(len(outs))]  # same content, next style
            two = dist(outs, other, batch)
            if len(ks) > 1:
                kd = dist(by_k[ks[0]], by_k[ks[-1]], batch)
                print(f"{spec + f' k={ks[0]} vs {ks[-1]}':<40} {kd[0]:>8.3f} {kd[1]:>7.3f} {two[0]:>8.3f} "
                      f"{two[1]:>7.3f} {kd[0] / two[0]:>16.2f}", flush=True)
            else:
                print(f"{spec:<40} {'–':>16} {two[0]:>8.3f} {two[1]:>7.3f} {'–':>16}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
