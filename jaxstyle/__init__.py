"""jaxstyle: arbitrary neural style transfer in JAX/Flax.

Public API (stable names): :func:`stylize`, :class:`Stylizer`, :func:`enable_compilation_cache`, :func:`style_matrix`, :func:`load_pretrained`, :func:`build_model`, :func:`load_vgg19`, :func:`load_image`,
:func:`save_image`, :class:`ImageError`, :class:`WeightsError`. Names are imported lazily, so
``import jaxstyle.data.images`` does not pull in JAX; importing does no work (no device queries, no downloads).
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_model": "jaxstyle.api",
    "load_pretrained": "jaxstyle.api",
    "stylize": "jaxstyle.api",
    "style_matrix": "jaxstyle.api",
    "Stylizer": "jaxstyle.stylizer",
    "enable_compilation_cache": "jaxstyle.runtime",
    "ImageError": "jaxstyle.data.images",
    "load_image": "jaxstyle.data.images",
    "save_image": "jaxstyle.data.images",
    "VGG19": "jaxstyle.nn.vgg",
    "load_vgg19": "jaxstyle.nn.vgg",
    "WeightsError": "jaxstyle.weights.store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "functional":
        return importlib.import_module("jaxstyle.functional")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jaxstyle' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
