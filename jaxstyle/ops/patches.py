"""Feature patches as graph nodes: ``feat2patch`` and its overlap-averaging transpose ``patch2feat``.

Node ``i`` of a ``[B, h, w, C]`` map is the ``p×p`` window (taps ``dilation`` apart) centred at feature location
``(i // w, i % w)`` in row-major order (for ``stride`` s: the window centred at ``(s·(i // w'), s·(i % w'))``),
after padding every side by ``⌊p/2⌋·dilation``. The node vector is position-major: ``(p, p, C)`` flattened, i.e.
``[p², C]`` with tap ``dy·p + dx`` first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def check_patch_grid(hw: tuple[int, int], patch_size: int, dilation: int = 1, padding: str = "reflect",
                     what: str = "feature map") -> None:
    """Raise ``ValueError`` unless a ``patch_size`` window (with ``dilation``) fits ``hw`` with its padding."""
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size={patch_size}: must be a positive odd number (1, 3, 5, 7, ...)")
    if dilation < 1:
        raise ValueError(f"dilation={dilation}: must be >= 1")
    if padding not in ("reflect", "zeros"):
        raise ValueError(f"padding={padding!r}: use 'reflect' or 'zeros'")
    pad = (patch_size // 2) * dilation
    h, w = hw
    if patch_size > min(h, w) or (padding == "reflect" and pad >= min(h, w)):
        raise ValueError(f"{what} of {h}x{w} is too small for patch_size={patch_size} with dilation={dilation}: "
                         f"each side must be at least {max(patch_size, pad + 1)} (use larger images or a smaller "
                         "patch size / fewer scales)")


def pad_for_patches(x: jax.Array, patch_size: int, dilation: int = 1, padding: str = "reflect") -> jax.Array:
    """Pad ``[B, h, w, C]`` by ``⌊p/2⌋·dilation`` on every side (reflect or zeros)."""
    pad = (patch_size // 2) * dilation
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect" if padding == "reflect" else "constant")


def _extract(padded: jax.Array, patch_size: int, stride: int, dilation: int) -> jax.Array:
    """Windows of an already padded map → ``[B, h', w', p²·C]`` (position-major), built from p² strided slices:
    pure data movement, no identity-filter convolution (``lax.conv_general_dilated_patches`` costs ``C·p⁴``
    multiply-adds per node)."""
    b, hp, wp, c = padded.shape
    span = (patch_size - 1) * dilation
    ho, wo = (hp - span - 1) // stride + 1, (wp - span - 1) // stride + 1
    taps = [jax.lax.slice(padded, (0, dy * dilation, dx * dilation, 0),
                          (b, dy * dilation + (ho - 1) * stride + 1, dx * dilation + (wo - 1) * stride + 1, c),
                          (1, stride, stride, 1))
            for dy in range(patch_size) for dx in range(patch_size)]
    return jnp.concatenate(taps, axis=-1)


def feat2patch(x: jax.Array, patch_size: int, *, stride: int = 1, dilation: int = 1,
               padding: str = "reflect") -> jax.Array:
    """Cut every window of a feature map into a node vector.

    Args:
      x: ``[B, h, w, C]``.
      patch_size: odd ``p``.
      stride: node spacing on the feature grid.
      dilation: spacing of the window's taps (the scale-σ style nodes use ``dilation=σ``).
      padding: ``"reflect"`` (default) or ``"zeros"``, ``⌊p/2⌋·dilation`` on every side.

    Returns:
      ``[B, N, C·p·p]`` with ``N = ceil(h / stride) · ceil(w / stride)``.
    """
    check_patch_grid(x.shape[1:3], patch_size, dilation, padding)
    patches = _extract(pad_for_patches(x, patch_size, dilation, padding), patch_size, stride, dilation)
    return patches.reshape(x.shape[0], -1, patches.shape[-1])


def patch2feat(patches: jax.Array, hw: tuple[int, int], patch_size: int, *, stride: int = 1,
               dilation: int = 1) -> jax.Array:
    """Fold node vectors back onto the feature grid, averaging overlapping windows (transpose of ``feat2patch``).

    Windows are folded onto the padded canvas and the padding is cropped (nothing is folded back through the
    reflection), so a location is the mean of the windows that cover it: ``p²`` of them in the interior at stride 1,
    fewer near the border. ``patch2feat(feat2patch(x)) == x`` at stride 1.

    Args:
      patches: ``[B, N, C·p·p]`` as produced by :func:`feat2patch` for a map of size ``hw``.
      hw: the feature map's ``(h, w)``.

    Returns:
      ``[B, h, w, C]``. Locations no window covers (only possible with stride > p) are 0.
    """
    b, n, d = patches.shape
    c = d // (patch_size * patch_size)
    pad = (patch_size // 2) * dilation
    h, w = hw
    canvas = jnp.zeros((b, h + 2 * pad, w + 2 * pad, c), patches.dtype)
    out_hw = _extract(canvas, patch_size, stride, dilation).shape[1:3]
    if out_hw[0] * out_hw[1] != n or c * patch_size * patch_size != d:
        raise ValueError(f"patch2feat: {n} patches of size {d} do not fit a {h}x{w} map with patch_size="
                         f"{patch_size}, stride={stride}")
    def fold(z):
        return jax.vjp(lambda t: _extract(t, patch_size, stride, dilation), jnp.zeros_like(canvas[: len(z)]))[1](z)[0]

    summed = fold(patches.reshape(b, *out_hw, d))
    counts = fold(jnp.ones((1, *out_hw, d), patches.dtype))
    out = summed / jnp.maximum(counts, 1)
    return out[:, pad:pad + h, pad:pad + w]
