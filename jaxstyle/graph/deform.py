"""Deformable scales: per-style-location scale predictor and the multi-scale style maps (spec §4)."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxstyle.nn.blocks import ReflectConv


def scale_maps(style_feat: jax.Array, scales: Sequence[int]) -> jax.Array:
    """``A_σ``: each location's mean over a σ×σ block (stride 1, reflection padding), for every σ.

    Sampling ``A_σ`` at p×p taps σ apart (``feat2patch(..., dilation=σ)``) is an exact area down-sample of the
    (pσ)×(pσ) window centred at the node for odd σ; even σ shift by half a feature pixel.

    Args:
      style_feat: ``[B, hs, ws, C]``.
      scales: positive integers, e.g. ``(1, 2, 3)``.

    Returns:
      ``[B, S, hs, ws, C]`` (``A_1`` is ``style_feat`` itself).
    """
    maps = []
    for s in scales:
        if s == 1:
            maps.append(style_feat)
            continue
        lo, hi = (s - 1) // 2, s // 2
        x = jnp.pad(style_feat, ((0, 0), (lo, hi), (lo, hi), (0, 0)), mode="reflect")
        maps.append(jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, s, s, 1), (1, 1, 1, 1), "VALID") / (s * s))
    return jnp.stack(maps, axis=1)


def mixed_style_nodes(style_feat: jax.Array, scale_probs: jax.Array, scales: Sequence[int],
                      patch_size: int) -> jax.Array:
    """Scale-mixed node vectors ``x_j = Σ_σ π_jσ · X_s^(σ)[j]`` (spec §4.3).

    Args:
      style_feat: ``[B, hs, ws, C]``; scale_probs: ``[B, hs, ws, S]`` (or ``[B, hs·ws, S]``).

    Returns:
      ``[B, hs·ws, p²·C]`` (position-major, like ``feat2patch``).
    """
    from jaxstyle.ops.patches import feat2patch

    b = style_feat.shape[0]
    maps = scale_maps(style_feat, scales)
    probs = scale_probs.reshape(b, -1, len(scales))
    return sum(probs[..., si, None] * feat2patch(maps[:, si], patch_size, dilation=s) for si, s in enumerate(scales))


def mix_probs(logits: jax.Array, *, mode: str = "soft", tau: float = 1.0, key: jax.Array | None = None) -> jax.Array:
    """Scale probabilities ``π`` from logits ``[..., S]``.

    ``"soft"``: ``softmax(logits / τ)``. ``"gumbel_st"``: with ``key`` (training), Gumbel noise and a straight-through
    one-hot (forward: argmax, backward: the softmax gradient); without ``key`` (inference), the argmax one-hot.
    """
    if mode == "soft":
        return jax.nn.softmax(logits / tau, axis=-1)
    if mode != "gumbel_st":
        raise ValueError(f"scale_mode={mode!r}: use 'soft' or 'gumbel_st'")
    if key is not None:
        logits = logits + jax.random.gumbel(key, logits.shape, logits.dtype)
    soft = jax.nn.softmax(logits / tau, axis=-1)
    hard = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=soft.dtype)
    return hard + soft - jax.lax.stop_gradient(soft) if key is not None else hard


class ScalePredictor(nnx.Module):
    """Per-style-location scale logits: ``[F_s ‖ mean(F_c)]`` → conv3×3 → ReLU → conv3×3 → ReLU → 1×1 → ``S``.

    ``[B, hs, ws, C]`` (style) and ``[B, h, w, C]`` (content) → ``[B, hs, ws, S]``. The last layer starts with bias
    ``[b, 0, …]`` and tiny weights (``N(0, head_std²)``), so an untrained model prefers σ = 1 (plain patches) while
    gradients still reach the conv layers from the first step (exactly zero weights would block them).
    """

    def __init__(self, channels: int, num_scales: int, hidden: Sequence[int] = (256, 128), *, init_bias: float = 2.0,
                 head_std: float = 1e-3, rngs: nnx.Rngs):
        self.conv1 = ReflectConv(2 * channels, hidden[0], rngs=rngs)
        self.conv2 = ReflectConv(hidden[0], hidden[1], rngs=rngs)
        self.head_w = nnx.Param(head_std * jax.random.normal(rngs.params(), (hidden[1], num_scales)))
        self.head_b = nnx.Param(jnp.zeros((num_scales,), jnp.float32).at[0].set(init_bias))

    def __call__(self, style_feat: jax.Array, content_feat: jax.Array) -> jax.Array:
        g = jnp.mean(content_feat, axis=(1, 2), keepdims=True)
        x = jnp.concatenate([style_feat, jnp.broadcast_to(g, style_feat.shape)], axis=-1)
        x = jax.nn.relu(self.conv2(jax.nn.relu(self.conv1(x))))
        return x @ self.head_w[...] + self.head_b[...]
