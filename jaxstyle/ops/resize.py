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
