"""Method name -> model module (each exposes ``default_config()`` and ``build(cfg, *, rngs, encoder=None)``)."""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS: dict[str, str] = {
    "adain": "jaxstyle.models.adain",
    "gnn": "jaxstyle.models.gnn",
}


def get_method(name: str) -> ModuleType:
    """The model module registered under ``name``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return importlib.import_module(METHODS[name])
