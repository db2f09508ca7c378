"""Process-level JAX settings the scripts opt into (never applied at import time)."""

from __future__ import annotations

import os
import pathlib

import jax


def enable_compilation_cache(path: str | os.PathLike | None = None) -> pathlib.Path:
    """Persist XLA executables across runs (resumed trainings and repeated ``infer.py`` calls skip recompiling).

    ``path`` defaults to ``$JAX_COMPILATION_CACHE_DIR`` or ``<weight cache>/xla``. Returns the directory.
    """
    from jaxstyle.weights.store import cache_dir

    path = pathlib.Path(path or os.environ.get("JAX_COMPILATION_CACHE_DIR") or cache_dir() / "xla")
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path


def configure() -> None:
    """What ``train.py`` and ``infer.py`` set up: the persistent compilation cache and, on CPU, the classic
    threefry lowering (the partitionable one compiles each parameter initialiser ~6x slower on XLA CPU, and
    nothing here draws random numbers for sharded arrays)."""
    enable_compilation_cache()
    if jax.default_backend() == "cpu":
        jax.config.update("jax_threefry_partitionable", False)
