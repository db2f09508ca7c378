"""Method name -> model module (each exposes ``default_config()`` and ``build(cfg, *, rngs, encoder=None)``)."""

from __future__ import annotations

import hashlib
import importlib
import pathlib
from types import ModuleType

METHODS: dict[str, str] = {
    "adain": "jaxstyle.models.adain",
    "gnn": "jaxstyle.models.gnn",
}


#: Shipped inference weights: method name -> (file in ``jaxstyle/pretrained/``, sha256). Filled by trained releases.
PRETRAINED: dict[str, tuple[str, str]] = {}


def pretrained_path(name_or_path: str) -> pathlib.Path:
    """A shipped model's verified file for a registered name, else ``name_or_path`` as a path."""
    if name_or_path in METHODS:
        if name_or_path not in PRETRAINED:
            raise ValueError(f"no trained {name_or_path!r} weights are shipped yet; pass the path of an exported "
                             "model (`python -m jaxstyle.export WORKDIR --out FILE.npz`)")
        fname, sha = PRETRAINED[name_or_path]
        path = pathlib.Path(__file__).parent / "pretrained" / fname
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha:
            raise ValueError(f"{path}: sha256 {digest[:12]}… does not match the registry ({sha[:12]}…); reinstall")
        return path
    return pathlib.Path(name_or_path)


def get_method(name: str) -> ModuleType:
    """The model module registered under ``name``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return importlib.import_module(METHODS[name])
