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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # small programs add up in a cold run
    return path


def configure() -> None:
    """What ``train.py`` and ``infer.py`` set up: the persistent compilation cache and, on CPU, the classic
    threefry lowering (the partitionable one compiles each parameter initialiser ~6x slower on XLA CPU, and
    nothing here draws random numbers for sharded arrays)."""
    enable_compilation_cache()
    if jax.default_backend() == "cpu":
        jax.config.update("jax_threefry_partitionable", False)


_COMPILE_EVENTS = {  # jax.monitoring duration events that make up the cost of a new program shape
    "/jax/core/compile/backend_compile_duration": "backend",
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
}
_stats = {"compiles": 0, "cache_hits": 0, "seconds": 0.0}
_listening = False


def _on_duration(event: str, duration: float, **_) -> None:
    kind = _COMPILE_EVENTS.get(event)
    if kind is not None:
        _stats["seconds"] += duration
        _stats["compiles"] += kind == "backend"


def _on_event(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _stats["cache_hits"] += 1


def compile_stats() -> dict[str, float]:
    """XLA programs built in this process since the first call: ``{"compiles", "cache_hits", "seconds"}``.

    ``compiles`` counts backend compilations, those answered by the persistent cache included (``cache_hits`` of
    them); ``seconds`` is the time spent tracing, lowering and compiling (or loading) them. Counting starts at the
    first call, so call it once before the work to be measured.
    """
    global _listening
    if not _listening:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _listening = True
    return dict(_stats)
