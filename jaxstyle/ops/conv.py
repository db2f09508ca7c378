"""3×3 convolution with reflection or zero padding (NHWC, HWIO), and the same after a nearest 2× upsampling."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

_DN = ("NHWC", "HWIO", "NHWC")


def _zero_padded(x: jax.Array, kernel: jax.Array, precision) -> jax.Array:
    """Stride-1 conv with one zero row/column on every side: ``[B, H, W, C] -> [B, H + 3 - k, W + 3 - k, O]``."""
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DN,
                                        precision=precision)


def _pad_frame(y: jax.Array, x: jax.Array, kernel: jax.Array, mode: str, precision) -> jax.Array:
    """Turn ``y = _zero_padded(x, kernel)`` into the conv of ``x`` padded by ``mode`` ("reflect" or "edge").

    The padded input minus the zero-padded one is nonzero only on the one-pixel frame: its top and bottom rows
    (row 1 and H-2 reflected, or rows 0 and H-1 repeated, corners included) reach only the first and last output
    rows, through the kernel's first and last rows; its left and right columns (rows 0..H-1 only) reach only the
    first and last output columns, through the kernel's first and last columns. Each part is a 1-D convolution of
    one line of ``x``: O((H + W)·C·O) work, scattered onto the frame of ``y`` in place. (Adding them as full-size
    masked broadcasts is as fast alone but makes XLA materialise four full-size arrays before a following pool.)
    """
    h, w = x.shape[1:3]
    hy, wy = y.shape[1:3]
    src = 1 if mode == "reflect" else 0

    def line(v: jax.Array, taps: jax.Array, pad: str) -> jax.Array:  # [B, n, C] * [k, C, O] -> [B, n + 3 - k, O]
        if pad == "constant":  # one 1-D convolution primitive (few ops: tracing a model's many convs stays fast)
            return jax.lax.conv_general_dilated(v, taps, (1,), ((1, 1),), dimension_numbers=("NWC", "WIO", "NWC"),
                                                precision=precision)
        i = (1, -2) if pad == "reflect" else (0, -1)
        v = jnp.concatenate([v[:, i[0]:i[0] + 1], v, v[:, v.shape[1] + i[1]:v.shape[1] + i[1] + 1]], axis=1)
        return jax.lax.conv_general_dilated(v, taps, (1,), "VALID", dimension_numbers=("NWC", "WIO", "NWC"),
                                            precision=precision)

    top, bottom = (line(x[:, r], kernel[t], mode) for r, t in ((src, 0), (h - 1 - src, -1)))
    left, right = (line(x[:, :, c], kernel[:, t], "constant") for c, t in ((src, 0), (w - 1 - src, -1)))
    y = y.at[:, :, jnp.array([0, wy - 1])].add(jnp.stack([left, right], axis=2))
    return y.at[:, jnp.array([0, hy - 1])].add(jnp.stack([top, bottom], axis=1))


def conv3x3(x: jax.Array, kernel: jax.Array, *, padding: str = "reflect",
            precision: jax.lax.Precision | str | None = None) -> jax.Array:
    """``[B, H, W, Cin] * [3, 3, Cin, Cout] -> [B, H, W, Cout]``, stride 1.

    ``padding="reflect"`` equals PyTorch's ``ReflectionPad2d(1)`` + ``Conv2d``; ``"zeros"`` equals ``padding=1``.
    On the CPU backend XLA's zero-padded convolution is the fast one ("SAME" on a reflected copy, then cropped,
    runs 1.1-1.5x slower; "VALID" 2-3x), so there reflection is the zero-padded convolution with its output frame
    corrected (:func:`_pad_frame`): the same numbers, no padded copy.
    """
    if padding == "reflect" and jax.default_backend() != "cpu":
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DN, precision=precision)
    y = _zero_padded(x, kernel, precision)
    return _pad_frame(y, x, kernel, "reflect", precision) if padding == "reflect" else y


# Per axis, the 3 taps of a conv on a nearest-upsampled signal collapse to 2 taps on the low-resolution one:
# an even output 2m reads U[2m-1], U[2m], U[2m+1] = L[m-1], L[m], L[m] (weights w0, w1 + w2), an odd one
# 2m+1 reads L[m], L[m], L[m+1] (weights w0 + w1, w2). [phase, tap, kernel row].
_UP2_TAPS = ((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def conv3x3_up2(x: jax.Array, kernel: jax.Array, *, padding: str = "reflect",
                precision: jax.lax.Precision | str | None = None) -> jax.Array:
    """``conv3x3(upsample2x(x, "nearest"), kernel)`` without the upsampling: ``[B, h, w, Cin] -> [B, 2h, 2w, Cout]``.

    Each output pixel of the four row/column parities reads a 2×2 window of ``x``, so the work is one 2×2
    convolution ``Cin -> 4·Cout`` at the low resolution: 4/9 of the multiply-adds, no upsampled copy of the input.
    Reflection padding of the upsampled image equals edge padding of ``x`` (and zeros equal zeros), so the result
    equals the upsample-then-convolve form up to float rounding (the merged taps are summed first).

    The gradient is the upsample-then-convolve form's (the same function): differentiating the folded form (its
    2×2 kernel gradient and parity interleave) ran 6× slower on XLA CPU, which made a training step of the
    nearest-upsampling decoders 17 s instead of 3 s at 128², batch 4.
    """
    return _conv3x3_up2(x, kernel, padding, precision)


def _conv3x3_up2_unfolded(x, kernel, padding, precision):
    from jaxstyle.ops.resize import upsample2x

    return conv3x3(upsample2x(x, "nearest"), kernel, padding=padding, precision=precision)


def _conv3x3_up2_bwd(padding, precision, residuals, g):
    _, vjp = jax.vjp(lambda x, k: _conv3x3_up2_unfolded(x, k, padding, precision), *residuals)
    return vjp(g)  # the forward conv inside jax.vjp is unused: XLA drops it


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv3x3_up2(x, kernel, padding, precision):
    b, h, w, cin = x.shape
    cout = kernel.shape[-1]
    taps = jnp.asarray(_UP2_TAPS, jnp.float32)
    k2 = jnp.einsum("ati,bsj,ijco->tscabo", taps, taps, kernel.astype(jnp.float32)).astype(kernel.dtype)
    k2 = k2.reshape(2, 2, cin, 4 * cout)  # [tap row, tap col, Cin, (row parity, col parity, Cout)]
    y = _zero_padded(x, k2, precision)  # window (j, l) reads x rows j-1, j and columns l-1, l
    if padding == "reflect":
        y = _pad_frame(y, x, k2, "edge", precision)
    y = y.reshape(b, h + 1, w + 1, 2, 2, cout)
    # Parity (a, c) of output (2m + a, 2n + c) is window (m + a, n + c).
    rows = [jnp.stack([y[:, a:a + h, c:c + w, a, c] for c in range(2)], axis=3) for a in range(2)]
    return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, cout)


_conv3x3_up2.defvjp(lambda x, kernel, padding, precision: (_conv3x3_up2(x, kernel, padding, precision), (x, kernel)),
                    _conv3x3_up2_bwd)


def pad_beyond(x: jax.Array, valid: jax.Array | None, mode: str = "reflect") -> jax.Array:
    """Write, just past each image's valid part, what padding would put there: a 3×3 convolution (or a nearest 2×
    upsampling, or a bilinear one) then computes at every valid position exactly what it computes on the cropped
    map with that padding, whatever the rest of the padded grid holds.

    Args:
      x: ``[B, H, W, C]``, each image's valid part at its top left.
      valid: ``[B, 2]`` int, the valid height and width at ``x``'s resolution; sides equal to the grid are left
        alone. ``None``: ``x`` unchanged.
      mode: ``"reflect"`` (row ``h`` := row ``h − 2``, as ``ReflectionPad2d(1)``), ``"edge"`` (row ``h − 1``: what
        a folded nearest upsampling or a bilinear resize needs) or ``"zeros"``.

    Returns:
      ``x`` with row ``h`` and column ``w`` of each image replaced.
    """
    if valid is None:
        return x
    offset = {"reflect": 2, "edge": 1, "zeros": 0}[mode]
    valid = valid.astype(jnp.int32)
    for axis in (1, 2):  # elementwise selects: they fuse into one pass and compile fast (scatters cost ~2 s more)
        n = x.shape[axis]
        sel = jnp.arange(n)[None, :] == valid[:, axis - 1:axis]
        sel = sel[:, :, None, None] if axis == 1 else sel[:, None, :, None]
        if offset:  # the line ``offset`` before each position
            shifted = jax.lax.slice_in_dim(jnp.pad(x, [(offset, 0) if a == axis else (0, 0) for a in range(4)]),
                                           0, n, axis=axis)
        else:
            shifted = jnp.zeros_like(x)
        x = jnp.where(sel, shifted, x)
    return x
