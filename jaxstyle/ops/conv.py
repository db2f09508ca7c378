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
