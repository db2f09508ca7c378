"""Method name -> model module (each exposes ``default_config()`` and ``build(cfg, *, rngs, encoder=None)``), and
the trained models shipped in ``jaxstyle/pretrained/``."""

from __future__ import annotations

import hashlib
import importlib
import pathlib
from types import ModuleType

METHODS: dict[str, str] = {
    "adain": "jaxstyle.models.adain",
    "adaattn": "jaxstyle.models.adaattn",
    "gnn": "jaxstyle.models.gnn",
    "lst": "jaxstyle.models.lst",
    "style_kernel": "jaxstyle.models.style_kernel",
}

PRETRAINED_DIR = pathlib.Path(__file__).parent / "pretrained"

#: Shipped inference weights: method name -> (file in ``jaxstyle/pretrained/``, sha256). Each file's metadata
#: (``jaxstyle.params.read_meta``) records its training config and step; the README gives the commands.
PRETRAINED: dict[str, tuple[str, str]] = {
    # AdaAttN: 13.6 M parameters, so int8 (12.5 MB deflated) is its smallest export within ~1/255 of float16 (27 MB)
    "adaattn": ("adaattn.npz", "7961905598ad0aa2ec8d434b6bfbcf14a82eb60dd75333e5a2fe70d5bf45fde7"),  # int8
    "adain": ("adain.npz", "b8f163a7768d6fe1de59f0d33a703d52af55444e5ecc54f4e6074a39578e80f5"),
    "gnn": ("gnn.npz", "7c755038bd03e8c1b901f66a4d8910199552a7e1d8b628f368f5ae1fb88c0229"),
    "style_kernel": ("style_kernel.npz", "bffe59b5c36739a594459c9740e15ac1a274913d2623a37d0d8f4406039bc27b"),  # int8
    "lst": ("lst.npz", "7706010cc742d587035ec701e64f19b3a888e8253786857bddd4860e214d4edc"),  # r41; int8 weight matrices (half the float16 size)
}


def has_pretrained(method: str) -> bool:
    """Whether trained weights are shipped for ``method``."""
    return method in PRETRAINED


def pretrained_path(name_or_path: str) -> pathlib.Path:
    """A shipped model's verified file for a registered name, else ``name_or_path`` as a path.

    Raises:
      ValueError: a method without shipped weights, or a shipped file whose sha256 is not the registry's.
    """
    if name_or_path in METHODS:
        if name_or_path not in PRETRAINED:
            raise ValueError(f"no trained {name_or_path!r} weights are shipped yet; pass the path of an exported "
                             "model (`python -m jaxstyle.export WORKDIR --out FILE.npz`)")
        fname, sha = PRETRAINED[name_or_path]
        path = PRETRAINED_DIR / fname
        if not path.is_file():
            raise ValueError(f"{path}: the shipped {name_or_path!r} model is missing; reinstall jaxstyle")
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
