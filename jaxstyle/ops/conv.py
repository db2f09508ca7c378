"""3×3 convolution with reflection or zero padding (NHWC, HWIO)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

_DN = ("NHWC", "HWIO", "NHWC")


def conv3x3(x: jax.Array, kernel: jax.Array, *, padding: str = "reflect",
            precision: jax.lax.Precision | str | None = None) -> jax.Array:
    """``[B, H, W, Cin] * [3, 3, Cin, Cout] -> [B, H, W, Cout]``, stride 1.

    ``padding="reflect"`` equals PyTorch's ``ReflectionPad2d(1)`` + ``Conv2d``; ``"zeros"`` equals ``padding=1``.
    On the CPU backend XLA runs "VALID" convolutions about 2-3x slower than "SAME" ones, so there the reflected
    input is convolved with "SAME" padding and the one-pixel frame cropped off: the same numbers, faster.
    """
    if padding == "zeros":
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DN, precision=precision)
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    if jax.default_backend() == "cpu":
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DN, precision=precision)
        return y[:, 1:-1, 1:-1]
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DN, precision=precision)


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
    """
    b, h, w, cin = x.shape
    cout = kernel.shape[-1]
    taps = jnp.asarray(_UP2_TAPS, jnp.float32)
    k2 = jnp.einsum("ati,bsj,ijco->tscabo", taps, taps, kernel.astype(jnp.float32)).astype(kernel.dtype)
    k2 = k2.reshape(2, 2, cin, 4 * cout)  # [tap row, tap col, Cin, (row parity, col parity, Cout)]
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge" if padding == "reflect" else "constant")
    # "SAME" with an even kernel pads one row/column at the end only: output j reads padded j, j + 1. (On the CPU
    # backend "SAME" runs much faster than "VALID"; the one extra row/column is cropped off below.)
    y = jax.lax.conv_general_dilated(x, k2, (1, 1), "SAME", dimension_numbers=_DN, precision=precision)
    y = y.reshape(b, h + 2, w + 2, 2, 2, cout)
    # Parity (a, c) of output (2m + a, 2n + c) is window (m + a, n + c) of the padded input.
    rows = [jnp.stack([y[:, a:a + h, c:c + w, a, c] for c in range(2)], axis=3) for a in range(2)]
    return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, cout)
