"""Inference weights as flat ``.npz`` files (``"decoder/convs/0/kernel"`` keys), read with NumPy only."""

from __future__ import annotations

import os
import pathlib

import numpy as np
from flax import nnx

from jaxstyle._io import atomic_path


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + "/") if isinstance(v, dict) else {key: np.asarray(v)})
    return out


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, v in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(int(p) if p.isdigit() else p, {})
        node[int(leaf) if leaf.isdigit() else leaf] = v
    return tree


def flat_params(model: nnx.Module) -> dict[str, np.ndarray]:
    """Every ``nnx.Param`` of ``model`` as ``{"decoder/convs/0/kernel": array, ...}``."""
    return _flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def save_params(model: nnx.Module, path: str | os.PathLike, *, overwrite: bool = False,
                dtype: np.dtype | None = None) -> pathlib.Path:
    """Write every ``nnx.Param`` of ``model`` to ``path`` (``.npz``), optionally cast (e.g. ``np.float16``)."""
    flat = flat_params(model)
    if dtype is not None:
        flat = {k: v.astype(dtype) for k, v in flat.items()}
    with atomic_path(path, overwrite=overwrite, error=ValueError) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **flat)
    return pathlib.Path(path)


def load_params(model: nnx.Module, path: str | os.PathLike, *, strict: bool = True) -> nnx.Module:
    """Load ``.npz`` parameters into ``model`` in place (cast to each parameter's dtype) and return it.

    Every missing, unexpected or mis-shaped key is reported at once in one ``ValueError``; with
    ``strict=False`` missing and unexpected keys are tolerated (shapes must still match).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: parameter file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
    except Exception as e:
        raise ValueError(f"{path}: not a parameter .npz ({e})") from None
    state = nnx.state(model, nnx.Param)
    want = flat_params(model)
    missing = sorted(set(want) - set(flat))
    unexpected = sorted(set(flat) - set(want))
    shapes = [f"{k}: file {flat[k].shape} vs model {want[k].shape}" for k in sorted(set(want) & set(flat))
              if flat[k].shape != want[k].shape]
    problems = shapes + ([f"missing {missing}"] if missing and strict else []) + (
        [f"unexpected {unexpected}"] if unexpected and strict else [])
    if problems:
        raise ValueError(f"{path}: parameters do not fit the model: " + "; ".join(problems))
    merged = {k: flat.get(k, v).astype(v.dtype) for k, v in want.items()}
    nnx.replace_by_pure_dict(state, _unflatten(merged))
    nnx.update(model, state)
    return model
