"""What every stylizer shares: the staged interface the API, the tiled path and ``decoder="optimize"`` use."""

from __future__ import annotations

import jax
from flax import nnx


class Stylizer(nnx.Module):
    """Base of single-level models: ``encode(x)`` and ``transform(fc, fs, alpha)`` give one feature map at
    ``feature_layer``, which ``decode`` turns into the image. Multi-level models (AdaAttN) override these.

    ``size_multiple``: input sides must be multiples of it (the API pads contents and crops styles to it).
    """

    size_multiple = 8
    feature_layer = "relu4_1"

    def decode(self, t: jax.Array) -> jax.Array:
        """``[B, h, w, C]`` decoder input → ``[B, f·h, f·w, 3]`` (f = the decoder's ``factor``)."""
        return self.decoder(t)

    def targets(self, t: jax.Array) -> dict[str, jax.Array]:
        """VGG features the stylized image should have (training-free ``decoder="optimize"``)."""
        return {self.feature_layer: t}
