"""Batch stylization behind ``infer.py``: discover inputs, stylize every content × style, save atomically.

Inputs are any mix of files, directories (their images, sorted) and globs. Outputs are
``OUT/<content>__<style>.png``; existing ones are skipped unless ``overwrite``. A failing input is reported in one
``error:`` line and the rest still run; the return status is 1 if anything failed.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pathlib
import sys
import time
import warnings
from typing import Sequence

import numpy as np

from jaxstyle.data.images import ImageError, image_files, load_image, save_image
from jaxstyle.weights.store import WeightsError

USER_ERRORS = (ImageError, WeightsError, ValueError, FileNotFoundError)


def expand_inputs(specs: Sequence[str], what: str) -> list[pathlib.Path]:
    """Files, directories (images inside, sorted) and globs → a list of paths (order kept, duplicates dropped).

    Raises:
      ValueError: a spec matches nothing (names the spec).
    """
    out: list[pathlib.Path] = []
    for spec in specs:
        p = pathlib.Path(spec).expanduser()
        if p.is_dir():
            found = image_files(p)
            if not found:
                raise ValueError(f"--{what} {spec}: directory has no images")
        elif glob.has_magic(spec):
            found = sorted(pathlib.Path(f) for f in glob.glob(os.path.expanduser(spec)) if os.path.isfile(f))
            if not found:
                raise ValueError(f"--{what} {spec}: the pattern matches no files")
        else:
            found = [p]  # a missing file is reported when it is loaded, and the rest still run
        out += [f for f in found if f not in out]
    if not out:
        raise ValueError(f"--{what}: no inputs given")
    return out


@dataclasses.dataclass
class Job:
    content: pathlib.Path
    styles: tuple[pathlib.Path, ...]
    out: pathlib.Path


def plan(contents: list[pathlib.Path], styles: list[pathlib.Path], out_dir: pathlib.Path, *, pairs: bool = False,
         combine: bool = False, ext: str = ".png") -> list[Job]:
    """Every content × every style (``pairs``: zip order; ``combine``: all styles in one output per content)."""
    if pairs and len(contents) != len(styles):
        raise ValueError(f"--pairs needs as many styles as contents (got {len(contents)} contents, "
                         f"{len(styles)} styles)")
    if combine:
        groups = [(c, tuple(styles)) for c in contents]
    elif pairs:
        groups = [(c, (s,)) for c, s in zip(contents, styles)]
    else:
        groups = [(c, (s,)) for c in contents for s in styles]
    return [Job(c, ss, out_dir / f"{c.stem}__{'+'.join(s.stem for s in ss)}{ext}") for c, ss in groups]


def stylize_files(contents: Sequence[str], styles: Sequence[str], out_dir: str | os.PathLike, *,
                  method: str | None = None, checkpoint: str | None = None, pairs: bool = False,
                  max_side: int | None = 512, style_size: int | None = 512, alpha: float = 1.0,
                  k: int | None = None, sample_tau: float | None = None, fold_size: int | None = None,
                  preserve_color: bool = False,
                  style_weights: Sequence[float] | None = None,
                  mask: str | None = None, decoder: str = "feedforward", steps: int = 200, seed: int = 0,
                  batch_size: int = 4, overwrite: bool = False, progress: bool = True, video: bool = False,
                  regions: Sequence[str] | None = None,
                  log=print) -> tuple[int, int, int]:
    """Stylize files into ``out_dir``; returns ``(written, skipped, failed)``.

    Contents of the same size with the same style run as one batch of up to ``batch_size`` (one compile per size).
    ``style_weights`` or ``mask`` combine all styles into one output per content (interpolation / spatial
    control). ``video``: the contents are the frames of one video (in name order) and a linear method (LST) uses
    the style transform of the first frame for every frame (temporally stable). Errors per job are logged as one
    line; configuration errors raise ``ValueError``. ``regions``: two label images (content, style) whose equal grey
    levels mark corresponding regions (AdaAttN's user control), resized to each image.
    """
    from jaxstyle.api import style_matrix, stylize
    from jaxstyle.metrics import Progress

    combine = style_weights is not None or mask is not None
    jobs = plan(expand_inputs(contents, "content"), expand_inputs(styles, "style"), pathlib.Path(out_dir),
                pairs=pairs, combine=combine)
    if style_weights is not None and len(style_weights) != len(jobs[0].styles):
        raise ValueError(f"--style_weights has {len(style_weights)} values for {len(jobs[0].styles)} styles")
    if video and (combine or len(jobs[0].styles) != 1 or len({j.styles for j in jobs}) != 1):
        raise ValueError("--video takes one --style (and no --style_weights / --mask)")
    fixed: dict[str, np.ndarray] = {}  # video: the first frame's style transform
    region_imgs = None
    if regions is not None:
        if combine or len(regions) != 2:
            raise ValueError("--regions takes two label images, CONTENT_LABELS,STYLE_LABELS (and one style per output)")
        region_imgs = [np.round(load_image(r).mean(-1) * 255).astype(np.int32) for r in regions]
    mask_img = None
    if mask is not None:
        mask_img = load_image(mask).mean(-1)  # grey levels in [0, 1]: 1 → the first style
    jobs.sort(key=lambda job: job.styles)  # style-major (stable): same-style, same-size contents batch together
    counts = {"written": 0, "skipped": 0, "failed": 0}
    bar = Progress(len(jobs), enabled=progress)
    style_cache: dict[pathlib.Path, np.ndarray] = {}
    pending: list[tuple[Job, np.ndarray]] = []

    def fail(job: Job, e: Exception) -> None:
        counts["failed"] += 1
        log(f"error: {e}", file=sys.stderr)

    def run(group: list[tuple[Job, np.ndarray]]) -> None:
        ss = [style_cache[sp] for sp in group[0][0].styles]
        c = np.stack([img for _, img in group])
        m = None if mask_img is None else _resize_mask(mask_img, c.shape[1:3])
        try:
            if video and "T" not in fixed:
                fixed["T"] = style_matrix(c[:1], ss[0], method=method or "lst", checkpoint=checkpoint, seed=seed)
            reg = None if region_imgs is None else (_resize_mask(region_imgs[0], c.shape[1:3]),
                                                    _resize_mask(region_imgs[1], ss[0].shape[:2]))
            outs = stylize(c, ss if combine else ss[0], method=method, checkpoint=checkpoint, alpha=alpha, k=k,
                           sample_tau=sample_tau, sample_seed=seed, fold_size=fold_size, style_weights=style_weights,
                           mask=m,
                           preserve_color=preserve_color, decoder=decoder,
                           steps=steps, seed=seed, matrix=fixed.get("T"), regions=reg)
        except USER_ERRORS as e:
            if len(group) == 1:
                return fail(group[0][0], e)
            for item in group:  # find out which input it was
                run([item])
            return
        for (job, _), out in zip(group, outs):
            try:
                job.out.parent.mkdir(parents=True, exist_ok=True)
                save_image(job.out, out, overwrite=overwrite)
                counts["written"] += 1
            except USER_ERRORS as e:
                fail(job, e)

    def flush() -> None:
        if pending:
            run(list(pending))
            pending.clear()
            bar.update(sum(counts.values()))

    for job in jobs:
        if job.out.exists() and not overwrite:
            counts["skipped"] += 1
            continue
        try:
            for sp in job.styles:
                if sp not in style_cache:
                    style_cache[sp] = load_image(sp, max_side=style_size, min_side=16)
            c = load_image(job.content, max_side=max_side, min_side=16)
        except USER_ERRORS as e:
            fail(job, e)
            continue
        if pending and (pending[0][0].styles != job.styles or pending[0][1].shape != c.shape
                        or len(pending) >= batch_size):
            flush()
        pending.append((job, c))
    flush()
    bar.close()
    return counts["written"], counts["skipped"], counts["failed"]


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``[h, w]`` to ``shape`` (masks are usually drawn at the photo's full size)."""
    h, w = shape
    ys = (np.arange(h) * mask.shape[0] / h).astype(int)
    xs = (np.arange(w) * mask.shape[1] / w).astype(int)
    return mask[ys][:, xs]


def main(contents: Sequence[str], styles: Sequence[str], out_dir: str, **kwargs) -> int:
    """CLI body: returns the exit status (0 ok, 1 if anything failed), with one ``error:`` line per failure."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            written, skipped, failed = stylize_files(contents, styles, out_dir, **kwargs)
        except USER_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        finally:
            for w in {str(w.message) for w in caught}:
                print(f"warning: {w}", file=sys.stderr)
    print(f"{written} written, {skipped} skipped (exist; --overwrite replaces), {failed} failed "
          f"in {time.perf_counter() - t0:.1f} s -> {out_dir}", file=sys.stderr)
    return 1 if failed else 0
