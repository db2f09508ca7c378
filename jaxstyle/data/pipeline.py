"""The training input pipeline (grain): unpaired content × style crops, deterministic for a seed.

Each element loads one content image (the shuffled, repeated content list) and draws a style image with the
element's own RNG, so pairing, crops and flips depend only on ``(seed, element index)``: the pipeline is
reproducible and its iterator state (an index) is checkpointed with the model.

Sources are either image folders (searched recursively) or TFDS ArrayRecord datasets prepared by
:mod:`jaxstyle.data.tfds_source`; both yield "items" that :func:`_load_item` turns into float32 RGB arrays.
Unreadable items are skipped (another item is drawn with the same RNG), logged once, and counted in the batch's
``skipped`` field, so a corrupt file never stops a run.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Callable, Sequence

import grain
import numpy as np
from absl import logging

from jaxstyle.data.images import IMAGE_SUFFIXES, ImageError, decode_image, image_files, load_image

MAX_RETRIES = 16


class DataError(ValueError):
    """A data source is missing, empty or misconfigured (message names the directory/dataset and the fix)."""


def list_images(dirs: Sequence[str | os.PathLike], *, what: str) -> list[str]:
    """Every image file under ``dirs`` (recursive, sorted, by suffix).

    Raises:
      DataError: a directory is missing or holds no images.
    """
    if isinstance(dirs, (str, os.PathLike)):
        dirs = (dirs,)
    if not dirs:
        example = "photos" if what == "content" else "paintings"
        raise DataError(f"config.data.{what}_dirs is not set: name the {what} image folders, e.g. "
                        f"--config.data.{what}_dirs=\"('my/{example}',)\"")
    out: list[str] = []
    for d in dirs:
        p = pathlib.Path(d).expanduser()
        if not p.is_dir():
            raise DataError(f"{what} directory {str(d)!r} does not exist (set config.data.{what}_dirs)")
        found = [str(f) for f in image_files(p, recursive=True)]
        if not found:
            raise DataError(f"{what} directory {str(d)!r} contains no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
        out += found
    return out


@dataclasses.dataclass(frozen=True)
class Source:
    """A random-access list of items: file paths, or a TFDS data source whose records hold image bytes."""

    name: str
    items: Any  # Sequence[str] | tfds data source (len + __getitem__)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int, *, shorter_side: int | None, max_pixels: int | None) -> np.ndarray:
        item = self.items[index]
        if isinstance(item, str):
            return load_image(item, shorter_side=shorter_side, max_pixels=max_pixels)
        return decode_image(item["image"], name=f"{self.name}[{index}]", shorter_side=shorter_side,
                            max_pixels=max_pixels)


def make_sources(data_cfg) -> tuple[Source, Source]:
    """``(content, style)`` sources from ``config.data``."""
    if data_cfg.source == "folders":
        return (Source("content", list_images(data_cfg.content_dirs, what="content")),
                Source("style", list_images(data_cfg.style_dirs, what="style")))
    if data_cfg.source == "tfds":
        from jaxstyle.data import tfds_source  # optional dependency, imported only when asked for

        return (Source(data_cfg.tfds_content, tfds_source.data_source(
                    data_cfg.tfds_content, data_cfg.tfds_split, data_dir=data_cfg.tfds_data_dir or None)),
                Source(data_cfg.tfds_style, tfds_source.data_source(
                    data_cfg.tfds_style, data_cfg.tfds_split, data_dir=data_cfg.tfds_data_dir or None)))
    raise DataError(f"config.data.source={data_cfg.source!r}: use 'folders' or 'tfds'")


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator, *, flip: bool) -> np.ndarray:
    """A random ``[size, size, 3]`` crop of ``[H, W, 3]`` (H, W ≥ size), optionally flipped left-right."""
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ImageError("<crop>", f"image {w}x{h} is smaller than the {size}px crop")
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    out = img[y:y + size, x:x + size]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


class _PairLoader:
    """``(content index, rng) → {"content", "style", "skipped"}``; picklable for grain worker processes."""

    def __init__(self, content: Source, style: Source, data_cfg):
        self.content, self.style = content, style
        self.shorter = int(data_cfg.resize_to) or None
        self.crop = int(data_cfg.crop_size)
        self.flip = bool(data_cfg.flip)
        self.max_pixels = int(data_cfg.max_image_pixels) or None
        self._warned: set[str] = set()

    def _crop_of(self, source: Source, index: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        skipped = 0
        for _ in range(MAX_RETRIES):
            try:
                img = source.load(index, shorter_side=self.shorter, max_pixels=self.max_pixels)
                return random_crop(img, self.crop, rng, flip=self.flip), skipped
            except ImageError as e:
                skipped += 1
                key = f"{source.name}:{index}"
                if key not in self._warned:
                    self._warned.add(key)
                    logging.warning("skipping unreadable %s image: %s", source.name, e)
                index = int(rng.integers(len(source)))
        raise DataError(f"{MAX_RETRIES} {source.name} images in a row were unreadable; check the data directory")

    def __call__(self, index: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        content, s1 = self._crop_of(self.content, int(index), rng)
        style, s2 = self._crop_of(self.style, int(rng.integers(len(self.style))), rng)
        return {"content": content, "style": style, "skipped": np.int32(s1 + s2)}


class _HostBlock:
    """Host element ``j`` → global element ``(j // b)·B + p·b + j % b``: process ``p``'s contiguous block of ``b``
    rows in every global batch of ``B = b·P`` rows."""

    def __init__(self, stream: grain.MapDataset, block: int, process_index: int, process_count: int):
        self.stream, self.block, self.p, self.n = stream, block, process_index, process_count

    def __call__(self, j: int) -> dict[str, np.ndarray]:
        j = int(j)
        return self.stream[(j // self.block) * self.block * self.n + self.p * self.block + j % self.block]


def training_pipeline(content: Source, style: Source, data_cfg, *, seed: int, process_index: int = 0,
                      process_count: int = 1, transfer: Callable[[dict], Any] | None = None) -> grain.IterDataset:
    """An infinite iterable of host batches ``{"content": [b, S, S, 3], "style": [b, S, S, 3], "skipped": [b]}``.

    One global stream defines every global batch of ``B = batch_size`` rows, whatever the number of processes:
    content order shuffled with ``seed``, and each element's style, crops and flips drawn from ``(seed + 1, its
    position in the stream)``. Process ``p`` of ``P`` loads only rows ``[p·b, (p+1)·b)`` of each global batch
    (``b = B / P``), so hosts see different contents, styles and crops, and a run's batches (and losses) are the
    same on 1 process with N devices as on P processes with N devices in all. ``S = crop_size``; float32 in [0, 1].
    ``workers > 0`` loads in grain worker processes.

    ``transfer`` (e.g. host batch → device arrays) maps every batch; with ``data_cfg.prefetch = n > 0`` a
    background thread runs it ``n`` batches ahead of the consumer, so loading and the host→device copy overlap the
    train step. The iterator's checkpointed state counts consumed batches only, so a resume is exact either way.
    """
    if data_cfg.batch_size % process_count:
        raise DataError(f"global batch {data_cfg.batch_size} is not divisible by {process_count} processes")
    block = data_cfg.batch_size // process_count
    ds = grain.MapDataset.range(len(content)).shuffle(seed=seed).repeat()
    ds = ds.random_map(_PairLoader(content, style, data_cfg), seed=seed + 1)
    if process_count > 1:
        ds = grain.MapDataset.range(len(ds) // process_count).map(_HostBlock(ds, block, process_index, process_count))
    it = ds.batch(block, drop_remainder=True).to_iter_dataset()
    if data_cfg.workers:
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=int(data_cfg.workers)))
    if transfer is not None:
        it = it.map(transfer)
    if int(data_cfg.get("prefetch", 0)) > 0:
        it = grain.experimental.ThreadPrefetchIterDataset(it, prefetch_buffer_size=int(data_cfg.prefetch))
    return it
