"""Inference weights as flat ``.npz`` files (``"decoder/convs/0/kernel"`` keys), read with NumPy only.

A file may carry metadata under the key ``__meta__`` (a JSON string: method, model config, encoder identity,
training step, ...); :mod:`jaxstyle.export` writes it and :func:`jaxstyle.load_pretrained` reads it.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import jax.numpy as jnp
import jax
import numpy as np
from flax import nnx

from jaxstyle._io import atomic_path, listed, npz_problem

META_KEY = "__meta__"
Q8_SUFFIX, SCALE_SUFFIX = "::q8", "::scale"  # an int8-quantized array and its per-output-channel scales


def quantize_int8(flat: dict[str, np.ndarray], *, max_rel_error: float = 0.02) -> dict[str, np.ndarray]:
    """Every array of rank >= 2 as int8 ``KEY::q8`` plus float32 ``KEY::scale`` (symmetric, one scale per output
    channel, the last axis); the rest as float16. About half the size of float16; :func:`read_npz` dequantizes.

    A matrix whose int8 copy is off by more than ``max_rel_error`` (Frobenius, relative) stays float16: one large
    entry per column (e.g. Style Kernel's near-permutation output conv) leaves the small ones a coarse grid, and
    there int8 moved the image 2.9/255 against 0.3/255 with that one matrix float16."""
    out = {}
    for k, v in flat.items():
        v = np.asarray(v, np.float32)
        if v.ndim < 2:
            out[k] = v.astype(np.float16)
            continue
        scale = np.abs(v).reshape(-1, v.shape[-1]).max(0) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.round(v / scale), -127, 127).astype(np.int8)
        err = np.linalg.norm(q * scale - v) / max(float(np.linalg.norm(v)), 1e-30)
        if err > max_rel_error:
            out[k] = v.astype(np.float16)
            continue
        out[k + Q8_SUFFIX] = q
        out[k + SCALE_SUFFIX] = scale
    return out


def _dequantize(flat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {k: v for k, v in flat.items() if not k.endswith((Q8_SUFFIX, SCALE_SUFFIX))}
    for k in flat:
        if k.endswith(Q8_SUFFIX):
            base = k[: -len(Q8_SUFFIX)]
            out[base] = flat[k].astype(np.float32) * flat[base + SCALE_SUFFIX]
    return out


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts → ``{"a/b/c": array}``."""
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        leaf = v if isinstance(v, jax.ShapeDtypeStruct) else np.asarray(v)  # abstract models stay abstract
        out.update(flatten(v, key + "/") if isinstance(v, dict) else {key: leaf})
    return out


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    """``{"a/b/0": array}`` → nested dicts (digit path parts become ints, as in ``nnx.to_pure_dict``)."""
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
    return flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def write_npz(path: str | os.PathLike, flat: dict[str, np.ndarray], *, meta: dict | None = None,
              overwrite: bool = False, dtype: Any = None) -> pathlib.Path:
    """Atomically write ``flat`` arrays (optionally cast, e.g. ``np.float16``) and ``meta`` to ``path`` (a
    zip-deflated ``.npz``: int8 weights shrink ~8%)."""
    arrays = {k: (np.asarray(v).astype(dtype) if dtype is not None else np.asarray(v)) for k, v in flat.items()}
    if meta is not None:
        arrays[META_KEY] = np.asarray(json.dumps(meta, sort_keys=True))
    with atomic_path(path, overwrite=overwrite, error=ValueError) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return pathlib.Path(path)


def _meta(stored: np.ndarray | None) -> dict:
    """The JSON metadata array of a weights ``.npz`` (``{}`` when absent). Raises ``ValueError``."""
    meta = {} if stored is None else json.loads(str(stored))
    if not isinstance(meta, dict):
        raise ValueError("its metadata is not a JSON object")
    return meta


def read_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """``(flat arrays, metadata)`` of a weights ``.npz`` (metadata ``{}`` when absent; int8-quantized arrays come
    back dequantized, float32). Raises ``ValueError``."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: parameter file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
        meta = _meta(flat.pop(META_KEY, None))
        odd = [k for k, a in flat.items() if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype,
                                                                                                   np.integer))]
        if odd:
            raise ValueError(f"array {odd[0]!r} holds {flat[odd[0]].dtype} values, not real numbers")
        flat = _dequantize(flat)
    except Exception as e:
        raise ValueError(f"{path}: not a parameter .npz ({npz_problem(e)})") from None
    return flat, meta


def read_meta(path: str | os.PathLike) -> dict:
    """Only the metadata of a weights ``.npz`` (``{}`` when absent); the arrays are not read."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return _meta(z[META_KEY] if META_KEY in z.files else None)
    except Exception as e:
        raise ValueError(f"{path}: not a parameter .npz ({npz_problem(e)})") from None


def save_params(model: nnx.Module, path: str | os.PathLike, *, overwrite: bool = False,
                dtype: np.dtype | None = None, meta: dict | None = None) -> pathlib.Path:
    """Write every ``nnx.Param`` of ``model`` to ``path`` (``.npz``), optionally cast (e.g. ``np.float16``)."""
    return write_npz(path, flat_params(model), meta=meta, overwrite=overwrite, dtype=dtype)


def set_flat_params(model: nnx.Module, flat: dict[str, np.ndarray], *, strict: bool = True,
                    source: str = "<params>") -> nnx.Module:
    """Load flat arrays into ``model``'s ``nnx.Param``s in place (cast to each parameter's dtype).

    Every missing, unexpected or mis-shaped key is reported at once in one ``ValueError``; with
    ``strict=False`` missing and unexpected keys are tolerated (shapes must still match).
    """
    state = nnx.state(model, nnx.Param)
    want = flat_params(model)
    missing = sorted(set(want) - set(flat))
    unexpected = sorted(set(flat) - set(want))
    shapes = [f"{k}: file {flat[k].shape} vs model {want[k].shape}" for k in sorted(set(want) & set(flat))
              if flat[k].shape != want[k].shape]
    problems = _few(shapes, "with another shape") + (_few(missing, "missing") if strict else []) + (
        _few(unexpected, "unexpected") if strict else [])
    if problems:
        raise ValueError(f"{source}: parameters do not fit the model ({len(flat)} in the file, {len(want)} in the "
                         "model): " + "; ".join(problems) + "; is it a file for this method and config?")
    # jax arrays, not NumPy: an eager (un-jitted) call indexes parameters with traced offsets inside lax loops
    merged = {k: jnp.asarray(np.asarray(flat.get(k, v)).astype(v.dtype)) for k, v in want.items()}
    nnx.replace_by_pure_dict(state, unflatten(merged))
    nnx.update(model, state)
    return model


def _few(items: list[str], what: str) -> list[str]:
    """``["<count> <what>: a, b, c and 7 more"]`` (one short clause), or ``[]``."""
    return [f"{len(items)} {what}: {listed(items)}"] if items else []


def load_params(model: nnx.Module, path: str | os.PathLike, *, strict: bool = True) -> nnx.Module:
    """Load a weights ``.npz`` into ``model`` in place and return it (see :func:`set_flat_params`)."""
    flat, _ = read_npz(path)
    return set_flat_params(model, flat, strict=strict, source=str(path))
