"""Perceptual losses (pure functions over VGG features, NHWC, reduced in float32)."""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp

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
