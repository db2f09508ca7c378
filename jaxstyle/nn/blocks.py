"""Small reusable layers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxstyle.ops.conv import conv3x3, conv3x3_up2, pad_beyond
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

    def __call__(self, x: jax.Array, *, upsampled: bool = False, valid: jax.Array | None = None) -> jax.Array:
        """``upsampled=True``: convolve ``upsample2x(x, "nearest")`` (``[B, h, w, C] -> [B, 2h, 2w, out]``) at 4/9
        of the cost (:func:`~jaxstyle.ops.conv.conv3x3_up2`). ``valid`` ``[B, 2]``: each image's size at ``x``'s
        resolution inside a padded batch (:func:`~jaxstyle.ops.conv.pad_beyond`)."""
        x = pad_beyond(x, valid, "edge" if upsampled else "reflect")
        k, b = self.kernel[...], self.bias[...]
        if self.dtype is not None:
            x, k, b = x.astype(self.dtype), k.astype(self.dtype), b.astype(self.dtype)
        return (conv3x3_up2 if upsampled else conv3x3)(x, k) + b


class Conv1x1(nnx.Module):
    """``[..., in_features] -> [..., out_features]``: a 1×1 convolution on NHWC (PyTorch ``Conv2d(in, out, 1)``).

    Kernel ``[in, out]``: LeCun-normal, or ``N(0, std)`` when ``std`` is given; zero bias. ``dtype``: the compute
    dtype (``None``: float32); the output is in it.
    """

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, std: float | None = None,
                 dtype: jnp.dtype | None = None):
        shape = (in_features, out_features)
        if std is None:
            kernel = nnx.initializers.lecun_normal()(rngs.params(), shape, jnp.float32)
        else:
            kernel = float(std) * jax.random.normal(rngs.params(), shape, jnp.float32)
        self.kernel = nnx.Param(kernel)
        self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32))
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.dtype or jnp.float32
        return jnp.einsum("...i,io->...o", x.astype(dt), self.kernel[...].astype(dt)) + self.bias[...].astype(dt)


class MirrorDecoder(nnx.Module):
    """The AdaIN decoder: a mirror of VGG-19 from relu4_1 (or relu3_1) back to RGB.

    With ``widths=(512, 256, 128, 64)``: conv 512→256, up; 3× conv 256→256; conv 256→128, up; conv 128→128;
    conv 128→64, up; conv 64→64; conv 64→3 (no activation). All convs 3×3 reflection-padded, ReLU between.
    ``[B, h, w, widths[0]] -> [B, 8h, 8w, 3]``. With three widths ``(256, 128, 64)`` it starts at relu3_1 (LST's
    r31 decoder: conv 256→128, up; conv 128→128; conv 128→64, up; conv 64→64; conv 64→3), ``[B, h, w, 256] ->
    [B, 4h, 4w, 3]``.

    Args:
      widths: channel widths at relu4_1, relu3_1, relu2_1, relu1_1 (or relu3_1, relu2_1, relu1_1); shrink them for
        tiny test models.
      upsample: ``"nearest"`` (AdaIN) or ``"bilinear"`` (the GNN paper's decoder).
      skip_channels: relu4_1 decoders only: channels of a relu3_1-resolution feature concatenated after the first
        upsampling (AdaAttN's ``skip_connection_3``; the second conv then takes ``widths[1] + skip_channels``).
    """

    def __init__(self, widths: tuple[int, ...] = (512, 256, 128, 64), *, upsample: str = "nearest",
                 skip_channels: int = 0, rngs: nnx.Rngs, dtype: jnp.dtype | None = None):
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample={upsample!r}: use 'nearest' or 'bilinear'")
        if len(widths) == 4:
            c4, c3, c2, c1 = widths
            pairs = [(c4, c3), (c3 + skip_channels, c3), (c3, c3), (c3, c3), (c3, c2), (c2, c2), (c2, c1), (c1, c1),
                     (c1, 3)]
            self.up_after = (0, 4, 6)  # 1/8 -> 1/4 -> 1/2 -> 1
        elif len(widths) == 3 and not skip_channels:
            c3, c2, c1 = widths
            pairs = [(c3, c2), (c2, c2), (c2, c1), (c1, c1), (c1, 3)]
            self.up_after = (0, 2)  # 1/4 -> 1/2 -> 1
        else:
            raise ValueError(f"widths={widths}: give 4 (from relu4_1) or 3 (from relu3_1, no skip) channel widths")
        self.convs = nnx.List([ReflectConv(i, o, rngs=rngs, dtype=dtype) for i, o in pairs])
        self.upsample = upsample
        self.skip_channels = skip_channels

    @property
    def factor(self) -> int:
        """Output size / input size (8 from relu4_1, 4 from relu3_1)."""
        return 2 ** len(self.up_after)

    def __call__(self, x: jax.Array, skip: jax.Array | None = None, *, valid: jax.Array | None = None) -> jax.Array:
        """``valid`` ``[B, 2]``: each image's size at the input's resolution inside a padded batch; the output
        inside it then equals the cropped input's (every convolution and upsampling pads at that edge)."""
        if (skip is None) != (not self.skip_channels):
            raise ValueError(f"this decoder takes a {self.skip_channels}-channel skip feature" if self.skip_channels
                             else "this decoder takes no skip feature")
        last = len(self.convs) - 1
        # A nearest upsampling is folded into the conv after it (conv3x3_up2), unless a skip feature joins there.
        folded = {i + 1 for i in self.up_after if self.upsample == "nearest" and not (i == 0 and skip is not None)}
        for i, conv in enumerate(self.convs):
            x = conv(x, upsampled=i in folded, valid=valid)
            if i in folded and valid is not None:
                valid = valid * 2
            if i != last:
                x = jax.nn.relu(x)
            if i in self.up_after and i + 1 not in folded:
                x = upsample2x(pad_beyond(x, valid, "edge") if self.upsample != "nearest" else x, self.upsample)
                valid = None if valid is None else valid * 2
                if i == 0 and skip is not None:
                    x = jnp.concatenate([x, skip.astype(x.dtype)], axis=-1)
        return x.astype(jnp.float32)
