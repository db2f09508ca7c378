"""Checkpoints: the one module that imports orbax (V0 ``CheckpointManager``).

A checkpoint is a composite of ``state`` (the ``TrainState`` pytree), ``config`` (JSON) and ``data`` (the grain
iterator state, one file per process). Orbax writes each step to a temporary directory and renames it when the
write has finished, so an interrupted save never becomes the latest step; leftovers are cleaned at start-up.
"""

from __future__ import annotations

import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp

from jaxstyle._io import run_path


def make_manager(workdir: str | os.PathLike, *, keep: int, every_steps: int,
                 async_save: bool = True) -> ocp.CheckpointManager:
    """A manager for ``workdir/checkpoints`` that keeps the latest ``keep`` steps and saves every ``every_steps``."""
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=max(1, int(every_steps)),
        preservation_policy=ocp.checkpoint_managers.LatestN(max(1, int(keep))),
        cleanup_tmp_directories=True,
        enable_async_checkpointing=async_save,
    )
    return ocp.CheckpointManager(run_path(workdir) / "checkpoints", options=options)


def save(mngr: ocp.CheckpointManager, step: int, state: Any, config: dict, data_iter: Any = None, *,
         force: bool = False) -> bool:
    """Save (asynchronously) if ``step`` is due or ``force``; returns whether a save started."""
    items = dict(state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config))
    if data_iter is not None:
        items["data"] = grain.checkpoint.CheckpointSave(data_iter)
    return mngr.save(step, force=force, args=ocp.args.Composite(**items))


def _abstract(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


def saved_config(mngr: ocp.CheckpointManager) -> dict | None:
    """The JSON config stored with the latest finished step (``None`` when there is none)."""
    step = mngr.latest_step()
    if step is None:
        return None
    return dict(mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config)


def restore_latest(mngr: ocp.CheckpointManager, fresh_state: Any, data_iter: Any = None) -> tuple[int, Any] | None:
    """Restore the latest finished step into the structure and shardings of ``fresh_state``.

    ``data_iter`` (a grain iterator) gets its saved position back in place. Returns ``(step, state)`` or ``None``.
    """
    step = mngr.latest_step()
    if step is None:
        return None
    items = dict(state=ocp.args.StandardRestore(_abstract(fresh_state)))
    if data_iter is not None:
        items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
    restored = mngr.restore(step, args=ocp.args.Composite(**items))
    return step, restored.state


def _step_dir(path):
    """The ``checkpoints/<latest step>`` directory (an ``epath.Path``) under a workdir or checkpoints folder, or
    ``path`` itself when it is a step directory."""
    root = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if (root / "state").is_dir():
        return root
    step = None
    if root.is_dir():
        with ocp.CheckpointManager(root) as mngr:
            step = mngr.latest_step()
    if step is None:
        raise FileNotFoundError(f"{path}: no finished checkpoint found (expected WORKDIR/checkpoints/<step>)")
    return root / str(step)


def latest_step(path: str | os.PathLike) -> int:
    """The step of the checkpoint :func:`restore_params` reads from ``path``."""
    return int(_step_dir(run_path(path)).name)


def restore_params(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(params, config)`` of the latest checkpoint under a workdir (or a ``checkpoints/<step>`` directory; a local
    path or a URI).

    ``params`` is the trainable-parameter tree as nested dicts of numpy arrays (no model needed), ``config`` the
    JSON config saved with it. Used for warm starts and export.
    """
    step_dir = _step_dir(run_path(path))
    with ocp.StandardCheckpointer() as ckptr:
        state = ckptr.restore(step_dir / "state")
    with ocp.Checkpointer(ocp.JsonCheckpointHandler()) as ckptr:
        config = ckptr.restore(step_dir / "config")
    params = state["params"]
    # without a target, each nnx Variable comes back as {"value": array}: strip that level
    return _strip_value(jax.device_get(params)), dict(config)


def _strip_value(tree: Any) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"value"} and not isinstance(tree["value"], dict):
            return tree["value"]
        return {k: _strip_value(v) for k, v in tree.items()}
    return tree
