"""A reusable stylizer: compiled programs and feature caches kept across calls (``infer.py`` runs on it).

Every content and every style goes through the VGG encoder once; what a method computes from the style alone
(AdaIN/LST statistics and matrices, AdaAttN's keys and values, the GNN's style features) is cached per style, and
each (content, style) pair only runs the transform and the decoder. Images are reflect-padded to a few bucket sizes
(each side a multiple of ``bucket``) so a folder of mixed sizes compiles a handful of programs, not one per shape:
methods whose statistics, attention and matching take a validity mask (``model.masked``: AdaIN, LST, AdaAttN) ignore
the padding, every convolution pads at the image's own edge (``ops.conv.pad_beyond``), and the output is cropped
back: the same result as the exact shape, up to float rounding. Batches run data-parallel over a 1-D mesh of the local devices.

    s = jaxstyle.Stylizer("adain")
    key = s.add_style(painting)          # [Hs, Ws, 3] float in [0, 1]
    out = s(photo, key)                  # [H, W, 3]
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
from typing import Any, Hashable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxstyle.ops import color

DEFAULT_BUCKET = 128


class _LRU:
    """A byte-bounded least-recently-used map (the newest entry is kept even when it alone exceeds the bound)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._items: collections.OrderedDict[Hashable, tuple[Any, int]] = collections.OrderedDict()
        self.bytes = 0

    def get(self, key: Hashable) -> Any:
        value, _ = self._items[key]
        self._items.move_to_end(key)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def put(self, key: Hashable, value: Any) -> None:
        if key in self._items:
            self.bytes -= self._items.pop(key)[1]
        size = _nbytes(value)
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._items) > 1:
            self.bytes -= self._items.popitem(last=False)[1][1]


def _nbytes(tree: Any) -> int:
    return sum(int(x.nbytes) for x in jax.tree.leaves(tree))


@dataclasses.dataclass
class Encoded:
    """A batch of encoded contents: device features of the padded images and, per image, its true size."""

    features: Any            # the model's features, leading axis = the stylizer's batch (sharded over the mesh)
    valid: jax.Array         # [B, 2] int32: padded-to-size_multiple (height, width) inside the bucket
    images: jax.Array        # [B, Hb, Wb, 3] the padded images (preserve_color reads them)
    sizes: list[tuple[int, int]]  # the real images' (height, width), one per real item (not the batch padding)

    @property
    def nbytes(self) -> int:
        return _nbytes((self.features, self.images))


def _digest(img: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(img).tobytes() + str(img.shape).encode(), digest_size=16).hexdigest()


def _as_image(x: Any, name: str) -> np.ndarray:
    from jaxstyle.api import _as_images

    arr = _as_images(x, name)
    if arr.shape[0] != 1:
        raise ValueError(f"{name}: one image [H, W, 3] expected here, got a batch of {arr.shape[0]}")
    return arr[0]


