"""Batch stylization behind ``infer.py``: discover inputs, stylize every content × style, save atomically.

Inputs are any mix of files, directories (their images, sorted) and globs. Outputs are
``OUT/<content>__<style>.png``; existing ones are skipped unless ``overwrite``. A failing input is reported in one
``error:`` line and the rest still run; the return status is 1 if anything failed.

The common case (one style per output, the feedforward decoder) runs on a :class:`jaxstyle.Stylizer`: each image is
decoded and encoded once, contents are padded to a few bucket shapes, images are read ahead and outputs written by
worker threads while the devices compute, and with several processes (``jax.process_count() > 1``) each takes every
``process_count``-th content. Memory: the styles' cached products (styles are taken in blocks that fit
``cache_mb``; contents are encoded once per block) plus the read-ahead of ``2 × batch`` contents.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import glob
import os
import pathlib
import sys
import threading
import time
import warnings
from typing import Sequence

import numpy as np
from absl import logging

from jaxstyle._io import TMP_MARK, ensure_writable_dir, listed
from jaxstyle.data.images import ImageError, downscaled_size, image_files, load_image, resize_image, save_image
from jaxstyle.data.video import is_video
from jaxstyle.weights.store import WeightsError

USER_ERRORS = (ImageError, WeightsError, ValueError, FileNotFoundError)


def expand_inputs(specs: Sequence[str], what: str) -> list[pathlib.Path]:
    """Files, directories (images inside, sorted) and globs → a list of paths (order kept, duplicates dropped).

    An existing path is taken as itself even if its name has glob characters (``photo[1].png``). Directories and
    globs skip hidden files (e.g. the temporary file of a write that was killed).

    Raises:
      ValueError: a spec matches nothing (names the spec).
    """
    out: list[pathlib.Path] = []
    for spec in specs:
        p = pathlib.Path(spec).expanduser()
        if p.is_dir():
            found = [f for f in image_files(p) if not f.name.startswith(".")]
            if not found:
                raise ValueError(f"--{what} {spec}: directory has no images")
        elif not p.exists() and glob.has_magic(spec):
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


def unique_names(paths: Sequence[pathlib.Path]) -> dict[pathlib.Path, str]:
    """A distinct name per path (distinct files): its stem; where stems collide, the file name with its suffix,
    then as few of its parent folders as tell them apart. ``a/photo.png, b/photo.png, b/photo.jpg`` →
    ``a/photo, b/photo, photo.jpg``."""
    def name(p: pathlib.Path, level: int) -> str:  # level 2d: d folders + stem; 2d + 1: d folders + file name
        folders = p.resolve().parent.parts[1:]
        d = level // 2
        return "/".join((*(folders[len(folders) - d:] if d else ()), p.name if level % 2 else p.stem))

    level = {p: 0 for p in paths}
    names = {p: p.stem for p in paths}
    while True:
        clash = collections.Counter(names.values())
        crowded = [p for p in paths if clash[names[p]] > 1 and level[p] <= 2 * len(p.resolve().parts)]
        if not crowded:
            return names
        for p in crowded:
            level[p] += 1
            names[p] = name(p, level[p])


def plan(contents: list[pathlib.Path], styles: list[pathlib.Path], out_dir: pathlib.Path, *, pairs: bool = False,
         combine: bool = False, ext: str = ".png") -> list[Job]:
    """Every content × every style (``pairs``: zip order; ``combine``: all styles in one output per content).

    Outputs are ``out_dir/<content>__<style>[+<style>...].png`` (``.mp4`` for a video content) with names from
    :func:`unique_names`: a content whose name needs its folders keeps them as sub-folders of ``out_dir``, a style's
    folders are joined with ``-``.
    So every job of a run has its own output, and no run overwrites its own results. Inputs that are this plan's
    own outputs (``--out`` inside an input folder, on a re-run) are left out.
    """
    if pairs and len(contents) != len(styles):
        raise ValueError(f"--pairs needs as many styles as contents (got {len(contents)} contents, "
                         f"{len(styles)} styles)")
    while True:
        cn, sn = unique_names(contents), unique_names(styles)
        if combine:
            groups = [(c, tuple(styles)) for c in contents]
        elif pairs:
            groups = [(c, (s,)) for c, s in zip(contents, styles)]
        else:
            groups = [(c, (s,)) for c in contents for s in styles]
        jobs = [Job(c, ss, out_dir / f"{cn[c]}__{'+'.join(sn[s].replace('/', '-') for s in ss)}"
                                  f"{'.mp4' if is_video(c) else ext}") for c, ss in groups]
        outs = {j.out.resolve() for j in jobs}
        if pairs:
            keep = [(c, s) for c, s in zip(contents, styles) if c.resolve() not in outs and s.resolve() not in outs]
            kept_c, kept_s = [c for c, _ in keep], [s for _, s in keep]
        else:
            kept_c = [c for c in contents if c.resolve() not in outs]
            kept_s = [s for s in styles if s.resolve() not in outs]
        if (kept_c, kept_s) == (contents, styles):  # an output's own content stays, so neither list empties
            break
        contents, styles = kept_c, kept_s
    seen: collections.Counter = collections.Counter()
    for j in jobs:  # a style name with '-' could still meet another's folder-joined name: number the repeats
        seen[j.out] += 1
        if seen[j.out] > 1:
            j.out = j.out.with_name(f"{j.out.stem}~{seen[j.out]}{j.out.suffix}")
    return jobs


def remove_leftovers(jobs: Sequence[Job]) -> int:
    """Delete the temporary files that writes of these jobs' outputs left when their run was killed; returns how
    many."""
    n = 0
    for job in jobs:
        pattern = f".{glob.escape(job.out.stem)}.*{TMP_MARK}{glob.escape(job.out.suffix)}"
        for t in job.out.parent.glob(pattern) if job.out.parent.is_dir() else ():
            t.unlink(missing_ok=True)
            n += 1
    return n


def stylize_files(contents: Sequence[str], styles: Sequence[str], out_dir: str | os.PathLike, *,
                  method: str | None = None, checkpoint: str | None = None, pairs: bool = False,
                  max_side: int | None = 512, style_size: int | None = 512, alpha: float = 1.0,
                  k: int | None = None, sample_tau: float | None = None, fold_size: int | None = None,
                  preserve_color: bool = False,
                  style_weights: Sequence[float] | None = None,
                  mask: str | None = None, decoder: str = "feedforward", steps: int = 200, seed: int = 0,
                  batch_size: int = 1, overwrite: bool = False, progress: bool = True, video: bool = False,
                  video_blend: float = 0.5, regions: Sequence[str] | None = None, bucket: int | None = None,
                  workers: int = 2, cache_mb: int = 2048) -> tuple[int, int, int]:
    """Stylize files into ``out_dir``; returns ``(written, skipped, failed)``.

    ``batch_size`` contents per device run as one program (contents padded to ``bucket``-multiples share programs;
    default: the Stylizer's). ``workers``: threads that read images ahead and write outputs.
    ``style_weights`` or ``mask`` combine all styles into one output per content (interpolation / spatial
    control). Video files among the contents (:data:`jaxstyle.data.video.VIDEO_SUFFIXES`) are stylized in video
    mode (:mod:`jaxstyle.video`; ``video_blend``: its temporal blending) into ``<content>__<style>.mp4`` (same frame
    rate and size, frames streamed); ``video``: the image contents are the frames of one video (in name order),
    stylized in video mode into one image each. Errors per job are logged as one line; configuration errors raise
    ``ValueError``. ``regions``: two label images (content, style) whose equal grey
    levels mark corresponding regions (AdaAttN's user control), resized to each image.
    """
    from jaxstyle.api import stylize
    from jaxstyle.logs import Progress
    from jaxstyle.registry import get_method

    if method is not None:
        get_method(method)  # an unknown name: one error before any input is read
    for flag, value in (("--max_side", max_side), ("--style_size", style_size)):
        if value is not None and not (isinstance(value, int) and value >= 16):
            raise ValueError(f"{flag} {value}: must be a whole number of pixels, at least 16")
    combine = style_weights is not None or mask is not None
    jobs = plan(expand_inputs(contents, "content"), expand_inputs(styles, "style"), pathlib.Path(out_dir),
                pairs=pairs, combine=combine)
    if style_weights is not None and len(style_weights) != len(jobs[0].styles):
        raise ValueError(f"--style_weights has {len(style_weights)} values for {len(jobs[0].styles)} styles")
    clips = [j for j in jobs if is_video(j.content)]
    if (video or clips) and (combine or regions is not None or decoder != "feedforward"):
        raise ValueError("videos take one style per output and the feedforward decoder (no --style_weights, --mask, "
                         "--regions or --decoder optimize)")
    if video and (clips or len({j.styles for j in jobs}) != 1):
        raise ValueError("--video takes one --style and the frames of one video as images (a video file needs no "
                         "--video)")
    region_imgs = None
    if regions is not None:
        if combine or len(regions) != 2:
            raise ValueError("--regions takes two label images, CONTENT_LABELS,STYLE_LABELS (and one style per output)")
        region_imgs = [np.round(load_image(r).mean(-1) * 255).astype(np.int32) for r in regions]
    mask_img = None
    if mask is not None:
        mask_img = load_image(mask).mean(-1)  # grey levels in [0, 1]: 1 → the first style
    ensure_writable_dir(out_dir, "--out")  # a file in the way or no permission: now, not after the first image
    existing = [] if overwrite else [str(j.out) for j in jobs if j.out.exists()]
    if existing:
        logging.info("skipping %d outputs that exist (--overwrite replaces them): %s", len(existing), listed(existing))
    if not (combine or regions is not None or decoder != "feedforward"):
        from jaxstyle.stylizer import DEFAULT_BUCKET, Stylizer

        stylizer = Stylizer(method, checkpoint, alpha=alpha, k=k, sample_tau=sample_tau, sample_seed=seed,
                            fold_size=fold_size, preserve_color=preserve_color, seed=seed, batch_size=batch_size,
                            bucket=DEFAULT_BUCKET if bucket is None else bucket, cache_mb=cache_mb)
        counts = np.zeros(3, int)
        if video:
            return tuple(_run_frames(stylizer, jobs, max_side=max_side, style_size=style_size, overwrite=overwrite,
                                     progress=progress, blend=video_blend))
        for job in process_share(clips):
            counts += _run_clip(stylizer, job, max_side=max_side, style_size=style_size, overwrite=overwrite,
                                blend=video_blend)
        images = [j for j in jobs if not is_video(j.content)]
        if images:
            counts += _run_stylizer(stylizer, images, max_side=max_side, style_size=style_size, overwrite=overwrite,
                                    progress=progress, workers=workers)
        return tuple(int(n) for n in counts)
    remove_leftovers(jobs)
    jobs.sort(key=lambda job: job.styles)  # style-major (stable): same-style, same-size contents batch together
    counts = {"written": 0, "skipped": 0, "failed": 0}
    bar = Progress(len(jobs), enabled=progress, unit="image")
    style_cache: dict[pathlib.Path, np.ndarray] = {}
    pending: list[tuple[Job, np.ndarray]] = []

    def fail(job: Job, e: Exception) -> None:
        counts["failed"] += 1
        logging.error("%s", _error_line(e, str(job.content), (job.content, *job.styles)))

    def run(group: list[tuple[Job, np.ndarray]]) -> None:
        ss = [style_cache[sp] for sp in group[0][0].styles]
        c = np.stack([img for _, img in group])
        m = None if mask_img is None else _resize_mask(mask_img, c.shape[1:3])
        try:
            reg = None if region_imgs is None else (_resize_mask(region_imgs[0], c.shape[1:3]),
                                                    _resize_mask(region_imgs[1], ss[0].shape[:2]))
            outs = stylize(c, ss if combine else ss[0], method=method, checkpoint=checkpoint, alpha=alpha, k=k,
                           sample_tau=sample_tau, sample_seed=seed, fold_size=fold_size, style_weights=style_weights,
                           mask=m,
                           preserve_color=preserve_color, decoder=decoder,
                           steps=steps, seed=seed, regions=reg)
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


def _error_line(e: Exception, where: str, named: Sequence = ()) -> str:
    """``<where>: <e>``, without ``where`` when the message already names it (or one of ``named``)."""
    said = any(str(p) in str(e) for p in (where, *named) if str(p))
    return f"{e}" if said or not where else f"{where}: {e}"


def process_share(items: list, index: int | None = None, count: int | None = None) -> list:
    """This process's share of ``items``: every ``count``-th from ``index`` (default: ``jax.process_index()`` of
    ``jax.process_count()``), so processes of a multi-host run never write the same output."""
    if index is None or count is None:
        import jax

        index, count = jax.process_index(), jax.process_count()
    return items[index::count]


def _run_stylizer(stylizer, jobs: list[Job], *, max_side: int | None, style_size: int | None, overwrite: bool,
                  progress: bool, workers: int) -> tuple[int, int, int]:
    """Stylize single-style ``jobs`` with ``stylizer``: contents in this process's share, read ahead on a thread
    pool, grouped by bucket into batches, each encoded once per style block; outputs cropped and written by the
    same pool while the devices run the next pair."""
    from jaxstyle.logs import Progress

    lock = threading.Lock()
    counts = {"written": 0, "skipped": 0, "failed": 0}
    todo: dict[pathlib.Path, list[Job]] = collections.defaultdict(list)
    for job in jobs:
        if job.out.exists() and not overwrite:
            counts["skipped"] += 1
        else:
            todo[job.content].append(job)
    contents = process_share(list(todo))
    remove_leftovers([j for c in contents for j in todo[c]])
    total = counts["skipped"] + sum(len(todo[c]) for c in contents)
    bar = Progress(total, enabled=progress, unit="image")

    def fail(n: int, e: Exception, where: str = "") -> None:
        with lock:
            counts["failed"] += n
        logging.error("%s", _error_line(e, where))

    def tick() -> None:
        with lock:
            bar.update(sum(counts.values()))

    pool = concurrent.futures.ThreadPoolExecutor(max(1, int(workers)))
    style_paths = list(dict.fromkeys(j.styles[0] for c in contents for j in todo[c]))
    style_futs = {sp: pool.submit(load_image, sp, max_side=style_size, min_side=16) for sp in style_paths}
    bad_styles: set[pathlib.Path] = set()
    for sp in style_paths:
        try:
            stylizer.add_style(style_futs[sp].result(), key=sp)
        except USER_ERRORS as e:
            bad_styles.add(sp)
            fail(sum(j.styles[0] == sp for c in contents for j in todo[c]), e)
    good = [sp for sp in style_paths if sp not in bad_styles]
    per_block = max(1, (stylizer.cache_bytes // max(1, stylizer.style_bytes(good[0])))) if good else 1
    writes: list[concurrent.futures.Future] = []

    def write(enc, out, batch_jobs: list[dict[pathlib.Path, Job]], sp: pathlib.Path) -> None:
        try:
            images = stylizer.crop(enc, out)
        except USER_ERRORS as e:
            return fail(sum(sp in b for b in batch_jobs), e, f"style {sp}")
        for img, by_style in zip(images, batch_jobs):
            job = by_style.get(sp)
            if job is None:  # this content's output for sp exists already
                continue
            try:
                save_image(job.out, img, overwrite=overwrite)
                with lock:
                    counts["written"] += 1
            except USER_ERRORS as e:
                fail(1, e)
        tick()

    def run_batch(batch: list[tuple[pathlib.Path, tuple]], block: list[pathlib.Path]) -> None:
        by_style = [{j.styles[0]: j for j in todo[c]} for c, _ in batch]
        names = ", ".join(str(c) for c, _ in batch)
        try:
            enc = stylizer.encode([img for _, (img, _) in batch], padded=[p for _, (_, p) in batch])
        except USER_ERRORS as e:
            if len(batch) > 1:  # find out which content it was; the others still run
                for item in batch:
                    run_batch([item], block)
                return
            return fail(sum(len([sp for sp in block if sp in b]) for b in by_style), e, names)
        for sp in block:
            n = sum(sp in b for b in by_style)  # contents of this batch that still need this style
            if not n:
                continue
            try:
                out = stylizer.apply(enc, sp)
            except USER_ERRORS as e:
                if len(batch) > 1:
                    for item in batch:
                        run_batch([item], [sp])
                else:
                    fail(n, e, f"{names} with style {sp}")
                continue
            writes.append(pool.submit(write, enc, out, by_style, sp))

    def load(c: pathlib.Path):
        img = load_image(c, max_side=max_side, min_side=16)
        return img, stylizer.pad_image(img)

    for b0 in range(0, len(good), per_block):
        block = good[b0: b0 + per_block]
        mine = [c for c in contents if any(j.styles[0] in block for j in todo[c])]
        ahead = 2 * stylizer.batch + 2
        futs = collections.deque()
        pending: dict[tuple, list] = collections.defaultdict(list)
        it = iter(mine)
        for c in it:
            futs.append((c, pool.submit(load, c)))
            if len(futs) >= ahead:
                break
        while futs:
            c, fut = futs.popleft()
            nxt = next(it, None)
            if nxt is not None:
                futs.append((nxt, pool.submit(load, nxt)))
            try:
                item = fut.result()
            except USER_ERRORS as e:
                fail(sum(j.styles[0] in block for j in todo[c]), e)
                continue
            group = pending[item[1][0].shape]
            group.append((c, item))
            if len(group) == stylizer.batch:
                run_batch(group, block)
                group.clear()
        for group in pending.values():
            if group:
                run_batch(group, block)
        for w in writes:
            w.result()
        writes.clear()
    pool.shutdown()
    bar.close()
    return counts["written"], counts["skipped"], counts["failed"]


def _frames_for(stylizer, job: Job, frames, *, max_side: int | None, style_size: int | None, blend: float):
    """Stylize ``frames`` (an iterable of ``[H, W, 3]``) of one video with ``job``'s style in video mode: yields the
    outputs at each frame's own size (a frame above ``max_side`` is stylized downscaled, then scaled back)."""
    key = stylizer.add_style(load_image(job.styles[0], max_side=style_size, min_side=16), key=job.styles[0])
    v = stylizer.video(key, blend=blend)
    for frame in frames:
        h, w = frame.shape[:2]
        sw, sh = downscaled_size(w, h, max_side)
        yield resize_image(v(resize_image(frame, (sh, sw))), (h, w))


def _run_clip(stylizer, job: Job, *, max_side: int | None, style_size: int | None, overwrite: bool,
              blend: float) -> tuple[int, int, int]:
    """Stylize the video file ``job.content`` into ``job.out`` (same frame rate and size); frames are decoded
    ahead on a thread and encoded as they come (memory: a few frames). The progress line (frames/s, ETA) is always
    shown: a video takes minutes. Returns ``(written, skipped, failed)``."""
    import queue

    from jaxstyle.data.video import VideoWriter, read_video
    from jaxstyle.logs import Progress

    if job.out.exists() and not overwrite:
        return 0, 1, 0
    remove_leftovers([job])
    t0 = time.perf_counter()
    try:
        info, frames = read_video(job.content)
        ahead: queue.Queue = queue.Queue(maxsize=4)
        done = object()

        def decode() -> None:
            try:
                for f in frames:
                    ahead.put(f)
                ahead.put(done)
            except BaseException as e:  # handed to the main thread
                ahead.put(e)

        threading.Thread(target=decode, daemon=True).start()

        def stream():
            while (item := ahead.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item

        bar = Progress(info.frames, enabled=True, unit="frame")
        with VideoWriter(job.out, info.fps, (info.height, info.width), overwrite=overwrite) as writer:
            for out in _frames_for(stylizer, job, stream(), max_side=max_side, style_size=style_size, blend=blend):
                writer.write(out)
                bar.update(writer.frames)
        bar.close()
    except USER_ERRORS as e:
        logging.error("%s", _error_line(e, str(job.content), (job.content, *job.styles)))
        return 0, 0, 1
    dt = time.perf_counter() - t0
    logging.info("%s: %d frames at %s fps, %dx%d, in %.1f s (%.2f frames/s) -> %s", job.content, writer.frames,
                 f"{float(info.fps):.3g}", info.width, info.height, dt, writer.frames / dt, job.out)
    return 1, 0, 0


def _run_frames(stylizer, jobs: list[Job], *, max_side: int | None, style_size: int | None, overwrite: bool,
                progress: bool, blend: float) -> tuple[int, int, int]:
    """``--video`` on image files: ``jobs``' contents are one video's frames in name order (every frame runs, so the
    temporal state is right; an existing output is kept unless ``overwrite``)."""
    from jaxstyle.logs import Progress

    jobs = sorted(jobs, key=lambda j: str(j.content))
    remove_leftovers(jobs)
    counts = [0, 0, 0]
    bar = Progress(len(jobs), enabled=progress, unit="frame")

    def frames():
        for job in jobs:
            yield load_image(job.content, max_side=None, min_side=16)

    try:
        for i, (job, out) in enumerate(zip(jobs, _frames_for(stylizer, jobs[0], frames(), max_side=max_side,
                                                            style_size=style_size, blend=blend))):
            if job.out.exists() and not overwrite:
                counts[1] += 1
            else:
                save_image(job.out, out, overwrite=overwrite)
                counts[0] += 1
            bar.update(i + 1)
    except USER_ERRORS as e:  # a frame that cannot be read or a size change ends the video
        logging.error("%s", _error_line(e, "--video"))
        counts[2] += len(jobs) - counts[0] - counts[1]
    bar.close()
    return counts[0], counts[1], counts[2]


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``[h, w]`` to ``shape`` (masks are usually drawn at the photo's full size)."""
    h, w = shape
    ys = (np.arange(h) * mask.shape[0] / h).astype(int)
    xs = (np.arange(w) * mask.shape[1] / w).astype(int)
    return mask[ys][:, xs]


def main(contents: Sequence[str], styles: Sequence[str], out_dir: str, **kwargs) -> int:
    """CLI body: returns the exit status (0 ok, 1 if anything failed), with one ``error:`` line per failure and a
    summary line (counts, seconds, XLA compiles and the seconds spent on them), logged through absl
    (:func:`jaxstyle.logs.setup`)."""
    from jaxstyle import logs, runtime

    logs.setup()
    t0 = time.perf_counter()
    c0 = runtime.compile_stats()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            written, skipped, failed = stylize_files(contents, styles, out_dir, **kwargs)
        except USER_ERRORS as e:
            logging.error("%s", e)
            return 1
        finally:
            for w in {str(w.message) for w in caught}:
                logging.warning("%s", w)
    cs = runtime.compile_stats()
    logging.info("%d written, %d skipped (exist; --overwrite replaces), %d failed in %.1f s -> %s (%d compiles, %d of "
                 "them from the cache, %.1f s)", written, skipped, failed, time.perf_counter() - t0, out_dir,
                 cs["compiles"] - c0["compiles"], cs["cache_hits"] - c0["cache_hits"], cs["seconds"] - c0["seconds"])
    return 1 if failed else 0


if __name__ == "__main__":  # python -m jaxstyle.infer: the `jaxstyle stylize` command
    from jaxstyle.cli.stylize import main as _main

    sys.exit(_main(prog="python -m jaxstyle.infer"))
