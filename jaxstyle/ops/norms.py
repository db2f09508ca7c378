"""Feature statistics and AdaIN (pure functions, NHWC)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-5


def mean_std(x: jax.Array, eps: float = EPS) -> tuple[jax.Array, jax.Array]:
    """Per-sample, per-channel spatial mean and standard deviation.

    As the AdaIN reference code: unbiased variance (``ddof=1``) plus ``eps`` under the square root, in float32.

    Args:
      x: ``[B, H, W, C]`` with ``H * W >= 2``.

    Returns:
      ``(mean, std)``, each ``[B, 1, 1, C]`` float32.
    """
    if x.ndim != 4:
        raise ValueError(f"mean_std expects [B, H, W, C], got shape {tuple(x.shape)}")
    if x.shape[1] * x.shape[2] < 2:
        raise ValueError(f"mean_std needs at least 2 spatial positions, got {x.shape[1]}x{x.shape[2]}")
    x = x.astype(jnp.float32)
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.var(x, axis=(1, 2), keepdims=True, ddof=1)
    return mean, jnp.sqrt(var + eps)


def mvn(x: jax.Array, eps: float = EPS) -> jax.Array:
    """Per-sample, per-channel mean/variance normalisation of ``[B, H, W, C]`` (instance norm, no affine)."""
    m, s = mean_std(x, eps)
    return (x - m) / s


def adain(content: jax.Array, style: jax.Array, eps: float = EPS) -> jax.Array:
    """Adaptive instance normalisation: ``σ(s) · (c − μ(c)) / σ(c) + μ(s)``.

    Args:
      content: ``[B, H, W, C]`` content features.
      style: ``[B, Hs, Ws, C]`` style features (any spatial size; ``B`` must match or be 1).

    Returns:
      ``[B, H, W, C]`` float32: the content features with the style's channel statistics.
    """
    if content.shape[-1] != style.shape[-1]:
        raise ValueError(f"adain: channel mismatch, content {content.shape[-1]} vs style {style.shape[-1]}")
    c_mean, c_std = mean_std(content, eps)
    s_mean, s_std = mean_std(style, eps)
    return (content.astype(jnp.float32) - c_mean) / c_std * s_std + s_mean


def valid_mask(valid: jax.Array, size: tuple[int, int], stride: int) -> jax.Array:
    """Positions of a padded feature grid that lie inside each image: ``valid`` ``[B, 2]`` int (height, width in image
    px) → ``[B, h, w, 1]`` float32 (1 inside, 0 in the padding) for a grid of ``size`` at ``stride`` px per position
    (a position counts when it starts inside the image, ``ceil(valid / stride)`` per side)."""
    h, w = size
    hv = -(-valid[:, 0] // stride)
    wv = -(-valid[:, 1] // stride)
    inside = (jnp.arange(h)[None, :, None] < hv[:, None, None]) & (jnp.arange(w)[None, None, :] < wv[:, None, None])
    return inside[..., None].astype(jnp.float32)


def masked_mean_std(x: jax.Array, mask: jax.Array | None, eps: float = EPS) -> tuple[jax.Array, jax.Array]:
    """:func:`mean_std` over the positions where ``mask`` (``[B, H, W, 1]``, 0/1) is 1; ``None``: all positions."""
    if mask is None:
        return mean_std(x, eps)
    x = x.astype(jnp.float32)
    n = jnp.sum(mask, axis=(1, 2), keepdims=True)
    mean = jnp.sum(x * mask, axis=(1, 2), keepdims=True) / n
    var = jnp.sum(jnp.square((x - mean) * mask), axis=(1, 2), keepdims=True) / (n - 1)
    return mean, jnp.sqrt(var + eps)


def masked_mvn(x: jax.Array, mask: jax.Array | None, eps: float = EPS) -> jax.Array:
    """:func:`mvn` with the statistics taken where ``mask`` is 1 (see :func:`masked_mean_std`)."""
    m, s = masked_mean_std(x, mask, eps)
    return (x - m) / s
