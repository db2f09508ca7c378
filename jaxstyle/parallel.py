"""Data parallelism: a 1-D ``data`` mesh, replicated state, batches sharded on their leading axis."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


def initialize_distributed(mesh_cfg) -> None:
    """``jax.distributed.initialize()`` from ``config.mesh`` (empty / negative settings: auto-detected, as on TPU
    pods, SLURM or Open MPI). Must run before anything touches a JAX backend.

    Raises:
      ValueError: the initialisation failed (one line naming the settings to check).
    """
    kwargs = {}
    if mesh_cfg.coordinator_address:
        kwargs["coordinator_address"] = str(mesh_cfg.coordinator_address)
    if int(mesh_cfg.num_processes) > 0:
        kwargs["num_processes"] = int(mesh_cfg.num_processes)
    if int(mesh_cfg.process_id) >= 0:
        kwargs["process_id"] = int(mesh_cfg.process_id)
    try:
        jax.config.update("jax_cpu_collectives_implementation", str(mesh_cfg.cpu_collectives))
        jax.distributed.initialize(**kwargs)
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(f"config.mesh.distributed: jax.distributed.initialize({given}) failed: {first}; check "
                         "config.mesh.coordinator_address, num_processes and process_id (or run under a launcher "
                         "JAX detects)") from None


def data_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D ``("data",)`` mesh over the first ``num_devices`` devices (all when 0/None)."""
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f"config.mesh.num_devices={num_devices} but only {len(devices)} devices are visible "
                             f"(use 0 for all)")
        devices = devices[:num_devices]
    return jax.make_mesh((len(devices),), ("data",), axis_types=(AxisType.Auto,), devices=devices)


def check_batch(global_batch: int, mesh: Mesh) -> None:
    """Raise ``ValueError`` unless ``global_batch`` splits evenly over the mesh's devices."""
    n = mesh.devices.size
    if global_batch <= 0 or global_batch % n:
        raise ValueError(f"global batch {global_batch} is not divisible by {n} devices; "
                         f"set config.data.batch_size to a multiple of {n}")


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every array of ``tree`` on all devices of ``mesh``."""
    return jax.device_put(tree, replicated(mesh))


def to_global(host_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's share of a batch ``{name: [b, ...]}`` → global arrays ``[b · processes, ...]`` sharded on ``data``."""
    s = sharded(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(s, np.asarray(x)), host_batch)
