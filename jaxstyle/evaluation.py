"""The evaluation protocol of ``shared/spec/baselines.md`` §6: content loss, style loss and SSIM, plus the checker
texture and, for videos, the warping error on a synthetic clip with exact flow (pure functions).

All images are ``[B, H, W, 3]`` float32 RGB in [0, 1]; features come from a frozen VGG-19 (``jaxstyle.load_vgg19``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxstyle.losses import grid_energy, mse, style_stats_loss
from jaxstyle.ops.color import luminance
from jaxstyle.ops.flow import grid, sample, warp
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


# ----------------------------------------------------------------------------------------------- temporal consistency
# (warp: jaxstyle.ops.flow.warp, re-exported here with the metric it serves)
def warping_error(frames_in: jax.Array, frames_out: jax.Array, flow: jax.Array, *,
                  occlusion_threshold: float = 0.01) -> jax.Array:
    """The occlusion-masked warping error of the video-consistency literature (Lai et al. 2018, ECCV, eq. 7; ↓).

    ``E = 1/(T−1) Σ_t Σ_p M_t(p)·|O_t(p) − Ô_{t−1}(p)|² / Σ_p M_t(p)``, ``Ô_{t−1}`` the previous output warped into
    frame t by ``flow``, ``|·|²`` the mean square over the channels, ``M_t`` the non-occlusion mask: pixels whose
    flow lands inside the previous frame and whose *input* warps consistently (``|I_t − Î_{t−1}|² <
    occlusion_threshold``: disocclusions and flow errors). ``warping_error(frames_in, frames_in, flow)`` is the
    input's own error, the floor a stylization is compared with.

    Args:
      frames_in, frames_out: ``[T, H, W, 3]`` float in [0, 1] (the input video and its stylization), T >= 2.
      flow: ``[T−1, H, W, 2]`` backward flow, ``(x, y)`` px: pixel ``p`` of frame ``t`` is at ``p + flow[t−1](p)``
        in frame ``t − 1``.
    """
    fi, fo = jnp.asarray(frames_in, jnp.float32), jnp.asarray(frames_out, jnp.float32)
    t, h, w = fi.shape[:3]
    if t < 2 or fo.shape != fi.shape or flow.shape != (t - 1, h, w, 2):
        raise ValueError(f"warping_error: frames_in {fi.shape} and frames_out {fo.shape} must be the same [T>=2, H, W, "
                         f"3] and flow {tuple(flow.shape)} [T-1, H, W, 2]")
    wi, inside = warp(fi[:-1], flow)
    wo, _ = warp(fo[:-1], flow)
    mask = inside * (jnp.mean((fi[1:] - wi) ** 2, -1) < occlusion_threshold)
    err = jnp.mean((fo[1:] - wo) ** 2, -1)
    return jnp.mean(jnp.sum(mask * err, (1, 2)) / jnp.maximum(jnp.sum(mask, (1, 2)), 1.0))


def pan_zoom_clip(image, frames: int, size: tuple[int, int], *, pan: tuple[float, float] = (1.5, 0.5),
                  zoom: float = 1.01, start_scale: float | None = None) -> tuple[jax.Array, jax.Array]:
    """A synthetic clip with exact motion: a window sliding and zooming over ``image``.

    Frame ``t``'s pixel ``p`` shows ``image`` at ``c_t + s_t·(p − m)`` (bilinear; ``m`` the frame's centre): the
    centre ``c_t`` moves by ``pan`` (``(x, y)`` source px) per frame from the image's centre and the scale ``s_t``
    (source px per frame px, from ``start_scale``, default the largest that keeps every frame inside the image)
    shrinks by ``zoom`` per frame (a slow zoom in).

    Args:
      image: ``[Hi, Wi, 3]`` float in [0, 1]. frames: T >= 2. size: ``(H, W)`` of each frame.
    Returns:
      ``(clip [T, H, W, 3], flow [T−1, H, W, 2])``: the backward flow of :func:`warping_error` (exact).
    """
    img = jnp.asarray(image, jnp.float32)
    hi, wi = img.shape[:2]
    h, w = size
    m = jnp.array([(w - 1) / 2, (h - 1) / 2], jnp.float32)
    steps = jnp.arange(frames, dtype=jnp.float32)
    travel = jnp.abs(jnp.asarray(pan, jnp.float32)) * (frames - 1)
    if start_scale is None:  # the first frame is the largest; keep every frame's window inside the image
        start_scale = float(min((wi - 1 - 2 * travel[0]) / (w - 1), (hi - 1 - 2 * travel[1]) / (h - 1)))
    if start_scale <= 0:
        raise ValueError(f"pan_zoom_clip: a {hi}x{wi} image is too small for {frames} frames of {h}x{w} with pan {pan}")
    centre = jnp.array([(wi - 1) / 2, (hi - 1) / 2], jnp.float32) + steps[:, None] * jnp.asarray(pan, jnp.float32)
    scale = start_scale / zoom ** steps
    p = grid(h, w) - m                                                      # [H, W, 2] (x, y) from the centre
    src = centre[:, None, None] + scale[:, None, None, None] * p             # [T, H, W, 2] source px
    flow = (src[1:] - centre[:-1, None, None]) / scale[:-1, None, None, None] - p  # frame t's p in frame t-1, less p
    clip = jax.vmap(lambda xy: sample(img, xy))(src)
    return clip, flow

