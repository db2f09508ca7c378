"""Dense optical flow and warping (pure functions): what video mode and the warping error share.

Flow is *backward* and in pixels, ``(x, y)`` order: pixel ``p`` of frame ``t`` shows what is at ``p + flow(p)`` in
frame ``t − 1``. :func:`estimate_flow` is a coarse-to-fine dense Lucas–Kanade (Bouguet's pyramid, Gaussian
windows, a Tikhonov term for flat regions): no learned weights, jittable, accurate to a fraction of a pixel on
textured video with motions of a few pixels per frame.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.ops.color import luminance


def grid(h: int, w: int) -> jax.Array:
    """``[h, w, 2]`` pixel coordinates ``(x, y)``."""
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    return jnp.stack([xs, ys], -1)


def sample(img: jax.Array, xy: jax.Array) -> jax.Array:
    """Bilinear ``img [Hi, Wi, C]`` at ``xy [H, W, 2]`` (``(x, y)`` px, edge-clamped) → ``[H, W, C]``."""
    return jnp.stack([jax.scipy.ndimage.map_coordinates(img[..., c], [xy[..., 1], xy[..., 0]], order=1,
                                                        mode="nearest") for c in range(img.shape[-1])], -1)


def warp(frames: jax.Array, flow: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Backward-warp ``frames [B, H, W, C]`` by ``flow [B, H, W, 2]`` (pixel ``p`` reads ``frames`` at
    ``p + flow(p)``, bilinear) → ``(warped [B, H, W, C], inside [B, H, W])``: ``inside`` is 1 where ``p + flow(p)``
    lies within the frame (pixel centres), else 0 (and ``warped`` is edge-clamped)."""
    h, w = frames.shape[1:3]
    xy = grid(h, w) + flow
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1)
    return jax.vmap(sample)(jnp.asarray(frames, jnp.float32), xy), inside.astype(jnp.float32)


def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    """``[n, n]``: a 1-D Gaussian of σ = ``sigma`` px over ``n`` samples with edge replication, as a matrix."""
    r = max(1, int(round(2.5 * sigma)))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    m = np.zeros((n, n), np.float32)
    for t, gt in enumerate(g / g.sum()):
        np.add.at(m, (np.arange(n), np.clip(np.arange(n) + t - r, 0, n - 1)), gt)
    return m


def _blur(x: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian of ``[B, H, W, C]`` (edge-replicated), as two matrix products (fast on every backend)."""
    x = jnp.einsum("ij,bjwc->biwc", _blur_matrix(x.shape[1], sigma), x)
    return jnp.einsum("ij,bhjc->bhic", _blur_matrix(x.shape[2], sigma), x)


def estimate_flow(prev: jax.Array, cur: jax.Array, *, levels: int = 5, iterations: int = 3, window: float = 6.0,
                  reg: float = 1e-4) -> jax.Array:
    """Backward flow from ``cur`` to ``prev``: ``[B, H, W, 3]`` float images (or ``[B, H, W, 1]`` grey) →
    ``[B, H, W, 2]`` with ``cur(p) ≈ prev(p + flow(p))``.

    Coarse to fine over ``levels`` halvings (fewer when a side would drop below 16 px), ``iterations``
    Lucas–Kanade updates per level: each solves, per pixel, the 2×2 normal equations of the brightness constancy
    over a Gaussian window of σ = ``window`` px, plus ``reg`` × |update|² (flat regions keep the coarse flow).
    """
    g0, g1 = (luminance(x)[..., None] if x.shape[-1] == 3 else jnp.asarray(x, jnp.float32) for x in (prev, cur))
    pyramid = [(g0, g1)]
    while len(pyramid) < levels and min(pyramid[-1][0].shape[1:3]) >= 32:
        a, b = pyramid[-1]
        half = (a.shape[0], (a.shape[1] + 1) // 2, (a.shape[2] + 1) // 2, 1)
        pyramid.append(tuple(jax.image.resize(_blur(x, 1.0), half, "linear", antialias=False) for x in (a, b)))
    flow = jnp.zeros((*pyramid[-1][0].shape[:3], 2), jnp.float32)
    for a, b in reversed(pyramid):
        if flow.shape[1:3] != a.shape[1:3]:
            scale = jnp.array([a.shape[2] / flow.shape[2], a.shape[1] / flow.shape[1]], jnp.float32)
            flow = jax.image.resize(flow, (*a.shape[:3], 2), "linear") * scale
        a, b = _blur(a, 0.7), _blur(b, 0.7)

        def update(_, flow, a=a, b=b):
            warped, _ = warp(a, flow)
            ix = (jnp.roll(warped, -1, 2) - jnp.roll(warped, 1, 2)) / 2
            iy = (jnp.roll(warped, -1, 1) - jnp.roll(warped, 1, 1)) / 2
            ix, iy = ix.at[:, :, [0, -1]].set(0.0), iy.at[:, [0, -1]].set(0.0)
            it = warped - b
            sums = _blur(jnp.concatenate([ix * ix, ix * iy, iy * iy, ix * it, iy * it], -1), window)
            sxx, sxy, syy, sxt, syt = (sums[..., i] for i in range(5))
            sxx, syy = sxx + reg, syy + reg
            det = sxx * syy - sxy * sxy
            return flow + jnp.stack([(sxy * syt - syy * sxt) / det, (sxy * sxt - sxx * syt) / det], -1)

        flow = jax.lax.fori_loop(0, iterations, update, flow)
    return flow
