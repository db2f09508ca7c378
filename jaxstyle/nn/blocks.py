"""Small reusable layers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxstyle.ops.conv import conv3x3
from jaxstyle.ops.resize import upsample2x


class ReflectConv(nnx.Module):
    """3x3 convolution with reflection padding (PyTorch ``ReflectionPad2d(1)`` + ``Conv2d(3)``).

    ``[B, H, W, in_features] -> [B, H, W, out_features]``; LeCun-normal kernel, zero bias (as ``nnx.Conv``).
    """

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, dtype: jnp.dtype | None = None,
                 param_dtype: jnp.dtype = jnp.float32):
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (3, 3, in_features, out_features), param_dtype))
        self.bias = nnx.Param(jnp.zeros((out_features,), param_dtype))
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        k, b = self.kernel[...], self.bias[...]
        if self.dtype is not None:
            x, k, b = x.astype(self.dtype), k.astype(self.dtype), b.astype(self.dtype)
        return conv3x3(x, k) + b


class MirrorDecoder(nnx.Module):
    """The AdaIN decoder: a mirror of VGG-19 from relu4_1 back to RGB.

    With ``widths=(512, 256, 128, 64)``: conv 512→256, up; 3× conv 256→256; conv 256→128, up; conv 128→128;
    conv 128→64, up; conv 64→64; conv 64→3 (no activation). All convs 3×3 reflection-padded, ReLU between.
    ``[B, h, w, widths[0]] -> [B, 8h, 8w, 3]``.

    Args:
      widths: channel widths at relu4_1, relu3_1, relu2_1, relu1_1 (shrink them for tiny test models).
      upsample: ``"nearest"`` (AdaIN) or ``"bilinear"`` (the GNN paper's decoder).
    """

    def __init__(self, widths: tuple[int, int, int, int] = (512, 256, 128, 64), *, upsample: str = "nearest",
                 rngs: nnx.Rngs, dtype: jnp.dtype | None = None):
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample={upsample!r}: use 'nearest' or 'bilinear'")
        c4, c3, c2, c1 = widths
        pairs = [(c4, c3), (c3, c3), (c3, c3), (c3, c3), (c3, c2), (c2, c2), (c2, c1), (c1, c1), (c1, 3)]
        self.convs = nnx.List([ReflectConv(i, o, rngs=rngs, dtype=dtype) for i, o in pairs])
        self.upsample = upsample

    _UP_AFTER = (0, 4, 6)  # upsample after these convs: 1/8 -> 1/4 -> 1/2 -> 1

    def __call__(self, x: jax.Array) -> jax.Array:
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i != last:
                x = jax.nn.relu(x)
            if i in self._UP_AFTER:
                x = upsample2x(x, self.upsample)
        return x.astype(jnp.float32)
