"""Training configs, shipped with the package: ``python train.py --config <method>[:variant]`` (variants: tiny, cpu,
paper), e.g. ``--config gnn:cpu``; a path to any config file (``--config my_config.py:tiny``) works too."""

from __future__ import annotations

import pathlib

#: The configs shipped here, by name (each module has ``get_config(variant)``).
NAMES = ("adain", "adaattn", "gnn", "lst", "style_kernel")


def config_file(spec: str) -> str:
    """``"<name>[:variant]"`` → ``"<this package>/<name>.py[:variant]"`` for a shipped config; anything else (a
    path to a config file) unchanged."""
    name, sep, variant = spec.partition(":")
    if name in NAMES and not pathlib.Path(name).is_file():
        return str(pathlib.Path(__file__).with_name(f"{name}.py")) + sep + variant
    return spec


def load(spec: str):
    """The ``ml_collections.ConfigDict`` of ``"<name>[:variant]"`` (a shipped config) or ``"path/to/file.py[:variant]"``
    (a config file with ``get_config(variant)``), as ``--config`` reads it."""
    import importlib.util

    path, _, variant = config_file(spec).partition(":")
    module_spec = importlib.util.spec_from_file_location(f"_jaxstyle_config_{pathlib.Path(path).stem}", path)
    if module_spec is None or not pathlib.Path(path).is_file():
        raise ValueError(f"config {spec!r}: no such file; name a shipped config ({', '.join(NAMES)}) or a config file")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(variant)
