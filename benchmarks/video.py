"""Temporal stability of every method on a synthetic clip with exact motion: warping error per frame and in video mode.

    python benchmarks/video.py [--size 256] [--frames 16] [--methods adain,lst,adaattn,style_kernel,gnn]
                               [--model adaattn=video.npz] [--photo astronaut] [--style PATH]

The clip (``evaluation.pan_zoom_clip``): a slow pan (1.5, 0.5 source px per frame) and zoom in (1% per frame) over a
scikit-image photo scaled to 1.3× the frame, so the backward flow is known exactly. Each method stylizes it frame
by frame (``Stylizer``, style prepared once) and in video mode (``Stylizer.video``: flow-guided temporal blending,
``--blend``), plus the carried-statistics variants (``stats_momentum=1``: the first frame's content statistics,
LST's fixed transform). Per row: ``evaluation.warping_error`` (↓; the input clip's own is the floor), its ratio to
per-frame, the mean content and style loss over the frames (``evaluation``, against the frame and the style: what
the steadiness costs), and seconds per frame after the first two (their compiles timed separately).
``--model METHOD=FILE.npz`` adds rows for a trained file (e.g. AdaAttN's cosine-attention video model).
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
from jaxstyle import evaluation  # noqa: E402
from jaxstyle.data.images import resize_image  # noqa: E402

PUBLIC_STYLE = "brick"  # a scikit-image texture: the default style when ../shared is absent


def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    img = np.stack([img] * 3, -1) if img.ndim == 2 else img[..., :3]
    return img.astype(np.float32) / 255.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256, help="frame side (px)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--methods", default="adain,lst,adaattn,style_kernel,gnn")
    p.add_argument("--model", action="append", default=[], help="METHOD=FILE.npz: extra rows for a trained file")
    p.add_argument("--photo", default="astronaut", help="scikit-image photo the clip pans over")
    p.add_argument("--style", default=None, help="style image (default: the first of ../shared/data/style, else a "
                                                 "scikit-image texture)")
    p.add_argument("--blend", type=float, default=0.5)
    p.add_argument("--out", help="also write the markdown table here")
    a = p.parse_args()

    side = a.size
    src = resize_image(_photo(a.photo), (round(1.3 * side), round(1.3 * side)))
    clip, flow = evaluation.pan_zoom_clip(src, a.frames, (side, side), pan=(1.5, 0.5), zoom=1.01)
    clip, flow = np.asarray(clip), np.asarray(flow)
    shared = ROOT.parent / "shared" / "data" / "style"
    style_path = a.style or (sorted(shared.iterdir())[0] if shared.is_dir() else None)
    style = jaxstyle.load_image(style_path, max_side=side) if style_path else _photo(PUBLIC_STYLE)[:side, :side]
    vgg = jaxstyle.load_vgg19()
    score = jax.jit(lambda o, c, s: (evaluation.content_distance(vgg, o, c), evaluation.style_distance(vgg, o, s)))
    floor = float(evaluation.warping_error(clip, clip, flow))
    rows = [f"| input clip | — | {floor:.5f} | — | — | — | — |"]
    print(f"clip: {a.frames} frames of {side}x{side} over {a.photo}; style {style_path or PUBLIC_STYLE}; "
          f"backend {jax.default_backend()}", flush=True)
    print(rows[0], flush=True)
    runs = [(m, None) for m in a.methods.split(",") if m] + [tuple(x.split("=", 1)) for x in a.model]
    for method, ckpt in runs:
        s = jaxstyle.Stylizer(method, ckpt)
        key = s.add_style(style)
        name = method if ckpt is None else f"{method} ({pathlib.Path(ckpt).name})"
        base = None
        for mode, make in (("per frame", None), (f"video (blend {a.blend})", dict(blend=a.blend)),
                           ("video, first frame's statistics only", dict(blend=0.0, stats_momentum=1.0)),
                           (f"video (blend {a.blend}) + first frame's statistics",
                            dict(blend=a.blend, stats_momentum=1.0))):
            if make is not None and "stats_momentum" in make and method not in ("adain", "lst"):
                continue  # only AdaIN and LST have whole-content statistics to carry
            run = (lambda f: s(f, key)) if make is None else s.video(key, **make)
            t0 = time.perf_counter()
            outs = [run(f) for f in clip[:2]]  # the compiles: the first frame's and the blending's
            t1 = time.perf_counter()
            outs += [run(f) for f in clip[2:]]
            per = (time.perf_counter() - t1) / (len(clip) - 2)
            outs = np.stack(outs)
            err = float(evaluation.warping_error(clip, outs, flow))
            base = err if base is None else base
            cl, sl = (float(x) for x in score(outs, clip, np.broadcast_to(style, (len(clip), *style.shape))))
            row = (f"| {name} | {mode} | {err:.5f} | {err / base:.2f} | {cl:.3f} | {sl:.2f} | {per:.2f} s "
                   f"(first two {t1 - t0:.1f} s) |")
            rows.append(row)
            print(row, flush=True)
    table = "\n".join(["| method | mode | warping error ↓ | vs per frame | content ↓ | style ↓ | s/frame |",
                       "|---|---|--:|--:|--:|--:|--:|", *rows])
    if a.out:
        pathlib.Path(a.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
