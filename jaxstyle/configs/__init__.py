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