class Stylizer:
    """A loaded model with its compiled programs and feature caches, for stylizing many images.

    Args:
      method, checkpoint, vgg_weights, seed: as :func:`jaxstyle.stylize` (default method: the checkpoint's, else
        ``"gnn"``).
      alpha: content–style trade-off in [0, 1] (one program per value).
      k, sample_tau, sample_seed, fold_size: graph-method controls, as :func:`jaxstyle.stylize`.
      preserve_color: keep the contents' colours.
      bucket: each padded side is a multiple of this many px (a multiple of the model's ``size_multiple``; methods
        without masked statistics, the GNN and Style Kernel, use ``size_multiple`` itself, i.e. exact shapes).
      style_bucket: pad styles to the same buckets (they then share the contents' encoder programs; the result is
        the same). ``False``: each style is encoded at its own size (one more encoder compile per style shape).
      batch_size: contents per device in one program; a call's batch is ``batch_size × len(devices)``.
      devices: the devices of the 1-D data-parallel mesh; default: all local devices.
      cache_mb: bound of each feature cache (contents' features, styles' products), least recently used evicted.

    Memory: the style products of the styles in use plus ``cache_mb`` of content features (8 MB per 512² image at
    relu4_1 for AdaIN/LST, ~60 MB for AdaAttN's five levels).
    """

    def __init__(self, method: str | None = None, checkpoint: str | os.PathLike | None = None, *, alpha: float = 1.0,
                 k: int | None = None, sample_tau: float | None = None, sample_seed: int = 0,
                 fold_size: int | None = None, preserve_color: bool = False, bucket: int = DEFAULT_BUCKET,
                 style_bucket: bool = True, batch_size: int = 1, devices: Sequence[jax.Device] | None = None,
                 cache_mb: int = 2048,
                 vgg_weights: str | os.PathLike | None = None, seed: int = 0):
        from jaxstyle.api import _cached_model
        from jaxstyle.params import read_meta

        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha={alpha}: must be in [0, 1]")
        if int(batch_size) < 1 or int(bucket) < 1:
            raise ValueError(f"batch_size={batch_size}, bucket={bucket}: both must be >= 1")
        if sample_tau is not None and not float(sample_tau) >= 0:
            raise ValueError(f"sample_tau={sample_tau}: must be >= 0 (0 attends to all k edges)")
        if method is None:
            method = (read_meta(checkpoint).get("method") if checkpoint is not None else None) or "gnn"
        self.method = method
        runner = _cached_model(method, None if checkpoint is None else os.fspath(checkpoint),
                               None if vgg_weights is None else os.fspath(vgg_weights), seed)
        self._runner = runner
        model = nnx.merge(runner.graphdef, runner.state)
        self.masked = bool(model.masked)
        self.size_multiple = m = runner.size_multiple
        self.bucket = -(-int(bucket) // m) * m if self.masked else m
        self.style_bucket = bool(style_bucket)
        self.alpha = float(alpha)
        self.preserve_color = bool(preserve_color)
        graph = (() if sample_tau is None else (("sample_tau", float(sample_tau)), ("seed", int(sample_seed)))) + \
            (() if fold_size is None else (("fold_size", int(fold_size)),))
        self._graph_kw = runner._kw(None if k is None else int(k), graph)
        self.k = k
        self.devices = list(devices) if devices is not None else jax.local_devices()
        self.mesh = Mesh(np.array(self.devices), ("batch",))
        self.batch = int(batch_size) * len(self.devices)
        self._shard = NamedSharding(self.mesh, PartitionSpec("batch"))
        self._replicated = NamedSharding(self.mesh, PartitionSpec())
        self._graphdef = runner.graphdef
        self._state = jax.device_put(runner.state, self._replicated)
        self._encode = jax.jit(self._encode_fn)
        self._prepare = jax.jit(self._prepare_fn, static_argnames=("height", "valid"))
        self._apply = jax.jit(self._apply_fn, static_argnames=("alpha",))
        self._content_state = jax.jit(self._content_state_fn)
        self._styles = _LRU(cache_mb << 20)
        self._style_images: dict[Hashable, np.ndarray] = {}
        self._style_valid: dict[Hashable, tuple[int, int]] = {}
        self._contents = _LRU(cache_mb << 20)
        self._last_style: Hashable | None = None
        self.counts = collections.Counter()  # "content_encodes", "style_encodes", "pairs"

    # ----------------------------------------------------------------------------------------------- programs
    def _encode_fn(self, state, x, valid):
        model = nnx.merge(self._graphdef, state)
        return model.encode(x, valid=valid) if self.masked else model.encode(x)

    def _prepare_fn(self, state, f, *, height, valid):
        """Crop one style's features (encoded padded to ``height`` px) to its valid part (exact: strides divide
        ``size_multiple``) and prepare them: a small program per style shape; the encoder is the contents'."""
        def crop(a):
            stride = height // a.shape[1]
            return a[:, : valid[0] // stride, : valid[1] // stride]

        return nnx.merge(self._graphdef, state).prepare_style(jax.tree.map(crop, f))

    def _content_state_fn(self, state, fc, valid):
        model = nnx.merge(self._graphdef, state)
        return model.content_state(fc, valid) if self.masked else model.content_state(fc)

    def _apply_fn(self, state, fc, valid, style, images, content_state=None, *, alpha):
        model = nnx.merge(self._graphdef, state)
        kw = ({"valid": valid} if self.masked else {}) | ({} if content_state is None else {"state": content_state})
        t = model.transform_prepared(fc, style, alpha, **kw, **self._graph_kw)
        out = jnp.clip(model.decode(t, valid) if self.masked else model.decode(t), 0.0, 1.0)
        return color.preserve_color(out, images) if self.preserve_color else out

    # ----------------------------------------------------------------------------------------------- shapes
    def bucket_shape(self, height: int, width: int, *, style: bool = False,
                     bucket: int | None = None) -> tuple[int, int]:
        """The padded ``(H, W)`` an image of this size is encoded at (styles are first cropped to
        ``size_multiple``, as :func:`jaxstyle.stylize` does); ``bucket``: another multiple than the stylizer's
        (e.g. ``size_multiple`` for a video, whose frames share one shape anyway)."""
        m, b = self.size_multiple, self.bucket if bucket is None else bucket
        if style:
            height, width = height // m * m, width // m * m
            if not self.style_bucket:
                return height, width
        return -(-height // b) * b, -(-width // b) * b

    def pad_image(self, img: np.ndarray, *, style: bool = False,
                  bucket: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """``[H, W, 3]`` → (reflect-padded ``[Hb, Wb, 3]``, its valid ``(h, w)``: contents padded to
        ``size_multiple``, styles cropped to it; ``bucket``: as :meth:`bucket_shape`). Runs on the host (a loader
        thread may call it)."""
        m = self.size_multiple
        if style:
            img = img[: img.shape[0] // m * m, : img.shape[1] // m * m]
            if min(img.shape[:2]) < m:
                raise ValueError(f"style: {img.shape[0]}x{img.shape[1]} is smaller than {m} px on a side")
        h, w = img.shape[:2]
        hb, wb = self.bucket_shape(h, w, style=style, bucket=bucket)
        padded = np.pad(img, ((0, hb - h), (0, wb - w), (0, 0)), mode="reflect") if (hb, wb) != (h, w) else img
        return np.ascontiguousarray(padded, np.float32), (-(-h // m) * m, -(-w // m) * m)

    # ----------------------------------------------------------------------------------------------- styles
    def add_style(self, image: Any, key: Hashable | None = None) -> Hashable:
        """Encode a style ``[Hs, Ws, 3]`` (float in [0, 1]) once and cache what the method needs from it.

        Returns its key (``key``, default: a digest of the pixels), to pass to :meth:`__call__` / :meth:`apply`.
        """
        img = _as_image(image, "style")
        key = _digest(img) if key is None else key
        self._style_images[key] = img
        self._last_style = key
        self._style(key)
        return key

    def _style(self, key: Hashable) -> Any:
        if key in self._styles:
            return self._styles.get(key)
        if key not in self._style_images:
            raise KeyError(f"style {key!r}: unknown; call add_style first")
        img = self._style_images[key]
        padded, valid = self.pad_image(img, style=True)
        self._style_valid[key] = valid
        # one image: on a one-program-per-image stylizer it reuses the contents' encoder program of its bucket
        where = self._shard if self.batch == 1 else self._replicated
        x, v = (jax.device_put(a, where) for a in (padded[None], np.array([valid], np.int32)))
        products = self._prepare(self._state, self._encode(self._state, x, v), height=padded.shape[0], valid=valid)
        self.counts["style_encodes"] += 1
        self._styles.put(key, products)
        return products

    @property
    def cache_bytes(self) -> int:
        """The byte bound of each feature cache (``cache_mb``)."""
        return self._styles.max_bytes

    def style_bytes(self, key: Hashable) -> int:
        """Device bytes of one style's cached products (infer.py sizes its style blocks with it)."""
        return _nbytes(self._style(key))

    # ----------------------------------------------------------------------------------------------- contents
    def encode(self, images: Sequence[np.ndarray], *, padded: Sequence[tuple[np.ndarray, tuple[int, int]]]
               | None = None) -> Encoded:
        """Encode up to ``self.batch`` contents ``[H, W, 3]`` that share a bucket (:meth:`bucket_shape`); the batch
        is filled up by repeating the last image. ``padded``: their :meth:`pad_image` results, if already made."""
        if not 1 <= len(images) <= self.batch:
            raise ValueError(f"encode takes 1..{self.batch} images, got {len(images)}")
        padded = list(padded) if padded is not None else [self.pad_image(np.asarray(im, np.float32))
                                                           for im in images]
        if len({p.shape for p, _ in padded}) != 1:
            raise ValueError("encode: the images fall into different buckets; group them by bucket_shape")
        pad = [padded[-1]] * (self.batch - len(padded))
        x = np.stack([p for p, _ in padded + pad])
        valid = np.array([v for _, v in padded + pad], np.int32)
        x, valid = jax.device_put(x, self._shard), jax.device_put(valid, self._shard)
        feats = self._encode(self._state, x, valid)
        self.counts["content_encodes"] += len(images)
        return Encoded(feats, valid, x, [tuple(im.shape[:2]) for im in images])

    def content_state(self, enc: Encoded) -> Any:
        """The method's whole-content statistics of an encoded batch (``model.content_state``: AdaIN's channel mean
        and std, LST's ``T_c``; ``None`` for methods without), to pass to :meth:`apply` (video mode)."""
        return self._content_state(self._state, enc.features, enc.valid)

    def apply(self, enc: Encoded, style: Hashable | None = None, *, alpha: float | None = None,
              content_state: Any = None) -> jax.Array:
        """Stylize an encoded batch with a cached style: ``[batch, Hb, Wb, 3]`` on the devices (asynchronous;
        :meth:`crop` gives the images). ``content_state``: :meth:`content_state` of another batch (e.g. a video's
        first frame) used instead of this one's."""
        key = self._last_style if style is None else style
        if key is None:
            raise ValueError("no style: call add_style first")
        products = self._style(key)
        if self._runner.check is not None:  # one clear ValueError for shapes the model cannot take
            self._runner.check(enc.images.shape, (enc.images.shape[0], *self._style_valid[key], 3),
                               *([] if self.k is None or not self._runner.takes_k else [int(self.k)]))
        a = self.alpha if alpha is None else float(alpha)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"alpha={a}: must be in [0, 1]")
        self.counts["pairs"] += len(enc.sizes)
        return self._apply(self._state, enc.features, enc.valid, products, enc.images, content_state, alpha=a)

    def video(self, style: Any = None, *, blend: float = 0.5, stats_momentum: float = 0.0):
        """A :class:`jaxstyle.video.VideoStylizer` for one video's frames, in order: the style (a key from
        :meth:`add_style`, an image, or ``None``: the last style added) is prepared once; the content's global
        statistics are carried across frames (``stats_momentum``) and each output is blended with the previous
        one along the optical flow (``blend``; see :mod:`jaxstyle.video`).

            v = s.video(painting)
            outs = [v(frame) for frame in frames]   # each [H, W, 3]
        """
        from jaxstyle.video import VideoStylizer

        if style is None:
            style = self._last_style
        elif not isinstance(style, Hashable):
            style = self.add_style(style)
        if style is None:
            raise ValueError("no style: pass one or call add_style first")
        self._style(style)
        return VideoStylizer(self, style, blend=blend, stats_momentum=stats_momentum)

    @staticmethod
    def crop(enc: Encoded, out: jax.Array) -> list[np.ndarray]:
        """The real images of :meth:`apply`'s output, each cropped to its content's size (blocks on the device)."""
        arr = np.asarray(out)
        return [arr[i, :h, :w] for i, (h, w) in enumerate(enc.sizes)]

    def __call__(self, content: Any, style: Any = None, *, alpha: float | None = None) -> np.ndarray:
        """Stylize ``content`` (``[H, W, 3]`` or ``[B, H, W, 3]``) with ``style`` (a key from :meth:`add_style`, an
        image, or ``None``: the last style added). Content features are cached by their pixels' digest."""
        if style is not None and not isinstance(style, Hashable):
            style = self.add_style(style)
        arr = np.asarray(content)
        batch = [_as_image(x, "content") for x in (arr if arr.ndim == 4 else arr[None])]
        outs: list[np.ndarray] = [None] * len(batch)  # type: ignore[list-item]
        groups: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
        for i, img in enumerate(batch):
            groups[self.bucket_shape(*img.shape[:2])].append(i)
        for idx in groups.values():
            for j in range(0, len(idx), self.batch):
                chunk = idx[j: j + self.batch]
                key = tuple(_digest(batch[i]) for i in chunk)
                if key not in self._contents:
                    self._contents.put(key, self.encode([batch[i] for i in chunk]))
                enc = self._contents.get(key)
                for i, img in zip(chunk, self.crop(enc, self.apply(enc, style, alpha=alpha))):
                    outs[i] = img
        return np.stack(outs) if arr.ndim == 4 else outs[0]
