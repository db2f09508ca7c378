"""Perceptual losses (pure functions over VGG features, NHWC, reduced in float32)."""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp

from jaxstyle.ops.color import luminance
from jaxstyle.ops.norms import mean_std


def mse(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean squared error over all elements (float32 scalar)."""
    return jnp.mean(jnp.square(a.astype(jnp.float32) - b.astype(jnp.float32)))


def content_loss(feat: jax.Array, target: jax.Array) -> jax.Array:
    """``MSE(φ(I_cs), t)``: ``feat`` and ``target`` are ``[B, h, w, C]``."""
    return mse(feat, target)


def style_stats_loss(out_feats: Mapping[str, jax.Array], style_feats: Mapping[str, jax.Array],
                     layers: Sequence[str]) -> jax.Array:
    """``Σ_l MSE(μ_l(out), μ_l(style)) + MSE(σ_l(out), σ_l(style))`` with equal layer weights.

    Args:
      out_feats, style_feats: ``{layer: [B, h_l, w_l, C_l]}`` (spatial sizes may differ between the two).
      layers: the layers to sum over, e.g. ``("relu1_1", "relu2_1", "relu3_1", "relu4_1")``.
    """
    total = jnp.zeros((), jnp.float32)
    for layer in layers:
        om, os_ = mean_std(out_feats[layer])
        sm, ss = mean_std(style_feats[layer])
        total = total + mse(om, sm) + mse(os_, ss)
    return total


def total_variation(img: jax.Array) -> jax.Array:
    """Mean squared difference between vertical and horizontal neighbours of ``img [B, H, W, 3]`` (float32 scalar):
    penalises the pixel-scale checker texture a decoder's upsampling leaves."""
    x = img.astype(jnp.float32)
    return jnp.mean(jnp.square(x[:, 1:] - x[:, :-1])) + jnp.mean(jnp.square(x[:, :, 1:] - x[:, :, :-1]))


def grid_energy(img: jax.Array, period: int = 8) -> tuple[jax.Array, jax.Array]:
    """The part of ``img [B, H, W, 3]``'s fine detail that repeats with a ``period``-pixel grid → ``(phase, power)``,
    each ``[B]``: the grey high-pass (pixel minus its 3×3 mean, less its mean over the image: a curved smooth image
    has a constant high-pass, which is no grid) averaged over all ``period × period`` blocks at each phase,
    ``phase`` that pattern's mean square, ``power`` the high-pass's. Patterns repeating every 2, 4 or
    ``period`` px (×2 upsamplings, VGG's pooling grid) keep their full power in ``phase``; unrelated detail leaves
    only chance, ``power / blocks``. ``phase`` is the loss term against the pattern: it stays ≥ 0, so it cannot be
    lowered by adding noise, as it could with the chance level subtracted (``H, W ≥ period + 2``)."""
    grey = luminance(img)
    h, w = grey.shape[1:]
    box = sum(grey[:, dy:h - 2 + dy, dx:w - 2 + dx] for dy in range(3) for dx in range(3)) / 9.0
    hp = grey[:, 1:h - 1, 1:w - 1] - box
    nh, nw = (h - 2) // period, (w - 2) // period
    blocks = hp[:, :nh * period, :nw * period].reshape(-1, nh, period, nw, period)
    blocks = blocks - jnp.mean(blocks, axis=(1, 2, 3, 4), keepdims=True)
    power = jnp.mean(blocks ** 2, axis=(1, 2, 3, 4))
    return jnp.mean(blocks.mean(axis=(1, 3)) ** 2, axis=(1, 2)), power


def prior_weights(model_cfg) -> dict[str, float]:
    """A model config's ``tv_weight`` and ``grid_weight``: the keyword arguments of :func:`image_priors` (every
    method's config has both; 0 leaves a term out)."""
    return {"tv_weight": float(model_cfg.tv_weight), "grid_weight": float(model_cfg.grid_weight)}


def image_priors(out: jax.Array, *, tv_weight: float = 0.0, grid_weight: float = 0.0,
                 ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Pixel regularisers of a decoder's output ``out [B, H, W, 3]`` against its checker texture →
    ``(λ_tv·total_variation + λ_grid·mean grid_energy phase, {"loss_tv", "loss_grid"})`` (terms with weight 0 are
    left out; float32 scalars)."""
    total, aux = jnp.zeros((), jnp.float32), {}
    if tv_weight:
        aux["loss_tv"] = total_variation(out)
        total = total + tv_weight * aux["loss_tv"]
    if grid_weight:
        aux["loss_grid"] = jnp.mean(grid_energy(out)[0])
        total = total + grid_weight * aux["loss_grid"]
    return total, aux
