"""Convert the officially released PyTorch checkpoints of AdaIN, AdaAttN and LST into jaxstyle model files.

``python -m jaxstyle.weights convert-official METHOD FILES... --out MODEL.npz``

Each ``.pth`` is read by :func:`jaxstyle.weights.torch_pickle.load_torch_file` (no torch import, no pickle code
runs) and recognised by its keys, so the files may come in any order:

==========  =====================================================================================================
method      files (as released)
==========  =====================================================================================================
adain       ``vgg_normalised.pth`` (encoder), ``decoder.pth`` (naoto0804/pytorch-AdaIN)
adaattn     ``vgg_normalised.pth`` (encoder; the release uses AdaIN's), ``latest_net_adaattn_3.pth``,
            ``latest_net_transformer.pth``, ``latest_net_decoder.pth`` (Huage001/AdaAttN)
lst         ``vgg_r41.pth``, ``dec_r41.pth``, ``r41.pth`` — or the r31 set ``vgg_r31.pth``, ``dec_r31.pth``,
            ``r31.pth`` (sunshineatnoon/LinearStyleTransfer)
==========  =====================================================================================================

The output is an exported model (:mod:`jaxstyle.export`'s format, float32) that also embeds the official encoder
(``vgg/<conv>/kernel`` keys), since the official decoders only fit it; :func:`jaxstyle.load_pretrained`,
``jaxstyle.stylize(checkpoint=...)`` and ``infer.py --checkpoint`` use it as any exported model. This module
imports nothing of the network code.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Mapping

import numpy as np

from jaxstyle.weights.convert import from_normalised, read_state_dict, sha256_file
from jaxstyle.weights.store import VGG19_CONVS, WeightsError, _validate

MODEL_FORMAT = "jaxstyle-weights/1"
ENCODER_PREFIX = "vgg/"

# file kind -> (the official file name, the method it belongs to)
KINDS: dict[str, tuple[str, str]] = {
    "vgg_normalised": ("vgg_normalised.pth", "adain/adaattn"),
    "adain_decoder": ("decoder.pth", "adain"),
    "adaattn_3": ("latest_net_adaattn_3.pth", "adaattn"),
    "adaattn_transformer": ("latest_net_transformer.pth", "adaattn"),
    "adaattn_decoder": ("latest_net_decoder.pth", "adaattn"),
    "lst_vgg_r41": ("vgg_r41.pth", "lst"), "lst_dec_r41": ("dec_r41.pth", "lst"), "lst_r41": ("r41.pth", "lst"),
    "lst_vgg_r31": ("vgg_r31.pth", "lst"), "lst_dec_r31": ("dec_r31.pth", "lst"), "lst_r31": ("r31.pth", "lst"),
}
METHODS: dict[str, tuple[tuple[str, ...], ...]] = {  # method -> accepted file sets
    "adain": (("vgg_normalised", "adain_decoder"),),
    "adaattn": (("vgg_normalised", "adaattn_3", "adaattn_transformer", "adaattn_decoder"),),
    "lst": (("lst_vgg_r41", "lst_dec_r41", "lst_r41"), ("lst_vgg_r31", "lst_dec_r31", "lst_r31")),
}

_ADAIN_DECODER_IDX = (1, 5, 8, 11, 14, 18, 21, 25, 28)  # the nn.Sequential indices of its 9 convs
_ADAATTN_DECODER = ("decoder_layer_1.1",) + tuple(f"decoder_layer_2.{i}" for i in (1, 4, 7, 10, 14, 17, 21, 24))
_LST_DECODER = {"r41": tuple(f"conv{i}" for i in range(11, 20)), "r31": tuple(f"conv{i}" for i in range(7, 12))}
_LST_ENCODER = {"r41": 9, "r31": 5}  # 3x3 convs after the 1x1 preprocessing conv (conv2 ... conv10 / conv6)


def _t(state: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in state:
        raise WeightsError(f"key {key!r} missing")
    return np.asarray(state[key], np.float32)


def _conv3(state, name: str) -> dict[str, np.ndarray]:
    """``name.weight`` OIHW 3×3 → ``kernel`` HWIO, ``bias``."""
    w = _t(state, f"{name}.weight")
    if w.ndim != 4 or w.shape[2:] != (3, 3):
        raise WeightsError(f"{name}.weight has shape {w.shape}, expected a 3x3 conv")
    return {"kernel": np.ascontiguousarray(w.transpose(2, 3, 1, 0)), "bias": _t(state, f"{name}.bias")}


def _conv1(state, name: str, *, hwio: bool = False) -> dict[str, np.ndarray]:
    """``name.weight`` ``[out, in, 1, 1]`` → ``kernel`` ``[in, out]`` (or ``[1, 1, in, out]``), ``bias``."""
    w = _t(state, f"{name}.weight")
    if w.ndim != 4 or w.shape[2:] != (1, 1):
        raise WeightsError(f"{name}.weight has shape {w.shape}, expected a 1x1 conv")
    k = w[:, :, 0, 0].T
    return {"kernel": np.ascontiguousarray(k[None, None] if hwio else k), "bias": _t(state, f"{name}.bias")}


def _put(flat: dict, prefix: str, arrays: Mapping[str, np.ndarray]) -> None:
    flat.update({f"{prefix}/{k}": v for k, v in arrays.items()})


def classify(state: Mapping[str, Any]) -> str | None:
    """The kind of an official state dict (a key of :data:`KINDS`), or ``None``."""
    keys = set(state)

    def shape(k):
        return tuple(np.shape(state[k])) if k in keys else ()

    if "0.weight" in keys and shape("0.weight")[2:] == (1, 1):
        return "vgg_normalised"
    if {"1.weight", "28.weight"} <= keys and shape("1.weight")[:2] == (256, 512):
        return "adain_decoder"
    if "attn_adain_4_1.f.weight" in keys:
        return "adaattn_transformer"
    if {"f.weight", "g.weight", "h.weight"} <= keys:
        return "adaattn_3"
    if "decoder_layer_1.1.weight" in keys:
        return "adaattn_decoder"
    if "snet.fc.weight" in keys:
        return "lst_r41" if shape("compress.weight")[1:2] == (512,) else "lst_r31"
    if "conv1.weight" in keys and shape("conv1.weight")[2:] == (1, 1):
        return "lst_vgg_r41" if "conv10.weight" in keys else "lst_vgg_r31" if "conv6.weight" in keys else None
    if "conv19.weight" in keys:
        return "lst_dec_r41"
    if {"conv7.weight", "conv11.weight"} <= keys:
        return "lst_dec_r31"
    return None


def _read(path: pathlib.Path) -> Mapping[str, Any]:
    state = read_state_dict(path)
    return {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}  # DataParallel prefix


def _encoder_lst(state, variant: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    pre = _conv1(state, "conv1", hwio=True)
    arrays = {"preprocess/kernel": pre["kernel"], "preprocess/bias": pre["bias"]}
    for i, name in enumerate(VGG19_CONVS[:_LST_ENCODER[variant]]):
        arrays.update({f"{name}/{k}": v for k, v in _conv3(state, f"conv{i + 2}").items()})
    # LST's encoders end early (conv3_1 / conv4_1) and pool with floor rounding
    return arrays, {"preprocess": "normalised", "pool": "floor", "last_conv": VGG19_CONVS[_LST_ENCODER[variant] - 1]}


def _adaattn_block(flat, prefix: str, state, name: str = "") -> None:
    for p in ("f", "g", "h"):
        _put(flat, f"{prefix}/{p}", _conv1(state, f"{name}{p}"))


def _lst_net(flat, prefix: str, state) -> None:
    for i, idx in enumerate((0, 2, 4)):
        _put(flat, f"{prefix}/convs/{i}", _conv3(state, f"{prefix}.convs.{idx}"))
    flat[f"{prefix}/fc_kernel"] = np.ascontiguousarray(_t(state, f"{prefix}.fc.weight").T)
    flat[f"{prefix}/fc_bias"] = _t(state, f"{prefix}.fc.bias")


def convert_official(method: str, files: list[str | os.PathLike], out: str | os.PathLike, *,
                     overwrite: bool = False) -> pathlib.Path:
    """Convert an official release (see the module docstring) into a jaxstyle model ``.npz`` at ``out``.

    Raises:
      WeightsError: unknown method, unreadable/truncated file, a file of another method or layout, a missing or
        duplicated file, or arrays of unexpected shapes (every message names the file and the fix).
    """
    from jaxstyle.params import write_npz  # NumPy only

    if method not in METHODS:
        raise WeightsError(f"convert-official: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    found: dict[str, tuple[pathlib.Path, Mapping[str, Any]]] = {}
    for f in map(pathlib.Path, files):
        state = _read(f)
        kind = classify(state)
        if kind is None:
            raise WeightsError(f"{f}: not a file of an official AdaIN, AdaAttN or LST release (unrecognised keys, "
                               f"e.g. {sorted(state)[:3]})")
        if not any(kind in s for s in METHODS[method]):
            name, owner = KINDS[kind]
            raise WeightsError(f"{f}: this is {owner}'s {name}, not a file of the official {method} release")
        if kind in found:
            raise WeightsError(f"{f}: a second {KINDS[kind][0]} (first: {found[kind][0]})")
        found[kind] = (f, state)
    fileset = next((s for s in METHODS[method] if set(found) <= set(s)), None)
    missing = [KINDS[k][0] for k in fileset if k not in found] if fileset else []
    if fileset is None or missing:
        want = " + ".join(KINDS[k][0] for k in (fileset or METHODS[method][0]))
        raise WeightsError(f"convert-official {method}: missing {', '.join(missing) or 'files'}; pass {want}")

    flat: dict[str, np.ndarray] = {}
    model: dict[str, Any] = {}
    try:
        if method == "adain":
            enc_kind = "vgg_normalised"
            st = found["adain_decoder"][1]
            for i, idx in enumerate(_ADAIN_DECODER_IDX):
                _put(flat, f"decoder/convs/{i}", _conv3(st, str(idx)))
        elif method == "adaattn":
            enc_kind = "vgg_normalised"
            _adaattn_block(flat, "attn_3", found["adaattn_3"][1])
            st = found["adaattn_transformer"][1]
            _adaattn_block(flat, "attn_4", st, "attn_adain_4_1.")
            _adaattn_block(flat, "attn_5", st, "attn_adain_5_1.")
            _put(flat, "merge", _conv3(st, "merge_conv"))
            for i, name in enumerate(_ADAATTN_DECODER):
                _put(flat, f"decoder/convs/{i}", _conv3(found["adaattn_decoder"][1], name))
        else:
            variant = "r41" if "lst_r41" in found else "r31"
            enc_kind = f"lst_vgg_{variant}"
            model["layer"] = "relu4_1" if variant == "r41" else "relu3_1"
            st = found[f"lst_{variant}"][1]
            _lst_net(flat, "snet", st)
            _lst_net(flat, "cnet", st)
            _put(flat, "compress", _conv1(st, "compress", hwio=True))
            _put(flat, "unzip", _conv1(st, "unzip", hwio=True))
            for i, name in enumerate(_LST_DECODER[variant]):
                _put(flat, f"decoder/convs/{i}", _conv3(found[f"lst_dec_{variant}"][1], name))
        enc_path, enc_state = found[enc_kind]
        enc, enc_meta = (from_normalised(enc_state) if enc_kind == "vgg_normalised"
                         else _encoder_lst(enc_state, enc_kind[-3:]))
    except WeightsError as e:
        raise WeightsError(f"convert-official {method}: {e}; is every file from the official release?") from None
    _validate(enc, {"format": "jaxstyle-vgg19/1", **enc_meta}, str(enc_path))
    flat.update({ENCODER_PREFIX + k: v for k, v in enc.items()})
    sources = {KINDS[k][0]: {"file": p.name, "sha256": sha256_file(p)} for k, (p, _) in found.items()}
    meta = {
        "format": MODEL_FORMAT,
        "method": method,
        "model": model,
        "step": None,
        "dtype": "float32",
        "encoder": {"embedded": True, **enc_meta, "padding": "reflect",
                    "source_sha256": sources[KINDS[enc_kind][0]]["sha256"]},
        "official": {"method": method, "files": sources},
    }
    return write_npz(out, flat, meta=meta, overwrite=overwrite, dtype=np.float32)


def split_encoder(flat: dict[str, np.ndarray], meta: Mapping[str, Any]) -> tuple[dict, dict[str, Any] | None]:
    """``(model params, (vgg arrays, vgg meta) or None)`` of a model file that may embed its encoder."""
    if not meta.get("encoder", {}).get("embedded"):
        return flat, None
    vgg = {k[len(ENCODER_PREFIX):]: v.astype(np.float32) for k, v in flat.items() if k.startswith(ENCODER_PREFIX)}
    params = {k: v for k, v in flat.items() if not k.startswith(ENCODER_PREFIX)}
    enc = meta["encoder"]
    vgg_meta = {"format": "jaxstyle-vgg19/1", "preprocess": enc["preprocess"], "pool": enc["pool"],
                "source": "embedded official encoder", "source_sha256": enc.get("source_sha256", ""),
                **({"last_conv": enc["last_conv"]} if "last_conv" in enc else {})}
    _validate(vgg, vgg_meta, "embedded encoder")
    return params, (vgg, vgg_meta)
