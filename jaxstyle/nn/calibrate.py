"""Measure each VGG-19 ReLU channel's mean activation on photos (Gatys et al.'s feature normalisation) and store
the means in a weight file: ``python -m jaxstyle.weights calibrate PHOTO_DIR --weights FILE``."""

from __future__ import annotations

import os
import pathlib
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.data.images import ImageError, load_image
from jaxstyle.nn.vgg import RELU_LAYERS, load_vgg19
from jaxstyle.weights.store import WeightsError, load_vgg_npz, save_vgg_npz

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def channel_means(weights: str | os.PathLike, images: Iterable[str | os.PathLike], *,
                  size: int = 224) -> dict[str, np.ndarray]:
    """``{"<conv>/channel_mean": [Cout]}``: mean ReLU output per channel over centre crops of ``images``.

    Args:
      weights: a jaxstyle VGG-19 ``.npz`` (its stored means, if any, are ignored).
      images: photo paths; unreadable ones are skipped.
      size: images are resized (shorter side) and centre-cropped to ``size``×``size``.
    """
    vgg = load_vgg19(weights, normalize=False)
    stats = jax.jit(lambda x: {k: jnp.mean(v, axis=(0, 1, 2)) for k, v in vgg(x, RELU_LAYERS).items()})
    total, n = None, 0
    for path in images:
        try:
            img = load_image(path)
        except ImageError:
            continue
        scale = size / min(img.shape[:2])
        h, w = max(size, round(img.shape[0] * scale)), max(size, round(img.shape[1] * scale))
        img = np.asarray(jax.image.resize(jnp.asarray(img), (h, w, 3), "linear", antialias=True))
        top, left = (h - size) // 2, (w - size) // 2
        m = stats(jnp.asarray(img[None, top:top + size, left:left + size]))
        total = m if total is None else jax.tree.map(jnp.add, total, m)
        n += 1
    if n == 0:
        raise WeightsError("calibration found no readable images")
    return {f"{k.replace('relu', 'conv')}/channel_mean": np.maximum(np.asarray(v) / n, 1e-6)
            for k, v in total.items()}


def calibrate(weights: str | os.PathLike, image_dir: str | os.PathLike, *, size: int = 224,
              limit: int | None = None) -> pathlib.Path:
    """Store channel means measured on the photos in ``image_dir`` into the weight file (in place, atomically)."""
    image_dir = pathlib.Path(image_dir)
    if not image_dir.is_dir():
        raise WeightsError(f"{image_dir}: not a directory of photos")
    paths = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTS)[:limit]
    arrays, meta = load_vgg_npz(weights)
    arrays.update(channel_means(weights, paths, size=size))
    meta["calibration"] = f"mean ReLU activation per channel over {len(paths)} photos from {image_dir.name}/, " \
                          f"centre {size}x{size} crops, reflection padding"
    return save_vgg_npz(weights, arrays, meta, overwrite=True)


