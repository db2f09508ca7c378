"""Resizing ops (pure)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def upsample2x(x: jax.Array, method: str = "nearest") -> jax.Array:
    """``[B, H, W, C] -> [B, 2H, 2W, C]``; ``"nearest"`` equals PyTorch's ``Upsample(scale_factor=2)``."""
    if method == "nearest":
        return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, 2 * h, 2 * w, c), method=method, antialias=False)


def pad_to_multiple(x: jax.Array, multiple: int) -> tuple[jax.Array, tuple[int, int]]:
    """Reflect-pad ``[B, H, W, C]`` at the bottom/right so H and W are multiples of ``multiple``.

    Returns the padded array and the original ``(H, W)`` to crop the result back with ``y[:, :H, :W]``.
    Reflection needs each pad to be smaller than the side, which holds when ``H, W >= multiple``.
    """
    h, w = x.shape[1:3]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")
    return x, (h, w)


def resize_nearest(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """``[B, H, W, C] -> [B, h, w, C]`` by nearest neighbour, exactly as PyTorch's ``F.interpolate(x, (h, w))``:
    output index ``i`` reads input ``min(floor(i · (H / h)), H − 1)`` (scale in float32, as PyTorch computes it)."""
    import numpy as np

    def index(n_in: int, n_out: int) -> np.ndarray:
        scale = np.float32(n_in) / np.float32(n_out)
        return np.minimum(np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64), n_in - 1)

    h, w = size
    if (h, w) == tuple(x.shape[1:3]):
        return x
    return x[:, index(x.shape[1], h)][:, :, index(x.shape[2], w)]
