"""The evaluation protocol of ``shared/spec/baselines.md`` §6: content loss, style loss and SSIM (pure functions).

All images are ``[B, H, W, 3]`` float32 RGB in [0, 1]; features come from a frozen VGG-19 (``jaxstyle.load_vgg19``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxstyle.losses import grid_energy, mse, style_stats_loss
from jaxstyle.ops.color import luminance
from jaxstyle.ops.norms import mvn

CONTENT_LAYERS = ("relu4_1", "relu5_1")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DIVERSITY_LAYERS = ("relu3_1", "relu4_1")


def content_distance(vgg, out: jax.Array, content: jax.Array) -> jax.Array:
    """``mean_l MSE(mvn φ_l(out), mvn φ_l(content))`` over relu4_1 and relu5_1 (↓; 0 for the same image)."""
    fo, fc = vgg(out, CONTENT_LAYERS), vgg(content, CONTENT_LAYERS)
    return sum(mse(mvn(fo[l]), mvn(fc[l])) for l in CONTENT_LAYERS) / len(CONTENT_LAYERS)


def style_distance(vgg, out: jax.Array, style: jax.Array) -> jax.Array:
    """Mean/std MSE summed over relu1_1 … relu5_1 (↓); ``style`` may have another size than ``out``."""
    return style_stats_loss(vgg(out, STYLE_LAYERS), vgg(style, STYLE_LAYERS), STYLE_LAYERS)


def output_distance(vgg, a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """How different two stylizations of the same content are (↑ more diverse): ``(feature, pixel)`` batch means.

    ``feature``: ``mean_l |φ_l(a) − φ_l(b)|² / ½(|φ_l(a)|² + |φ_l(b)|²)`` over relu3_1 and relu4_1, per image (0 for
    equal images, 2 for orthogonal features; scale-free, so layers weigh alike); ``pixel``: mean ``|a − b|`` in
    [0, 1] units. E.g. two values of k against two different styles on the same content (issue: k's diversity).
    """
    fa, fb = vgg(a, DIVERSITY_LAYERS), vgg(b, DIVERSITY_LAYERS)

    def rel(x, y):
        axes = tuple(range(1, x.ndim))
        return jnp.sum((x - y) ** 2, axes) / (0.5 * (jnp.sum(x * x, axes) + jnp.sum(y * y, axes)) + 1e-12)

    feature = sum(rel(fa[l], fb[l]) for l in DIVERSITY_LAYERS) / len(DIVERSITY_LAYERS)
    return feature.mean(), jnp.mean(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))


def grid_artifact(img: jax.Array, period: int = 8) -> jax.Array:
    """How much of the image's fine detail repeats with the decoder's pixel grid (↓; the checker texture).

    The grey image's high-pass (the pixel minus its 3×3 mean, less its mean: a smooth curve is no grid) is averaged over all ``period × period`` blocks at
    each of the ``period²`` phases; the result is the RMS of that phase pattern over the RMS of the high-pass.
    Detail that does not follow the grid averages out (its chance level, power / blocks, is subtracted, so
    unrelated detail scores ≈ 0 at any size); a pattern repeating every 2, 4 or 8 px (the decoder's ×2
    upsamplings, VGG's pooling grid) survives (→ 1).

    ``img [B, H, W, 3]`` (H, W ≥ period + 2) → ``[B]``.
    """
    phase, power = grid_energy(img, period)
    blocks = ((img.shape[1] - 2) // period) * ((img.shape[2] - 2) // period)
    return jnp.sqrt(jnp.maximum(phase - power / blocks, 0.0) / (power + 1e-12))  # chance level subtracted


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> jax.Array:
    x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
    g = jnp.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim(a: jax.Array, b: jax.Array) -> jax.Array:
    """Grey-level SSIM (Wang et al. 2004: 11×11 Gaussian window, σ = 1.5, valid positions), one value per image.

    ``a, b [B, H, W, 3]`` (H, W >= 11) → ``[B]`` in [-1, 1]; 1 for identical images.
    """
    x, y = luminance(a), luminance(b)
    g = _gaussian_window()

    def smooth(z):  # separable valid Gaussian of [B, H, W]
        rows = jax.vmap(jax.vmap(lambda r: jnp.convolve(r, g, mode="valid")))(z)           # along W
        return jax.vmap(jax.vmap(lambda r: jnp.convolve(r, g, mode="valid")), in_axes=2, out_axes=2)(rows)  # along H

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = smooth(x), smooth(y)
    sxx = smooth(x * x) - mx * mx
    syy = smooth(y * y) - my * my
    sxy = smooth(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean(axis=(1, 2))
