"""Run a fully convolutional function on a large map tile by tile, with a halo, and stitch the centres.

With a halo at least as wide as the function's receptive-field radius, the stitched result equals the untiled
result (up to float rounding): each tile sees the same neighbourhood the full map would give it, and tiles at the
map's border stop there, so the function's own reflection padding applies exactly as on the whole map. Peak memory is that of one tile.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np


def tiled_apply(fn: Callable[[jax.Array], jax.Array], x: jax.Array, *, tile: int, halo: int,
                scale: float) -> np.ndarray:
    """``fn`` over ``x [1, H, W, C]`` in ``tile×tile`` pieces with ``halo`` context on each side.

    Args:
      fn: ``[1, h, w, C] -> [1, h·scale, w·scale, C']``, translation-equivariant up to its receptive field
        (e.g. the VGG encoder, ``scale = 1/8``, or the decoder, ``scale = 8``). Pass a jitted function: it is
        called once per tile, with at most a few distinct piece shapes (corner, edge, interior).
      x: input map; H and W need not be multiples of ``tile``.
      tile, halo: in input pixels; for ``scale < 1`` both must be multiples of ``1/scale`` so tiles stay
        aligned with pooling.
      scale: output size / input size.

    Returns:
      ``[1, H·scale, W·scale, C']`` as a host ``np.ndarray`` (float32), the same numbers as ``fn(x)``.
    """
    _, h, w, _ = x.shape
    unit = int(round(1 / scale)) if scale < 1 else 1
    if tile % unit or halo % unit or h % unit or w % unit:
        raise ValueError(f"tile={tile}, halo={halo} and the {h}x{w} input must be multiples of {unit}")
    out = None
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            # Pieces stop at the map's border instead of padding it: there, fn's own per-layer reflection
            # padding then acts exactly as it does on the whole map.
            ya, yb = max(0, y0 - halo), min(h, y0 + tile + halo)
            xa, xb = max(0, x0 - halo), min(w, x0 + tile + halo)
            y = np.asarray(fn(x[:, ya:yb, xa:xb]))
            th, tw = min(tile, h - y0), min(tile, w - x0)
            oy, ox = int((y0 - ya) * scale), int((x0 - xa) * scale)
            core = y[:, oy:oy + int(th * scale), ox:ox + int(tw * scale)]
            if out is None:
                out = np.zeros((1, int(h * scale), int(w * scale), y.shape[-1]), np.float32)
            out[:, int(y0 * scale):int(y0 * scale) + core.shape[1], int(x0 * scale):int(x0 * scale) + core.shape[2]] = core
    return out
