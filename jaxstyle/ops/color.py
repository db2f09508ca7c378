"""Colour helpers: luminance-only style transfer (keep the content's colours)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# NTSC YIQ (Gatys et al. 2016, "Preserving color in neural artistic style transfer": luminance-only transfer).
# NumPy constants: building a jax.Array at import would start the XLA backend (before jax.distributed.initialize).
_RGB2YIQ = np.array([[0.299, 0.587, 0.114],
                     [0.595716, -0.274453, -0.321263],
                     [0.211456, -0.522591, 0.311135]], np.float32)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ).astype(np.float32)


def luminance(x: jax.Array) -> jax.Array:
    """``[..., 3]`` RGB → ``[...]`` float32 luma (YIQ's Y)."""
    return x.astype(jnp.float32) @ _RGB2YIQ[0]


def rgb_to_yiq(x: jax.Array) -> jax.Array:
    """``[..., 3]`` RGB → YIQ."""
    return x @ _RGB2YIQ.T


def yiq_to_rgb(x: jax.Array) -> jax.Array:
    """``[..., 3]`` YIQ → RGB (exact inverse of :func:`rgb_to_yiq`)."""
    return x @ _YIQ2RGB.T


def preserve_color(stylized: jax.Array, content: jax.Array) -> jax.Array:
    """The stylized image's luminance with the content's chrominance: ``[..., H, W, 3]`` in [0, 1] → same."""
    y = rgb_to_yiq(stylized)[..., :1]
    iq = rgb_to_yiq(content)[..., 1:]
    return jnp.clip(yiq_to_rgb(jnp.concatenate([y, iq], axis=-1)), 0.0, 1.0)
