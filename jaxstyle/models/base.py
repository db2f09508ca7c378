"""What every style model shares: the staged interface the API, the tiled path, ``decoder="optimize"`` and the
reusable :class:`jaxstyle.Stylizer` use."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx


class StyleModel(nnx.Module):
    """Base of single-level models: ``encode(x)`` and ``transform(fc, fs, alpha)`` give one feature map at
    ``feature_layer``, which ``decode`` turns into the image. Multi-level models (AdaAttN) override these.

    ``size_multiple``: input sides must be multiples of it (the API pads contents and crops styles to it).

    Cached stages (encode once, reuse for every pair): ``prepare_style(fs)`` computes what the transform needs from
    the style alone (statistics, matrices, keys and values); ``transform_prepared(fc, style, alpha, valid)`` applies
    it to content features. ``masked``: whether ``encode``, ``transform_prepared`` and ``decode`` honour ``valid``
    (each image's true size inside a larger padded grid: statistics, attention and matching ignore the padding and
    every convolution pads at the image's own edge, so the result equals the cropped image's); models without it
    see contents padded only to ``size_multiple``.
    """

    size_multiple = 8
    feature_layer = "relu4_1"
    masked = False

    def decode(self, t: jax.Array, valid: jax.Array | None = None) -> jax.Array:
        """``[B, h, w, C]`` decoder input → ``[B, f·h, f·w, 3]`` (f = the decoder's ``factor``). ``valid`` ``[B, 2]``
        (image px): each image's size inside a padded batch (masked models; see ``VGG19(valid=)``)."""
        return self.decoder(t, valid=None if valid is None else valid // self.decoder.factor)

    def targets(self, t: jax.Array) -> dict[str, jax.Array]:
        """VGG features the stylized image should have (training-free ``decoder="optimize"``)."""
        return {self.feature_layer: t}

    def optimize_objective(self) -> tuple[tuple[str, ...], float, float]:
        """``decoder="optimize"``'s objective as ``(style-statistics layers, content weight, style weight)``; by
        default the training loss's layers and weights."""
        return tuple(self.style_layers), float(self.content_weight), float(self.style_weight)

    def prepare_style(self, fs: Any) -> Any:
        """Style-only products of ``transform`` from the features of one style (``[1, hs, ws, C]`` or the model's
        feature dict); the default keeps the features themselves."""
        return fs

    def content_state(self, fc: Any, valid: jax.Array | None = None) -> Any:
        """What the transform takes from the content as a whole (its global statistics), for video mode to carry
        across frames (``transform_prepared(..., state=)``); ``None`` (the default): the method has none."""
        return None

    def transform_prepared(self, fc: Any, style: Any, alpha: float | jax.Array = 1.0, valid: jax.Array | None = None,
                           **kw) -> Any:
        """``transform`` with the style side from :meth:`prepare_style`. ``valid``: ``[B, 2]`` int32, each content's
        true (padded-to-``size_multiple``) height and width in image px inside a padded grid (``masked`` models)."""
        if valid is not None:
            raise ValueError(f"{type(self).__name__} does not take padded contents (valid=)")
        return self.transform(fc, jax.tree.map(lambda x: jax.numpy.broadcast_to(x, (fc.shape[0], *x.shape[1:])),
                                               style), alpha, **kw)
