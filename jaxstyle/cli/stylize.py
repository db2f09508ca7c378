"""Stylize images: ``jaxstyle stylize --content photo.jpg --style painting.jpg --out out/``.

--content / --style take files, directories and globs (repeat the flag or separate with commas); every content is
stylized with every style (or --pairs: in zip order) into OUT/<content>__<style>.png (a video file: .mp4). Existing outputs are skipped
unless --overwrite; a bad input is one error line and the others still run (exit status 1).
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags

from jaxstyle.cli import run_absl

_CONTENT = flags.DEFINE_list("content", None, "Content images: files, directories or globs.")
_STYLE = flags.DEFINE_list("style", None, "Style images: files, directories or globs.")
_OUT = flags.DEFINE_string("out", None, "Output directory.")
_PAIRS = flags.DEFINE_bool("pairs", False, "Pair contents and styles in order instead of every combination.")
_METHOD = flags.DEFINE_string("method", None, "gnn | adain | adaattn | lst | style_kernel; default: the checkpoint's "
                               "method, else gnn.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Exported model (.npz); default: the shipped model.")
_MAX_SIDE = flags.DEFINE_integer("max_side", 512, "Downscale the content so its longer side is at most this.")
_STYLE_SIZE = flags.DEFINE_integer("style_size", 512, "Downscale the style so its longer side is at most this.")
_ALPHA = flags.DEFINE_float("alpha", 1.0, "Content-style trade-off in [0, 1].")
_K = flags.DEFINE_integer("k", None, "GNN: style edges per content patch (1 ~ style swap; more = smoother blend).")
_SAMPLE_TAU = flags.DEFINE_float("sample_tau", None, "GNN: > 0 draws one of the k best style patches per content "
                                 "patch, prob. ~ exp(NCC / tau), seeded by --seed (diverse results; 0 = all k).")
_FOLD = flags.DEFINE_integer("fold_size", None, "GNN: average the central fold x fold taps of overlapping style "
                             "patches (odd, <= patch size; 1 = sharpest, most diverse; default: the patch size).")
_PRESERVE = flags.DEFINE_bool("preserve_color", False, "Keep the content's colours.")
_WEIGHTS = flags.DEFINE_list("style_weights", None, "Interpolate all styles with these weights (one per style).")
_MASK = flags.DEFINE_string("mask", None, "Mask image: white -> first style, black -> second (spatial control).")
_DECODER = flags.DEFINE_enum("decoder", "feedforward", ["feedforward", "optimize"],
                             "feedforward: the trained decoder; optimize: training-free image optimisation.")
_STEPS = flags.DEFINE_integer("steps", 200, "Optimisation steps for --decoder optimize.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_BATCH = flags.DEFINE_integer("batch_size", 1, "Contents per device in one program (the batch runs data-parallel "
                              "over all local devices).")
_BUCKET = flags.DEFINE_integer("bucket", None, "Pad image sides to multiples of this (px) so mixed sizes share "
                               "compiled programs (AdaIN, LST, AdaAttN; default 128); the output is cropped back.")
_WORKERS = flags.DEFINE_integer("workers", 2, "Threads that read images ahead and write outputs.")
_VIDEO = flags.DEFINE_bool("video", False, "--content is the frames of one video (name order), stylized in video "
                           "mode as a video file is (.mp4, .mov, .mkv, .webm need no flag). One style.")
_VIDEO_BLEND = flags.DEFINE_float("video_blend", 0.5, "Video mode: weight of the previous output, warped along the "
                                  "optical flow, in each frame (less flicker; 0 = off, each frame on its own).")
_REGIONS = flags.DEFINE_list("regions", None, "AdaAttN: CONTENT_LABELS,STYLE_LABELS images; equal grey levels mark "
                             "regions that correspond (content region -> style region).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace existing outputs (default: skip them).")


def _run(argv: list[str]) -> int:
    from jaxstyle import logs, runtime
    from jaxstyle.infer import main as run

    missing = [f"--{f.name}" for f in (_CONTENT, _STYLE, _OUT) if not f.value]
    if missing:
        print(f"error: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required, e.g. --content "
              "photo.jpg --style painting.jpg --out out/ (see --help)", file=sys.stderr)
        return 2
    try:
        weights = None if _WEIGHTS.value is None else [float(w) for w in _WEIGHTS.value]
    except ValueError:
        print(f"error: --style_weights {','.join(_WEIGHTS.value)}: use comma-separated numbers, e.g. 0.7,0.3",
              file=sys.stderr)
        return 2
    runtime.configure()
    logs.banner("stylize", model=_CHECKPOINT.value or f"shipped {_METHOD.value or 'gnn'}", out=_OUT.value)
    return run(_CONTENT.value, _STYLE.value, _OUT.value, method=_METHOD.value, checkpoint=_CHECKPOINT.value,
               pairs=_PAIRS.value, max_side=_MAX_SIDE.value, style_size=_STYLE_SIZE.value, alpha=_ALPHA.value,
               k=_K.value, sample_tau=_SAMPLE_TAU.value, fold_size=_FOLD.value, preserve_color=_PRESERVE.value,
               style_weights=weights, mask=_MASK.value, decoder=_DECODER.value, steps=_STEPS.value,
               seed=_SEED.value, batch_size=_BATCH.value, bucket=_BUCKET.value, workers=_WORKERS.value,
               overwrite=_OVERWRITE.value, video=_VIDEO.value, video_blend=_VIDEO_BLEND.value, regions=_REGIONS.value,
               progress=sys.stderr.isatty())


def _dashes_to_underscores(argv: Sequence[str]) -> list[str]:
    """Accept ``--max-side`` as well as ``--max_side`` (absl only knows the underscore spelling)."""
    out = []
    for a in argv:
        if a.startswith("--") and len(a) > 2:
            name, sep, value = a[2:].partition("=")
            a = "--" + name.replace("-", "_") + sep + value
        out.append(a)
    return out


def main(argv: Sequence[str] | None = None, prog: str = "jaxstyle stylize") -> int:
    """``jaxstyle stylize [flags]``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    return run_absl(_run, _dashes_to_underscores(argv), prog=prog, doc=__doc__, module=__name__)
